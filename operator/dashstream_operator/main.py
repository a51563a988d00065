"""`dashstream-operator`: run the operator (kopf) against the cluster in KUBECONFIG or
in-cluster, for some namespaces or all of them."""

from __future__ import annotations

import argparse
import logging
import os
import socket
import sys

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
    args = p.parse_args(argv)
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
    # Handlers read these when they are registered, i.e. on import below.
    os.environ["DASHSTREAM_RESYNC_SECONDS"] = str(args.resync_interval)
    os.environ["DASHSTREAM_KAFKA_TIMEOUT_SECONDS"] = str(args.kafka_timeout)
    os.environ["DASHSTREAM_WATCH_NAMESPACES"] = ",".join(args.namespace)
    os.environ["DASHSTREAM_LIVENESS"] = args.liveness
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
    kopf.run(
        standalone=True,  # one replica with Recreate; no peering objects needed
        clusterwide=args.all_namespaces,
        namespaces=args.namespace,
        liveness_endpoint=None,  # ours serves /healthz and /metrics (observability.py)
        # kopf's default identity calls getpass.getuser(), which raises KeyError when
        # the pod runs as a UID with no passwd entry (the chart's runAsUser 65532, an
        # OpenShift random UID). The pod's hostname is unique and always there.
        identity=Identity(socket.gethostname()),
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
