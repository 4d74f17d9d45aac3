"""A real Kubernetes control plane on loopback, for the real-API-server tier.

Real ``etcd``, ``kube-apiserver``, ``kube-controller-manager`` and ``kube-scheduler`` binaries, started
as processes on 127.0.0.1 with a throw-away PKI: RBAC and the Node authorizer on, service-account
tokens signed by the API server, the default admission plugins (ValidatingAdmissionPolicy among
them). Nothing here emulates the API server: this tier exists to be judged by the real one.

The binaries are not part of the repository and are never built or downloaded by it. They are
looked up in ``$KUBETUNE_CONTROL_PLANE`` (default ``/opt/kubetune-controlplane``), one folder per
release, ``<root>/v1.36.2/bin/kube-apiserver`` and its siblings, and ``etcd`` on the PATH (Debian's
``etcd-server``) or in ``<root>/bin``. docs/install.md says how to get them.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import http.client
import ipaddress
import os
import shutil
import signal
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

ROOT_ENV = "KUBETUNE_CONTROL_PLANE"
DEFAULT_ROOT = Path("/opt/kubetune-controlplane")
COMPONENTS = ("kube-apiserver", "kube-controller-manager", "kube-scheduler")
HOW_TO_GET = (
    "the real-API-server tier needs kube-apiserver, kube-controller-manager and kube-scheduler in "
    f"${ROOT_ENV}/<version>/bin (default {DEFAULT_ROOT}) and etcd on the PATH: see docs/install.md, "
    "'The real-API-server test tier'"
)


def control_plane_root() -> Path:
    return Path(os.environ.get(ROOT_ENV) or DEFAULT_ROOT)


def etcd_binary() -> str | None:
    local = control_plane_root() / "bin" / "etcd"
    return str(local) if local.is_file() else shutil.which("etcd")


def _version_key(name: str) -> tuple[int, ...]:
    parts = name.lstrip("v").split("-")[0].split(".")
    return tuple(int(p) for p in parts if p.isdigit())


def versions() -> list[str]:
    """The releases whose three binaries are present, oldest first."""
    root = control_plane_root()
    if not root.is_dir():
        return []
    found = [
        d.name for d in root.iterdir() if d.name.startswith("v") and all((d / "bin" / c).is_file() for c in COMPONENTS)
    ]
    return sorted(found, key=_version_key)


def missing() -> str | None:
    """Why the tier cannot run here, or None when it can."""
    if not versions():
        return f"no control-plane binaries: {HOW_TO_GET}"
    if etcd_binary() is None:
        return f"no etcd binary: {HOW_TO_GET}"
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --- a throw-away PKI ---------------------------------------------------------------------------


@dataclass
class Pki:
    """A CA and the certificates it signs, as files in one folder."""

    folder: Path
    _ca_key: ec.EllipticCurvePrivateKey = field(init=False)
    _ca: x509.Certificate = field(init=False)

    def __post_init__(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        self._ca_key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kubetune-test-ca")])
        self._ca = (
            self._builder(name, name, self._ca_key)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    key_cert_sign=True,
                    crl_sign=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .sign(self._ca_key, hashes.SHA256())
        )
        self.ca.write_bytes(self._ca.public_bytes(serialization.Encoding.PEM))

    @property
    def ca(self) -> Path:
        return self.folder / "ca.crt"

    @staticmethod
    def _builder(subject: x509.Name, issuer: x509.Name, key: ec.EllipticCurvePrivateKey) -> x509.CertificateBuilder:
        now = dt.datetime.now(dt.UTC)
        return (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(issuer)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(hours=1))
            .not_valid_after(now + dt.timedelta(days=2))
        )

    def issue(
        self, name: str, common_name: str, *, groups: tuple[str, ...] = (), hosts: tuple[str, ...] = ()
    ) -> tuple[Path, Path]:
        """A certificate and its key: a client identity (CN user, O groups) and/or a server's names."""
        key = ec.generate_private_key(ec.SECP256R1())
        attributes = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
        attributes += [x509.NameAttribute(NameOID.ORGANIZATION_NAME, g) for g in groups]
        builder = self._builder(x509.Name(attributes), self._ca.subject, key).add_extension(
            x509.ExtendedKeyUsage([x509.OID_CLIENT_AUTH, x509.OID_SERVER_AUTH]), critical=False
        )
        if hosts:
            alt: list[x509.GeneralName] = []
            for host in hosts:
                try:
                    alt.append(x509.IPAddress(ipaddress.ip_address(host)))
                except ValueError:
                    alt.append(x509.DNSName(host))
            builder = builder.add_extension(x509.SubjectAlternativeName(alt), critical=False)
        cert = builder.sign(self._ca_key, hashes.SHA256())
        crt, pem = self.folder / f"{name}.crt", self.folder / f"{name}.key"
        crt.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        pem.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        return crt, pem

    def service_account_keys(self) -> tuple[Path, Path]:
        """The RSA pair the API server signs service-account tokens with."""
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        private, public = self.folder / "sa.key", self.folder / "sa.pub"
        private.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
            )
        )
        public.write_bytes(
            key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        )
        return private, public


