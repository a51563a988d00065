"""Hypothesis strategies for DashStreamPipeline bodies (valid ones only)."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from dashstream_workloads.settings import SETTINGS

__all__ = ["CANARY", "pipeline_bodies"]

#: A value that must never appear in rendered output when given as a "secret" setting.
CANARY = "canary-5ecret-value-7f3a"

_names = st.from_regex(r"[a-z][a-z0-9-]{0,30}[a-z0-9](\.[a-z0-9]{1,8})?", fullmatch=True)
_refs = st.fixed_dictionaries({
    "name": st.from_regex(r"[a-z][a-z0-9-]{0,20}", fullmatch=True),
    "key": st.sampled_from(["username", "password", "ca.crt", "tls.crt", "tls.key", "k"]),
})
_setting_keys = st.sampled_from(sorted({s.name for s in SETTINGS} | {"EXTRA_FLAG", "X.y-z"}))
_setting_values = st.text(alphabet="abcdefghij0123456789:/.-_ ", max_size=20)


@st.composite
def _kafka(draw: st.DrawFn) -> dict[str, Any]:
    kafka: dict[str, Any] = {"bootstrapServers": draw(st.sampled_from(
        ["kafka:9092", "k-0.k:9093,k-1.k:9093", "[::1]:9092"]))}
    if draw(st.booleans()):
        kafka["sasl"] = {"mechanism": draw(st.sampled_from(["PLAIN", "SCRAM-SHA-256"])),
                         "usernameSecretRef": draw(_refs), "passwordSecretRef": draw(_refs)}
    tls = draw(st.sampled_from(["none", "empty", "ca", "mtls", "all"]))
    if tls != "none":
        kafka["tls"] = {}
        if tls in ("ca", "all"):
            kafka["tls"]["caSecretRef"] = draw(_refs)
        if tls in ("mtls", "all"):
            kafka["tls"]["certSecretRef"] = draw(_refs)
            kafka["tls"]["keySecretRef"] = draw(_refs)
    return kafka


@st.composite
def _component(draw: st.DrawFn) -> dict[str, Any] | None:
    if draw(st.booleans()):
        return None
    comp: dict[str, Any] = {}
    if draw(st.booleans()):
        comp["enabled"] = draw(st.booleans())
    if draw(st.booleans()):
        comp["replicas"] = draw(st.integers(0, 5))
    if draw(st.booleans()):
        comp["image"] = draw(st.sampled_from(["img:1", "r.example/x@sha256:" + "a" * 64]))
    if draw(st.booleans()):
        comp["resources"] = {"requests": {"cpu": draw(st.sampled_from(["100m", 1, "2"]))}}
    if draw(st.booleans()):
        settings = draw(st.dictionaries(_setting_keys, _setting_values, max_size=5))
        if draw(st.booleans()):
            settings["SOME_PASSWORD"] = CANARY
        comp["settings"] = settings
    return comp


@st.composite
def pipeline_bodies(draw: st.DrawFn) -> dict[str, Any]:
    """A DashStreamPipeline object with random (valid) spec and pipeline labels."""
    spec: dict[str, Any] = {"kafka": draw(_kafka())}
    comps = {k: draw(_component()) for k in ("websocketServer", "prometheusExporter",
                                              "qualityMonitor")}
    spec["components"] = {k: v for k, v in comps.items() if v is not None}
    if draw(st.booleans()):
        spec["topics"] = [{"name": "ev", "role": "events"}]
        if draw(st.booleans()):
            spec["topics"].append({"name": "ev-dlq", "role": "dlq"})
    if draw(st.booleans()):
        spec["monitoring"] = {"serviceMonitor": {
            "enabled": draw(st.booleans()),
            "interval": draw(st.sampled_from(["10s", "1m"])),
            "labels": draw(st.dictionaries(st.sampled_from(["release", "team"]),
                                           st.sampled_from(["prometheus", "a"]), max_size=2)),
        }}
    labels = draw(st.dictionaries(
        st.sampled_from(["app.kubernetes.io/instance", "team", "argocd.argoproj.io/x",
                         "app.kubernetes.io/name"]),
        st.sampled_from(["argo-app", "x", "other"]), max_size=3))
    return {
        "apiVersion": "dashstream.io/v1alpha1",
        "kind": "DashStreamPipeline",
        "metadata": {"name": draw(_names), "namespace": draw(st.sampled_from(["ns", "prod"])),
                     "uid": "uid-1", "labels": labels},
        "spec": spec,
    }
