"""Container images without Docker: the operator, the workloads and the pod sandbox.

A base root filesystem comes from debootstrap (Debian's python3.11 and ca-certificates,
the same Debian the machine runs); the project's wheels are installed into /opt/venv by
chroot; the result is one layer, written as a docker-archive tar and imported into the
local node's containerd. The two application images share that layer and differ only in
their entrypoint, as the two targets of workloads/Dockerfile do.

Outputs live under CACHE/images-<stamp>/, keyed by the inputs' hash; the base rootfs
under CACHE/image-base-<suite>-<stamp>/.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

from envlib import CACHE, REPO, die, go_env, need_tool, say
from node import NODE, PAUSE_IMAGE, containerd_healthy, ctr

SUITE = "bookworm"
BASE_PACKAGES = ["python3", "python3-venv", "ca-certificates"]
OPERATOR_IMAGE = "dashstream.local/dashstream-operator:dev"
WORKLOADS_IMAGE = "dashstream.local/dashstream-workloads:dev"
UID = 10001
ENV = ["PATH=/opt/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
       "PYTHONUNBUFFERED=1", "PYTHONDONTWRITEBYTECODE=1"]
SOURCES = ["pyproject.toml", "README.md", "operator", "workloads"]


def _digest(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def write_archive(out: Path, tag: str, layer: Path, config: dict[str, object]) -> None:
    """A docker-archive (manifest.json, config, one layer), what `ctr images import` reads."""
    diff_id = _digest(layer)
    cfg = json.dumps({"architecture": "amd64", "os": "linux", "config": config,
                      "rootfs": {"type": "layers", "diff_ids": [f"sha256:{diff_id}"]}},
                     sort_keys=True).encode()
    cfg_name = hashlib.sha256(cfg).hexdigest() + ".json"
    manifest = json.dumps([{"Config": cfg_name, "RepoTags": [tag],
                            "Layers": [f"{diff_id}/layer.tar"]}]).encode()
    tmp = out.with_suffix(".tmp")
    with tarfile.open(tmp, "w") as tar:
        for name, data in ((cfg_name, cfg), ("manifest.json", manifest)):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        tar.add(layer, arcname=f"{diff_id}/layer.tar")
    tmp.rename(out)


def _tar_layer(root: Path, out: Path) -> None:
    subprocess.run(["tar", "--numeric-owner", "--xattrs", "-C", str(root), "-cf", str(out),
                    "."], check=True)


def _mirror() -> str:
    """The Debian mirror apt already uses (read from its sources, never hard-coded)."""
    for src in sorted(Path("/etc/apt").glob("sources.list.d/*.sources")):
        for line in src.read_text().splitlines():
            if line.startswith("URIs:") and "security" not in line:
                return line.split()[1]
    for line in Path("/etc/apt/sources.list").read_text().splitlines():
        if line.startswith("deb ") and "security" not in line:
            return line.split()[1]
    die("no Debian mirror found in /etc/apt sources (debootstrap needs one)")
    return ""


def base_rootfs() -> Path:
    stamp = hashlib.sha256(f"{SUITE} {BASE_PACKAGES}".encode()).hexdigest()[:12]
    out = CACHE / f"image-base-{SUITE}-{stamp}"
    if (out / ".stamp").exists():
        return out / "rootfs"
    need_tool("debootstrap", "install the Debian package debootstrap (make env-up does)")
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    say(f"images: debootstrap {SUITE} base with {', '.join(BASE_PACKAGES)} (about 1 min)")
    subprocess.run(["debootstrap", "--variant=minbase", f"--include={','.join(BASE_PACKAGES)}",
                    SUITE, str(out / "rootfs"), _mirror()], check=True,
                   stdout=subprocess.DEVNULL)
    (out / ".stamp").write_text(stamp)
    return out / "rootfs"


def _sources_stamp() -> str:
    h = hashlib.sha256(base_rootfs().parent.name.encode())
    for top in SOURCES:
        paths = [REPO / top] if (REPO / top).is_file() else sorted(
            p for p in (REPO / top).rglob("*")
            if p.is_file() and "__pycache__" not in p.parts and ".egg-info" not in str(p))
        for p in paths:
            h.update(str(p.relative_to(REPO)).encode())
            h.update(p.read_bytes())
    return h.hexdigest()[:12]


def _chroot(root: Path, *cmd: str) -> str:
    # A clean environment: the host's PIP_* settings name paths outside the chroot.
    env = {"PATH": ENV[0].removeprefix("PATH="), "LANG": "C.UTF-8", "HOME": "/root"}
    done = subprocess.run(["chroot", str(root), *cmd], capture_output=True, text=True, env=env)
    if done.returncode:
        die(f"images: {' '.join(cmd)} failed in the image root:\n{done.stderr[-3000:]}")
    return done.stdout.strip()


def _prune_old_builds(keep: Path) -> None:
    """Keep the newest other build (a second checkout may be using it) and drop the rest:
    each is about 800 MB, and every source change makes a new one."""
    others = sorted((p for p in CACHE.glob("images-*") if p.is_dir() and p != keep),
                    key=lambda p: p.stat().st_mtime, reverse=True)
    for old in others[1:]:
        say(f"images: removing an older build, {old}")
        shutil.rmtree(old, ignore_errors=True)


def build_app_images() -> tuple[Path, Path]:
    """The operator and workloads image archives (built only when a source changed)."""
    stamp = _sources_stamp()
    out = CACHE / f"images-{stamp}"
    op_tar, wl_tar = out / "operator.tar", out / "workloads.tar"
    if op_tar.exists() and wl_tar.exists():
        say(f"images: operator and workloads up to date ({out})")
        return op_tar, wl_tar
    shutil.rmtree(out, ignore_errors=True)
    _prune_old_builds(keep=out)
    work = out / "work"
    wheels = work / "wheels"
    root = work / "rootfs"
    work.mkdir(parents=True)
    subprocess.run(["cp", "-a", str(base_rootfs()), str(root)], check=True)
    target = _chroot(root, "python3", "-c", "import platform; print(platform.python_version())")
    say(f"images: the project's wheel and its dependencies for Python {target}")
    # Built from a copy: setuptools writes build/ and *.egg-info next to the sources it
    # builds, and build outputs stay out of the checkout.
    src = work / "src"
    for top in SOURCES:
        if (REPO / top).is_file():
            src.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / top, src / top)
        else:
            shutil.copytree(REPO / top, src / top, ignore=shutil.ignore_patterns(
                "__pycache__", "*.egg-info", "build"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--wheel-dir",
                    str(wheels), str(src)], check=True)
    # Resolved for the image's interpreter, not this one: environment markers such as
    # python_full_version < "3.11.3" differ between the two.
    project = next(wheels.glob("dashstream-*.whl"))
    subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--only-binary=:all:",
                    "--python-version", target, "--implementation", "cp",
                    "--platform", "manylinux_2_28_x86_64", "--platform", "manylinux2014_x86_64",
                    "--platform", "manylinux_2_17_x86_64", "--platform", "manylinux1_x86_64",
                    "--platform", "linux_x86_64", "-d", str(wheels), str(project)], check=True)
    say("images: installing them into a copy of the base (chroot, /opt/venv)")
    shutil.copytree(wheels, root / "tmp/wheels")
    _chroot(root, "python3", "-m", "venv", "/opt/venv")
    # What the host could not resolve for the image's interpreter (a marker pip download
    # does not evaluate for the target) comes from the package index, with the host's
    # CA bundle and resolver.
    shutil.copyfile("/etc/resolv.conf", root / "etc/resolv.conf")
    shutil.copyfile(os.environ.get("PIP_CERT") or "/etc/ssl/certs/ca-certificates.crt",
                    root / "tmp/ca.crt")
    _chroot(root, "/opt/venv/bin/pip", "install", "-q", "--no-cache-dir", "--cert",
            "/tmp/ca.crt", "--find-links", "/tmp/wheels", "dashstream")
    (root / "tmp/ca.crt").unlink()
    _chroot(root, "/opt/venv/bin/dashstream-operator", "--help")
    shutil.rmtree(root / "tmp/wheels")
    with (root / "etc/passwd").open("a") as f:
        f.write(f"dashstream:x:{UID}:{UID}::/nonexistent:/usr/sbin/nologin\n")
    with (root / "etc/group").open("a") as f:
        f.write(f"dashstream:x:{UID}:\n")
    for junk in ("var/cache/apt", "var/lib/apt/lists", "usr/share/doc", "usr/share/man"):
        shutil.rmtree(root / junk, ignore_errors=True)
    layer = work / "layer.tar"
    _tar_layer(root, layer)
    base = {"Env": ENV, "User": f"{UID}:{UID}", "WorkingDir": "/"}
    write_archive(op_tar, OPERATOR_IMAGE, layer,
                  {**base, "Entrypoint": ["dashstream-operator"],
                   "ExposedPorts": {"8080/tcp": {}}})
    write_archive(wl_tar, WORKLOADS_IMAGE, layer,
                  {**base, "Cmd": ["dashstream-websocket-server"],
                   "ExposedPorts": {f"{p}/tcp": {} for p in (3002, 9190, 9191)}})
    shutil.rmtree(work)
    say(f"images: {OPERATOR_IMAGE} and {WORKLOADS_IMAGE} written to {out}")
    return op_tar, wl_tar


def pause_archive() -> Path:
    mod = REPO / "tools/pause"
    stamp = hashlib.sha256((mod / "main.go").read_bytes()).hexdigest()[:12]
    out = CACHE / f"pause-{stamp}"
    if (out / "pause.tar").exists():
        return out / "pause.tar"
    need_tool("go", "install Go >= 1.26")
    (out / "root").mkdir(parents=True, exist_ok=True)
    subprocess.run(["go", "build", "-trimpath", "-ldflags", "-s -w", "-o",
                    str(out / "root/pause"), "."], cwd=mod, env=go_env(), check=True)
    _tar_layer(out / "root", out / "layer.tar")
    write_archive(out / "pause.tar", PAUSE_IMAGE, out / "layer.tar",
                  {"Entrypoint": ["/pause"], "User": "65535:65535"})
    return out / "pause.tar"


def _import(archive: Path, tag: str) -> None:
    """Import unless containerd already holds this very archive under the tag."""
    marks = NODE / "imported.json"
    done = json.loads(marks.read_text()) if marks.exists() else {}
    if done.get(tag) == str(archive) and tag in ctr("images", "ls", "-q").stdout.split():
        return
    say(f"images: importing {tag} into the node's containerd")
    ctr("images", "import", str(archive))
    marks.write_text(json.dumps({**done, tag: str(archive)}))


def ensure_pause_image() -> None:
    _import(pause_archive(), PAUSE_IMAGE)


def build_and_import() -> None:
    op_tar, wl_tar = build_app_images()
    if os.environ.get("DASHSTREAM_CLUSTER") == "kind":
        for tar in (op_tar, wl_tar):
            subprocess.run(["kind", "load", "image-archive", str(tar), "--name", "dashstream"],
                           check=True)
        return
    if not containerd_healthy():
        die("the node's containerd is not running: `make env-up` first")
    _import(op_tar, OPERATOR_IMAGE)
    _import(wl_tar, WORKLOADS_IMAGE)
