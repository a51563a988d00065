"""Does any Prometheus pick up what we generated? Evaluated as prometheus-operator does. Pure.

prometheus-operator configures a ``Prometheus`` with the ServiceMonitors matched by its
``serviceMonitorSelector`` in the namespaces matched by ``serviceMonitorNamespaceSelector``
(and likewise PrometheusRules with ``ruleSelector`` / ``ruleNamespaceSelector``). An
unset label selector matches nothing and an empty one everything; an unset namespace
selector means the Prometheus's own namespace only. A monitor that no Prometheus
selects fails silently — no error anywhere, only missing data during an incident — so
the verdict goes into the owner's status, naming each Prometheus and what it wanted.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["SELECTORS", "SELECTS", "PrometheusSelectors", "Prometheuses", "Selection",
           "SelectionCheck", "State", "describe_selector", "label_selector_matches", "selection",
           "selection_summary"]

# kind -> (label selector field, namespace selector field) of a Prometheus spec
SELECTORS = {
    "ServiceMonitor": ("serviceMonitorSelector", "serviceMonitorNamespaceSelector"),
    "PrometheusRule": ("ruleSelector", "ruleNamespaceSelector"),
}
# What each kind of prometheus-operator server selects (with the same selector fields):
# an agent scrapes but evaluates no rules; a ThanosRuler evaluates rules, scrapes nothing.
SELECTS = {
    "Prometheus": frozenset({"ServiceMonitor", "PrometheusRule"}),
    "PrometheusAgent": frozenset({"ServiceMonitor"}),
    "ThanosRuler": frozenset({"PrometheusRule"}),
}
State = Literal["listed", "absent", "forbidden", "unknown"]
NamespaceLabels = Callable[[str], Mapping[str, str] | None]  # None: cannot be read


@dataclass(frozen=True)
class PrometheusSelectors:
    """The part of a Prometheus (or PrometheusAgent, ThanosRuler) that decides what it
    selects."""

    namespace: str
    name: str
    selectors: tuple[tuple[str, Any], ...]  # (field, value) of the four selector fields
    kind: str = "Prometheus"

    @classmethod
    def of(cls, obj: Mapping[str, Any]) -> PrometheusSelectors:
        spec = obj.get("spec") or {}
        fields = sorted({f for pair in SELECTORS.values() for f in pair})
        meta = obj.get("metadata") or {}
        return cls(str(meta.get("namespace", "")), str(meta.get("name", "")),
                   tuple((f, spec.get(f)) for f in fields), str(obj.get("kind") or "Prometheus"))

    def get(self, field_name: str) -> Any:
        return dict(self.selectors).get(field_name)

    @property
    def ref(self) -> str:
        return f"{self.kind} {self.namespace}/{self.name}"


@dataclass(frozen=True)
class Prometheuses:
    """What is known of the cluster's Prometheus objects. ``state``: ``listed`` (``items``
    is all of them), ``absent`` (the CRD is not installed), ``forbidden`` (we may not read
    them) or ``unknown`` (not yet listed)."""

    state: State
    items: tuple[PrometheusSelectors, ...] = ()


@dataclass
class Selection:
    """One generated object's verdict."""

    kind: str
    name: str
    selected_by: list[str] = field(default_factory=list)
    why_not: list[str] = field(default_factory=list)  # one line per Prometheus
    undecided: list[str] = field(default_factory=list)  # namespace labels unreadable


def label_selector_matches(selector: Mapping[str, Any] | None, labels: Mapping[str, str]) -> bool:
    """metav1.LabelSelectorAsSelector semantics: None matches nothing, {} everything."""
    if selector is None:
        return False
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
        if (op in ("In", "NotIn")) != bool(values):
            return False  # In/NotIn need values, Exists/DoesNotExist none: invalid
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and key in labels and labels[key] in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
        if op not in ("In", "NotIn", "Exists", "DoesNotExist"):
            return False  # prometheus-operator refuses such a selector: it selects nothing
    return True


def describe_selector(selector: Mapping[str, Any] | None) -> str:
    if selector is None:
        return "nothing (the selector is unset)"
    parts = [f"{k}={v}" for k, v in sorted((selector.get("matchLabels") or {}).items())]
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
        parts.append({"In": f"{key} in ({','.join(values)})",
                      "NotIn": f"{key} notin ({','.join(values)})",
                      "Exists": f"{key}", "DoesNotExist": f"!{key}"}.get(op, f"{key} {op}"))
    return ",".join(parts) or "everything"


def _keys(selector: Mapping[str, Any]) -> list[str]:
    keys = list(selector.get("matchLabels") or {})
    keys += [e.get("key") for e in selector.get("matchExpressions") or [] if e.get("key")]
    return sorted(set(keys))


def _has(kind: str, selector: Mapping[str, Any] | None, labels: Mapping[str, str]) -> str:
    """What the object has of the labels the selector looks at."""
    keys = _keys(selector or {})
    present = [f"{k}={labels[k]}" for k in keys if k in labels]
    absent = [k for k in keys if k not in labels]
    parts = []
    if present:
        parts.append(f"the {kind} has {','.join(present)}")
    if absent:
        parts.append(f"{'it' if present else f'the {kind}'} has no "
                     f"{'/'.join(absent)} label")
    return " and ".join(parts)


