"""The world an exploration acts on: one namespace of the real cluster, the real broker
and the real operator process — and the model of what has been declared there.

Every step is a plain dict (so a sequence can be written as YAML and replayed): ``op``
names what to do, the rest is concrete (whole specs, child names), never drawn again.
"""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

from kubernetes import client
from kubernetes.dynamic import DynamicClient

from support.env import devenv, etcd_compact
from support.explore import specs
from support.kube import apply, get_custom, list_custom, meta, present
from support.operator import OperatorProcess
from support.wait import wait_until

CHILD_KINDS = (("v1", "ConfigMap"), ("v1", "Service"), ("apps/v1", "Deployment"),
               ("monitoring.coreos.com/v1", "ServiceMonitor"),
               ("monitoring.coreos.com/v1", "PrometheusRule"),
               ("grafana.integreatly.org/v1beta1", "GrafanaDashboard"))
MANAGED_BY = "app.kubernetes.io/managed-by=dashstream-operator"
EDIT_MANAGER = "kubectl-edit"
FAULTS = ("operator-kill", "broker-stop", "apiserver-restart", "quota")
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
    added: dict[tuple[str, str], tuple[str, str]] = field(default_factory=dict)  # -> uid, key
    faults: int = 0
    transitions: int = 0
    _op: AbstractContextManager[OperatorProcess] | None = None
    operator: OperatorProcess | None = None
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
            self.faults += 1
            getattr(self, "_fault_" + step["fault"].replace("-", "_"))(step.get("during"))
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
        obj = apply(self.dyn, specs.body(kind, name, self.ns, spec))
        before = self.declared.get((kind, name))
        self.declared[(kind, name)] = Declared(kind, name, spec, obj.metadata.uid)
        now = {t["name"] for t in spec.get("topics") or []}
        for topic in (before.spec.get("topics") or []) if before else []:
            if topic["name"] not in now:  # out of the spec: the status forgets its keys
                self.topic_keys.pop(topic["name"], None)
        for topic in spec.get("topics") or []:
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
        if gone is not None:
            self.gone_uids.add(gone.uid)
            for topic in gone.spec.get("topics") or []:
                self.topic_keys.pop(topic["name"], None)
        client.CustomObjectsApi(self.api).delete_namespaced_custom_object(
            "dashstream.io", "v1alpha1", self.ns, specs.KINDS[kind], name)

    def _edit_child(self, api_version: str, kind: str, name: str, how: str) -> None:
        res = self.dyn.resources.get(api_version=api_version, kind=kind)
        live = res.get(name=name, namespace=self.ns) if self._exists(api_version, kind, name) \
            else None
        if live is None:
            return  # not there in this replay: nothing to edit
        if how == "delete":
            res.delete(name=name, namespace=self.ns)
        elif how == "added":
            key = "example.com/added-by-hand"
            res.patch(name=name, namespace=self.ns, body={"metadata": {"annotations": {
                key: "kept"}}}, content_type="application/merge-patch+json",
                field_manager=EDIT_MANAGER)
            self.added[(kind, name)] = (live.metadata.uid, key)
        else:
            res.patch(name=name, namespace=self.ns, body=_owned_edit(kind, live.to_dict()),
                      content_type="application/merge-patch+json", field_manager=EDIT_MANAGER)

    def _foreign(self, name: str) -> None:
        """A ConfigMap made by someone else, with the name a child may want."""
        core = client.CoreV1Api(self.api)
        try:
            cm = core.create_namespaced_config_map(self.ns, client.V1ConfigMap(
                metadata=client.V1ObjectMeta(name=name), data={"owner": "someone else"}))
        except client.ApiException as exc:
            if exc.status == 409:
                return  # a child has the name already: nothing foreign to make
            raise
        self.foreign[name] = str(meta(cm).resource_version)

    def _unforeign(self, name: str) -> None:
        if self.foreign.pop(name, None) is not None:
            client.CoreV1Api(self.api).delete_namespaced_config_map(name, self.ns)

    def _pause(self, kind: str, name: str, spec: dict[str, Any]) -> None:
        """Pause, change the spec, see nothing move for two passes, resume."""
        from support.explore.oracle import children_versions

        declared = self.declared.get((kind, name))
        if declared is None:
            return
        annotations = {"dashstream.io/paused": "true"}
        apply(self.dyn, specs.body(kind, name, self.ns, declared.spec, annotations))
        op = self.operator_up()
        wait_until(lambda: _paused_reported(self, kind, name), timeout=60,
                   what=f"{kind} {name} ReconcilePaused")
        before = children_versions(self, declared.uid)
        apply(self.dyn, specs.body(kind, name, self.ns, spec, annotations))
        op.wait_passes(2)
        after = children_versions(self, declared.uid)
        if before != after:
            raise Violation(f"{kind} {name} is paused, yet its children changed: "
                            f"{sorted(set(before.items()) ^ set(after.items()))}")
        # Resuming: the annotation goes (SSA drops it: this manager no longer sets it).
        self._apply(kind, name, spec)

    # --- faults: each wraps one step made while the fault lasts -----------------------

    def _during(self, step: dict[str, Any] | None) -> None:
        if step is not None:
            self.do(step)

    def _fault_operator_kill(self, during: dict[str, Any] | None) -> None:
        op = self.operator_up()
        op.kill()
        self._during(during)
        self.operator_up()

    def _fault_broker_stop(self, during: dict[str, Any] | None) -> None:
        devenv("stop", "kafka")
        try:
            self._during(during)
            if any(k == "DashStreamPipeline" for k, _ in self.declared):
                wait_until(lambda: _kafka_unavailable_reported(self), timeout=90,
                           what="a pipeline reporting KafkaUnavailable")
        finally:
            devenv("start", "kafka")

    def _fault_apiserver_restart(self, during: dict[str, Any] | None) -> None:
        op = self.operator_up()
        op.proc.send_signal(signal.SIGSTOP)  # so it cannot see the restart's events
        try:
            devenv("stop", "kube-apiserver")
            devenv("start", "kube-apiserver")
            self._during(during)
            etcd_compact()  # the history of the step is gone: watches must relist
        finally:
            op.proc.send_signal(signal.SIGCONT)

    def _fault_quota(self, during: dict[str, Any] | None) -> None:
        """A ResourceQuota refuses every new ConfigMap while the step happens."""
        core = client.CoreV1Api(self.api)
        count = len(core.list_namespaced_config_map(self.ns).items)
        quota = client.V1ResourceQuota(
            metadata=client.V1ObjectMeta(name="explore-quota"),
            spec=client.V1ResourceQuotaSpec(hard={"count/configmaps": str(count)}))
        core.create_namespaced_resource_quota(self.ns, quota)
        try:
            wait_until(lambda: (present(core.read_namespaced_resource_quota(
                "explore-quota", self.ns).status).used or {}).get("count/configmaps"),
                       timeout=60, what="the ResourceQuota's usage computed")
            self._during(during)
            self.operator_up().wait_passes(2)
        finally:
            core.delete_namespaced_resource_quota("explore-quota", self.ns)

    # --- reading ----------------------------------------------------------------------

    def _exists(self, api_version: str, kind: str, name: str) -> bool:
        return any(o.metadata.name == name for o in self.list_kind(api_version, kind))

    def list_kind(self, api_version: str, kind: str) -> list[Any]:
        try:
            res = self.dyn.resources.get(api_version=api_version, kind=kind)
        except Exception:
            return []
        return list(res.get(namespace=self.ns).items)

    def children(self) -> Iterator[tuple[str, str, str]]:
        """(apiVersion, kind, name) of every object the operator labels as its child."""
        for api_version, kind in CHILD_KINDS:
            try:
                res = self.dyn.resources.get(api_version=api_version, kind=kind)
            except Exception:
                continue
            for obj in res.get(namespace=self.ns, label_selector=MANAGED_BY).items:
                yield api_version, kind, obj.metadata.name


