"""Multi-objective fronts, constraints, conditional parameters, warm start and ASHA in the planner."""

from __future__ import annotations

import itertools
from datetime import timedelta
from typing import Any

import pytest

from kubetune.api import Trial, TrialPhase, TrialStatus, parse_task
from kubetune.api.task import MAX_FRONT
from kubetune.engine import RunFact, RunState, new_trial, observe, plan
from kubetune.engine.history import WarmSource
from kubetune.errors import InvalidSpec

from .conftest import T0, MakeTask, series, task_manifest, with_status

TWO = {"metrics": [{"name": "loss", "direction": "minimize"}, {"name": "size", "direction": "minimize"}]}


def finished(task: Any, index: int, params: dict[str, Any], **metrics: float) -> Trial:
    """A succeeded trial that reported each metric once."""
    status = TrialStatus(
        phase=TrialPhase.SUCCEEDED,
        metrics=[series(name, [value]) for name, value in metrics.items()],
        objective=next(iter(metrics.values())),
        start_time=T0,
        completion_time=T0 + timedelta(minutes=index + 1),
    )
    return new_trial(task, index, params).model_copy(update={"status": status})


def test_a_multi_objective_task_keeps_the_pareto_front_instead_of_a_best_trial(make_task: MakeTask) -> None:
    task = make_task(objective=TWO, budget={"maxTrials": 4, "parallelTrials": 1})
    p = {"lr": 0.1, "layers": 1}
    trials = [
        finished(task, 0, p, loss=0.2, size=9.0),
        finished(task, 1, p, loss=0.5, size=2.0),
        finished(task, 2, p, loss=0.6, size=9.5),  # dominated by trial 0
        finished(task, 3, p, loss=0.9, size=1.0),
    ]
    status = plan(task, trials, T0).status
    assert status.best_trial is None
    assert status.front_size == 3
    assert [m.name for m in status.pareto_front] == ["t1-0", "t1-1", "t1-3"]
    assert status.pareto_front[1].objectives == {"loss": 0.5, "size": 2.0}
    assert status.phase == "Succeeded"


def test_a_front_larger_than_twenty_keeps_its_extremes_and_spreads_the_rest(make_task: MakeTask) -> None:
    task = make_task(objective=TWO, budget={"maxTrials": 60, "parallelTrials": 1})
    # 50 points on the line loss + size = 1: all on the front, crowded at the low-loss end.
    losses = [(i / 49) ** 3 for i in range(50)]
    trials = [finished(task, i, {"lr": 0.1, "layers": 1}, loss=x, size=1 - x) for i, x in enumerate(losses)]
    status = plan(task, trials, T0).status
    assert status.front_size == 50
    assert len(status.pareto_front) == MAX_FRONT
    names = [m.name for m in status.pareto_front]
    assert "t1-0" in names and "t1-49" in names
    kept = sorted(m.objectives["loss"] for m in status.pareto_front)
    gaps = [b - a for a, b in itertools.pairwise(kept)]
    assert max(gaps) < 0.2  # no large hole opened in the sparse end


def test_an_infeasible_trial_never_becomes_the_best_or_joins_the_front(make_task: MakeTask) -> None:
    constraint = {"constraints": [{"metric": "mb", "max": 10}]}
    single = make_task(objective={"metric": "loss", "direction": "minimize", **constraint}, budget={"maxTrials": 2})
    p = {"lr": 0.1, "layers": 1}
    trials = [finished(single, 0, p, loss=0.1, mb=50), finished(single, 1, p, loss=0.3, mb=5)]
    assert plan(single, trials, T0).status.best_trial.name == "t1-1"  # type: ignore[union-attr]
    # A trial that did not report the constraint's metric is infeasible too.
    assert plan(single, [finished(single, 0, p, loss=0.1)], T0).status.best_trial is None
    multi = make_task(objective={**TWO, **constraint}, budget={"maxTrials": 2})
    trials = [finished(multi, 0, p, loss=0.1, size=1, mb=50), finished(multi, 1, p, loss=0.3, size=2, mb=5)]
    assert [m.name for m in plan(multi, trials, T0).status.pareto_front] == ["t1-1"]


def test_a_multi_objective_trial_that_misses_an_objective_fails(make_task: MakeTask) -> None:
    task = make_task(objective=TWO)
    trial = new_trial(task, 0, {"lr": 0.1, "layers": 1})
    status = observe(task.spec, trial, RunFact(RunState.SUCCEEDED, {"loss": series("loss", [0.3])}), T0)
    assert status.phase is TrialPhase.FAILED
    assert status.message == "The trial ended without reporting size."


