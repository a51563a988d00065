"""Upstream Go programs built through a wrapper module, and the CRDs read from their
module: what the prometheus-operator and grafana-operator parts have in common.

A wrapper module (tools/<name>/go.mod) requires the upstream module at the pinned
version (copying its replace block when it has one): `go install module@version` either
refuses modules with replace directives or asks the module proxy for the version list,
which it may not serve.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import builds
from envlib import CACHE, REPO, die, go_env, need_tool, say, tool_paths
from pki import KUBECONFIG

__all__ = ["build_wrapped", "install_module_crds", "module_dir"]


def build_wrapped(name: str, version: str, module: str, packages: dict[str, str],
                  module_version: str | None = None, ldflags: str = "") -> Path:
    """Build ``packages`` (import path -> binary name) of tools/<name>; returns the bin
    directory, CACHE/<name>-<version>/bin, rebuilt only when the wrapper changes.
    ``module_version``: the module's own version when it differs from the program's;
    ``ldflags``: more linker flags (a version stamped into the binary)."""
    wrapper = REPO / "tools" / name
    pinned = f"{module} {module_version or version}"
    if pinned not in (wrapper / "go.mod").read_text():
        die(f"{wrapper / 'go.mod'} does not require {pinned} (versions.env): "
            "keep them in step")
    stamp = builds._stamp([wrapper / "go.mod", wrapper / "go.sum"], version + ldflags)
    out = CACHE / f"{name}-{version}"
    binaries = list(packages.values())
    if builds._fresh(out, stamp, binaries):
        say(f"{name} {version}: cached in {out}")
        return out / "bin"
    need_tool("go", "install Go >= 1.26 (the polyglot machine has it)")
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    (tmp / "bin").mkdir(parents=True)
    for package, binary in packages.items():
        builds._go_build_with_progress(
            wrapper, ["-trimpath", "-ldflags", f"-s -w {ldflags}".strip(), "-o",
                      str(tmp / "bin" / binary)],
            [package], f"{name} {version} ({binary})")
    (tmp / ".stamp").write_text(stamp)
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    say(f"{name} {version}: built into {out}/bin")
    return out / "bin"


def module_dir(module: str, version: str) -> Path:
    info = subprocess.run(["go", "mod", "download", "-json", f"{module}@{version}"],
                          env=go_env(), check=True, capture_output=True, text=True,
                          cwd=CACHE).stdout
    return Path(json.loads(info)["Dir"])


def install_module_crds(name: str, folder: Path) -> None:
    """Apply every CRD of ``folder`` (files named <group>_<plural>.yaml) and wait until
    each is Established."""
    paths = sorted(folder.glob("*.yaml"))
    say(f"{name}: installing its {len(paths)} CRDs")
    kubectl = [str(tool_paths()["KUBECTL"]), "--kubeconfig", str(KUBECONFIG)]
    names = [".".join(reversed(p.stem.split("_", 1))) for p in paths]
    for args in ([*kubectl, "apply", "--server-side", "--force-conflicts",
                  *(f"--filename={p}" for p in paths)],
                 [*kubectl, "wait", "--for=condition=Established", "--timeout=60s",
                  *(f"crd/{n}" for n in names)]):
        done = subprocess.run(args, capture_output=True, text=True)
        if done.returncode != 0:
            die(f"{name}: {' '.join(args[3:5])} of its CRDs failed:\n{done.stderr[-2000:]}")
