"""The processes of the local environment: how each starts, when it is healthy, how it stops.

Every process is started in its own session (process group), its pid kept in
.dev/run/<name>.pid and its output in .dev/logs/<name>.log, so `down` stops exactly
what `up` started and nothing else.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import ssl
import subprocess
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from envlib import (
    APISERVER_PORT,
    DEV,
    ETCD_CLIENT_PORT,
    ETCD_PEER_PORT,
    KAFKA_CONTROLLER_PORT,
    KAFKA_POD_PORT,
    KAFKA_PORT,
    LOGS,
    POD_GATEWAY,
    RUN,
    kafka_dir,
    say,
    tool_paths,
)
from pki import KUBECONFIG, PKI


@dataclass
class Proc:
    name: str
    binary_hint: str  # a word of the command line, to tell our pid from a reused one
    command: Callable[[], list[str]]
    healthy: Callable[[], bool]
    prepare: Callable[[], None] = lambda: None
    timeout: float = 120.0
    before_stop: Callable[[], None] = lambda: None
    after_stop: Callable[[], None] = lambda: None


def _pidfile(name: str) -> Path:
    return RUN / f"{name}.pid"


def pid_of(p: Proc) -> int | None:
    try:
        pid = int(_pidfile(p.name).read_text())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except (OSError, ValueError):
        return None
    return pid if p.binary_hint in cmdline else None


def _cmdline(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")[:-1]
    except OSError:
        return []


def start(p: Proc) -> None:
    pid = pid_of(p)
    if pid and p.healthy() and _cmdline(pid) != p.command():
        # A checkout that changed how it runs (a flag, a version) restarts it rather
        # than keeping an old process that lacks what the tests need.
        say(f"{p.name}: pid {pid} runs an older command line; restarting it")
        stop(p)
        pid = None
    if pid and p.healthy():
        say(f"{p.name}: already running (pid {pid})")
        return
    if pid:
        say(f"{p.name}: pid {pid} is running but unhealthy; restarting it")
        stop(p)
    p.prepare()
    LOGS.mkdir(parents=True, exist_ok=True)
    RUN.mkdir(parents=True, exist_ok=True)
    log = open(LOGS / f"{p.name}.log", "ab")  # noqa: SIM115 - handed to the child
    proc = subprocess.Popen(p.command(), stdout=log, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, start_new_session=True, cwd=DEV)
    _pidfile(p.name).write_text(str(proc.pid))
    say(f"{p.name}: started (pid {proc.pid}), waiting until healthy")
    deadline = time.monotonic() + p.timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = (LOGS / f"{p.name}.log").read_text(errors="replace")[-3000:]
            raise SystemExit(f"[env] ERROR: {p.name} exited with {proc.returncode}:\n{tail}")
        if p.healthy():
            say(f"{p.name}: healthy")
            return
        time.sleep(0.5)
    raise SystemExit(f"[env] ERROR: {p.name} not healthy after {p.timeout:.0f}s; "
                     f"see {LOGS / (p.name + '.log')}")


def stop(p: Proc) -> bool:
    pid = pid_of(p)
    if pid:
        p.before_stop()
    stopped = _signal_until_gone(p, pid)
    p.after_stop()
    return stopped


def _signal_until_gone(p: Proc, pid: int | None) -> bool:
    _pidfile(p.name).unlink(missing_ok=True)
    if not pid:
        return False
    for sig, wait in ((signal.SIGTERM, 20.0), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            return True
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)
            if not Path(f"/proc/{pid}").exists() or _is_zombie(pid):
                return True
            time.sleep(0.2)
    return True


def _is_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[1].split()[0] == "Z"
    except (OSError, IndexError):
        return True


# --- health checks --------------------------------------------------------------------

def http_ok(url: str, ctx: ssl.SSLContext | None = None) -> str | None:
    try:
        with urllib.request.urlopen(url, timeout=2, context=ctx) as r:
            return r.read().decode()
    except (OSError, ValueError):
        return None


def _apiserver_ctx() -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(PKI / "ca.crt"))
    ctx.load_cert_chain(str(PKI / "admin.crt"), str(PKI / "admin.key"))
    return ctx


def etcd_healthy() -> bool:
    body = http_ok(f"http://127.0.0.1:{ETCD_CLIENT_PORT}/health")
    if not body:  # None (no answer) or an empty body
        return False
    return bool(json.loads(body).get("health") == "true")


def apiserver_healthy() -> bool:
    return http_ok(f"https://127.0.0.1:{APISERVER_PORT}/readyz", _apiserver_ctx()) == "ok"


def unverified_tls() -> ssl.SSLContext:
    """For the components' self-signed /healthz ports on loopback (health, not trust)."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def controller_manager_healthy() -> bool:
    # Served on its secure port with delegated authn; /healthz is always allowed.
    return http_ok("https://127.0.0.1:10257/healthz", unverified_tls()) == "ok"


