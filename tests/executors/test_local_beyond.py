"""``kubetune run`` end to end with real trial processes: several objectives, conditional parameters,
warm start and ASHA."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kubetune.cli import main

from .test_local import manifest, run, status_of, trials_of, with_modes


def test_two_objectives_keep_a_front_that_best_prints_and_trials_marks(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    obj = manifest(
        "front",
        algorithm={"name": "nsga2", "seed": 2, "settings": {"populationSize": 4}},
        objective={
            "metrics": [{"name": "loss", "direction": "minimize"}, {"name": "cost", "direction": "minimize"}],
            "constraints": [{"metric": "cost", "max": 1.1}],
        },
        budget={"maxTrials": 8, "parallelTrials": 2},
    )
    code, state = run(tmp_path, obj)
    assert code == 0
    trials = trials_of(state)
    assert all(t["status"]["phase"] == "Succeeded" for t in trials)
    values = {
        t["metadata"]["name"]: tuple(s["last"] for s in t["status"]["metrics"] if s["name"] in ("loss", "cost"))
        for t in trials
    }
    feasible = {n: v for n, v in values.items() if v[1] <= 1.1}
    index = {t["metadata"]["name"]: t["spec"]["index"] for t in trials}
    # On the front: dominated by no other feasible trial; of trials with equal values, the earliest.
    front = {
        n
        for n, v in feasible.items()
        if not any(o[0] <= v[0] and o[1] <= v[1] and (o != v or index[m] < index[n]) for m, o in feasible.items())
    }
    status = status_of(state)
    assert "bestTrial" not in status
    assert status["frontSize"] == len(front)
    assert {m["name"] for m in status["paretoFront"]} == front
    assert "Pareto front:" in capsys.readouterr().out
    assert main(["best", "--state-dir", str(state)]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["frontSize"] == len(front)
    assert {m["name"] for m in printed["paretoFront"]} == front
    assert set(printed["paretoFront"][0]["objectives"]) == {"loss", "cost"}
    assert main(["trials", "--state-dir", str(state), "-o", "json"]) == 0
    table = json.loads(capsys.readouterr().out)
    assert table["header"][:4] == ["trial", "front", "phase", "loss"]
    assert {row[0] for row in table["rows"] if row[1] == "*"} == front


def test_a_conditional_parameter_reaches_only_the_trials_where_it_is_active(tmp_path: Path) -> None:
    obj = manifest(
        "cond",
        algorithm={"name": "tpe", "seed": 5, "settings": {"nInitialPoints": 4}},
        parameters=[
            {"name": "x", "type": "double", "min": 0.0, "max": 1.0},
            {"name": "shape", "type": "categorical", "values": ["plain", "shifted"]},
            {
                "name": "y",
                "type": "int",
                "min": 0,
                "max": 4,
                "when": {"parameter": "shape", "in": ["shifted"], "default": 2},
            },
        ],
        budget={"maxTrials": 8, "parallelTrials": 2},
    )
    code, state = run(tmp_path, obj)
    assert code == 0
    trials = trials_of(state)
    assert {t["spec"]["parameters"]["shape"] for t in trials} == {"plain", "shifted"}
    for trial in trials:
        params = trial["spec"]["parameters"]
        written = json.loads((state / "params" / f"{trial['metadata']['name']}.json").read_text())
        assert written == params
        assert ("y" in params) == (params["shape"] == "shifted")
        # Where y is inactive, its placeholder took when.default (2): the trainer's loss says so.
        y = params.get("y", 2)
        expected = (params["x"] - 0.3) ** 2 + (y - 2) ** 2 / 10 + 1 / 3
        assert trial["status"]["objective"] == pytest.approx(expected, abs=1e-5)


def test_warm_start_imports_an_earlier_task_and_runs_enqueued_points_first(tmp_path: Path) -> None:
    code, _ = run(tmp_path, manifest("earlier", algorithm={"name": "random", "seed": 8}))
    assert code == 0
    later = manifest(
        "later",
        algorithm={"name": "tpe", "seed": 8, "settings": {"nInitialPoints": 3}},
        parameters=[
            {"name": "x", "type": "double", "min": 0.0, "max": 0.5},  # narrower: some earlier trials fall out
            {"name": "y", "type": "int", "min": 0, "max": 4},
        ],
        warmStart={"tasks": ["earlier", "never-ran"], "enqueue": [{"x": 0.3, "y": 2}]},
        budget={"maxTrials": 3, "parallelTrials": 1},
    )
    code, state = run(tmp_path, later)
    assert code == 0
    earlier = trials_of(tmp_path / "state" / "earlier")
    inside = [t for t in earlier if t["spec"]["parameters"]["x"] <= 0.5]
    trials = trials_of(state)
    assert len(trials) == 3  # imported trials do not count toward maxTrials
    assert trials[0]["spec"]["parameters"] == {"x": 0.3, "y": 2}
    warm = status_of(state)["warmStart"]
    assert (warm["imported"], warm["dropped"]) == (len(inside), len(earlier) - len(inside))
    assert warm["sources"][1] == {
        "task": "never-ran",
        "imported": 0,
        "dropped": 0,
        "message": "No such task was found.",
    }


def test_asha_stops_a_visibly_bad_trial_at_its_first_rung(tmp_path: Path) -> None:
    experiments = [{"x": 0.3, "y": 2, "mode": "normal"}] * 3 + [{"x": 0.3, "y": 2, "mode": "bad"}]
    obj = manifest(
        "asha",
        algorithm={"name": "experiments", "experiments": experiments},
        mode="${params.mode}",
        parameters=with_modes("normal", "bad"),
        budget={"maxTrials": 4, "parallelTrials": 1},
        earlyStopping={"rule": "asha", "minResource": 2, "reductionFactor": 2},
        metricsCollector={"stepKey": "epoch"},
    )
    obj["spec"]["trialTemplate"]["spec"]["template"]["spec"]["containers"][0]["args"] += ["--epochs=40", "--sleep=0.05"]
    code, state = run(tmp_path, obj)
    assert code == 0
    *good, bad = trials_of(state)
    assert [t["status"]["phase"] for t in good] == ["Succeeded"] * 3
    assert bad["status"]["phase"] == "EarlyStopped"
    assert bad["status"]["reason"] == "AshaStop"
    assert bad["status"]["metrics"][0]["count"] < 40
