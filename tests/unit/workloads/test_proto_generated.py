"""The committed protobuf code matches dashstream.proto (scripts/gen_proto.py)."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[3]

pytest.importorskip("grpc_tools", reason="grpcio-tools (dev extra) generates the code")


def _gen_proto() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_proto", REPO / "scripts" / "gen_proto.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_generated_code_is_up_to_date(capsys: pytest.CaptureFixture[str]) -> None:
    assert _gen_proto().main(["--check"]) == 0, capsys.readouterr().err


def test_check_names_the_stale_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    gen = _gen_proto()
    proto_dir = tmp_path / "workloads" / "dashstream_workloads" / "proto"
    shutil.copytree(REPO / "workloads" / "dashstream_workloads" / "proto", proto_dir)
    monkeypatch.setattr(gen, "REPO", tmp_path)
    monkeypatch.setattr(gen, "PROTO_ROOT", tmp_path / "workloads")
    stale = proto_dir / "dashstream_pb2.pyi"
    stale.write_text(stale.read_text() + "# edited by hand\n")
    assert gen.main(["--check"]) == 1
    assert "dashstream_workloads/proto/dashstream_pb2.pyi: differs" in capsys.readouterr().err
    assert gen.main([]) == 0  # regenerates
    assert gen.main(["--check"]) == 0


def test_generated_module_imports_from_the_package() -> None:
    from dashstream_workloads.proto import dashstream_pb2

    assert (
        dashstream_pb2.DashStreamMessage.DESCRIPTOR.full_name == "dashstream.v1.DashStreamMessage"
    )
    oneof = dashstream_pb2.DashStreamMessage.DESCRIPTOR.oneofs_by_name["payload"]
    assert {f.name for f in oneof.fields} == {"quality", "heartbeat"}
