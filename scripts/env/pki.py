"""Certificates and the admin kubeconfig of the local control plane (openssl, once)."""

from __future__ import annotations

import base64
import subprocess
from pathlib import Path

from envlib import APISERVER_PORT, DEV, say

PKI = DEV / "pki"
KUBECONFIG = DEV / "kubeconfig"


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True)


def _client_cert(name: str, subject: str) -> None:
    key, csr, crt = PKI / f"{name}.key", PKI / f"{name}.csr", PKI / f"{name}.crt"
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", subject, "-keyout", str(key),
             "-out", str(csr))
    ext = PKI / f"{name}.ext"
    ext.write_text("extendedKeyUsage=clientAuth\n")
    _openssl("x509", "-req", "-in", str(csr), "-CA", str(PKI / "ca.crt"), "-CAkey",
             str(PKI / "ca.key"), "-CAcreateserial", "-days", "3650", "-out", str(crt),
             "-extfile", str(ext))


# Client identities besides admin: each component acts with the RBAC (or, for the
# kubelet, Node authorizer) rights its real counterpart has in a cluster.
CLIENTS = {
    "controller-manager": "/CN=system:kube-controller-manager",
    "scheduler": "/CN=system:kube-scheduler",
    "kubelet": "/O=system:nodes/CN=system:node:dashstream-node",
    "kube-proxy": "/CN=system:kube-proxy",
    "coredns": "/CN=dashstream:coredns",  # RBAC from node.py (list/watch Services etc.)
}


def ensure_pki() -> None:
    if not (PKI / "admin.crt").exists() or not KUBECONFIG.exists():
        _create_ca_and_apiserver()
    for name, subject in CLIENTS.items():
        if not (DEV / f"{name}.kubeconfig").exists():
            _client_cert(name, subject)
            write_kubeconfig(DEV / f"{name}.kubeconfig", name)


def _create_ca_and_apiserver() -> None:
    say("generating a CA, serving and client certificates (openssl)")
    PKI.mkdir(parents=True, exist_ok=True)
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "3650",
             "-subj", "/CN=dashstream-dev-ca", "-keyout", str(PKI / "ca.key"),
             "-out", str(PKI / "ca.crt"),
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=kube-apiserver",
             "-keyout", str(PKI / "apiserver.key"), "-out", str(PKI / "apiserver.csr"))
    (PKI / "apiserver.ext").write_text(
        "subjectAltName=IP:127.0.0.1,IP:10.96.0.1,IP:10.244.0.1,DNS:localhost,DNS:kubernetes,"
        "DNS:kubernetes.default,DNS:kubernetes.default.svc\nextendedKeyUsage=serverAuth\n"
    )
    _openssl("x509", "-req", "-in", str(PKI / "apiserver.csr"), "-CA", str(PKI / "ca.crt"),
             "-CAkey", str(PKI / "ca.key"), "-CAcreateserial", "-days", "3650",
             "-out", str(PKI / "apiserver.crt"), "-extfile", str(PKI / "apiserver.ext"))
    # system:masters: the admin identity of kubectl, helm and the tests.
    _client_cert("admin", "/O=system:masters/CN=dashstream-admin")
    _openssl("genrsa", "-out", str(PKI / "sa.key"), "2048")
    _openssl("rsa", "-in", str(PKI / "sa.key"), "-pubout", "-out", str(PKI / "sa.pub"))
    write_kubeconfig(KUBECONFIG, "admin")


def _b64(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode()


def write_kubeconfig(path: Path, user: str) -> None:
    # Certificates are embedded so the file works when copied elsewhere.
    path.write_text(
        f"""apiVersion: v1
kind: Config
clusters:
- name: dashstream-dev
  cluster:
    server: https://127.0.0.1:{APISERVER_PORT}
    certificate-authority-data: {_b64(PKI / "ca.crt")}
users:
- name: {user}
  user:
    client-certificate-data: {_b64(PKI / f"{user}.crt")}
    client-key-data: {_b64(PKI / f"{user}.key")}
contexts:
- name: dashstream-dev
  context: {{cluster: dashstream-dev, user: {user}}}
current-context: dashstream-dev
"""
    )
    path.chmod(0o600)
