"""``kubetune operator`` as a Deployment runs it: a process with health, metrics and a Lease.

The Lease in the release namespace, taken with the chart's own RBAC, and a handover between two
replicas have their twins on a real API server in tests/realcluster/test_operator.py.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.kube import Kube

from .conftest import phase, quadratic, task_manifest


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=2) as response:
        return str(response.read().decode())


def test_the_operator_process_serves_health_and_metrics_and_takes_the_lease(cluster: Kube, tmp_path: Path) -> None:
    cluster.behaviour = quadratic
    health, metrics = free_port(), free_port()
    command = [
        sys.executable,
        "-m",
        "kubetune.cli",
        "operator",
        "--namespace=default",
        f"--health-port={health}",
        f"--metrics-port={metrics}",
        "--leader-election",
        "--log-format=json",
    ]
    log = (tmp_path / "operator.log").open("w")
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    try:
        # Generous bounds: a process that imports the operator starts slowly on a busy machine.
        cluster.wait_for(lambda: _answers(f"http://127.0.0.1:{health}/healthz"), timeout=90)
        cluster.create(task_manifest("via-cli", budget={"maxTrials": 2, "parallelTrials": 2}))
        cluster.wait_for(lambda: phase(cluster, "via-cli") == "Succeeded", timeout=90)
        lease = cluster.get("leases", "kubetune-operator")
        assert lease["spec"]["holderIdentity"] == "kubetune-operator-0"
        exposed = get(f"http://127.0.0.1:{metrics}/metrics")
        assert 'kubetune_tasks{namespace="default",phase="Succeeded",task="via-cli"} 1.0' in exposed
        assert 'kubetune_trials_created_total{namespace="default",task="via-cli"} 2.0' in exposed
        assert "kubetune_reconcile_duration_seconds_count" in exposed
    finally:
        process.terminate()
        code = process.wait(timeout=30)
        log.close()
    assert code == 0, (tmp_path / "operator.log").read_text()[-3000:]
    first = (tmp_path / "operator.log").read_text().splitlines()[0]
    assert first.startswith("{") and '"level"' in first


def status_of(url: str) -> int | None:
    """The HTTP status an endpoint answers with; None while it does not answer."""
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return None


def _answers(url: str) -> bool:
    try:
        get(url)
    except OSError:
        return False
    return True


def test_operator_settings_come_from_the_environment_unless_a_flag_is_given(monkeypatch: pytest.MonkeyPatch) -> None:
    from kubetune.cli import build_parser  # noqa: PLC0415
    from kubetune.handlers.operator import Options  # noqa: PLC0415

    def options(*flags: str) -> Options:
        args = build_parser().parse_args(["operator", *flags])
        return Options.from_env(leader_election=args.leader_election, lease_name=args.lease_name)

    monkeypatch.setenv("KUBETUNE_LEADER_ELECTION", "false")
    monkeypatch.setenv("KUBETUNE_LEASE_NAME", "from-env")
    assert (options().leader_election, options().lease_name) == (False, "from-env")
    given = options("--leader-election", "--lease-name=from-flag")
    assert (given.leader_election, given.lease_name) == (True, "from-flag")
    monkeypatch.delenv("KUBETUNE_LEADER_ELECTION")
    monkeypatch.delenv("KUBETUNE_LEASE_NAME")
    assert (options().leader_election, options().lease_name) == (True, "kubetune-operator")


def test_the_workload_kinds_come_from_the_environment_and_default_to_the_charts_list(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from kubetune.handlers.operator import Options  # noqa: PLC0415

    monkeypatch.delenv("KUBETUNE_WORKLOAD_KINDS", raising=False)
    unset = Options.from_env().workload_kinds
    assert "PyTorchJob.kubeflow.org" in unset and "TFJob.kubeflow.org" not in unset, "the chart's list, not every kind"
    monkeypatch.setenv("KUBETUNE_WORKLOAD_KINDS", "Job.batch, TFJob.kubeflow.org")
    assert Options.from_env().workload_kinds == {"Job.batch", "TFJob.kubeflow.org"}


def test_the_lease_namespace_comes_from_the_kubeconfig_context_out_of_cluster(
    cluster: Kube, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kubetune.handlers.operator import Options  # noqa: PLC0415

    monkeypatch.delenv("POD_NAMESPACE")
    assert Options.from_env().lease_namespace == "default", "the fixture's kubeconfig context names default"
    assert Options.from_env(lease_namespace="ops").lease_namespace == "ops"


def test_without_a_lease_namespace_the_operator_refuses_to_start(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
        "contexts: [{name: c, context: {cluster: k, user: u}}]\n"
        "clusters: [{name: k, cluster: {server: 'http://127.0.0.1:9'}}]\nusers: [{name: u, user: {}}]\n"
    )
    env = {"PATH": "/usr/bin:/bin", "KUBECONFIG": str(kubeconfig), "HOME": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-m", "kubetune.cli", "operator"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [done.stderr.strip()] and "--lease-namespace" in done.stderr


def test_an_unreadable_lease_is_an_error_and_fails_the_health_check(cluster: Kube, tmp_path: Path) -> None:
    health = free_port()
    cluster.fail("GET", "/leases/kubetune-operator", times=10_000)  # e.g. Forbidden by RBAC, for good
    command = [sys.executable, "-m", "kubetune.cli", "operator", "--namespace=default", f"--health-port={health}"]
    command += ["--metrics-port=0", "--leader-election"]
    log_path = tmp_path / "operator.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    try:
        cluster.wait_for(lambda: "ERROR" in log_path.read_text(), timeout=30)
        # Kopf caches probe results for 10 s: a healthy answer from before the error may come first.
        cluster.wait_for(lambda: status_of(f"http://127.0.0.1:{health}/healthz") == 500, timeout=40)
    finally:
        process.terminate()
        process.wait(timeout=30)
    assert "cannot read the Lease default/kubetune-operator: 500" in log_path.read_text()
