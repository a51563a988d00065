"""The bad-input corpus, Kafka messages, rule files and dashboards: each bad frame is
refused with its decode error type, each bad file by `dashstream validate` (exit 1)
with a message naming what is wrong. No environment needed.

Custom resources: test_bad_input_crs.py.
"""

from __future__ import annotations

import copy
import json
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from dashstream_operator.cli import main as dashstream_cli
from dashstream_workloads import wire
from dashstream_workloads.proto import dashstream_pb2 as pb
from support.env import REPO

EXPORTER_DASHBOARD = REPO / "dashboards/dashstream-exporter.json"


def _message_cases() -> list[tuple[str, bytes, str]]:
    msg = pb.DashStreamMessage()
    msg.header.thread_id, msg.header.sequence = "t", 1
    msg.header.schema_version = wire.SCHEMA_VERSION
    msg.quality.model = "m"
    good = wire.encode(msg, compress_threshold=None)
    future = copy.deepcopy(msg)
    future.header.schema_version = wire.SCHEMA_VERSION + 5
    return [
        ("empty frame", b"", "buffer_underflow"),
        ("flag byte, no payload", b"\x00", "buffer_underflow"),
        ("truncated message", good[: len(good) // 2], "buffer_underflow"),
        ("garbage bytes", b"\x00\xff\xfe\xfd garbage \x07\x08", "invalid_protobuf"),
        ("oversized payload", b"\x00" + b"\x01" * 4096, "payload_too_large"),
        ("future schema version", wire.encode(future, compress_threshold=None),
         "schema_version_mismatch"),
        ("corrupt zstd", bytes([wire.FLAG_ZSTD]) + b"\x28\xb5\x2f\xfd garbage",
         "decompression_failure"),
        ("reserved flag bits", bytes([0x80]) + good[1:], "unknown_decode_error"),
        ("deflate instead of zstd", bytes([wire.FLAG_ZSTD]) + zlib.compress(good[1:]),
         "decompression_failure"),
    ]


# A file's content: its text, or a change to a copy of the exporter dashboard.
Content = str | Callable[[dict[str, Any]], Any]


def rules(name: str, text: str) -> tuple[str, Content]:
    return f"{name}.rules.yaml", text


def dash(name: str, content: Content) -> tuple[str, Content]:
    return f"{name}.json", content


def first_target(d: dict[str, Any]) -> dict[str, Any]:
    return next(p for p in d["panels"] if p.get("targets"))["targets"][0]


# (case, (file name, content), text the report must contain)
FILE_CASES: list[tuple[str, tuple[str, Content], str]] = [
    ("rules: not YAML", rules("notyaml", "groups: [unclosed"), "notyaml"),
    ("rules: broken PromQL", rules("promql", "groups: [{name: g, rules: [{alert: A, "
                                   "expr: 'rate(up[5m]', labels: {severity: x}}]}]"), "PromQL"),
    ("rules: bad duration", rules("dur", "groups: [{name: g, rules: [{alert: A, expr: up, "
                                  "for: 5 minutes, labels: {severity: x}}]}]"), "for"),
    ("rules: bad template", rules("tmpl", "groups: [{name: g, rules: [{alert: A, expr: up, "
                                  "labels: {severity: x}, annotations: {summary: '{{ $value "
                                  "'}}]}]"), "template"),
    ("rules: duplicate alert", rules("dupe", "groups: [{name: g, rules: [{alert: A, expr: "
                                     "up, labels: {severity: x}}, {alert: A, expr: up, "
                                     "labels: {severity: x}}]}]"), "duplicate"),
    ("rules: missing severity", rules("sev", "groups: [{name: g, rules: [{alert: A, "
                                      "expr: up}]}]"), "severity"),
    ("rules: unknown metric", rules("ghost", "groups: [{name: g, rules: [{alert: A, expr: "
                                    "'ghost_metric_total > 0', labels: {severity: x}}]}]"),
     "ghost_metric_total"),
    ("dashboard: not JSON", dash("notjson", "{ nope"), "notjson"),
    ("dashboard: no uid", dash("nouid", lambda d: d.pop("uid")), "uid"),
    ("dashboard: duplicate panel ids", dash("dupid", lambda d: d["panels"][1].update(
        id=d["panels"][0]["id"])), "id"),
    ("dashboard: broken query", dash("badq", lambda d: first_target(d).update(
        expr="sum(rate(x[5m])")), "PromQL"),
    ("dashboard: unknown metric", dash("ghostdash", lambda d: first_target(d).update(
        expr="rate(ghost_metric_total[5m])")), "ghost_metric_total"),
    ("dashboard: hard-coded datasource", dash("ds", lambda d: first_target(d).update(
        datasource={"type": "prometheus", "uid": "P1234"})), "datasource"),
]


@pytest.mark.parametrize(("frame", "error_type"),
                         [pytest.param(f, e, id=c) for c, f, e in _message_cases()])
def test_decode_refuses_message(frame: bytes, error_type: str) -> None:
    with pytest.raises(wire.DecodeError) as refused:
        wire.decode(frame, max_payload_bytes=1024)
    assert refused.value.error_type == error_type


@pytest.mark.parametrize(("file", "text"), [pytest.param(f, t, id=c) for c, f, t in FILE_CASES])
def test_validate_refuses_file(file: tuple[str, Content], text: str, tmp_path: Path,
                               capsys: pytest.CaptureFixture[str]) -> None:
    name, content = file
    path = tmp_path / name
    if isinstance(content, str):
        path.write_text(content)
    else:
        dashboard = json.loads(EXPORTER_DASHBOARD.read_text())
        content(dashboard)
        path.write_text(json.dumps(dashboard))
    code = dashstream_cli(["validate", str(path)])
    out = capsys.readouterr()
    report = out.out + out.err
    assert code == 1, f"exit {code}\n{report}"
    assert text.lower() in report.lower(), f"report lacks {text!r}:\n{report}"


def test_corpus_size() -> None:
    # The corpus only grows; with test_bad_input_crs.py, 50 cases (the README says 50+).
    assert len(_message_cases()) + len(FILE_CASES) >= 22
