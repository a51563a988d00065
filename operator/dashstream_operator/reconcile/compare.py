"""Does a live object already hold every field we would apply? Pure.

Server-side apply of an unchanged object writes nothing, but it is still a request;
comparing against the watch cache first makes a no-op resync cost zero API calls.
Only the fields we render are compared: defaults the API server adds and fields
other managers own are ignored, exactly as server-side apply would leave them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["first_difference", "holds"]


def first_difference(desired: Any, live: Any, path: str = "") -> str | None:
    """The path of the first rendered field the live object lacks or holds differently."""
    if isinstance(desired, Mapping):
        if not isinstance(live, Mapping):
            return path or "."
        for key, value in desired.items():
            diff = first_difference(value, live.get(key), f"{path}.{key}")
            if diff is not None:
                return diff
        return None
    if isinstance(desired, Sequence) and not isinstance(desired, str):
        if not isinstance(live, Sequence) or isinstance(live, str) or len(live) != len(desired):
            return path
        for i, (d, v) in enumerate(zip(desired, live, strict=True)):
            diff = first_difference(d, v, f"{path}[{i}]")
            if diff is not None:
                return diff
        return None
    return None if desired == live else path


def holds(desired: Mapping[str, Any], live: Mapping[str, Any] | None) -> bool:
    return live is not None and first_difference(desired, live) is None
