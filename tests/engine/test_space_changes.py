"""A search space changed under a running task (``kubetune run --allow-changes``): old trials outside it."""

from __future__ import annotations

from kubetune.api import Trial, TrialPhase
from kubetune.engine import new_trial, plan

from .conftest import T0, MakeTask, with_status

PARAMETERS = [
    {"name": "lr", "type": "double", "min": 0.001, "max": 1.0, "scale": "log"},
    {"name": "layers", "type": "int", "min": 1, "max": 4},
]


def test_trials_outside_a_narrowed_space_are_left_out_of_the_models_history(make_task: MakeTask) -> None:
    algorithm = "bayesian"  # a model that learns from the first trials (tpe starts with random ones)
    wide = make_task(algorithm={"name": algorithm, "seed": 2}, budget={"maxTrials": 20, "parallelTrials": 1})
    narrowed = [{**PARAMETERS[0], "max": 0.1}, PARAMETERS[1]]
    task = make_task(
        algorithm={"name": algorithm, "seed": 2}, budget={"maxTrials": 20, "parallelTrials": 1}, parameters=narrowed
    )
    inside = [
        with_status(new_trial(wide, i, {"lr": lr, "layers": 2}), TrialPhase.SUCCEEDED, [loss])
        for i, (lr, loss) in enumerate([(0.01, 0.5), (0.05, 0.3), (0.002, 0.9)])
    ]

    def outside(losses: list[float]) -> list[Trial]:
        return [
            with_status(new_trial(wide, 3 + i, {"lr": 0.2 + i / 10, "layers": 3}), TrialPhase.SUCCEEDED, [loss])
            for i, loss in enumerate(losses)
        ]

    # Whatever the trials outside the new space measured, the next suggestion is the same.
    first = plan(task, inside + outside([0.01, 0.02, 0.03, 0.04, 0.05]), T0)
    second = plan(task, inside + outside([9.0, 8.0, 7.0, 6.0, 5.0]), T0)
    assert [t.spec.parameters for t in first.create] == [t.spec.parameters for t in second.create]
    assert all(t.spec.parameters["lr"] <= 0.1 for t in first.create)
    assert first.status.trials.total == 9  # kept: they count, and stay in the task's record
