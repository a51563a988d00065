#!/usr/bin/env python3
"""Generate (or check) the Python code for the DashStream protobuf schema.

Usage::

    python scripts/gen_proto.py          # regenerate the committed *_pb2.py/.pyi
    python scripts/gen_proto.py --check  # exit 1 if they differ from a fresh run

The generated files are committed so that the workloads import without a
build step; ``--check`` (run by the unit tests and CI) keeps them from
drifting from the ``.proto``. protoc comes from ``grpcio-tools``, pinned in
the ``dev`` extra because its version is written into the generated code.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Sequence
from importlib import metadata, resources
from pathlib import Path

__all__ = ["PROTOS", "PROTO_ROOT", "generate", "main"]

REPO = Path(__file__).resolve().parents[1]
#: protoc's include root: paths below it become Python module paths, which
#: makes the generated import path dashstream_workloads.proto.dashstream_pb2.
PROTO_ROOT = REPO / "workloads"
PROTOS = ("dashstream_workloads/proto/dashstream.proto",)
_SUFFIXES = ("_pb2.py", "_pb2.pyi")


def _expected_outputs() -> list[str]:
    return [proto.removesuffix(".proto") + suffix for proto in PROTOS for suffix in _SUFFIXES]


def generate(out_dir: Path) -> None:
    """Run protoc on :data:`PROTOS`, writing the Python code under ``out_dir``.

    Raises
    ------
    RuntimeError
        If protoc fails or grpcio-tools is missing.
    """
    try:
        from grpc_tools import protoc
    except ImportError as exc:
        raise RuntimeError("grpcio-tools is not installed: pip install -e '.[dev]'") from exc
    well_known = resources.files("grpc_tools") / "_proto"
    args = [
        "protoc",
        f"-I{PROTO_ROOT}",
        f"-I{well_known}",
        f"--python_out={out_dir}",
        f"--pyi_out={out_dir}",
        *(str(PROTO_ROOT / proto) for proto in PROTOS),
    ]
    if protoc.main(args) != 0:
        raise RuntimeError(f"protoc failed: {' '.join(args)}")


def _differences(fresh: Path) -> list[str]:
    problems = []
    for rel in _expected_outputs():
        committed = PROTO_ROOT / rel
        if not committed.exists():
            problems.append(f"{committed.relative_to(REPO)}: missing")
        elif committed.read_bytes() != (fresh / rel).read_bytes():
            problems.append(f"{committed.relative_to(REPO)}: differs from a fresh generation")
    return problems


def main(argv: Sequence[str] | None = None) -> int:
    """Regenerate the protobuf code, or with ``--check`` only compare it.

    Returns
    -------
    int
        0 when up to date (or regenerated), 1 when ``--check`` finds drift.
    """
    parser = argparse.ArgumentParser(
        description="Generate (or check) the Python code for the DashStream protobuf schema."
    )
    parser.add_argument(
        "--check", action="store_true", help="do not write; exit 1 if generated code is stale"
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        fresh = Path(tmp)
        generate(fresh)
        problems = _differences(fresh)
        if args.check:
            for problem in problems:
                print(problem, file=sys.stderr)
            if problems:
                tools = metadata.version("grpcio-tools")
                print(
                    f"run: python scripts/gen_proto.py  (with grpcio-tools {tools}; "
                    "the dev extra pins the version the committed code was made with)",
                    file=sys.stderr,
                )
                return 1
            print("generated protobuf code is up to date")
            return 0
        for rel in _expected_outputs():
            target = PROTO_ROOT / rel
            content = (fresh / rel).read_bytes()
            if not target.exists() or target.read_bytes() != content:
                target.write_bytes(content)
                print(f"wrote {target.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
