"""`dashstream-operator`: run the operator (kopf) against the cluster in KUBECONFIG or
in-cluster, for some namespaces or all of them."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import socket
import sys
from typing import TYPE_CHECKING, Any

from dashstream_operator.memory import limit_malloc_arenas

if TYPE_CHECKING:
    from dashstream_operator.leader import LeaderElection

__all__ = ["main"]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="dashstream-operator",
        description="Reconcile DashStreamPipeline, AlertRuleSet and DashboardSet objects into "
        "Kafka topics, workloads, ServiceMonitors and synced rule/dashboard objects.",
    )
    scope = p.add_mutually_exclusive_group()
    scope.add_argument("-n", "--namespace", action="append", default=[], metavar="NS",
                       help="watch this namespace (repeatable)")
    scope.add_argument("-A", "--all-namespaces", action="store_true",
                       help="watch every namespace (needs cluster-wide RBAC)")
    p.add_argument("--liveness", default=os.environ.get("DASHSTREAM_LIVENESS",
                                                         "http://0.0.0.0:8080/healthz"),
                   help="liveness endpoint URL; /metrics is served on the same port "
                   "(default: %(default)s; 'none' disables both)")
    p.add_argument("--resync-interval", type=float,
                   default=float(os.environ.get("DASHSTREAM_RESYNC_SECONDS", "15")),
                   help="seconds between level-based resyncs that repair drift in Kafka "
                   "(default: %(default)s)")
    p.add_argument("--kafka-timeout", type=float,
                   default=float(os.environ.get("DASHSTREAM_KAFKA_TIMEOUT_SECONDS", "10")),
                   help="timeout of each Kafka admin request in seconds (default: %(default)s)")
    p.add_argument("--log-format", choices=["json", "plain", "full"],
                   default=os.environ.get("DASHSTREAM_LOG_FORMAT", "json"),
                   help="log line format; json lines carry the object's namespace/name "
                   "(default: %(default)s)")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    ha = p.add_argument_group("high availability (several replicas, one reconciling)")
    ha.add_argument("--leader-elect", action="store_true",
                    default=os.environ.get("DASHSTREAM_LEADER_ELECT", "") in ("1", "true"),
                    help="reconcile only while holding a coordination.k8s.io Lease; other "
                    "replicas wait as standbys and take over when it is released or expires")
    ha.add_argument("--leader-elect-namespace", default=os.environ.get("POD_NAMESPACE", ""),
                    metavar="NS", help="namespace of the Lease (default: $POD_NAMESPACE)")
    ha.add_argument("--leader-elect-lease", default="dashstream-operator", metavar="NAME",
                    help="name of the Lease (default: %(default)s)")
    ha.add_argument("--leader-elect-lease-seconds", type=int, default=10, metavar="S",
                    help="a standby takes over when the Lease was not renewed for this long; "
                    "the leader renews every 15 %% of it and stops when 70 %% passed without "
                    "a renewal (default: %(default)s)")
    args = p.parse_args(argv)
    if args.leader_elect and not args.leader_elect_namespace:
        p.error("--leader-elect needs --leader-elect-namespace NS (or $POD_NAMESPACE)")
    if args.leader_elect_lease_seconds < 3:
        p.error("--leader-elect-lease-seconds must be at least 3")
    if not args.namespace and not args.all_namespaces:
        ns = os.environ.get("DASHSTREAM_WATCH_NAMESPACES", "")
        args.namespace = [n for n in ns.split(",") if n]
        if not args.namespace:
            p.error("choose --namespace NS (repeatable) or --all-namespaces")
    return args


def _quiet_watch_successes(record: logging.LogRecord) -> bool:
    msg = record.getMessage()
    return not (record.levelno <= logging.INFO and msg.startswith("Handler 'watch-")
                and msg.endswith("succeeded."))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    limit_malloc_arenas()  # before any thread: see memory.py
    # Handlers read these when they are registered, i.e. on import below.
    os.environ["DASHSTREAM_RESYNC_SECONDS"] = str(args.resync_interval)
    os.environ["DASHSTREAM_KAFKA_TIMEOUT_SECONDS"] = str(args.kafka_timeout)
    os.environ["DASHSTREAM_WATCH_NAMESPACES"] = ",".join(args.namespace)
    os.environ["DASHSTREAM_LIVENESS"] = args.liveness
    from dashstream_operator.access import may_watch_cluster_wide

    # Prometheus, PrometheusAgent, ThanosRuler: watched only where allowed.
    os.environ["DASHSTREAM_WATCH_PROMETHEUSES"] = ",".join(
        plural for plural in ("prometheuses", "prometheusagents", "thanosrulers")
        if may_watch_cluster_wide("monitoring.coreos.com", plural))
    import kopf
    from kopf._core.engines.peering import Identity  # a NewType kopf does not re-export

    # Importing the handler modules registers their handlers with kopf.
    import dashstream_operator.handlers.alertruleset
    import dashstream_operator.handlers.children
    import dashstream_operator.handlers.dashboardset
    import dashstream_operator.handlers.pipeline
    import dashstream_operator.handlers.resync
    import dashstream_operator.handlers.startup  # noqa: F401

    formats = {"json": kopf.LogFormat.JSON, "plain": kopf.LogFormat.PLAIN,
               "full": kopf.LogFormat.FULL}
    kopf.configure(verbose=args.verbose, log_format=formats[args.log_format])
    if not args.verbose:
        # Every watch event of every child runs a handler; one INFO line each would
        # bury what matters (at 1,000 objects, megabytes a minute).
        logging.getLogger("kopf.objects").addFilter(_quiet_watch_successes)
    election = _elect(args) if args.leader_elect else None
    if args.leader_elect and election is None:
        return 0  # stopped while a standby
    from dashstream_operator.observability import METRICS

    METRICS.leader.set(1)
    if election is not None:
        # Released among kopf's cleanup activities (after the resync loop stopped), not
        # after kopf.run returns: kopf's ultimate exiting timeout may SIGKILL the process
        # before that, and a standby would then wait a whole lease duration.
        async def release_lease(**_: Any) -> None:
            await asyncio.get_running_loop().run_in_executor(None, election.release)

        kopf.on.cleanup(id="leader-release")(release_lease)
    try:
        _run_kopf(kopf, Identity, args)
    finally:
        if election is not None:
            election.release()
    return 0


def _elect(args: argparse.Namespace) -> LeaderElection | None:
    """Wait as a standby (serving /healthz) until this replica holds the Lease; then
    renew it in a thread. None: stopped (SIGTERM) before becoming the leader. A SIGTERM
    after that but before kopf handles signals itself (nothing reconciled yet) releases
    the Lease and exits at once."""
    import signal
    import uuid

    from kubernetes import client, config

    from dashstream_operator.leader import LeaderElection
    from dashstream_operator.observability import standby_endpoint

    config.load_config()
    lease = args.leader_elect_lease_seconds
    election = LeaderElection(
        client.CoordinationV1Api(), args.leader_elect_namespace, args.leader_elect_lease,
        # The pod's name is unique among pods; the random part among local processes.
        f"{socket.gethostname()}_{uuid.uuid4().hex[:8]}",
        lease_seconds=lease, renew_deadline=lease * 0.7, retry=lease * 0.15)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: election.stop.set())
    with standby_endpoint(args.liveness):
        if not election.wait_until_leader():
            return None

    def exit_now(*_: object) -> None:
        election.release()
        os._exit(0)

    for sig in (signal.SIGTERM, signal.SIGINT):  # until kopf installs its own handling
        signal.signal(sig, exit_now)
    # Losing the Lease while reconciling: exit at once (no cleanup that could write),
    # the pod restarts as a standby — as client-go's leader election does.
    election.keep_renewing(on_lost=lambda: os._exit(1))
    return election


def _run_kopf(kopf: Any, identity: Any, args: argparse.Namespace) -> None:
    kopf.run(
        standalone=True,  # no kopf peering: one replica, or leader election (leader.py)
        clusterwide=args.all_namespaces,
        namespaces=args.namespace,
        liveness_endpoint=None,  # ours serves /healthz and /metrics (observability.py)
        # kopf's default identity calls getpass.getuser(), which raises KeyError when
        # the pod runs as a UID with no passwd entry (the chart's runAsUser 65532, an
        # OpenShift random UID). The pod's hostname is unique and always there.
        identity=identity(socket.gethostname()),
    )


if __name__ == "__main__":
    sys.exit(main())
