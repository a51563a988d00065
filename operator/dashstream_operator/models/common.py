"""Building blocks shared by the three kinds: base model, references, field types, errors.

The pydantic models in this package are the single schema source (DESIGN §3.1):
``crdgen`` turns them into the CRDs' OpenAPI schemas, and the operator parses
CR bodies with them. So every field carries a ``description`` (it becomes
``kubectl explain`` text) and a bound (``maxLength``/``maxItems``/
``maxProperties``), and no field has a schema default: the operator resolves
defaults in code, because API-server defaults make Argo CD report OutOfSync
forever (the live object carries fields the manifest in Git does not).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    ValidationError,
    WithJsonSchema,
)
from pydantic.alias_generators import to_camel
from pydantic.json_schema import JsonDict

__all__ = [
    "DNS_LABEL",
    "DURATION",
    "QUANTITY",
    "ApiModel",
    "ConfigMapKeyRef",
    "Duration",
    "FreeForm",
    "LabelMap",
    "Quantity",
    "SecretKeyRef",
    "SpecError",
    "StatusModel",
    "cel",
    "parse_model",
]

# Kubernetes' resource.Quantity grammar (same regex the built-in types publish).
QUANTITY = (
    r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))"
    r"(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$"
)
# Prometheus duration grammar (as prometheus-operator's Duration type); "" excluded by minLength.
DURATION = (
    r"^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$"
)
# RFC 1123 label: names we derive child objects from must be valid object names.
DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"

_QUANTITY_RE = re.compile(QUANTITY)


def _quantity(value: Any) -> int | str:
    # One plain check instead of an int|str union: union errors would name
    # pydantic's branch tags instead of the field.
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and _QUANTITY_RE.match(value):
        return value
    raise ValueError("must be an integer or a quantity string such as 500m or 1Gi")


Quantity = Annotated[
    int | str,
    PlainValidator(_quantity),
    # Structural schemas may not use anyOf with types here; int-or-string is the
    # Kubernetes way to say "a number or a quantity string".
    WithJsonSchema({"x-kubernetes-int-or-string": True, "pattern": QUANTITY}),
]
"""A Kubernetes quantity: an integer or a string such as ``500m`` or ``1Gi``."""

Duration = Annotated[str, Field(min_length=1, max_length=32, pattern=DURATION)]
"""A Prometheus duration such as ``30s``, ``5m`` or ``1h30m``."""

FreeForm = Annotated[
    dict[str, Any],
    WithJsonSchema({"type": "object", "x-kubernetes-preserve-unknown-fields": True}),
]

LabelMap = dict[str, Annotated[str, Field(max_length=63)]]


def cel(rule: str, message: str, field_path: str | None = None) -> JsonDict:
    """One ``x-kubernetes-validations`` entry; ``fieldPath`` makes the error name the field."""
    entry: JsonDict = {"rule": rule, "message": message}
    if field_path:
        entry["fieldPath"] = field_path
    return entry


class ApiModel(BaseModel):
    """Base of every CR model: camelCase on the wire, unknown fields refused, immutable."""

    # extra="forbid" and strict mirror the structural schema: a field the CRD does
    # not declare, or "3" where an integer is declared, is an error in code too.
    model_config = ConfigDict(
        alias_generator=to_camel,
        validate_by_name=True,
        validate_by_alias=True,
        extra="forbid",
        strict=True,
        frozen=True,
    )

    def to_wire(self) -> dict[str, Any]:
        """The object as it appears in a CR body: camelCase keys, unset fields left out."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


class StatusModel(ApiModel):
    """Base of status models: written by the operator, read back leniently, so a field an
    older or newer operator wrote never makes the current one fail."""

    model_config = ConfigDict(extra="ignore", strict=False)


class SpecError(ValueError):
    """A CR body that does not match its model; ``str()`` names every bad field."""

    def __init__(self, errors: Sequence[tuple[str, str]]) -> None:
        self.errors = list(errors)
        super().__init__("; ".join(f"{path}: {msg}" for path, msg in self.errors))

    @property
    def fields(self) -> list[str]:
        """The dotted paths of the offending fields, e.g. ``spec.topics[0].partitions``."""
        return [path for path, _ in self.errors]


def _loc_to_path(prefix: str, loc: Sequence[int | str]) -> str:
    path = prefix
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part == "[key]":
            path += " (key)"  # pydantic's marker for "the map key itself is invalid"
        elif part:
            path = f"{path}.{part}" if path else str(part)
    return path or "(root)"


M = TypeVar("M", bound=BaseModel)


def _plain(data: Any) -> Any:
    # Strict models take dicts and lists only; kopf hands out Mapping views.
    if isinstance(data, Mapping):
        return {k: _plain(v) for k, v in data.items()}
    if isinstance(data, list | tuple):
        return [_plain(v) for v in data]
    return data


def parse_model(model: type[M], data: Any, prefix: str) -> M:
    """Validate ``data`` as ``model``; raise :class:`SpecError` with paths under ``prefix``."""
    if data is None:
        raise SpecError([(prefix, "Field required")])
    try:
        return model.model_validate(_plain(data))
    except ValidationError as exc:
        errors = []
        for err in exc.errors(include_url=False):
            # Errors raised by our own model validators carry "Value error, "; drop the noise.
            msg = str(err["msg"]).removeprefix("Value error, ")
            errors.append((_loc_to_path(prefix, err["loc"]), msg))
        raise SpecError(errors) from None


class SecretKeyRef(ApiModel):
    """A key of a Secret in the CR's namespace; its value is passed to workloads as an env
    `valueFrom`, never copied into ConfigMaps, logs or status."""

    name: str = Field(
        min_length=1, max_length=253, description="Name of the Secret, in the CR's namespace."
    )
    key: str = Field(min_length=1, max_length=253, description="Key within the Secret.")


class ConfigMapKeyRef(ApiModel):
    """A key of a ConfigMap in the CR's namespace."""

    name: str = Field(
        min_length=1, max_length=253, description="Name of the ConfigMap, in the CR's namespace."
    )
    key: str = Field(min_length=1, max_length=253, description="Key within the ConfigMap.")
