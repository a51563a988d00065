"""Part: a real Alertmanager and amtool, from Debian's prometheus-alertmanager package.

Nothing runs here: a test starts its own Alertmanager (with the routing under test and
its own webhook receiver), as it starts its own Prometheus; this part only makes sure
the binaries exist and tells the tests where.
"""

from __future__ import annotations

import shutil

import builds
from parts import Part

NAME = "alertmanager"
PACKAGES = {"prometheus-alertmanager": "prometheus-alertmanager",
            "amtool": "prometheus-alertmanager"}


def build() -> None:
    builds.install_debian_packages(PACKAGES)


def env() -> dict[str, str]:
    return {"ALERTMANAGER": shutil.which("prometheus-alertmanager") or
            "/usr/bin/prometheus-alertmanager",
            "AMTOOL": shutil.which("amtool") or "/usr/bin/amtool"}


def installed() -> bool:
    return all(shutil.which(tool) for tool in PACKAGES)


PART = Part(NAME, build, [], env, installed)
