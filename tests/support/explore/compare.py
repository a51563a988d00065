"""Comparing one live child with its render, both ways.

``difference``: every field the render sets has its value on the live object.
``unrendered``: every field the operator's field manager owns on the live object is one
the render sets — so a field the spec stopped declaring must have left. Together they
say "equal in every field we own", without the operator's own comparison code (which
is what is being tested).
"""

from __future__ import annotations

import json
from typing import Any

from kubernetes.utils import parse_quantity

FIELD_MANAGER = "dashstream-operator"
# The one field the operator owns that no render has: the hash of what it applied.
APPLIED_HASH = ("metadata", "annotations", "dashstream.io/applied-hash")
# Values the API server fills into list keys the render may leave out.
KEY_DEFAULTS = {"protocol": "TCP"}


def difference(desired: Any, live: Any, path: str = "") -> str | None:
    """Where ``live`` differs from ``desired`` in a field ``desired`` sets, or None.
    Lists of named items match by name (others may add their own items, which server-
    side apply keeps); other lists must be equal item by item."""
    if isinstance(desired, dict):
        if not isinstance(live, dict):
            return f"{path or '.'}: {live!r} is not an object"
        for k, v in desired.items():
            if k not in live:
                if v in ({}, [], None):
                    continue  # the API server drops empty values
                return f"{path}.{k} missing"
            found = difference(v, live[k], f"{path}.{k}")
            if found:
                return found
        return None
    if isinstance(desired, list):
        if not isinstance(live, list):
            return f"{path}: {live!r} is not a list"
        if desired and all(isinstance(i, dict) and "name" in i for i in desired):
            by_name = {i.get("name"): i for i in live if isinstance(i, dict)}
            for item in desired:
                if item["name"] not in by_name:
                    return f"{path}[{item['name']}] missing"
                found = difference(item, by_name[item["name"]], f"{path}[{item['name']}]")
                if found:
                    return found
            return None
        if len(desired) != len(live):
            return f"{path}: {len(live)} items, rendered {len(desired)}"
        for n, (d, x) in enumerate(zip(desired, live, strict=True)):
            found = difference(d, x, f"{path}[{n}]")
            if found:
                return found
        return None
    if desired == live or (".resources." in path and _same_quantity(desired, live)):
        return None
    return f"{path}: {live!r}, rendered {desired!r}"


def _same_quantity(a: Any, b: Any) -> bool:
    """"0.5" and "500m" are one CPU quantity (the API server normalises)."""
    try:
        return bool(parse_quantity(a) == parse_quantity(b))
    except (ValueError, TypeError):
        return False


def owned_fields(live: dict[str, Any]) -> dict[str, Any] | None:
    """The fieldsV1 set the operator's apply owns on ``live``; None if it owns nothing."""
    for entry in live.get("metadata", {}).get("managedFields") or []:
        if entry.get("manager") == FIELD_MANAGER and entry.get("operation") == "Apply":
            return dict(entry.get("fieldsV1") or {})
    return None


def unrendered(fields: dict[str, Any], want: Any, path: tuple[str, ...] = ()) -> list[str]:
    """Paths in ``fields`` (fieldsV1: ``f:name``, list items as ``k:{...}``/``v:...``)
    that ``want`` does not set."""
    out: list[str] = []
    for key, sub in fields.items():
        if key == ".":
            continue
        if key.startswith("f:"):
            here = (*path, key[2:])
            if here == APPLIED_HASH:
                continue
            if here == APPLIED_HASH[:len(here)] and isinstance(want, dict):
                out += unrendered(sub, want.get(key[2:]) or {}, here)  # the hash's parents
            elif not isinstance(want, dict) or key[2:] not in want:
                out.append(".".join(here))
            elif sub:
                out += unrendered(sub, want[key[2:]], here)
        elif key.startswith("k:"):
            item = _item(want, json.loads(key[2:]))
            if item is None:
                out.append(f"{'.'.join(path)}[{key[2:]}]")
            elif sub:
                out += unrendered(sub, item, (*path, key[2:]))
        elif key.startswith("v:") and (not isinstance(want, list)
                                       or json.loads(key[2:]) not in want):
            out.append(f"{'.'.join(path)}[{key[2:]}]")
    return out


def _item(items: Any, ident: dict[str, Any]) -> Any:
    if not isinstance(items, list):
        return None
    for item in items:
        if isinstance(item, dict) and all(item.get(k, KEY_DEFAULTS.get(k)) == v
                                          for k, v in ident.items()):
            return item
    return None