@pytest.mark.parametrize(
    ("change", "where", "words"),
    [
        ({"algorithm": {"name": "cmaes"}}, "spec.algorithm.name", "cmaes optimizes a single objective"),
        ({"earlyStopping": {"rule": "median"}}, "spec.earlyStopping.rule", "does not apply with objective.metrics"),
        ({"earlyStopping": {"rule": "asha"}}, "spec.earlyStopping.rule", "does not apply with objective.metrics"),
    ],
)
def test_single_objective_only_features_are_refused_in_one_line(change: dict[str, Any], where: str, words: str) -> None:
    with pytest.raises(InvalidSpec) as error:
        parse_task(task_manifest(objective=TWO, **change))
    assert str(error.value).count("\n") == 0
    assert where in str(error.value) and words in str(error.value)


def test_enqueued_points_run_first_then_the_algorithm_takes_over(make_task: MakeTask) -> None:
    enqueue = [{"lr": 0.5, "layers": 3}, {"lr": 0.25, "layers": 2}, {"lr": 0.125, "layers": 1}]
    task = make_task(warmStart={"enqueue": enqueue}, budget={"maxTrials": 5, "parallelTrials": 2})
    first = plan(task, [], T0)
    assert [t.spec.parameters for t in first.create] == enqueue[:2]
    done = [with_status(t, TrialPhase.SUCCEEDED, [0.3]) for t in first.create]
    second = plan(task, done, T0)
    assert next(t.spec.parameters for t in second.create) == enqueue[2]
    assert second.create[1].spec.parameters not in enqueue
    assert [t.spec.index for t in second.create] == [2, 3]


def test_warm_start_feeds_the_model_without_counting_toward_the_budget(make_task: MakeTask) -> None:
    old = make_task(algorithm={"name": "random", "seed": 3})
    p = {"lr": 0.1, "layers": 1}
    old_trials = [
        finished(old, 0, p, loss=0.4),
        finished(old, 1, {"lr": 0.2, "layers": 9}, loss=0.1),  # layers outside this task's 1..4: dropped
        with_status(new_trial(old, 2, p), TrialPhase.FAILED),  # failed: dropped
    ]
    manifest = task_manifest(
        warmStart={"tasks": ["old", "gone"]},
        budget={"maxTrials": 3, "parallelTrials": 3},
        algorithm={"name": "grid"},
        parameters=[
            {"name": "lr", "type": "double", "min": 0.1, "max": 0.3, "step": 0.1},
            {"name": "layers", "type": "int", "min": 1, "max": 4},
        ],
    )
    task = parse_task(manifest)
    step = plan(task, [], T0, [WarmSource("old", old.spec, old_trials), WarmSource("gone", None)])
    assert len(step.create) == 3  # the budget is the task's own
    assert {"lr": 0.1, "layers": 1} not in [t.spec.parameters for t in step.create]  # grid skips the imported point
    warm = step.status.warm_start
    assert warm is not None and (warm.imported, warm.dropped) == (1, 2)
    assert [(s.task, s.imported, s.dropped, s.message) for s in warm.sources] == [
        ("old", 1, 2, None),
        ("gone", 0, 0, "No such task was found."),
    ]


def test_warm_start_skips_a_task_whose_parameters_differ(make_task: MakeTask) -> None:
    other = parse_task(task_manifest(parameters=[{"name": "lr", "type": "double", "min": 0.001, "max": 1.0}]))
    task = make_task(warmStart={"tasks": ["other"]})
    warm = plan(task, [], T0, [WarmSource("other", other.spec, [])]).status.warm_start
    assert warm is not None and warm.sources[0].message is not None
    assert "are not this task's" in warm.sources[0].message


def curve(task: Any, index: int, values: list[float], phase: TrialPhase = TrialPhase.SUCCEEDED) -> Trial:
    return with_status(new_trial(task, index, {"lr": 0.1, "layers": 1}), phase, values)


def test_asha_stops_a_trial_outside_the_top_third_at_its_rung_without_waiting(make_task: MakeTask) -> None:
    task = make_task(
        earlyStopping={"rule": "asha", "minResource": 1, "reductionFactor": 3},
        budget={"maxTrials": 10, "parallelTrials": 4},
    )
    # Three finished trials set the bar at rung 1 (step 1) and rung 3 (step 3).
    done = [curve(task, 0, [0.5, 0.4, 0.3, 0.2]), curve(task, 1, [0.6, 0.5, 0.4]), curve(task, 2, [0.7, 0.6, 0.5])]
    bad = curve(task, 3, [0.9], TrialPhase.RUNNING)
    good = curve(task, 4, [0.45], TrialPhase.RUNNING)
    step = plan(task, [*done, bad, good], T0)
    assert [(v.name, v.reason) for v in step.stop] == [("t1-3", "AshaStop")]
    assert "rung step 1" in step.stop[0].message
    # Between rungs nothing new is decided; at rung 3 the survivor is judged again.
    assert plan(task, [*done, curve(task, 4, [0.45, 0.2], TrialPhase.RUNNING)], T0).stop == []
    late = plan(task, [*done, curve(task, 4, [0.45, 0.44, 0.43], TrialPhase.RUNNING)], T0)
    assert [v.reason for v in late.stop] == ["AshaStop"] and "rung step 3" in late.stop[0].message


