"""What the renderer knows about each DashStream component: console script and port.

Ports are read from the settings table (``dashstream_workloads.settings``), so the
container port, the Service, the probes and the process's own default cannot disagree.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from dashstream_operator.models.components import COMPONENT_NAMES, ComponentName
from dashstream_workloads.settings import setting

__all__ = ["COMPONENTS", "ComponentInfo", "component_info"]


@dataclass(frozen=True)
class ComponentInfo:
    """How one component runs in a pod.

    ``port_name`` is the name of its only container/Service port; ``metrics`` for the
    exporter and quality monitor, ``http`` for the WebSocket server, whose one port
    serves /ws, the viewer page, /health and /metrics together.
    """

    name: ComponentName
    script: str
    host_var: str
    port_var: str
    port: int
    port_name: str
    consumer: bool

    @property
    def metrics_port_names(self) -> tuple[str, ...]:
        """Ports serving /metrics (one ServiceMonitor endpoint each)."""
        return (self.port_name,)


def _info(name: ComponentName, script: str, host_var: str, port_var: str, port_name: str,
          consumer: bool) -> ComponentInfo:
    default = setting(name, port_var).default
    assert default is not None  # every port setting has a default; test_settings checks it
    return ComponentInfo(name, script, host_var, port_var, int(default), port_name, consumer)


COMPONENTS: Final[dict[ComponentName, ComponentInfo]] = {
    "websocket-server": _info("websocket-server", "dashstream-websocket-server",
                              "WEBSOCKET_HOST", "WEBSOCKET_PORT", "http", consumer=True),
    "prometheus-exporter": _info("prometheus-exporter", "dashstream-exporter",
                                 "METRICS_HOST", "METRICS_PORT", "metrics", consumer=True),
    "quality-monitor": _info("quality-monitor", "dashstream-quality-monitor",
                             "METRICS_HOST", "METRICS_PORT", "metrics", consumer=False),
}
assert tuple(COMPONENTS) == COMPONENT_NAMES


def component_info(name: ComponentName) -> ComponentInfo:
    """The :class:`ComponentInfo` of ``name``."""
    return COMPONENTS[name]
