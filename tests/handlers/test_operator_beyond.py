"""The operator against the emulator: several objectives, conditional parameters, warm start and ASHA.

The emulator is enough here: these differ from the lifecycle (tests/realcluster/test_operator.py)
only in what the search and the engine decide, not in what they ask of the API server.
"""

from __future__ import annotations

import json
from typing import Any

from kubetune import names
from tests.kube import Kube, Log, PodScript, Sleep

from .conftest import RunOperator, arg, phase, task_manifest
from .test_operator import DONE, trials


def trainer(pod: dict[str, Any]) -> PodScript:
    """loss = (lr - 0.1)^2 + (y - 2)^2 / 10 + 1/epoch, and size = 1 - lr: the two trade off above lr = 0.1."""
    lr = float(arg(pod, "lr", "0.5"))
    y = float(arg(pod, "y", "2"))
    bad = 10.0 if arg(pod, "mode", "normal") == "bad" else 0.0
    steps: list[Any] = []
    for epoch in range(1, int(arg(pod, "epochs", "3")) + 1):
        loss = (lr - 0.1) ** 2 + (y - 2) ** 2 / 10 + 1.0 / epoch + bad
        steps += [Sleep(float(arg(pod, "sleep", "0.02"))), Log(f"epoch={epoch} loss={loss:.6f} size={1 - lr:.6f}")]
    return PodScript(steps)


def args_of(manifest: dict[str, Any]) -> list[str]:
    container: dict[str, Any] = manifest["spec"]["trialTemplate"]["spec"]["template"]["spec"]["containers"][0]
    args: list[str] = container["args"]
    return args


def test_a_multi_objective_task_keeps_its_pareto_front_in_status(cluster: Kube, operator: RunOperator) -> None:
    cluster.behaviour = trainer
    manifest = task_manifest(
        "front",
        objective={"metrics": [{"name": "loss", "direction": "minimize"}, {"name": "size", "direction": "minimize"}]},
        algorithm={"name": "nsga2", "seed": 3, "settings": {"populationSize": 4}},
        budget={"maxTrials": 6, "parallelTrials": 2},
    )
    with operator():
        cluster.create(manifest)
        cluster.wait_for(lambda: phase(cluster, "front") in DONE, timeout=40)
    done = trials(cluster, "front")
    assert all(t["status"]["phase"] == "Succeeded" for t in done)
    points = {t["metadata"]["name"]: tuple(s["last"] for s in t["status"]["metrics"]) for t in done}
    index = {t["metadata"]["name"]: t["spec"]["index"] for t in done}
    # On the front: dominated by no other trial; of trials with equal values, the earliest.
    front = {
        n
        for n, v in points.items()
        if not any(o[0] <= v[0] and o[1] <= v[1] and (o != v or index[m] < index[n]) for m, o in points.items())
    }
    status = cluster.get("hpotasks", "front")["status"]
    assert status["phase"] == "Succeeded" and "bestTrial" not in status
    assert status["frontSize"] == len(front)
    assert {m["name"] for m in status["paretoFront"]} == front
    member = status["paretoFront"][0]
    assert set(member["objectives"]) == {"loss", "size"} and "lr" in member["parameters"]


