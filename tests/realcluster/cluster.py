"""The newest control plane with a fake GPU node, kubetune installed as deploy/kubetune.yaml installs it,
and the operator run as a local process with the chart's ServiceAccount token (never as admin)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client, config, dynamic, watch
from kubernetes.client.exceptions import ApiException

from tests.waiting import wait_for

from .controlplane import ControlPlane, free_port, kubeconfig
from .fake_node import FakeNode, ScriptFor

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy" / "kubetune.yaml"
SHARED_CRDS = ROOT.parent / "shared" / "crds"
RELEASE_NAMESPACE = "kubetune-system"
OPERATOR_ACCOUNT = "kubetune"


def documents(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


POLICY_KINDS = {"ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"}


def for_release(path: Path, minor: int) -> str:
    """A manifest file as it installs on release 1.``minor``: before 1.30 the admission policy's API is
    ``v1beta1`` (the same fields; the tier turns its feature gate on), which the chart does not render."""
    if minor >= 30:
        return path.read_text()
    docs = documents(path)
    for doc in docs:
        if doc["kind"] in POLICY_KINDS:
            doc["apiVersion"] = "admissionregistration.k8s.io/v1beta1"
    return yaml.safe_dump_all(docs)


def deployment() -> dict[str, Any]:
    """The operator's Deployment as deploy/kubetune.yaml ships it."""
    return next(d for d in documents(DEPLOY) if d["kind"] == "Deployment")