def kubeconfig(
    path: Path,
    server: str,
    ca: Path,
    *,
    cert: Path | None = None,
    key: Path | None = None,
    token: str | None = None,
    namespace: str | None = None,
) -> Path:
    """A kubeconfig with one context for ``server`` and one identity (a client certificate or a token)."""
    user: dict[str, str] = {}
    if cert is not None and key is not None:
        user = {"client-certificate": str(cert), "client-key": str(key)}
    if token is not None:
        user = {"token": token}
    context: dict[str, str] = {"cluster": "test", "user": "test"}
    if namespace:
        context["namespace"] = namespace
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "test", "cluster": {"server": server, "certificate-authority": str(ca)}}],
                "users": [{"name": "test", "user": user}],
                "contexts": [{"name": "test", "context": context}],
                "current-context": "test",
            }
        )
    )
    return path


# --- the processes ------------------------------------------------------------------------------


@dataclass
class ControlPlane:
    """etcd, kube-apiserver, kube-controller-manager and kube-scheduler of one release, on loopback."""

    version: str
    folder: Path
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    server: str = ""
    pki: Pki | None = None
    admin: Path = Path()
    """The admin kubeconfig (a client certificate in group system:masters)."""
    audited: tuple[str, ...] = ()
    """Users whose requests the API server writes to its audit log (``audit.log``), one JSON event each."""

    @property
    def bin(self) -> Path:
        return control_plane_root() / self.version / "bin"

    @property
    def ca(self) -> Path:
        assert self.pki is not None
        return self.pki.ca

    @property
    def minor(self) -> int:
        return _version_key(self.version)[1]

    def _gates(self) -> list[str]:
        """Before 1.30 the admission policy's API (v1beta1) and native sidecars (alpha in 1.28) are
        off by default: turned on, so that an older release still judges what kubetune relies on."""
        gates = []
        if self.minor < 30:
            gates.append("ValidatingAdmissionPolicy=true")
        if self.minor < 29:
            gates.append("SidecarContainers=true")
        return [f"--feature-gates={','.join(gates)}"] if gates else []

    def log(self, component: str) -> Path:
        return self.folder / f"{component}.log"

    def _start(self, component: str, args: list[str]) -> None:
        with self.log(component).open("ab") as out:  # the child keeps its own copy of the descriptor
            self.processes[component] = subprocess.Popen(
                args, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
            )

    def start(self) -> None:
        pki = self.pki = Pki(self.folder / "pki")
        sa_key, sa_pub = pki.service_account_keys()
        serving = pki.issue(
            "apiserver",
            "kube-apiserver",
            hosts=("127.0.0.1", "localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc"),
        )
        kubelet_client = pki.issue(
            "apiserver-kubelet-client", "kube-apiserver-kubelet-client", groups=("system:masters",)
        )
        admin_cert = pki.issue("admin", "kubetune-test-admin", groups=("system:masters",))

        etcd_port, etcd_peer, api_port = free_port(), free_port(), free_port()
        data = self.folder / "etcd"
        self._start(
            "etcd",
            [
                etcd_binary() or "etcd",
                f"--data-dir={data}",
                f"--listen-client-urls=http://127.0.0.1:{etcd_port}",
                f"--advertise-client-urls=http://127.0.0.1:{etcd_port}",
                f"--listen-peer-urls=http://127.0.0.1:{etcd_peer}",
                f"--initial-advertise-peer-urls=http://127.0.0.1:{etcd_peer}",
                f"--initial-cluster=default=http://127.0.0.1:{etcd_peer}",
                "--unsafe-no-fsync",  # a test cluster: durability across a power cut is not the point
                "--log-level=warn",
            ],
        )
        self.server = f"https://127.0.0.1:{api_port}"
        self._start(
            "kube-apiserver",
            [
                str(self.bin / "kube-apiserver"),
                f"--etcd-servers=http://127.0.0.1:{etcd_port}",
                "--bind-address=127.0.0.1",
                "--advertise-address=127.0.0.1",
                f"--secure-port={api_port}",
                f"--tls-cert-file={serving[0]}",
                f"--tls-private-key-file={serving[1]}",
                f"--client-ca-file={pki.ca}",
                "--authorization-mode=Node,RBAC",
                "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
                f"--service-account-key-file={sa_pub}",
                f"--service-account-signing-key-file={sa_key}",
                "--service-cluster-ip-range=10.96.0.0/16",
                "--endpoint-reconciler-type=none",  # no Service traffic here; loopback is no endpoint
                f"--kubelet-client-certificate={kubelet_client[0]}",
                f"--kubelet-client-key={kubelet_client[1]}",
                "--kubelet-preferred-address-types=InternalIP",
                "--enable-priority-and-fairness=false",
                f"--cert-dir={self.folder / 'apiserver-certs'}",
                *self._audit_flags(),
                *self._gates(),
                *(["--runtime-config=admissionregistration.k8s.io/v1beta1=true"] if self.minor < 30 else []),
                "--v=1",
            ],
        )
        self.admin = kubeconfig(
            self.folder / "admin.kubeconfig", self.server, pki.ca, cert=admin_cert[0], key=admin_cert[1]
        )
        self._wait_ready()
        self._start(
            "kube-controller-manager",
            [
                str(self.bin / "kube-controller-manager"),
                f"--kubeconfig={self.admin}",
                f"--authentication-kubeconfig={self.admin}",
                f"--authorization-kubeconfig={self.admin}",
                "--bind-address=127.0.0.1",
                f"--secure-port={free_port()}",
                f"--service-account-private-key-file={sa_key}",
                f"--root-ca-file={pki.ca}",
                "--leader-elect=false",
                "--controllers=*,-nodeipam,-cloud-node-lifecycle",
                "--concurrent-job-syncs=10",
                *self._gates(),
                "--v=1",
            ],
        )
        self._start(
            "kube-scheduler",
            [
                str(self.bin / "kube-scheduler"),
                f"--kubeconfig={self.admin}",
                f"--authentication-kubeconfig={self.admin}",
                f"--authorization-kubeconfig={self.admin}",
                "--bind-address=127.0.0.1",
                f"--secure-port={free_port()}",
                "--leader-elect=false",
                *self._gates(),
                "--v=1",
            ],
        )
        self.wait_for_namespace_account("default")

    @property
    def audit_log(self) -> Path:
        return self.folder / "audit.log"

    def _audit_flags(self) -> list[str]:
        """Audit the requests of ``audited`` users only, at the Metadata level, once each (ResponseComplete)."""
        if not self.audited:
            return []
        policy = {
            "apiVersion": "audit.k8s.io/v1",
            "kind": "Policy",
            "omitStages": ["RequestReceived", "ResponseStarted"],
            "rules": [{"level": "Metadata", "users": list(self.audited)}, {"level": "None"}],
        }
        path = self.folder / "audit-policy.yaml"
        path.write_text(yaml.safe_dump(policy))
        return [f"--audit-policy-file={path}", f"--audit-log-path={self.audit_log}"]

    def _context(self) -> ssl.SSLContext:
        assert self.pki is not None
        context = ssl.create_default_context(cafile=str(self.pki.ca))
        context.load_cert_chain(str(self.pki.folder / "admin.crt"), str(self.pki.folder / "admin.key"))
        return context

    def get(self, path: str, timeout: float = 5.0) -> bytes:
        """GET ``path`` as the admin (for readiness checks; tests use kubectl or the client)."""
        host, port = self.server.removeprefix("https://").split(":")
        connection = http.client.HTTPSConnection(host, int(port), context=self._context(), timeout=timeout)
        try:
            connection.request("GET", path)
            response = connection.getresponse()
            body = response.read()
        finally:
            connection.close()
        if response.status != 200:
            raise OSError(f"GET {path}: {response.status} {body[:200]!r}")
        return body

    def _wait_ready(self, seconds: float = 120.0) -> None:
        deadline = time.monotonic() + seconds
        last: Exception | None = None
        while time.monotonic() < deadline:
            for name, process in self.processes.items():
                if process.poll() is not None:
                    raise RuntimeError(f"{name} exited with {process.returncode}: see {self.log(name)}")
            try:
                if self.get("/readyz") == b"ok":
                    return
            except OSError as error:
                last = error
            time.sleep(0.25)
        raise RuntimeError(f"kube-apiserver not ready after {seconds:.0f} s ({last}): see {self.log('kube-apiserver')}")

    def wait_for_namespace_account(self, namespace: str, seconds: float = 60.0) -> None:
        """Wait until the namespace's ``default`` ServiceAccount exists (pods are refused before it)."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError):
                self.get(f"/api/v1/namespaces/{namespace}/serviceaccounts/default")
                return
            time.sleep(0.2)
        raise RuntimeError(f"no default ServiceAccount in {namespace} after {seconds:.0f} s")

    def kubectl(
        self, *args: str, kubeconfig_path: Path | None = None, input: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """Run kubectl against this control plane (as the admin unless another kubeconfig is given)."""
        result = subprocess.run(
            ["kubectl", f"--kubeconfig={kubeconfig_path or self.admin}", *args],
            input=input,
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)}: exit {result.returncode}: {result.stderr.strip()}")
        return result

    def wait_established(self, *crds: str, seconds: float = 60.0) -> None:
        """Wait until each CRD (``plural.group``) is served. (``kubectl wait`` errs on a CRD whose
        status has no conditions yet, as right after its creation.)"""
        deadline = time.monotonic() + seconds
        for name in crds:
            while True:
                found = self.kubectl(
                    "get",
                    f"crd/{name}",
                    "-o",
                    "jsonpath={.status.conditions[?(@.type=='Established')].status}",
                    check=False,
                )
                if found.stdout.strip() == "True":
                    break
                if time.monotonic() > deadline:
                    raise AssertionError(f"CRD {name} not established after {seconds:g} s: {found.stderr.strip()}")
                time.sleep(0.2)

    def stop(self) -> None:
        for name in reversed(list(self.processes)):
            process = self.processes[name]
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=5)
        self.processes.clear()


@contextlib.contextmanager
def running(version: str, folder: Path) -> Iterator[ControlPlane]:
    plane = ControlPlane(version, folder)
    try:
        plane.start()
        yield plane
    finally:
        plane.stop()