def kafka_healthy() -> bool:
    """Ready when an AdminClient can list topics (a bare open port is not enough)."""
    try:
        from confluent_kafka.admin import AdminClient
    except ImportError:
        with socket.socket() as s:
            s.settimeout(1)
            return s.connect_ex(("127.0.0.1", KAFKA_PORT)) == 0
    try:
        admin = AdminClient({"bootstrap.servers": f"127.0.0.1:{KAFKA_PORT}",
                             "socket.timeout.ms": 2000, "log_level": 0})
        admin.list_topics(timeout=2)
        return True
    except Exception:
        return False


# --- commands -------------------------------------------------------------------------

def etcd_cmd() -> list[str]:
    return [
        str(tool_paths()["ETCD"]), "--name=dashstream-dev", f"--data-dir={DEV / 'etcd'}",
        f"--listen-client-urls=http://127.0.0.1:{ETCD_CLIENT_PORT}",
        f"--advertise-client-urls=http://127.0.0.1:{ETCD_CLIENT_PORT}",
        f"--listen-peer-urls=http://127.0.0.1:{ETCD_PEER_PORT}",
        f"--initial-advertise-peer-urls=http://127.0.0.1:{ETCD_PEER_PORT}",
        f"--initial-cluster=dashstream-dev=http://127.0.0.1:{ETCD_PEER_PORT}",
        "--listen-metrics-urls=", "--unsafe-no-fsync",  # a test store: speed over durability
        "--quota-backend-bytes=4294967296", "--log-level=warn",
    ]


def apiserver_cmd() -> list[str]:
    return [
        str(tool_paths()["KUBE_APISERVER"]),
        f"--etcd-servers=http://127.0.0.1:{ETCD_CLIENT_PORT}",
        # Pods reach the API server at the `kubernetes` Service, which kube-proxy
        # forwards to the advertised address: the pod bridge's gateway, this host.
        "--bind-address=0.0.0.0", f"--advertise-address={POD_GATEWAY}",
        f"--secure-port={APISERVER_PORT}", f"--cert-dir={PKI}",
        f"--tls-cert-file={PKI / 'apiserver.crt'}",
        f"--tls-private-key-file={PKI / 'apiserver.key'}",
        f"--client-ca-file={PKI / 'ca.crt'}", "--authorization-mode=Node,RBAC",
        # `kubectl logs` of the local node's pods: the API server calls the kubelet.
        f"--kubelet-client-certificate={PKI / 'admin.crt'}",
        f"--kubelet-client-key={PKI / 'admin.key'}",
        "--kubelet-preferred-address-types=InternalIP",
        "--service-cluster-ip-range=10.96.0.0/16", "--allow-privileged=false",
        f"--service-account-issuer=https://127.0.0.1:{APISERVER_PORT}",
        f"--service-account-key-file={PKI / 'sa.pub'}",
        f"--service-account-signing-key-file={PKI / 'sa.key'}",
        # Pod Security "restricted" enforced cluster-wide by default would also apply to
        # the tests' namespaces; we label namespaces explicitly instead.
        "--enable-admission-plugins=NamespaceLifecycle,ServiceAccount,ResourceQuota",
        "--event-ttl=1h", "--profiling=false", "--v=1",
    ]