@dataclass
class OperatorProcess:
    """One replica of the operator: `kubetune operator` with the Deployment's arguments and environment."""

    process: subprocess.Popen[bytes]
    name: str
    log: Path
    health_port: int

    def alive(self) -> bool:
        return self.process.poll() is None

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def kill(self) -> None:
        """kill -9: no cleanup, no goodbye."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()


@dataclass
class Cluster:
    plane: ControlPlane
    folder: Path
    node: FakeNode | None = None
    api: client.ApiClient = field(init=False)
    operators: list[OperatorProcess] = field(default_factory=list)
    scripts: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.api = config.new_client_from_config(config_file=str(self.plane.admin))

    @property
    def core(self) -> client.CoreV1Api:
        return client.CoreV1Api(self.api)

    @property
    def custom(self) -> client.CustomObjectsApi:
        return client.CustomObjectsApi(self.api)

    @property
    def dynamic(self) -> dynamic.DynamicClient:
        return dynamic.DynamicClient(self.api)

    def start(self, script: ScriptFor | None = None) -> None:
        assert self.plane.pki is not None
        tls = self.plane.pki.issue("fake-node-serving", "fake-gpu-node", hosts=("127.0.0.1", "localhost"))
        self.node = FakeNode(self.plane.admin, self.folder / "node", workdir=ROOT, tls=tls, script=self._script)
        self.node.start()
        self.install()

    def _script(self, pod: Mapping[str, Any], container: Mapping[str, Any]) -> Any:
        for key, script in self.scripts.items():
            if key in (pod["metadata"].get("labels") or {}).values() or key == pod["metadata"]["namespace"]:
                return script(pod, container)
        return None

    def install(self) -> None:
        """deploy/kubetune.yaml, applied server-side; the operator's Deployment kept at 0 replicas."""
        self.kubectl("apply", "--server-side", "-f", "-", input=for_release(DEPLOY, self.plane.minor))
        self.plane.wait_established("hpotasks.kubetune.io", "trials.kubetune.io")
        self.kubectl("-n", RELEASE_NAMESPACE, "scale", "deployment/kubetune", "--replicas=0")

    def kubectl(
        self, *args: str, input: str | None = None, as_kubeconfig: Path | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        return self.plane.kubectl(*args, kubeconfig_path=as_kubeconfig, input=input, check=check)

    def token_kubeconfig(self, account: str, namespace: str, path: Path | None = None) -> Path:
        """A kubeconfig that authenticates as a ServiceAccount, with a token from the TokenRequest API."""
        token = self.kubectl("-n", namespace, "create", "token", account, "--duration=2h").stdout.strip()
        return kubeconfig(
            path or self.folder / f"{namespace}-{account}-{uuid.uuid4().hex[:6]}.kubeconfig",
            self.plane.server,
            self.plane.ca,
            token=token,
            namespace=namespace,
        )

    def user_kubeconfig(self, user: str, groups: tuple[str, ...] = ()) -> Path:
        """A kubeconfig for a person: a client certificate with the user's name and groups."""
        assert self.plane.pki is not None
        cert, key = self.plane.pki.issue(f"user-{user}", user, groups=groups)
        return kubeconfig(self.folder / f"user-{user}.kubeconfig", self.plane.server, self.plane.ca, cert=cert, key=key)

    # -- the operator --

    def start_operator(
        self, *, env: Mapping[str, str] | None = None, name: str | None = None, metrics_port: int = 0
    ) -> OperatorProcess:
        """A replica, run as the Deployment runs it, authenticated as the chart's ServiceAccount."""
        container = deployment()["spec"]["template"]["spec"]["containers"][0]
        name = name or f"kubetune-{uuid.uuid4().hex[:6]}"
        health = free_port()
        ours = {"--health-port": str(health), "--metrics-port": str(metrics_port), "--log-format": "plain"}
        args = [f"{flag}={ours[flag]}" if (flag := arg.partition("=")[0]) in ours else arg for arg in container["args"]]
        environment = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": os.environ.get("PYTHONPATH", "")}
        for var in container.get("env") or []:
            if "value" in var:
                environment[var["name"]] = var["value"]
        environment |= {
            "POD_NAMESPACE": RELEASE_NAMESPACE,
            "POD_NAME": name,
            "HOME": str(self.folder),
            "TMPDIR": str(self.folder),
            "KUBECONFIG": str(self.token_kubeconfig(OPERATOR_ACCOUNT, RELEASE_NAMESPACE)),
        }
        environment |= dict(env or {})
        log = self.folder / f"{name}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "kubetune.cli", *args],
                env=environment,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                cwd=str(self.folder),
            )
        operator = OperatorProcess(process, name, log, health)
        self.operators.append(operator)
        return operator

    def stop_operators(self) -> None:
        for operator in self.operators:
            operator.stop()
        self.operators.clear()

    def stop(self) -> None:
        self.stop_operators()
        if self.node is not None:
            self.node.stop()

    # -- reading --

    def lease_holder(self, name: str = "kubetune-operator") -> str | None:
        """Who holds the operator's Lease in the release namespace (None: nobody, or no Lease yet)."""
        try:
            lease = client.CoordinationV1Api(self.api).read_namespaced_lease(name, RELEASE_NAMESPACE)
        except ApiException as error:
            if error.status == 404:
                return None
            raise
        return lease.spec.holder_identity or None

    def objects(self, namespace: str) -> dict[str, list[dict[str, Any]]]:
        """The namespace's Trials, Jobs and Pods, as a list serves them (managedFields included)."""
        trials = self.custom.list_namespaced_custom_object("kubetune.io", "v1alpha1", namespace, "trials")["items"]
        jobs = client.BatchV1Api(self.api).list_namespaced_job(namespace).items
        pods = self.core.list_namespaced_pod(namespace).items
        return {
            "trials": list(trials),
            "jobs": self.api.sanitize_for_serialization(jobs),
            "pods": self.api.sanitize_for_serialization(pods),
        }

    def watch_jobs(self, namespace: str, seen: Any) -> Any:
        """Call ``seen(job)`` for every change of a trial's Job in ``namespace``; returns a function that stops."""
        stopped = threading.Event()

        def follow() -> None:
            batch = client.BatchV1Api(self.api)
            while not stopped.is_set():
                with contextlib.suppress(Exception):
                    stream = watch.Watch().stream(
                        batch.list_namespaced_job, namespace, label_selector="kubetune.io/task", timeout_seconds=5
                    )
                    for event in stream:
                        seen(self.api.sanitize_for_serialization(event["object"]))

        threading.Thread(target=follow, daemon=True).start()
        return stopped.set

    def task(self, namespace: str, name: str) -> dict[str, Any]:
        return dict(self.custom.get_namespaced_custom_object("kubetune.io", "v1alpha1", namespace, "hpotasks", name))

    def trials(self, namespace: str, task: str) -> list[dict[str, Any]]:
        listed = self.custom.list_namespaced_custom_object(
            "kubetune.io", "v1alpha1", namespace, "trials", label_selector=f"kubetune.io/task={task}"
        )
        return list(listed["items"])

    def wait_phase(self, namespace: str, name: str, phases: tuple[str, ...], timeout: float = 120.0) -> dict[str, Any]:
        def reached() -> dict[str, Any] | None:
            body = self.task(namespace, name)
            return body if (body.get("status") or {}).get("phase") in phases else None

        try:
            return wait_for(reached, timeout=timeout, interval=0.5, message=f"task {namespace}/{name} to be {phases}")
        except AssertionError as error:
            raise AssertionError(
                f"{error}; status: {self.task(namespace, name).get('status')}\n{self.operator_logs()}"
            ) from None

    def operator_logs(self, tail: int = 60) -> str:
        return "\n".join(
            f"--- {o.name} ({'alive' if o.alive() else f'exited {o.process.returncode}'})\n"
            + "\n".join(o.output().splitlines()[-tail:])
            for o in self.operators
        )

    def exists(self, fn: Any, *args: Any) -> bool:
        try:
            fn(*args)
        except ApiException as error:
            if error.status == 404:
                return False
            raise
        return True


def wait_gone(predicate: Any, timeout: float = 60.0, message: str = "") -> None:
    wait_for(lambda: not predicate(), timeout=timeout, interval=0.5, message=message)
