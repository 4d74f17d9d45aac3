"""Tasks written to hurt the shared operator run beside a normal one, which still finishes: a
metric pattern that backtracks for hours in Python's re, CEL conditions too costly to evaluate
(refused at validation, or stopped at the run-time budget), and an nsga2 whose first generation
diverged. (How much the normal task slows down is measured by `kubetune bench operator --hostile`.)

The emulator is enough here: what is judged is the operator's own process (its threads, memory and
CEL workers), and the API server's part (serving a log, a custom object) is the same as in the
real-API-server tier's tests."""

from __future__ import annotations

from typing import Any

import pytest

from kubetune import names
from tests.kube import Kube, Log, PodScript, Sleep

from .conftest import RunOperator, phase, quadratic, task_manifest
from .test_operator import DONE, trials
from .test_workloads import SWEEP_CRD, TRAINER

BAIT = "a" * 40 + "!"
"""A line ``^(a+)+$`` takes Python's re hours to give up on (each character doubles the time)."""
# Within the static limit (one comprehension), but over the run-time budget in cel-python.
SLOW_CEL = "object.spec.l.all(a, " + " && ".join(f"a != {-i}" for i in range(1, 13)) + ")"


def _task_of(pod: dict[str, Any]) -> str:
    return str(pod["metadata"].get("labels", {}).get(names.LABEL_TASK, ""))


def _behave(pod: dict[str, Any]) -> PodScript:
    task = _task_of(pod)
    if task == "redos":
        return PodScript([Log(BAIT), Log(BAIT), Sleep(600)])
    if task == "diverged":
        index = int(str(pod["metadata"]["labels"][names.LABEL_TRIAL]).rsplit("-", 1)[-1])
        if index < 3:
            return PodScript([Sleep(0.05), Log("epoch=1 loss=nan")])
    return quadratic(pod)


def _sweep(name: str, success: str, **spec: Any) -> dict[str, Any]:
    body = task_manifest(name, budget={"maxTrials": 2, "parallelTrials": 2, "trialTimeout": "10m"})
    worker = {"template": {"spec": {"containers": [{"name": "train", **TRAINER}]}}}
    body["spec"]["parameters"].append({"name": "mode", "type": "categorical", "values": ["normal"]})
    body["spec"]["trialTemplate"] = {
        "apiVersion": "example.com/v1",
        "kind": "Sweep",
        "successCondition": success,
        "failureCondition": "has(object.status.phase) && object.status.phase == 'Failed'",
        "primaryPodLabels": {"example.com/role": "lead"},
        "spec": {"workers": [{"role": "lead", **worker}], **spec},
    }
    return body


@pytest.mark.timeout(600)  # five tasks side by side, each waited for up to two minutes
def test_a_normal_task_finishes_beside_hostile_ones(
    cluster: Kube, operator: RunOperator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("kubetune.handlers.operator.RESYNC_SECONDS", 0.5)  # the Sweep kind is not watched
    monkeypatch.setenv("KUBETUNE_WORKLOAD_KINDS", "Job.batch,Sweep.example.com")  # the kinds the chart would grant
    cluster.install_crd(SWEEP_CRD)
    cluster.behaviour = _behave
    redos = task_manifest(
        "redos",
        budget={"maxTrials": 2, "parallelTrials": 2, "trialTimeout": "10m"},
        metricsCollector={"format": "regex", "patterns": [{"metric": "loss", "regex": "^(a+)+$"}]},
    )
    nested = _sweep("nested", "!object.spec.l.all(a, object.spec.l.all(b, object.spec.l.all(c, true)))", l=[1])
    slow = _sweep("slow", SLOW_CEL, l=list(range(100_000)))
    diverged = task_manifest(
        "diverged",
        algorithm={"name": "nsga2", "seed": 3, "settings": {"populationSize": 4}},
        budget={"maxTrials": 8, "parallelTrials": 1, "maxFailedTrials": 5},
    )
    with operator():
        for hostile in (redos, nested, slow, diverged):
            cluster.create(hostile)
        cluster.create(task_manifest("normal"))
        cluster.wait_for(lambda: phase(cluster, "normal") in DONE, timeout=120)
        assert phase(cluster, "normal") == "Succeeded"
        # The backtracking pattern's trials are still running: their bait lines were read, in linear time.
        assert phase(cluster, "redos") == "Running"
        assert {t["status"]["phase"] for t in trials(cluster, "redos")} == {"Running"}
        # The costly condition never ran: refused, with the reason, when the task was read.
        assert phase(cluster, "nested") == "Failed"
        valid = next(c for c in cluster.get("hpotasks", "nested")["status"]["conditions"] if c["type"] == "Valid")
        assert valid["message"].startswith("spec.trialTemplate.successCondition: is too costly to evaluate")
        # The slow condition was stopped at its budget: each trial failed, saying so in one line.
        cluster.wait_for(lambda: phase(cluster, "slow") in DONE, timeout=120)
        assert len(trials(cluster, "slow")) == 2
        for trial in trials(cluster, "slow"):
            assert trial["status"]["phase"] == "Failed"
            assert trial["status"]["reason"] == "ConditionError"
            assert (
                "successCondition could not be evaluated: its evaluation was stopped after the time budget"
                in (trial["status"]["message"])
            )
        # nsga2 went on past a first generation with one finished trial.
        cluster.wait_for(lambda: phase(cluster, "diverged") in DONE, timeout=120)
    assert len(trials(cluster, "diverged")) == 8
    assert phase(cluster, "diverged") == "Succeeded"
