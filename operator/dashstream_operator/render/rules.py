"""Pure renderers of an AlertRuleSet's children: rule ConfigMap(s) and a PrometheusRule.

Validated rule groups in, manifest dicts out (no I/O, clock or randomness). Labels
are built here, never copied from the AlertRuleSet (Argo CD's tracking label must
not spread to children, or Argo CD flags or prunes them); the controller
ownerReference is set explicitly. Every child carries two annotations: the
generation of the AlertRuleSet its content comes from, and a SHA-256 of that
content, so the controller can recognise untouched last-valid content after a
restart (:func:`last_synced`).

Size: a ConfigMap must stay under the 1 MiB object limit, so rule files over
:data:`CONFIGMAP_LIMIT` are split by whole groups (a group is Prometheus' unit of
evaluation) into ``<name>``, ``<name>-1``, ... with keys ``<key>``,
``<stem>-1.<ext>``, ... (distinct keys, so one projected volume can mount them
all). prometheus-operator puts each PrometheusRule into one file of a
ConfigMap capped at 512 KiB, so PrometheusRules split at :data:`PROMETHEUSRULE_LIMIT`.
A single group over the limit cannot be split and is reported in ``too_large``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import yaml

from dashstream_operator.models.alertruleset import ResolvedRuleTargets
from dashstream_operator.models.kinds import ALERT_RULE_SET

from .names import MANAGED_BY, PART_OF, dns_label

__all__ = [
    "CONFIGMAP_LIMIT",
    "GENERATION_ANNOTATION",
    "HASH_ANNOTATION",
    "PROMETHEUSRULE",
    "PROMETHEUSRULE_LIMIT",
    "RULESET_LABEL",
    "RenderedRules",
    "canonical_groups",
    "last_synced",
    "render_rule_children",
    "rules_yaml",
    "split_groups",
]

RULESET_LABEL: Final = "dashstream.io/alertruleset"
GENERATION_ANNOTATION: Final = "dashstream.io/generation"
HASH_ANNOTATION: Final = "dashstream.io/rules-sha256"
PROMETHEUSRULE: Final = ("monitoring.coreos.com/v1", "PrometheusRule")
CONFIGMAP_LIMIT: Final = 900 * 1024
PROMETHEUSRULE_LIMIT: Final = 500 * 1024
FIELD_MANAGER: Final = "dashstream-operator"  # as k8s.FIELD_MANAGER (render stays I/O-free)
_GROUP_KEYS = ("name", "interval", "limit", "rules")
_RULE_KEYS = ("record", "alert", "expr", "for", "keep_firing_for", "labels", "annotations")


@dataclass(frozen=True)
class RenderedRules:
    """The children to apply, the names to report in status, and what could not fit."""

    objects: list[dict[str, Any]] = field(default_factory=list)
    config_maps: list[str] = field(default_factory=list)
    prometheus_rules: list[str] = field(default_factory=list)
    too_large: list[str] = field(default_factory=list)


def _scalar(value: Any) -> str:
    # Prometheus reads YAML scalars into strings ("1" for 1), and the PrometheusRule
    # schema wants strings for expr, durations, labels and annotations.
    return str(value).lower() if isinstance(value, bool) else str(value)


def canonical_groups(groups: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Validated groups in a fixed key order (labels and annotations sorted), values as
    Prometheus reads them."""
    out = []
    for group in groups:
        g: dict[str, Any] = {k: group[k] for k in _GROUP_KEYS[:3] if group.get(k) is not None}
        if "interval" in g:
            g["interval"] = _scalar(g["interval"])
        rules = []
        for rule in group.get("rules") or []:
            r: dict[str, Any] = {}
            for key in _RULE_KEYS:
                value = rule.get(key)
                if isinstance(value, Mapping):
                    # Sorted: the text (and its hash) must not depend on the order the
                    # keys came in — the API server returns an applied object's keys
                    # sorted, a YAML file in the author's order.
                    value = {str(k): _scalar(v) for k, v in sorted(value.items())} or None
                elif value is not None:
                    value = _scalar(value)
                if value is not None:
                    r[key] = value
            rules.append(r)
        g["rules"] = rules
        out.append(g)
    return out


