"""What each search algorithm can do is declared next to its settings, and validation keeps to it.

A declaration that says more than the algorithm does would let a task through that fails once it
runs; one that says less refuses a task that would work. Both are checked here, against the real
algorithms run by the engine.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from kubetune.api import TrialPhase, TrialStatus, parse_task
from kubetune.api.algorithms import SETTINGS, AlgorithmName, Capabilities, offering
from kubetune.engine import new_trial, plan
from kubetune.errors import InvalidSpec
from tests.engine.conftest import T0, series, task_manifest

TWO = {"metrics": [{"name": "loss", "direction": "minimize"}, {"name": "size", "direction": "minimize"}]}
EPOCHS = {"name": "epochs", "type": "int", "min": 1, "max": 9}


def _algorithm(name: AlgorithmName) -> dict[str, Any]:
    settings: dict[str, Any] = {"resourceParameter": "epochs"} if SETTINGS[name].capabilities.resource_parameter else {}
    if name is AlgorithmName.GRID:
        settings["pointsPerDimension"] = 3
    if name is AlgorithmName.BAYESIAN:  # its default backend (skopt) narrows it to one objective
        settings["backend"] = "optuna-gp"
    return {"name": name.value, "seed": 1, "settings": settings}


def _multi(name: AlgorithmName) -> dict[str, Any]:
    manifest = task_manifest(objective=TWO, algorithm=_algorithm(name))
    manifest["spec"]["parameters"].append(EPOCHS)
    return manifest


@pytest.mark.parametrize("name", offering(lambda c: c.several_objectives))
def test_an_algorithm_that_declares_several_objectives_runs_a_multi_objective_task(name: AlgorithmName) -> None:
    if name is AlgorithmName.BAYESIAN:
        pytest.importorskip("torch", reason="bayesian's optuna-gp backend needs torch (kubetune[gp])")
    task = parse_task(_multi(name))
    trials = []
    for i, (loss, size) in enumerate([(0.3, 2.0), (0.2, 3.0)]):
        status = TrialStatus(
            phase=TrialPhase.SUCCEEDED,
            metrics=[series("loss", [loss]), series("size", [size])],
            objective=loss,
            start_time=T0,
            completion_time=T0 + timedelta(minutes=i + 1),
        )
        trials.append(new_trial(task, i, {"lr": 0.1, "layers": 1, "epochs": 3}).model_copy(update={"status": status}))
    step = plan(task, trials, T0 + timedelta(minutes=5))
    assert step.create, f"{name} proposed no trial for a multi-objective task"
    assert len(step.status.pareto_front) == 2


@pytest.mark.parametrize("name", [n for n in AlgorithmName if not SETTINGS[n].capabilities.several_objectives])
def test_an_algorithm_for_one_objective_is_refused_naming_those_that_take_several(name: AlgorithmName) -> None:
    with pytest.raises(InvalidSpec) as caught:
        parse_task(_multi(name))
    [problem] = [str(p) for p in caught.value.problems]
    offered = offering(lambda c: c.several_objectives)
    assert problem.startswith(f"spec.algorithm.name: {name} optimizes a single objective; with objective.metrics use")
    assert all(str(n) in problem for n in offered) and AlgorithmName.EXPERIMENTS.value not in problem


def test_settings_can_narrow_what_an_algorithm_does() -> None:
    # bayesian's skopt backend searches several objectives (ParEGO) but learns nothing from constraints.
    task = parse_task(task_manifest(objective=TWO, algorithm={"name": "bayesian", "settings": {"backend": "skopt"}}))
    able = task.spec.able()
    assert able is not None and able.several_objectives and not able.constraints
    gp = parse_task(task_manifest(objective=TWO, algorithm={"name": "bayesian", "settings": {"backend": "optuna-gp"}}))
    assert gp.spec.able() == SETTINGS[AlgorithmName.BAYESIAN].capabilities


def test_every_algorithm_declares_its_capabilities() -> None:
    for name, model in SETTINGS.items():
        assert isinstance(model.capabilities, Capabilities), name
        needs_resource = "resource_parameter" in model.model_fields
        assert model.capabilities.resource_parameter == needs_resource, name