class Violation(AssertionError):
    """The operator broke a property the exploration checks."""


def _owned_edit(kind: str, live: dict[str, Any]) -> dict[str, Any]:
    """A merge patch changing a field the operator owns on this kind of child."""
    if kind == "ConfigMap":
        data = live.get("data") or {}
        key = sorted(data)[0] if data else "edited"
        return {"data": {key: "edited by hand"}}
    if kind == "Deployment":
        return {"spec": {"replicas": (live["spec"].get("replicas") or 0) + 3}}
    if kind == "Service":
        selector = live["spec"].get("selector") or {"edited": ""}
        return {"spec": {"selector": {sorted(selector)[0]: "edited-by-hand"}}}
    return {"metadata": {"labels": {"app.kubernetes.io/name": "edited"}}}


def _paused_reported(world: World, kind: str, name: str) -> bool:
    obj = get_custom(client.CustomObjectsApi(world.api), "dashstream.io", "v1alpha1",
                     world.ns, specs.KINDS[kind], name)
    return any(c.get("type") == "ReconcilePaused" and c.get("status") == "True"
               for c in (obj.get("status") or {}).get("conditions") or [])


def _kafka_unavailable_reported(world: World) -> bool:
    items = list_custom(client.CustomObjectsApi(world.api), "dashstream.io", "v1alpha1",
                        world.ns, "dashstreampipelines")
    paused = [i for i in items if (i["metadata"].get("annotations") or {}).get(
        "dashstream.io/paused") == "true"]
    return any(c.get("reason") == "KafkaUnavailable"
               for i in items if i not in paused
               for c in (i.get("status") or {}).get("conditions") or [])
