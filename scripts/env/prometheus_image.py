"""The images of the Prometheus pods prometheus-operator manages, without Docker.

One small layer: a Prometheus built from the Go module proxy (Debian's is built without
Kubernetes service discovery, which every ServiceMonitor needs) and the
prometheus-config-reloader built from the prometheus-operator module, both static. It is
tagged twice: as the Prometheus image (entrypoint /bin/prometheus; a Prometheus object
names it in ``spec.image`` with ``spec.version``, so the operator generates a
configuration that version reads) and as the config-reloader image the operator runs
beside it (which it starts as /bin/prometheus-config-reloader).
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

from envlib import CACHE, VERSIONS, say
from images import _import, _tar_layer, write_archive

__all__ = ["import_images", "prometheus_image", "prometheus_version"]

# Part of the cache key: change it when the layer's layout or the image configs change.
LAYOUT = "1: /bin/prometheus, /bin/prometheus-config-reloader, user 65534"


def prometheus_version() -> str:
    return VERSIONS["PROMETHEUS_VERSION"]


def prometheus_image() -> str:
    return f"dashstream.local/prometheus:{prometheus_version()}"


def _build(prometheus: Path, reloader: Path, reloader_tag: str) -> tuple[Path, Path]:
    h = hashlib.sha256(LAYOUT.encode() + prometheus.read_bytes() + reloader.read_bytes())
    out = CACHE / f"prometheus-image-{h.hexdigest()[:12]}"
    prom_tar, reloader_tar = out / "prometheus.tar", out / "config-reloader.tar"
    if prom_tar.exists() and reloader_tar.exists():
        return prom_tar, reloader_tar
    say(f"images: {prometheus_image()} and {reloader_tag} (one layer)")
    shutil.rmtree(out, ignore_errors=True)
    root = out / "root"
    for d in ("bin", "etc/prometheus", "prometheus", "tmp"):
        (root / d).mkdir(parents=True)
    (root / "tmp").chmod(0o1777)
    (root / "prometheus").chmod(0o777)
    shutil.copy2(prometheus, root / "bin/prometheus")
    shutil.copy2(reloader, root / "bin/prometheus-config-reloader")
    (root / "etc/passwd").write_text("root:x:0:0::/:/nonexistent\n"
                                     "nobody:x:65534:65534::/:/nonexistent\n")
    (root / "etc/group").write_text("root:x:0:\nnobody:x:65534:\n")
    layer = out / "layer.tar"
    _tar_layer(root, layer)
    base = {"User": "65534:65534", "WorkingDir": "/prometheus"}
    write_archive(prom_tar, prometheus_image(), layer,
                  {**base, "Entrypoint": ["/bin/prometheus"],
                   "ExposedPorts": {"9090/tcp": {}}})
    write_archive(reloader_tar, reloader_tag, layer,
                  {**base, "Entrypoint": ["/bin/prometheus-config-reloader"]})
    shutil.rmtree(root)
    return prom_tar, reloader_tar


def import_images(prometheus: Path, reloader: Path, reloader_tag: str) -> None:
    """Build (once per binary pair) and import both into the node's containerd."""
    prom_tar, reloader_tar = _build(prometheus, reloader, reloader_tag)
    _import(prom_tar, prometheus_image())
    _import(reloader_tar, reloader_tag)
