"""The world an exploration acts on: one namespace of the real cluster, the real broker
and the real operator process — and the model of what has been declared there.

Every step is a plain dict (so a sequence can be written as YAML and replayed): ``op``
names what to do, the rest is concrete (whole specs, child names), never drawn again.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

from kubernetes import client
from kubernetes.dynamic import DynamicClient
from kubernetes.dynamic.exceptions import ResourceNotFoundError

from support.explore import handwork, specs
from support.kube import apply, get_custom
from support.operator import OperatorProcess
from support.wait import wait_until

CHILD_KINDS = (("v1", "ConfigMap"), ("v1", "Service"), ("apps/v1", "Deployment"),
               ("monitoring.coreos.com/v1", "ServiceMonitor"),
               ("monitoring.coreos.com/v1", "PrometheusRule"),
               ("grafana.integreatly.org/v1beta1", "GrafanaDashboard"))
MANAGED_BY = "app.kubernetes.io/managed-by=dashstream-operator"
FAULT_NAMES = ("operator-kill", "operator-kill-mid", "broker-stop", "apiserver-restart",
               "quota")
OperatorFactory = Callable[[], AbstractContextManager[OperatorProcess]]


@dataclass
class Declared:
    """One CR as the exploration last declared it."""

    kind: str
    name: str
    spec: dict[str, Any]
    uid: str = ""


@dataclass
class World:
    ns: str
    api: client.ApiClient
    dyn: DynamicClient
    admin: Any
    bootstrap: str
    start_operator: OperatorFactory
    declared: dict[tuple[str, str], Declared] = field(default_factory=dict)
    # the declared specs as steps write them ({ns}, {bootstrap}): what changes start from
    templates: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    gone_uids: set[str] = field(default_factory=set)
    foreign: dict[str, str] = field(default_factory=dict)  # ConfigMap name -> resourceVersion
    max_partitions: dict[str, int] = field(default_factory=dict)
    # topic -> config keys declared for it since it was last (re)declared: the keys the
    # operator must reset when they leave the spec
    topic_keys: dict[str, set[str]] = field(default_factory=dict)
    # AlertRuleSet -> (spec, generation) of its last valid spec: what stays synced while a
    # newer one is refused
    last_valid: dict[tuple[str, str], tuple[dict[str, Any], int]] = field(default_factory=dict)
    # topics of pipelines deleted under topicDeletionPolicy: Delete, not declared since
    deleted_topics: set[str] = field(default_factory=set)
    added: dict[tuple[str, str], tuple[str, str]] = field(default_factory=dict)  # -> uid, key
    faults: int = 0
    transitions: int = 0
    _op: AbstractContextManager[OperatorProcess] | None = None
    operator: OperatorProcess | None = None
    crds: dict[str, bool] = field(default_factory=dict)  # kind -> served (oracle.has_crd)
    _log_of: OperatorProcess | None = None
    _log_seen: int = 0

    # --- the operator process ---------------------------------------------------------

    def operator_up(self) -> OperatorProcess:
        if self.operator is None or not self.operator.alive():
            self.operator_down()
            self._op = self.start_operator()
            self.operator = self._op.__enter__()
        return self.operator

    def operator_down(self) -> None:
        """Stop the process and judge its log (the run_operator context does; its
        pytest failure becomes a Violation, which hypothesis can shrink)."""
        if self._op is not None:
            op, self._op, self.operator = self._op, None, None
            try:
                op.__exit__(None, None, None)
            except BaseException as exc:
                if type(exc).__name__ != "Failed":
                    raise
                raise Violation(str(exc)) from None

    def unread_log(self) -> str:
        """The running operator's log lines not judged yet."""
        if self.operator is None:
            return ""
        if self._log_of is not self.operator:
            self._log_of, self._log_seen = self.operator, 0
        text = self.operator.log()
        new, self._log_seen = text[self._log_seen:], len(text)
        return new

    # --- steps ------------------------------------------------------------------------

    def concrete(self, value: Any) -> Any:
        """Steps name the namespace and the broker as {ns} and {bootstrap}, so a sequence
        replays anywhere."""
        if isinstance(value, str):
            return value.replace("{ns}", self.ns).replace("{bootstrap}", self.bootstrap)
        if isinstance(value, dict):
            return {k: self.concrete(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.concrete(v) for v in value]
        return value

    def do(self, step: dict[str, Any]) -> None:
        """Run one step; a fault's inner step counts as a transition of its own."""
        self.transitions += 1
        op = step["op"]
        if op == "fault":
            from support.explore.faults import FAULTS  # faults act on a World

            self.faults += 1
            FAULTS[step["fault"]](self, step.get("during"))
            return
        concrete = self.concrete(step)
        # "change" only says which field a spec change touched (for people and stats).
        getattr(self, "_" + op.replace("-", "_"))(**{k: v for k, v in concrete.items()
                                                     if k not in ("op", "change")})
        key = (step.get("kind", ""), step.get("name", ""))
        if op in ("apply", "pause") and key in self.declared:
            self.templates[key] = step["spec"]
        elif op == "delete":
            self.templates.pop(key, None)

    def _apply(self, kind: str, name: str, spec: dict[str, Any]) -> None:
        obj = _retrying(lambda: apply(self.dyn, specs.body(kind, name, self.ns, spec)))
        before = self.declared.get((kind, name))
        self.declared[(kind, name)] = Declared(kind, name, spec, obj.metadata.uid)
        if kind == "AlertRuleSet" and not specs.is_broken(spec):
            self.last_valid[(kind, name)] = (spec, int(obj.metadata.generation))
        now = {t["name"] for t in spec.get("topics") or []}
        for topic in (before.spec.get("topics") or []) if before else []:
            if topic["name"] not in now:  # out of the spec: the status forgets its keys
                self.topic_keys.pop(topic["name"], None)
        for topic in spec.get("topics") or []:
            self.deleted_topics.discard(topic["name"])
            self.max_partitions[topic["name"]] = max(self.max_partitions.get(topic["name"], 0),
                                                     topic.get("partitions", 1))
            self.topic_keys.setdefault(topic["name"], set()).update(topic.get("config") or {})

    def _apply_invalid(self, kind: str, name: str, spec: dict[str, Any]) -> None:
        try:
            apply(self.dyn, specs.body(kind, name, self.ns, spec))
        except client.ApiException as exc:
            if exc.status in (400, 422):
                return
            raise
        raise Violation(f"the API server accepted an invalid {kind} {name}")

    def _delete(self, kind: str, name: str) -> None:
        gone = self.declared.pop((kind, name), None)
        self.last_valid.pop((kind, name), None)
        if gone is not None:
            self.gone_uids.add(gone.uid)
            for topic in gone.spec.get("topics") or []:
                self.topic_keys.pop(topic["name"], None)
                if gone.spec.get("topicDeletionPolicy") == "Delete":
                    self.deleted_topics.add(topic["name"])
                    self.max_partitions.pop(topic["name"], None)
        _retrying(lambda: client.CustomObjectsApi(self.api).delete_namespaced_custom_object(
            "dashstream.io", "v1alpha1", self.ns, specs.KINDS[kind], name))

    def _edit_child(self, api_version: str, kind: str, name: str, how: str) -> None:
        added = handwork.edit_child(self.dyn, self.ns, api_version, kind, name, how)
        if added is not None:
            self.added[(kind, name)] = added

    def _foreign(self, name: str) -> None:
        rv = handwork.make_foreign(self.api, self.ns, name)
        if rv is not None:
            self.foreign[name] = rv

    def _unforeign(self, name: str) -> None:
        if self.foreign.pop(name, None) is not None:
            client.CoreV1Api(self.api).delete_namespaced_config_map(name, self.ns)

    def _pause(self, kind: str, name: str, spec: dict[str, Any]) -> None:
        """Pause, change the spec, see nothing move for two passes, resume."""
        declared = self.declared.get((kind, name))
        if declared is None:
            return
        annotations = {"dashstream.io/paused": "true"}
        apply(self.dyn, specs.body(kind, name, self.ns, declared.spec, annotations))
        op = self.operator_up()
        wait_until(lambda: _paused_reported(self, kind, name), timeout=60,
                   what=f"{kind} {name} ReconcilePaused")
        # What it manages must not move; its own status may (ReconcilePaused follows the
        # generation: it says which spec is being left alone).
        before = (self.children_versions(declared.uid), self.topics_state(declared.spec))
        apply(self.dyn, specs.body(kind, name, self.ns, spec, annotations))
        op.wait_passes(2)
        after = (self.children_versions(declared.uid), self.topics_state(declared.spec))
        if before != after:
            raise Violation(f"{kind} {name} is paused, yet children changed: "
                            f"{sorted(set(before[0].items()) ^ set(after[0].items()))}; "
                            f"topics before {before[1]}, after {after[1]}")
        # Resuming: the annotation goes (SSA drops it: this manager no longer sets it).
        self._apply(kind, name, spec)

    # --- reading ----------------------------------------------------------------------

    def topics_state(self, spec: dict[str, Any]) -> dict[str, Any]:
        """Partitions and topic-level configs of the topics ``spec`` declares."""
        from confluent_kafka.admin import ConfigResource, ResourceType

        md = self.admin.list_topics(timeout=10).topics
        out: dict[str, Any] = {}
        for name in (t["name"] for t in spec.get("topics") or []):
            if name in md:
                res = ConfigResource(ResourceType.TOPIC, name)
                entries = self.admin.describe_configs([res])[res].result(timeout=10)
                out[name] = (len(md[name].partitions), sorted(
                    (k, e.value) for k, e in entries.items() if not e.is_default))
        return out

    def list_kind(self, api_version: str, kind: str) -> list[Any]:
        try:
            res = self.dyn.resources.get(api_version=api_version, kind=kind)
        except ResourceNotFoundError:  # its CRD is not installed: no objects of the kind
            return []
        return list(res.get(namespace=self.ns).items)

    def children_versions(self, *owner_uids: str) -> dict[str, str]:
        """Each child of the owners by its resourceVersion — a Deployment by its
        generation: its controller writes its status on its own. One LIST per kind."""
        out = {}
        for api_version, kind in CHILD_KINDS:
            for obj in self.list_kind(api_version, kind):
                if any(r.uid in owner_uids for r in obj.metadata.ownerReferences or []):
                    out[f"{kind}/{obj.metadata.name}"] = str(
                        obj.metadata.generation if kind == "Deployment"
                        else obj.metadata.resourceVersion)
        return out


def _retrying(call: Callable[[], Any]) -> Any:
    """An API call retried while the API server says it is not ready yet (429/5xx right
    after a restart, as any client would)."""
    def attempt() -> Any:
        try:
            return (call(),)
        except client.ApiException as exc:
            if exc.status in (429, 500, 503):
                return None
            raise
    return wait_until(attempt, timeout=60, what="the API server accepting the request")[0][0]


class Violation(AssertionError):
    """The operator broke a property the exploration checks."""


def _paused_reported(world: World, kind: str, name: str) -> bool:
    obj = get_custom(client.CustomObjectsApi(world.api), "dashstream.io", "v1alpha1",
                     world.ns, specs.KINDS[kind], name)
    return any(c.get("type") == "ReconcilePaused" and c.get("status") == "True"
               for c in (obj.get("status") or {}).get("conditions") or [])
