"""Ending a task on a cluster, with the real operator: ``kubetune stop`` (spec.stop) and the deadline.

The emulator is enough here: a stop is a patch of the task's spec and deletions of Jobs, which the
real-API-server tier exercises already (deletion, keepFor); what is judged is the engine's decisions.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from kubetune.cli import main
from tests.kube import Kube

from .conftest import RunOperator, phase, quadratic, task_manifest
from .test_operator import trials


@pytest.mark.parametrize("force", [False, True])
def test_stop_ends_a_task_for_good_and_keeps_its_trials(cluster: Kube, operator: RunOperator, force: bool) -> None:
    cluster.behaviour = quadratic
    manifest = task_manifest("stoppable", budget={"maxTrials": 8, "parallelTrials": 2})
    container = manifest["spec"]["trialTemplate"]["spec"]["template"]["spec"]["containers"][0]
    container["args"] += ["--epochs=40", "--sleep=0.1"]  # four seconds a trial
    with operator():
        cluster.create(manifest)
        cluster.wait_for(
            lambda: sum(t["status"].get("phase") == "Running" for t in trials(cluster, "stoppable")) == 2, timeout=20
        )
        created = len(trials(cluster, "stoppable"))
        # (What it prints is not checked here: Kopf's test runner holds sys.stdout while it runs.)
        assert main(["stop", "hpo/stoppable", *(["--force"] if force else [])]) == 0
        assert cluster.get("hpotasks", "stoppable")["spec"]["stop"] == {"policy": "force" if force else "graceful"}
        if not force:
            cluster.wait_for(
                lambda: (cluster.get("hpotasks", "stoppable").get("status") or {}).get("reason") == "Stopping"
            )
        cluster.wait_for(lambda: phase(cluster, "stoppable") == "Stopped", timeout=20)
        if force:  # the running trials' Jobs are deleted (finished ones stay, as for any finished trial)
            cluster.wait_for(lambda: not cluster.list("jobs"), timeout=20)
        # Kopf posts Events in the background: wait for it before the operator stops.
        cluster.wait_for(
            lambda: "StoppedByUser" in [e["reason"] for e in cluster.events("default", involved="stoppable")],
            timeout=20,
        )

    status = cluster.get("hpotasks", "stoppable")["status"]
    assert status["reason"] == "StoppedByUser"
    done = trials(cluster, "stoppable")
    assert len(done) == created, "no trial was created after the stop"
    # graceful: the running trials finished; force: they were stopped at once. Either way they are kept.
    assert {t["status"]["phase"] for t in done} == ({"Stopped"} if force else {"Succeeded"})
    if not force:
        assert status["bestTrial"]["name"] in {t["metadata"]["name"] for t in done}
    conditions = {c["type"]: c["status"] for c in status["conditions"]}
    assert conditions["Stopped"] == "True" and conditions["Running"] == "False"


def test_the_deadline_ends_a_task_on_the_cluster_and_deletes_running_jobs(cluster: Kube, operator: RunOperator) -> None:
    cluster.behaviour = quadratic
    manifest = task_manifest("due", budget={"maxTrials": 8, "parallelTrials": 2})
    container = manifest["spec"]["trialTemplate"]["spec"]["template"]["spec"]["containers"][0]
    container["args"] += ["--epochs=600", "--sleep=0.1"]  # a minute a trial: only the deadline ends them
    with operator():
        cluster.create(manifest)
        cluster.wait_for(
            lambda: sum(t["status"].get("phase") == "Running" for t in trials(cluster, "due")) == 2, timeout=20
        )
        deadline = datetime.now(UTC) + timedelta(seconds=2)
        cluster.patch("hpotasks", "due", {"spec": {"budget": {"deadline": deadline.isoformat()}}})
        cluster.wait_for(lambda: phase(cluster, "due") == "Failed", timeout=30)
        cluster.wait_for(lambda: not cluster.list("jobs"), timeout=20)
    status = cluster.get("hpotasks", "due")["status"]
    assert status["reason"] == "NoTrialSucceeded" and status["message"].startswith("The deadline ")
    assert [t["status"]["phase"] for t in trials(cluster, "due")] == ["Stopped", "Stopped"]
    assert datetime.fromisoformat(status["completionTime"]) >= deadline