def test_asha_lets_the_first_trial_at_a_rung_go_on(make_task: MakeTask) -> None:
    task = make_task(earlyStopping={"rule": "asha", "reductionFactor": 2})
    assert plan(task, [curve(task, 0, [5.0, 4.0], TrialPhase.RUNNING)], T0).stop == []


def test_asha_does_not_stop_a_trial_on_its_final_report(make_task: MakeTask) -> None:
    # 27 steps end on a rung of minResource 1 and reductionFactor 3 (1, 3, 9, 27): a trial whose
    # final report is the worst at step 27 has trained in full and is not EarlyStopped there.
    task = make_task(
        earlyStopping={"rule": "asha", "minResource": 1, "reductionFactor": 3},
        budget={"maxTrials": 10, "parallelTrials": 4},
    )
    full = [[1.0 / (step + k) for step in range(1, 28)] for k in range(3)]
    done = [curve(task, k, values) for k, values in enumerate(full)]
    last = curve(task, 3, [*full[0][:-1], 0.9], TrialPhase.RUNNING)
    assert plan(task, [*done, last], T0).stop == []
    # The same trial, worse at an earlier rung, is stopped there.
    early = curve(task, 3, [*full[0][:8], 0.9], TrialPhase.RUNNING)
    assert [v.reason for v in plan(task, [*done, early], T0).stop] == ["AshaStop"]


def test_asha_max_resource_is_the_step_where_trials_finish(make_task: MakeTask) -> None:
    task = make_task(
        earlyStopping={"rule": "asha", "minResource": 1, "reductionFactor": 3, "maxResource": 9},
        budget={"maxTrials": 10, "parallelTrials": 4},
    )
    # No trial has succeeded yet: the stated maxResource is enough to judge, and step 9 is not a rung.
    running = [curve(task, k, [0.1 * (k + 1)] * 9, TrialPhase.RUNNING) for k in range(4)]
    assert plan(task, running, T0).stop == []
    at_three = [curve(task, k, [0.1 * (k + 1)] * 3, TrialPhase.RUNNING) for k in range(4)]
    assert {v.name for v in plan(task, at_three, T0).stop} == {"t1-1", "t1-2", "t1-3"}  # best 4 // 3


def test_asha_defaults_wait_for_a_full_training_then_start_at_a_ninth_of_it(make_task: MakeTask) -> None:
    task = make_task(earlyStopping={"rule": "asha"}, budget={"maxTrials": 10, "parallelTrials": 4})
    # Before any trial has succeeded, the full training's length is unknown: nothing is stopped.
    running = [curve(task, k, [0.1 * (k + 1)] * 5, TrialPhase.RUNNING) for k in range(4)]
    assert plan(task, running, T0).stop == []
    done = [curve(task, k, [0.1] * 27) for k in range(3)]
    bad = [5.0] * 27
    assert plan(task, [*done, curve(task, 3, bad[:2], TrialPhase.RUNNING)], T0).stop == []
    stop = plan(task, [*done, curve(task, 3, bad[:3], TrialPhase.RUNNING)], T0).stop
    assert [v.reason for v in stop] == ["AshaStop"] and "rung step 3" in stop[0].message


def test_conditional_parameters_reach_trials_only_when_active(make_task: MakeTask) -> None:
    parameters = [
        {"name": "optimizer", "type": "categorical", "values": ["adam", "sgd"]},
        {"name": "momentum", "min": 0.1, "max": 0.9, "when": {"parameter": "optimizer", "in": ["sgd"]}},
    ]
    task = make_task(parameters=parameters, budget={"maxTrials": 12, "parallelTrials": 12})
    created = plan(task, [], T0).create
    for trial in created:
        assert ("momentum" in trial.spec.parameters) == (trial.spec.parameters["optimizer"] == "sgd")
    assert {t.spec.parameters["optimizer"] for t in created} == {"adam", "sgd"}


def test_a_finished_task_keeps_its_warm_start_status_when_the_sources_are_not_read(make_task: MakeTask) -> None:
    old = make_task()
    task = make_task(warmStart={"tasks": ["old"]}, budget={"maxTrials": 1, "parallelTrials": 1})
    first = plan(task, [], T0, [WarmSource("old", old.spec, [finished(old, 0, {"lr": 0.1, "layers": 1}, loss=0.4)])])
    done = [with_status(t, TrialPhase.SUCCEEDED, [0.3]) for t in first.create]
    last = plan(task.model_copy(update={"status": first.status}), done, T0, None)
    assert last.status.phase == "Succeeded"
    assert last.status.warm_start == first.status.warm_start
    assert last.status.warm_start is not None and last.status.warm_start.imported == 1
