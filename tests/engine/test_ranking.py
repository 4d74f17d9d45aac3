"""What "best" means, decided once: the planner's best trial, the report and retention agree.

The best trial is a succeeded one that reported its objective and respects every constraint;
of two equal values the earlier trial wins. Retention keeps the workloads of the top trials by
that same ranking, so an infeasible trial's workload is never kept as one of the best.
"""

from __future__ import annotations

from datetime import timedelta

from kubetune.api import Trial, TrialPhase, TrialStatus
from kubetune.engine import new_trial, plan
from kubetune.engine.retention import released

from .conftest import T0, MakeTask, series

CONSTRAINED = {"metric": "loss", "direction": "minimize", "constraints": [{"metric": "mb", "max": 10}]}


def _finished(task: object, index: int, loss: float, mb: float) -> Trial:
    status = TrialStatus(
        phase=TrialPhase.SUCCEEDED,
        metrics=[series("loss", [loss]), series("mb", [mb])],
        objective=loss,
        start_time=T0,
        completion_time=T0 + timedelta(minutes=index + 1),
    )
    return new_trial(task, index, {"lr": 0.01 * (index + 1), "layers": 1}).model_copy(update={"status": status})  # type: ignore[arg-type]


def test_retention_keeps_the_workload_of_the_best_feasible_trial_not_an_infeasible_one(make_task: MakeTask) -> None:
    task = make_task(objective=CONSTRAINED, retainWorkloads={"policy": "best", "topK": 1}, budget={"maxTrials": 3})
    # t1-0 has the lowest loss but breaks the memory constraint: t1-1 is the best trial.
    trials = [_finished(task, 0, 0.1, mb=50), _finished(task, 1, 0.3, mb=5), _finished(task, 2, 0.5, mb=5)]
    best = plan(task, trials, T0).status.best_trial
    assert best is not None and best.name == "t1-1"
    ended = {t.metadata.name or "" for t in trials}
    assert released(task.spec, trials, ended) == ["t1-0", "t1-2"]


def test_maximize_ranks_the_highest_first_and_ties_go_to_the_earliest(make_task: MakeTask) -> None:
    task = make_task(
        objective={"metric": "loss", "direction": "maximize"}, retainWorkloads={"policy": "best", "topK": 2}
    )
    trials = [_finished(task, 0, 0.2, mb=0), _finished(task, 1, 0.7, mb=0), _finished(task, 2, 0.7, mb=0)]
    best = plan(task, trials, T0).status.best_trial
    assert best is not None and best.name == "t1-1"
    assert released(task.spec, trials, {t.metadata.name or "" for t in trials}) == ["t1-0"]
