"""The DashStream servers: quality-monitor, prometheus-exporter and websocket-server."""

__version__ = "0.1.0"
