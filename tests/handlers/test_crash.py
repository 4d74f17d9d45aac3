"""The operator killed (SIGKILL) at random points of a 200-trial task: nothing duplicated, nothing orphaned.

The operator runs as a real process (``kubetune operator``) against the emulator, so a kill stops it
between any two requests, as an OOM kill or a node failure would. Its twin on a real API server, with the real Job and
garbage-collection controllers: tests/realcluster/test_operator.py (kill -9 mid-task).
"""

from __future__ import annotations

import random
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from kubetune import names
from tests.kube import Kube, Log, PodScript, Sleep

from .conftest import arg, phase, task_manifest

DONE = ("Succeeded", "Failed")
KILLS = 5


def trainer(pod: dict[str, Any]) -> PodScript:
    lr = float(arg(pod, "lr", "0.5"))
    return PodScript([Sleep(0.05), Log(f"loss={(lr - 0.1) ** 2:.6f}")])


def start_operator(log: Path) -> subprocess.Popen[bytes]:
    """``kubetune operator`` as a process of its own, with the environment the ``cluster`` fixture set."""
    command = [str(Path(sys.executable).with_name("kubetune")), "operator", "--health-port", "0", "--metrics-port", "0"]
    with log.open("ab") as out:
        return subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)


@pytest.mark.timeout(600)  # five operators killed, then 200 trials
def test_killing_the_operator_at_random_points_duplicates_and_orphans_nothing(cluster: Kube, tmp_path: Path) -> None:
    cluster.behaviour = trainer
    created: Counter[str] = Counter()

    def count(change: Any) -> None:
        if change.rt.plural == "jobs" and change.type == "ADDED":
            created[change.obj["metadata"]["name"]] += 1

    cluster.call(cluster.emulator.store.listeners.append, count)
    manifest = task_manifest(
        "crashy", budget={"maxTrials": 200, "parallelTrials": 20}, retainWorkloads={"policy": "all"}
    )
    cluster.create(manifest)
    rng = random.Random(12)
    log = tmp_path / "operator.log"
    for _ in range(KILLS):
        process = start_operator(log)
        try:
            cluster.wait_for(lambda p=process: cluster.watches("kopf") or p.poll() is not None, timeout=90)
            time.sleep(rng.uniform(0.2, 3.0))  # a random point in its work
        finally:
            process.kill()  # SIGKILL: wherever it is, between any two requests
            process.wait()
    assert phase(cluster, "crashy") not in DONE, "the task outlived several operators"
    process = start_operator(log)
    try:
        cluster.wait_for(lambda: phase(cluster, "crashy") in DONE, timeout=180)
    finally:
        process.terminate()
        process.wait()
    assert phase(cluster, "crashy") == "Succeeded", log.read_text()[-3000:]

    trials = sorted(cluster.list("trials", labels=f"{names.LABEL_TASK}=crashy"), key=lambda t: t["spec"]["index"])
    assert [t["spec"]["index"] for t in trials] == list(range(200)), "one Trial per index, none twice"
    stragglers = [(t["metadata"]["name"], (t.get("status") or {}).get("reason")) for t in trials]
    assert all((t.get("status") or {}).get("phase") == "Succeeded" for t in trials), stragglers
    assert set(created) <= {t["metadata"]["name"] for t in trials}
    assert max(created.values()) == 1, "no trial ran twice: each Job was created once"
    status = cluster.get("hpotasks", "crashy")["status"]
    assert status["trials"]["succeeded"] == 200 and status["progress"] == "200/200"

    # Nothing orphaned: every Job belongs to a Trial of the task, no Job still runs, no pod lacks its Job.
    trial_uids = {t["metadata"]["uid"] for t in trials}
    jobs = cluster.list("jobs")
    assert all(j["metadata"]["ownerReferences"][0]["uid"] in trial_uids for j in jobs)
    assert not [j for j in jobs if (j.get("status") or {}).get("active")]
    job_uids = {j["metadata"]["uid"] for j in jobs}
    assert all(p["metadata"]["ownerReferences"][0]["uid"] in job_uids for p in cluster.list("pods"))
