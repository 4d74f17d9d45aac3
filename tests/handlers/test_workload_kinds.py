"""Which workload kinds the operator watches: those KUBETUNE_WORKLOAD_KINDS lists and its RBAC grants.

A real cluster often has more kinds installed than the chart grants (the Kubeflow Training Operator's
TFJob, MPIJob and XGBoostJob beside the default PyTorchJob). The operator must never watch those, must
not end when a listed kind's watch is refused, and must follow a listed kind's CRD installed or removed
while it runs. The emulator refuses as RBAC does (403 with the API server's Status) and serves a CRD's
resource from its creation to its deletion, closing its watches a moment later as the API server does.
Its twin on a real API server, with the chart's RBAC: tests/realcluster/test_operator.py (a kind
installed but not granted).
"""

from __future__ import annotations

from typing import Any

import pytest

from kubetune import names
from tests.kube import Kube, run_kopf

from .conftest import RunOperator, phase, quadratic, task_manifest
from .test_workloads import CASES, CRDS, manifest, trainer

PYTORCHJOB, JOBSET = CASES[0], CASES[1]
OPERATOR = "kubetune.handlers.operator"


def _needs_crds() -> None:
    if not CRDS.is_dir():
        pytest.skip(f"the real workload CRDs are not at {CRDS} (the shared/crds folder beside the repository)")


def _valid(cluster: Kube, task: str) -> dict[str, Any] | None:
    """The task's Valid condition, once it has one."""
    status = (cluster.find("hpotasks", task) or {}).get("status") or {}
    return next((c for c in status.get("conditions") or [] if c["type"] == "Valid"), None)


def _behaviour(pod: dict[str, Any]) -> Any:
    """The JobSet trainer for a JobSet's pods, the quadratic one for a Job's."""
    jobset = "jobset.sigs.k8s.io/jobset-name" in (pod["metadata"].get("labels") or {})
    return trainer(JOBSET)(pod) if jobset else quadratic(pod)


def test_a_kind_installed_but_not_listed_is_never_watched(cluster: Kube, operator: RunOperator) -> None:
    """TFJob's CRD is installed, the chart's default list does not name it: the operator never asks for tfjobs."""
    _needs_crds()
    cluster.install_crd(CRDS / "kubeflow.org_tfjobs.yaml")
    cluster.behaviour = quadratic
    with operator():
        cluster.create(task_manifest("plain", budget={"maxTrials": 2, "parallelTrials": 2}))
        cluster.wait_for(lambda: phase(cluster, "plain") == "Succeeded", timeout=20)
        assert ("jobs.batch", "default") in cluster.watches("kopf"), "the granted kinds are watched"
    assert cluster.requests("list", "tfjobs") == 0
    assert cluster.requests("watch", "tfjobs") == 0


def test_a_listed_kind_whose_watch_is_refused_waits_in_one_line_and_the_other_tasks_run(
    cluster: Kube, operator: RunOperator
) -> None:
    """PyTorchJob is listed (the default) but the RBAC does not grant it (values and env disagree)."""
    _needs_crds()
    cluster.install_crd(CRDS / PYTORCHJOB.crds[0])
    cluster.refuse("pytorchjobs.kubeflow.org")
    cluster.behaviour = quadratic
    with operator() as runner:
        cluster.create(manifest(PYTORCHJOB, "refused"))
        cluster.create(task_manifest("plain", budget={"maxTrials": 2, "parallelTrials": 2}))
        cluster.wait_for(lambda: phase(cluster, "plain") == "Succeeded" and _valid(cluster, "refused"), timeout=20)
        assert not runner.future.done(), "the operator is still running"
    valid = _valid(cluster, "refused")
    assert valid is not None and valid["status"] == "False"
    assert valid["message"] == (
        "spec.trialTemplate.kind: the operator may not watch pytorchjobs.kubeflow.org (its RBAC refuses list and "
        "watch at the cluster scope): grant it in the chart's workloadKinds, which sets both the RBAC and "
        "KUBETUNE_WORKLOAD_KINDS"
    )
    assert phase(cluster, "refused") == "Pending", "it waits for the grant rather than fails"
    assert not cluster.list("trials", labels=f"{names.LABEL_TASK}=refused")
    assert cluster.requests("watch", "pytorchjobs") == 0


def test_a_kind_installed_while_the_operator_runs_is_used_without_a_restart(
    cluster: Kube, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A task of a listed kind waits while its CRD is missing; once installed, it runs, and so does a new one."""
    _needs_crds()
    monkeypatch.setattr(f"{OPERATOR}.RESYNC_SECONDS", 0.5)  # how soon a waiting task looks again
    cluster.behaviour = _behaviour
    with run_kopf(cluster, modules=[OPERATOR], namespaces=None, timeout=20) as runner:
        cluster.create(manifest(JOBSET, "early", budget={"maxTrials": 1, "parallelTrials": 1}))
        cluster.wait_for(lambda: _valid(cluster, "early"), timeout=20)
        assert phase(cluster, "early") == "Pending"
        for file in JOBSET.crds:
            cluster.install_crd(CRDS / file)
        cluster.create(manifest(JOBSET, "late", budget={"maxTrials": 1, "parallelTrials": 1}))
        cluster.wait_for(lambda: phase(cluster, "early") == "Succeeded", timeout=30)
        cluster.wait_for(lambda: phase(cluster, "late") == "Succeeded", timeout=30)
        assert ("jobsets.jobset.x-k8s.io", None) in cluster.watches("kopf"), "watched since it was installed"
        assert not runner.future.done()
    valid = _valid(cluster, "early")
    assert valid is not None and valid["status"] == "True"


def test_a_kind_removed_while_the_operator_runs_ends_its_watch_and_nothing_else(cluster: Kube) -> None:
    """The JobSet CRD goes while the operator watches JobSets: the watch stops, the operator carries on."""
    _needs_crds()
    for file in JOBSET.crds:
        cluster.install_crd(CRDS / file)
    cluster.behaviour = _behaviour
    crd = "jobsets.jobset.x-k8s.io"
    with run_kopf(cluster, modules=[OPERATOR], namespaces=None, timeout=20) as runner:
        cluster.create(manifest(JOBSET, "before", budget={"maxTrials": 1, "parallelTrials": 1}))
        cluster.wait_for(lambda: phase(cluster, "before") == "Succeeded", timeout=30)
        cluster.remove_crd(crd)
        cluster.wait_for(lambda: (crd, None) not in cluster.watches(), timeout=10, message="the watches to end")
        cluster.create(task_manifest("after", budget={"maxTrials": 2, "parallelTrials": 2}))
        cluster.wait_for(lambda: phase(cluster, "after") == "Succeeded", timeout=20)
        assert not runner.future.done(), "the operator is still running"
    assert cluster.requests("watch", "jobsets") >= 1