class _Dumper(getattr(yaml, "CSafeDumper", yaml.SafeDumper)):  # type: ignore[misc]
    """Multi-line strings (most ``expr`` and descriptions) as readable ``|`` blocks."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def rules_yaml(groups: Sequence[Mapping[str, Any]]) -> str:
    """A Prometheus rule file holding ``groups`` (deterministic)."""
    return yaml.dump({"groups": list(groups)}, Dumper=_Dumper, sort_keys=False,
                     allow_unicode=True, default_flow_style=False, width=100)


def split_groups(groups: Sequence[Mapping[str, Any]], limit: int
                 ) -> tuple[list[list[Mapping[str, Any]]], list[str]]:
    """Whole groups packed in order into parts whose rule file stays under ``limit`` bytes;
    also the names of groups that alone exceed it (left out of every part)."""
    # Block-style YAML of a list is the header plus each item's text, so sizes add up
    # and every group is dumped once.
    header = len(rules_yaml([]).encode()) - len(b"[]\n")
    parts: list[list[Mapping[str, Any]]] = [[]]
    too_large: list[str] = []
    used = header
    for group in groups:
        size = len(rules_yaml([group]).encode()) - header
        if header + size > limit:
            too_large.append(f"group {group.get('name')!r} is {header + size} bytes "
                             f"(limit {limit})")
            continue
        if parts[-1] and used + size > limit:
            parts.append([])
            used = header
        parts[-1].append(group)
        used += size
    return parts, too_large


def _part_name(base: str, n: int) -> str:
    return base if n == 0 else f"{dns_label(base, 253 - len(str(n)) - 1)}-{n}"


def _part_key(key: str, n: int) -> str:
    if n == 0:
        return key
    stem, dot, ext = key.partition(".")
    return f"{stem}-{n}{dot}{ext}"


def _digest(content: Any) -> str:
    text = content if isinstance(content, str) else json.dumps(content, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def _metadata(name: str, namespace: str, ruleset: str, uid: str, generation: int | None,
              extra_labels: Mapping[str, str], digest: str) -> dict[str, Any]:
    return {
        "name": name,
        "namespace": namespace,
        "labels": {**extra_labels,  # ours win: pruning and the child watch rely on them
                   "app.kubernetes.io/managed-by": MANAGED_BY,
                   "app.kubernetes.io/part-of": PART_OF,
                   RULESET_LABEL: dns_label(ruleset)},
        "annotations": {GENERATION_ANNOTATION: str(generation or 0), HASH_ANNOTATION: digest},
        "ownerReferences": [{"apiVersion": ALERT_RULE_SET.api_version,
                             "kind": ALERT_RULE_SET.kind, "name": ruleset, "uid": uid,
                             "controller": True, "blockOwnerDeletion": True}],
    }


def render_rule_children(name: str, namespace: str, uid: str, generation: int | None,
                         groups: Sequence[Mapping[str, Any]], targets: ResolvedRuleTargets,
                         *, prometheus_rule_crd: bool) -> RenderedRules:
    """The ConfigMap(s) and, when requested and the CRD exists, PrometheusRule(s)."""
    groups = canonical_groups(groups)
    out = RenderedRules()
    if targets.config_map_name is not None:
        parts, too_large = split_groups(groups, CONFIGMAP_LIMIT)
        out.too_large.extend(f"ConfigMap: {t}" for t in too_large)
        for n, part in enumerate(parts):
            cm, text = _part_name(targets.config_map_name, n), rules_yaml(part)
            out.config_maps.append(cm)
            out.objects.append({
                "apiVersion": "v1", "kind": "ConfigMap",
                "metadata": _metadata(cm, namespace, name, uid, generation,
                                      targets.config_map_labels, _digest(text)),
                "data": {_part_key(targets.config_map_key, n): text}})
    if targets.prometheus_rule_name is not None and prometheus_rule_crd:
        parts, too_large = split_groups(groups, PROMETHEUSRULE_LIMIT)
        out.too_large.extend(f"PrometheusRule: {t}" for t in too_large)
        for n, part in enumerate(parts):
            pr, spec = _part_name(targets.prometheus_rule_name, n), {"groups": part}
            out.prometheus_rules.append(pr)
            out.objects.append({
                "apiVersion": PROMETHEUSRULE[0], "kind": PROMETHEUSRULE[1],
                "metadata": _metadata(pr, namespace, name, uid, generation,
                                      targets.prometheus_rule_labels, _digest(spec)),
                "spec": spec})
    return out


def _owned(obj: Mapping[str, Any], *path: str) -> set[str]:
    """Keys under ``path`` that our field manager applied (from managedFields)."""
    for entry in obj.get("metadata", {}).get("managedFields") or []:
        if entry.get("manager") == FIELD_MANAGER and entry.get("operation") == "Apply":
            node = entry.get("fieldsV1") or {}
            for step in path:
                node = node.get(f"f:{step}") or {}
            return {k[2:] for k in node if k.startswith("f:")}
    return set()


def last_synced(live: Iterable[Mapping[str, Any]]) -> tuple[int, list[dict[str, Any]]] | None:
    """(generation, objects) re-creating the live children as we last applied them, or
    None when any of them no longer holds the content its hash annotation records (a
    hand edit), or when they come from different generations."""
    objects: list[dict[str, Any]] = []
    generations: set[str] = set()
    for obj in live:
        meta, body = obj.get("metadata") or {}, {k: obj[k] for k in ("data", "spec") if k in obj}
        annotations = meta.get("annotations") or {}
        if obj.get("kind") == "ConfigMap":
            keys = _owned(obj, "data") & set(obj.get("data") or {})
            body = {"data": {k: obj["data"][k] for k in keys}}
            content: Any = obj["data"][keys.pop()] if len(keys) == 1 else None
        else:
            content = obj.get("spec")
        if content is None or annotations.get(HASH_ANNOTATION) != _digest(content):
            return None
        generations.add(str(annotations.get(GENERATION_ANNOTATION, "")))
        labels = _owned(obj, "metadata", "labels")
        objects.append({
            "apiVersion": obj["apiVersion"], "kind": obj["kind"],
            "metadata": {"name": meta["name"], "namespace": meta.get("namespace"),
                         "labels": {k: v for k, v in (meta.get("labels") or {}).items()
                                    if k in labels},
                         "annotations": {k: annotations[k] for k in
                                         (GENERATION_ANNOTATION, HASH_ANNOTATION)},
                         "ownerReferences": [r for r in meta.get("ownerReferences") or []
                                             if r.get("controller")]},
            **body})
    generation = generations.pop() if len(generations) == 1 else ""
    return (int(generation), objects) if generation.isdigit() else None
