"""``dashstream render -f pipeline.yaml``: the children the operator would apply, as YAML.

Uses the operator's own renderer, so what a GitOps reviewer sees is exactly what
server-side apply will send. Offline there is no cluster to ask whether the
ServiceMonitor CRD exists: it is assumed to (``--no-servicemonitor`` to render the
annotation fallback instead).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, TextIO

import yaml

from dashstream_operator.cli import command
from dashstream_operator.defaults import default_workload_image
from dashstream_operator.models import PIPELINE, DashStreamPipelineSpec, SpecError
from dashstream_operator.render import render_pipeline_children, settings_problems

__all__ = ["DEFAULT_IMAGE", "UID_PLACEHOLDER", "dump_children", "render", "render_documents"]



#: The image used when neither the CR nor ``--image`` names one.
DEFAULT_IMAGE = default_workload_image()
#: ownerReferences need a uid, which only the API server assigns.
UID_PLACEHOLDER = "00000000-0000-0000-0000-000000000000"


class _NoAliasDumper(yaml.SafeDumper):
    """Plain Kubernetes YAML: never ``&id001`` anchors, whatever the input shares."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("-f", "--filename", required=True, metavar="FILE",
                   help="YAML file holding DashStreamPipeline objects ('-' for stdin); "
                        "other kinds in it are skipped")
    p.add_argument("--no-servicemonitor", action="store_true",
                   help="render as for a cluster without the ServiceMonitor CRD "
                        "(prometheus.io/* Service annotations instead)")
    p.add_argument("--image", default=DEFAULT_IMAGE,
                   help=f"default workloads image (default: {DEFAULT_IMAGE})")
    p.add_argument("-n", "--namespace", default="default",
                   help="namespace for objects whose metadata has none (default: default)")


def _pipelines(docs: Iterator[Any]) -> Iterator[Mapping[str, Any]]:
    for doc in docs:
        if isinstance(doc, Mapping) and doc.get("kind") == PIPELINE.kind:
            yield doc


def render_documents(body: Mapping[str, Any], *, default_image: str, servicemonitor_crd: bool,
                     namespace: str = "default") -> list[dict[str, Any]]:
    """The children of one DashStreamPipeline object (uid placeholder when it has none)."""
    meta = body.get("metadata") or {}
    if not meta.get("name"):
        raise SpecError([("metadata.name", "required")])
    spec = DashStreamPipelineSpec.from_body(body)
    return render_pipeline_children(
        meta["name"], meta.get("namespace") or namespace, meta.get("uid") or UID_PLACEHOLDER,
        spec, default_image=default_image, servicemonitor_crd=servicemonitor_crd)


def dump_children(children: list[dict[str, Any]], out: TextIO) -> None:
    """A multi-document YAML stream, in render order, keys in render order."""
    yaml.dump_all(children, out, Dumper=_NoAliasDumper, sort_keys=False, explicit_start=True,
                  default_flow_style=False, width=100)


def render(text: str, *, default_image: str, servicemonitor_crd: bool,
           namespace: str = "default") -> tuple[list[dict[str, Any]], list[str]]:
    """Children of every pipeline in ``text`` and the settings notes for stderr."""
    children: list[dict[str, Any]] = []
    notes: list[str] = []
    for body in _pipelines(yaml.safe_load_all(text)):
        children += render_documents(body, default_image=default_image,
                                     servicemonitor_crd=servicemonitor_crd, namespace=namespace)
        meta = body["metadata"]
        notes += [f"{meta['name']}: {n}" for n in settings_problems(
            meta["name"], meta.get("namespace") or namespace,
            DashStreamPipelineSpec.from_body(body))]
    return children, notes


@command("render", "print the children the operator would apply for a pipeline, as YAML",
         _configure)
def render_command(args: argparse.Namespace) -> int:
    try:
        text = sys.stdin.read() if args.filename == "-" else Path(args.filename).read_text()
        children, notes = render(text, default_image=args.image,
                                 servicemonitor_crd=not args.no_servicemonitor,
                                 namespace=args.namespace)
    except (OSError, yaml.YAMLError, ValueError) as exc:
        print(f"dashstream render: {exc}", file=sys.stderr)
        return 1
    if not children:
        print(f"dashstream render: no {PIPELINE.kind} with enabled components in "
              f"{args.filename}", file=sys.stderr)
        return 1
    for note in notes:
        print(f"warning: {note}", file=sys.stderr)
    dump_children(children, sys.stdout)
    return 0
