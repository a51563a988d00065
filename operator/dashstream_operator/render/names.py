"""Names, labels, owner references and the prune selector of a pipeline's children.

Labels are built here from the pipeline's name only, never copied from the pipeline
object: kopf.adopt would copy all parent labels, including Argo CD's tracking label,
and Argo CD then flags or prunes the children.
"""

from __future__ import annotations

import hashlib
from typing import Any, Final

from dashstream_operator.models.kinds import PIPELINE

__all__ = [
    "MANAGED_BY",
    "PART_OF",
    "PIPELINE_LABEL",
    "SETTINGS_HASH_ANNOTATION",
    "child_labels",
    "child_metadata",
    "child_name",
    "dns_label",
    "owner_reference",
    "pipeline_label_value",
    "selector_labels",
]

PIPELINE_LABEL: Final = "dashstream.io/pipeline"
SETTINGS_HASH_ANNOTATION: Final = "dashstream.io/settings-hash"
MANAGED_BY: Final = "dashstream-operator"
PART_OF: Final = "dashstream"

_MAX_LABEL = 63


def dns_label(value: str, max_len: int = _MAX_LABEL) -> str:
    """``value`` if it fits in ``max_len``, else a deterministic shortening with a hash.

    Pipeline names may be 253 characters, but label values and Service names are
    limited to 63; the hash suffix keeps two long names that share a prefix apart.
    """
    if len(value) <= max_len:
        return value
    digest = hashlib.sha256(value.encode()).hexdigest()[:8]
    return f"{value[: max_len - 9].rstrip('-._')}-{digest}"


def child_name(pipeline: str, component: str) -> str:
    """``<pipeline>-<component>``, valid as a Service name (DNS-1035 label: no dots).

    When too long, the pipeline part is shortened (with a hash of the full pipeline
    name) and the component stays readable at the end.
    """
    base = pipeline.replace(".", "-")
    if len(base) + 1 + len(component) <= _MAX_LABEL:
        return f"{base}-{component}"
    short = dns_label(pipeline, _MAX_LABEL - len(component) - 1).replace(".", "-")
    return f"{short}-{component}"


def pipeline_label_value(pipeline: str) -> str:
    """Value of :data:`PIPELINE_LABEL` (and ``app.kubernetes.io/instance``)."""
    return dns_label(pipeline)


def selector_labels(pipeline: str, component: str) -> dict[str, str]:
    """The immutable Deployment selector, also the Service selector: never change it."""
    return {
        "app.kubernetes.io/name": f"dashstream-{component}",
        "app.kubernetes.io/instance": pipeline_label_value(pipeline),
    }


def child_labels(pipeline: str, component: str) -> dict[str, str]:
    """Every label we put on a child of ``pipeline`` (and on its pods)."""
    return {
        **selector_labels(pipeline, component),
        "app.kubernetes.io/component": component,
        "app.kubernetes.io/part-of": PART_OF,
        "app.kubernetes.io/managed-by": MANAGED_BY,
        PIPELINE_LABEL: pipeline_label_value(pipeline),
    }


def owner_reference(pipeline: str, uid: str) -> dict[str, Any]:
    """The controller ownerReference to the pipeline: deletion garbage-collects the child
    and Argo CD never prunes an owned object."""
    return {
        "apiVersion": PIPELINE.api_version,
        "kind": PIPELINE.kind,
        "name": pipeline,
        "uid": uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }


def child_metadata(
    pipeline: str,
    namespace: str,
    uid: str,
    component: str,
    *,
    extra_labels: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
) -> dict[str, Any]:
    """``metadata`` of a child. ``extra_labels`` never override ours (pruning relies on
    them)."""
    meta: dict[str, Any] = {
        "name": child_name(pipeline, component),
        "namespace": namespace,
        "labels": {**(extra_labels or {}), **child_labels(pipeline, component)},
    }
    if annotations:
        meta["annotations"] = dict(annotations)
    meta["ownerReferences"] = [owner_reference(pipeline, uid)]
    return meta