def controller_manager_cmd() -> list[str]:
    kc = DEV / "controller-manager.kubeconfig"
    return [
        str(tool_paths()["KUBE_CONTROLLER_MANAGER"]), f"--kubeconfig={kc}",
        f"--authentication-kubeconfig={kc}", f"--authorization-kubeconfig={kc}",
        "--bind-address=127.0.0.1", "--leader-elect=false",
        # Each controller acts as its own ServiceAccount (system:controller:*) with the
        # bootstrap RBAC roles, as in a real cluster: the controller manager's own
        # identity may not, for instance, delete the objects the GC collects.
        "--use-service-account-credentials=true",
        f"--root-ca-file={PKI / 'ca.crt'}",
        f"--service-account-private-key-file={PKI / 'sa.key'}",
        # ownerReference GC, namespace deletion, default ServiceAccounts, the
        # Deployment → ReplicaSet → Pod chain, ResourceQuota usage (quota admission
        # refuses everything until it is computed), and for the local node: Service
        # endpoints (kube-proxy), node lifecycle (lifts the not-ready taint) and the
        # kube-root-ca.crt ConfigMap every projected service-account volume mounts; the
        # StatefulSets prometheus-operator runs its Prometheus pods in.
        "--controllers=garbage-collector-controller,namespace-controller,"
        "serviceaccount-controller,serviceaccount-token-controller,"
        "deployment-controller,replicaset-controller,resourcequota-controller,"
        "statefulset-controller,"
        "endpoints-controller,endpointslice-controller,node-lifecycle-controller,"
        "root-ca-certificate-publisher-controller",
        "--concurrent-gc-syncs=20", "--v=1",
    ]


def kafka_prepare() -> None:
    kdir = DEV / "kafka"
    kdir.mkdir(parents=True, exist_ok=True)
    (kdir / "server.properties").write_text(
        f"""process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:{KAFKA_CONTROLLER_PORT}
listeners=PLAINTEXT://127.0.0.1:{KAFKA_PORT},CONTROLLER://127.0.0.1:{KAFKA_CONTROLLER_PORT},\
PODS://{POD_GATEWAY}:{KAFKA_POD_PORT}
advertised.listeners=PLAINTEXT://127.0.0.1:{KAFKA_PORT},PODS://{POD_GATEWAY}:{KAFKA_POD_PORT}
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,PODS:PLAINTEXT
log.dirs={kdir / 'data'}
num.partitions=1
auto.create.topics.enable=false
delete.topic.enable=true
offsets.topic.replication.factor=1
offsets.topic.num.partitions=3
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
# An authorizer as production brokers have, allowing what no ACL names: tests put DENY
# ACLs on their own topic prefixes to see what the operator reports when refused.
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
allow.everyone.if.no.acl.found=true
"""
    )
    (kdir / "log4j2.properties").write_text(
        "status = warn\nappender.out.type = Console\nappender.out.name = out\n"
        "appender.out.layout.type = PatternLayout\n"
        "appender.out.layout.pattern = [%d] %p %m (%c)%n\n"
        "rootLogger.level = info\nrootLogger.appenderRef.out.ref = out\n"
        "logger.kafka.name = kafka\nlogger.kafka.level = warn\n"
        "logger.apache.name = org.apache.kafka\nlogger.apache.level = warn\n"
    )
    if not (kdir / "data/meta.properties").exists():
        say("kafka: formatting KRaft storage")
        cp = f"{kafka_dir() / 'libs'}/*"
        subprocess.run(
            ["java", "-cp", cp, f"-Dlog4j2.configurationFile={kdir / 'log4j2.properties'}",
             "kafka.tools.StorageTool", "format", "-t", "ZGFzaHN0cmVhbS1kZXYtMQ",
             "-c", str(kdir / "server.properties")],
            check=True, capture_output=True,
        )


def kafka_cmd() -> list[str]:
    kdir = DEV / "kafka"
    return [
        "java", "-Xms512m", "-Xmx512m", "-server", "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20",
        "-Djava.awt.headless=true", f"-Dkafka.logs.dir={LOGS}",
        f"-Dlog4j2.configurationFile={kdir / 'log4j2.properties'}",
        "-cp", f"{kafka_dir() / 'libs'}/*", "kafka.Kafka", str(kdir / "server.properties"),
    ]


PROCS = [
    Proc("etcd", "etcd", etcd_cmd, etcd_healthy),
    Proc("kube-apiserver", "kube-apiserver", apiserver_cmd, apiserver_healthy),
    Proc("kube-controller-manager", "kube-controller-manager", controller_manager_cmd,
         controller_manager_healthy),
    Proc("kafka", "kafka.Kafka", kafka_cmd, kafka_healthy, kafka_prepare),
]
BY_NAME = {p.name: p for p in PROCS}
KUBECONFIG_PATH = KUBECONFIG
