"""Turn a pydantic model's JSON Schema into a Kubernetes *structural* OpenAPI v3 schema.

Kubernetes accepts only a subset of JSON Schema in a CRD: no ``$ref``, every
node typed (or int-or-string / preserve-unknown-fields), no ``anyOf`` carrying
types, no ``additionalProperties: false`` next to ``properties``, and — our rule
for GitOps — no ``default``. This module rewrites pydantic's output into that
subset and fails loudly on anything it does not know how to translate, so a new
model feature cannot silently produce a schema the API server would reject or
misread.
"""

from __future__ import annotations

import copy
from typing import Any

from pydantic import BaseModel

__all__ = ["SchemaError", "structural_schema"]

# Output key order: stable, and readable in the generated YAML.
_ORDER = (
    "description",
    "type",
    "format",
    "enum",
    "pattern",
    "minLength",
    "maxLength",
    "minimum",
    "maximum",
    "minItems",
    "maxItems",
    "minProperties",
    "maxProperties",
    "required",
    "properties",
    "items",
    "additionalProperties",
    "x-kubernetes-int-or-string",
    "x-kubernetes-preserve-unknown-fields",
    "x-kubernetes-list-type",
    "x-kubernetes-list-map-keys",
    "x-kubernetes-validations",
)
_RULE_ORDER = ("rule", "message", "messageExpression", "fieldPath", "reason", "optionalOldSelf")
# Dropped on purpose: titles are noise, defaults are applied in code (Argo CD
# diffing), and key constraints (propertyNames, patternProperties' keys) have no
# structural equivalent — the models that need them also carry a CEL rule.
_DROP = frozenset({"title", "default", "propertyNames", "$defs"})


class SchemaError(ValueError):
    """The model uses a JSON Schema feature that has no structural equivalent."""


def _ref_name(ref: str) -> str:
    prefix = "#/$defs/"
    if not ref.startswith(prefix):
        raise SchemaError(f"unsupported $ref {ref!r}")
    return ref[len(prefix) :]


def _collapse(node: dict[str, Any], defs: dict[str, Any], path: str) -> dict[str, Any]:
    """Resolve ``$ref`` and ``Optional`` (``anyOf [X, null]``) into one plain node."""
    node = dict(node)
    if "$ref" in node:
        target = _collapse(defs[_ref_name(node.pop("$ref"))], defs, path)
        # The property's own keys (its description above all) win over the model's.
        node = {**target, **node}
    if "anyOf" in node:
        branches = [b for b in node.pop("anyOf") if b != {"type": "null"}]
        if len(branches) != 1:
            raise SchemaError(f"{path}: unions are not structural; use int-or-string or a model")
        inner = _collapse(branches[0], defs, path)
        node = {**inner, **node}
    return node


def _convert(node: dict[str, Any], defs: dict[str, Any], path: str) -> dict[str, Any]:
    node = _collapse(node, defs, path)
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _DROP:
            continue
        if key == "const":
            out["enum"] = [value]
        elif key == "properties":
            out[key] = {name: _convert(sub, defs, f"{path}.{name}") for name, sub in value.items()}
        elif key == "items":
            out[key] = _convert(value, defs, f"{path}[]")
        elif key == "patternProperties":
            # A map whose key type has a pattern; the value schema is what matters
            # structurally, the key pattern is enforced by the model's CEL rule.
            if len(value) != 1 or "additionalProperties" in node:
                raise SchemaError(f"{path}: only one key pattern per map is supported")
            out["additionalProperties"] = _convert(next(iter(value.values())), defs, f"{path}{{}}")
        elif key == "additionalProperties":
            if value is False:
                continue  # extra="forbid": structural schemas prune/refuse unknown fields anyway
            if value is True:
                raise SchemaError(f"{path}: free-form maps need preserve-unknown-fields")
            out[key] = _convert(value, defs, f"{path}{{}}")
        elif key == "x-kubernetes-validations":
            out[key] = [{k: rule[k] for k in _RULE_ORDER if k in rule} for rule in value]
        elif key in _ORDER:
            out[key] = copy.deepcopy(value)
        else:
            raise SchemaError(f"{path}: JSON Schema keyword {key!r} is not translated")
    if not any(k in out for k in ("type", "x-kubernetes-int-or-string")) and not out.get(
        "x-kubernetes-preserve-unknown-fields"
    ):
        raise SchemaError(f"{path}: node has no type")
    if "enum" in out and "type" not in out:
        out["type"] = "string"
    return {k: out[k] for k in _ORDER if k in out}


def structural_schema(model: type[BaseModel], description: str | None = None) -> dict[str, Any]:
    """The structural OpenAPI v3 schema of ``model`` (camelCase keys, all refs inlined)."""
    raw = model.model_json_schema(by_alias=True, mode="validation")
    defs = raw.get("$defs", {})
    schema = _convert(raw, defs, model.__name__)
    if description:
        schema["description"] = description
        schema = {k: schema[k] for k in _ORDER if k in schema}
    return schema
