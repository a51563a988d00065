"""Operator-wide defaults read from the environment (set by the chart)."""

from __future__ import annotations

import os
from importlib.metadata import PackageNotFoundError, version

__all__ = ["default_workload_image"]


def default_workload_image() -> str:
    """The workloads image used when a CR names none: DASHSTREAM_DEFAULT_IMAGE (the
    chart's workloadImage), else the image of this release."""
    try:
        tag = version("dashstream")
    except PackageNotFoundError:
        tag = "latest"
    return os.environ.get("DASHSTREAM_DEFAULT_IMAGE") or f"dashstream/dashstream-workloads:{tag}"