def test_a_conditional_parameter_reaches_only_the_jobs_where_it_is_active(cluster: Kube, operator: RunOperator) -> None:
    cluster.behaviour = trainer
    manifest = task_manifest(
        "cond",
        algorithm={"name": "random", "seed": 4},
        parameters=[
            {"name": "lr", "type": "double", "min": 0.001, "max": 1.0},
            {"name": "shape", "type": "categorical", "values": ["plain", "shifted"]},
            {
                "name": "y",
                "type": "int",
                "min": 0,
                "max": 4,
                "when": {"parameter": "shape", "in": ["shifted"], "default": 2},
            },
        ],
        budget={"maxTrials": 6, "parallelTrials": 3},
        retainWorkloads={"policy": "all"},  # each trial's Job is looked at in the end
    )
    args_of(manifest).append("--y=${params.y}")
    with operator():
        cluster.create(manifest)
        cluster.wait_for(lambda: phase(cluster, "cond") in DONE, timeout=40)
    done = trials(cluster, "cond")
    assert {t["spec"]["parameters"]["shape"] for t in done} == {"plain", "shifted"}
    for trial in done:
        params = trial["spec"]["parameters"]
        assert ("y" in params) == (params["shape"] == "shifted")
        job = cluster.get("jobs", trial["metadata"]["name"])
        container = job["spec"]["template"]["spec"]["containers"][0]
        assert f"--y={params.get('y', 2)}" in container["args"]  # when.default where y is inactive
        env = {e["name"] for e in container["env"]}
        assert ("KUBETUNE_PARAM_Y" in env) == ("y" in params)
        annotated = json.loads(job["spec"]["template"]["metadata"]["annotations"][names.ANNOTATION_PARAMETERS])
        assert annotated == params


def test_warm_start_reads_an_earlier_task_in_the_namespace(cluster: Kube, operator: RunOperator) -> None:
    cluster.behaviour = trainer
    later = task_manifest(
        "later",
        algorithm={"name": "tpe", "seed": 5, "settings": {"nInitialPoints": 2}},
        parameters=[{"name": "lr", "type": "double", "min": 0.001, "max": 0.5, "scale": "log"}],
        warmStart={"tasks": ["earlier", "missing"], "enqueue": [{"lr": 0.1}]},
        budget={"maxTrials": 3, "parallelTrials": 1},
    )
    with operator():
        cluster.create(task_manifest("earlier", budget={"maxTrials": 4, "parallelTrials": 2}))
        cluster.wait_for(lambda: phase(cluster, "earlier") in DONE, timeout=30)
        cluster.create(later)
        cluster.wait_for(lambda: phase(cluster, "later") in DONE, timeout=30)
    earlier = trials(cluster, "earlier")
    inside = [t for t in earlier if t["spec"]["parameters"]["lr"] <= 0.5]
    done = trials(cluster, "later")
    assert len(done) == 3
    assert done[0]["spec"]["parameters"] == {"lr": 0.1}
    warm = cluster.get("hpotasks", "later")["status"]["warmStart"]
    assert (warm["imported"], warm["dropped"]) == (len(inside), len(earlier) - len(inside))
    assert [s["task"] for s in warm["sources"]] == ["earlier", "missing"]
    assert warm["sources"][1]["message"] == "No such task was found."


def test_asha_stops_a_bad_trial_at_a_rung(cluster: Kube, operator: RunOperator) -> None:
    cluster.behaviour = trainer
    experiments: list[dict[str, Any]] = [{"lr": 0.1, "mode": "normal"}] * 3 + [{"lr": 0.1, "mode": "bad"}]
    manifest = task_manifest(
        "asha",
        algorithm={"name": "experiments", "experiments": experiments},
        parameters=[
            {"name": "lr", "type": "double", "min": 0.001, "max": 1.0},
            {"name": "mode", "type": "categorical", "values": ["normal", "bad"]},
        ],
        budget={"maxTrials": 4, "parallelTrials": 1},
        earlyStopping={"rule": "asha", "minResource": 2, "reductionFactor": 2},
        metricsCollector={"stepKey": "epoch"},
    )
    args_of(manifest).extend(["--mode=${params.mode}", "--epochs=40", "--sleep=0.1"])
    with operator():
        cluster.create(manifest)
        cluster.wait_for(lambda: phase(cluster, "asha") in DONE, timeout=90)
    *good, bad = trials(cluster, "asha")
    assert [t["status"]["phase"] for t in good] == ["Succeeded"] * 3
    assert (bad["status"]["phase"], bad["status"]["reason"]) == ("EarlyStopped", "AshaStop")
    assert bad["status"]["metrics"][0]["count"] < 40
    cluster.wait_gone("jobs", bad["metadata"]["name"], timeout=10)