def _one(p: PrometheusSelectors, kind: str, namespace: str, labels: Mapping[str, str],
         namespace_labels: NamespaceLabels) -> tuple[str, str | None]:
    """('selected' | 'not' | 'undecided', why)."""
    label_field, ns_field = SELECTORS[kind]
    ns_selector = p.get(ns_field)
    if ns_selector is None:
        if namespace != p.namespace:
            return "not", (f"{p.ref} looks only in its own namespace "
                           f"{p.namespace} ({ns_field} is unset)")
    elif ns_selector.get("matchLabels") or ns_selector.get("matchExpressions"):
        ns_labels = namespace_labels(namespace)
        if ns_labels is None:
            return "undecided", (f"{p.ref}: the labels of Namespace {namespace} "
                                 f"cannot be read to evaluate its {ns_field}")
        # The API server labels every namespace with its name; selectors often use it.
        ns_labels = {"kubernetes.io/metadata.name": namespace, **ns_labels}
        if not label_selector_matches(ns_selector, ns_labels):
            return "not", (f"{p.ref} wants namespaces with "
                           f"{describe_selector(ns_selector)} ({ns_field}); Namespace "
                           f"{namespace} does not match")
    selector = p.get(label_field)
    if label_selector_matches(selector, labels):
        return "selected", None
    if selector is None:
        return "not", f"{p.ref} selects no {kind} ({label_field} is unset)"
    return "not", (f"{p.ref} wants {describe_selector(selector)}; "
                   f"{_has(kind, selector, labels)}")


def selection(obj: Mapping[str, Any], prometheuses: Sequence[PrometheusSelectors],
              namespace_labels: NamespaceLabels) -> Selection:
    """Which Prometheus objects select ``obj`` (a ServiceMonitor or PrometheusRule)."""
    meta = obj["metadata"]
    out = Selection(obj["kind"], meta["name"])
    for p in prometheuses:
        if obj["kind"] not in SELECTS.get(p.kind, ()):
            continue
        verdict, why = _one(p, obj["kind"], meta["namespace"], meta.get("labels") or {},
                            namespace_labels)
        if verdict == "selected":
            out.selected_by.append(p.ref)
        elif verdict == "undecided":
            out.undecided.append(why or "")
        else:
            out.why_not.append(why or "")
    return out


def _plural(kind: str, names: Sequence[str]) -> str:
    return f"{kind} {names[0]}" if len(names) == 1 else f"{kind}s {', '.join(names)}"


def selection_summary(kind: str, objects: Sequence[Mapping[str, Any]],
                      prometheuses: Prometheuses,
                      namespace_labels: NamespaceLabels) -> tuple[str, str, str]:
    """(status, reason, message) over every generated object of ``kind``:
    ``Selected`` True, ``NotSelected`` False, or ``SelectionUnknown`` True when the
    cluster cannot tell (no Prometheus, no CRD, no permission) — said, never failed."""
    names = [o["metadata"]["name"] for o in objects if o["kind"] == kind]
    crd = "prometheuses.monitoring.coreos.com"
    if prometheuses.state == "absent":
        return "True", "SelectionUnknown", (f"the Prometheus CRD ({crd}) is not installed: "
                                            f"no Prometheus can select the {_plural(kind, names)}")
    if prometheuses.state == "forbidden":
        return "True", "SelectionUnknown", (
            f"not allowed to list Prometheus objects ({crd}): whether one selects the "
            f"{_plural(kind, names)} is not checked (grant get, list and watch, as the chart "
            "does with rbac.readPrometheuses)")
    if prometheuses.state == "unknown":
        return "True", "SelectionUnknown", "the Prometheus objects are not listed yet"
    if not prometheuses.items:
        return "True", "SelectionUnknown", (f"no Prometheus object exists in the cluster to "
                                            f"select the {_plural(kind, names)}")
    if not any(kind in SELECTS.get(p.kind, ()) for p in prometheuses.items):
        return "True", "SelectionUnknown", (f"no Prometheus object in the cluster can select "
                                            f"the {_plural(kind, names)}")
    verdicts = [selection(o, prometheuses.items, namespace_labels)
                for o in objects if o["kind"] == kind]
    missing = [v for v in verdicts if not v.selected_by and not v.undecided]
    if missing:
        # Monitors of one owner usually fail for the same reason: say it once.
        by_reason: dict[str, list[str]] = {}
        for v in missing:
            by_reason.setdefault(_first(v.why_not, "Prometheus objects"), []).append(v.name)
        return "False", "NotSelected", "; ".join(
            f"{_plural(kind, group)} {'is' if len(group) == 1 else 'are'} selected by no "
            f"Prometheus: {why}" for why, group in by_reason.items())
    undecided = [v for v in verdicts if not v.selected_by]
    if undecided:
        return "True", "SelectionUnknown", "; ".join(
            f"{kind} {v.name}: {_first(v.undecided, 'Prometheus objects')}"
            for v in undecided)
    by = sorted({ref for v in verdicts for ref in v.selected_by})
    return "True", "Selected", f"{_plural(kind, names)} selected by {_first(by, 'more', ', ')}"


def _first(items: Sequence[str], noun: str, sep: str = "; ", limit: int = 3) -> str:
    """At most ``limit`` items: a cluster may hold hundreds of Prometheus objects, and a
    condition message must stay readable (and within the API's limit)."""
    more = f"{sep}and {len(items) - limit} more {noun}" if len(items) > limit else ""
    return sep.join(items[:limit]) + more


def _unreadable(_namespace: str) -> Mapping[str, str] | None:
    return None


@dataclass(frozen=True)
class SelectionCheck:
    """What a reconcile needs to judge selection: the Prometheus objects known, and a
    way to read a namespace's labels (for namespace selectors)."""

    prometheuses: Prometheuses = Prometheuses("unknown")
    namespace_labels: NamespaceLabels = _unreadable

    def summary(self, kind: str, objects: Sequence[Mapping[str, Any]]) -> tuple[str, str, str]:
        return selection_summary(kind, objects, self.prometheuses, self.namespace_labels)
