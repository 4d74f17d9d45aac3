"""A user's terminal stop, the wall-clock deadline, and the trial-hour and GPU-hour budgets."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from kubetune.api import HPOTask, TaskPhase, Trial, TrialPhase, parse_task
from kubetune.engine import new_trial, plan
from kubetune.engine.compute import usage

from .conftest import T0, MakeTask, finished_trials, task_manifest, with_status


def running(task: HPOTask, index: int, started: Any = T0) -> Trial:
    return with_status(new_trial(task, index, {"lr": 0.1, "layers": 2}), TrialPhase.RUNNING, [0.5], started=started)


def pending(task: HPOTask, index: int) -> Trial:
    return new_trial(task, index, {"lr": 0.2, "layers": 3})


def stopped(task: HPOTask, policy: str = "graceful") -> HPOTask:
    return parse_task({**task.to_manifest(), "spec": {**task.to_manifest()["spec"], "stop": {"policy": policy}}})


def test_a_graceful_stop_lets_running_trials_finish_and_starts_nothing(make_task: MakeTask) -> None:
    task = make_task()
    trials = [*finished_trials(task, [0.4]), running(task, 1), pending(task, 2)]
    step = plan(stopped(task), trials, T0 + timedelta(minutes=5))
    assert step.create == []
    assert [(v.name, v.phase) for v in step.stop] == [("t1-2", TrialPhase.STOPPED)], "only the unstarted trial"
    assert step.status.phase is TaskPhase.RUNNING and step.status.reason == "Stopping"
    assert "1 running trials" in (step.status.message or "")
    assert not step.finished

    done = [trials[0], with_status(trials[1], TrialPhase.SUCCEEDED, [0.3]), step.stop and trials[2]]
    done[2] = done[2].model_copy(update={"status": done[2].status.model_copy(update={"phase": TrialPhase.STOPPED})})
    last = plan(stopped(task).model_copy(update={"status": step.status}), done, T0 + timedelta(minutes=9))
    assert last.finished and last.status.phase is TaskPhase.STOPPED
    assert last.status.reason == "StoppedByUser"
    assert last.status.best_trial is not None and last.status.best_trial.name == "t1-1", "the results are kept"
    conditions = {c.type: c.status for c in last.status.conditions}
    assert conditions["Stopped"] == "True" and conditions["Succeeded"] == "False"
    assert any(e.reason == "StoppedByUser" for e in last.events)


def test_a_forced_stop_stops_every_trial_at_once(make_task: MakeTask) -> None:
    task = make_task()
    trials = [running(task, 0), pending(task, 1)]
    step = plan(stopped(task, "force"), trials, T0 + timedelta(minutes=5))
    assert sorted(v.name for v in step.stop) == ["t1-0", "t1-1"]
    assert all(v.phase is TrialPhase.STOPPED for v in step.stop)
    assert step.finished and step.status.phase is TaskPhase.STOPPED, "stopped, even though no trial succeeded"
    assert step.status.completion_time == T0 + timedelta(minutes=5)


def test_a_stopped_task_stays_stopped_when_the_stop_is_removed(make_task: MakeTask) -> None:
    task = make_task()
    first = plan(stopped(task, "force"), [running(task, 0)], T0)
    trials = [with_status(new_trial(task, 0, {"lr": 0.1, "layers": 2}), TrialPhase.STOPPED, [0.5])]
    again = plan(task.model_copy(update={"status": first.status}), trials, T0 + timedelta(hours=1))
    assert again.create == [] and again.status.phase is TaskPhase.STOPPED
    assert again.status.reason == "StoppedByUser"
    assert not [e for e in again.events if e.reason == "StoppedByUser"], "no second event for the same stop"


def test_stopping_a_task_that_already_finished_changes_nothing(make_task: MakeTask) -> None:
    task = make_task()
    history = finished_trials(task, [0.5, 0.2, 0.3, 0.9, 0.4, 0.25])
    done = plan(task, history, T0 + timedelta(hours=1))
    after = plan(stopped(task).model_copy(update={"status": done.status}), history, T0 + timedelta(hours=2))
    assert after.status.phase is TaskPhase.SUCCEEDED and after.status.reason == "MaxTrialsReached"


def test_the_deadline_ends_the_task_and_stops_running_trials(make_task: MakeTask) -> None:
    deadline = T0 + timedelta(hours=2)
    task = make_task(budget={"maxTrials": 6, "parallelTrials": 2, "deadline": deadline.isoformat()})
    trials = [*finished_trials(task, [0.4]), running(task, 1)]
    before = plan(task, trials, deadline - timedelta(minutes=10))
    assert before.create and before.wake_after == timedelta(minutes=10), "woken at the deadline"
    step = plan(task, trials, deadline)
    assert step.create == [] and [v.name for v in step.stop] == ["t1-1"]
    assert step.status.phase is TaskPhase.SUCCEEDED and step.status.reason == "DeadlineReached"


def test_the_deadline_is_an_rfc3339_time() -> None:
    task = parse_task(task_manifest(budget={"deadline": "2026-12-24T18:00:00+01:00"}))
    assert task.spec.budget.deadline is not None and task.spec.budget.deadline.utcoffset() == timedelta(hours=1)
    assert task.to_manifest()["spec"]["budget"]["deadline"] == "2026-12-24T18:00:00+01:00"


def test_trial_hours_sum_every_trials_run_time(make_task: MakeTask) -> None:
    task = make_task(budget={"maxTrials": 20, "parallelTrials": 2, "maxTrialHours": 1.5})
    # Two trials of 30 minutes finished, one running for 20 minutes: 1h20 spent, 10 minutes left at rate 1.
    done = [
        with_status(
            new_trial(task, i, {"lr": 0.1, "layers": 1}),
            TrialPhase.SUCCEEDED,
            [0.5],
            finished=T0 + timedelta(minutes=30),
        )
        for i in range(2)
    ]
    now = T0 + timedelta(minutes=50)
    trials = [*done, running(task, 2, started=T0 + timedelta(minutes=30))]
    step = plan(task, trials, now)
    assert step.status.phase is TaskPhase.RUNNING
    assert step.wake_after is not None and step.wake_after == pytest.approx(
        timedelta(minutes=10), abs=timedelta(seconds=1)
    )
    spent = plan(task, trials, now + timedelta(minutes=10))
    assert spent.status.reason == "TrialHoursSpent" and [v.name for v in spent.stop] == ["t1-2"]
    assert "1.5 hours" in (spent.status.message or "")


def gpu_task(gpus: Any, **budget: Any) -> HPOTask:
    container = {"name": "t", "image": "x", "command": ["train"], "resources": {"limits": {"nvidia.com/gpu": gpus}}}
    template = {"spec": {"template": {"spec": {"containers": [container]}}}}
    return parse_task(task_manifest(budget={"maxTrials": 20, "parallelTrials": 4, **budget}, trialTemplate=template))


def test_gpu_hours_count_each_trials_requested_gpus(make_task: MakeTask) -> None:
    task = gpu_task(4, maxGPUHours=10)
    trials = [running(task, i) for i in range(2)]
    # Two trials holding 4 GPUs each: 8 GPU-hours per hour, so 10 GPU-hours last 75 minutes.
    assert plan(task, trials, T0).wake_after == timedelta(minutes=75)
    later = plan(task, trials, T0 + timedelta(minutes=74))
    assert later.status.phase is TaskPhase.RUNNING
    assert (later.status.message or "").endswith(" 9.9 of 10 GPU-hours used."), "the status says what is spent"
    ended = plan(task, trials, T0 + timedelta(minutes=75))
    assert len(ended.stop) == 2
    # Like any other limit: the values the stopped trials reported are the results, not a failure.
    assert ended.status.phase is TaskPhase.SUCCEEDED and ended.status.reason == "GPUHoursSpent"
    assert (ended.status.message or "").startswith("Trials used 10 GPU-hours, maxGPUHours is 10. No trial ran to")


def test_a_task_without_gpus_spends_no_gpu_hours(make_task: MakeTask) -> None:
    task = make_task(budget={"maxTrials": 6, "parallelTrials": 2, "maxGPUHours": 1})
    step = plan(task, [running(task, 0)], T0 + timedelta(days=3))
    assert step.status.phase is TaskPhase.RUNNING


@pytest.mark.parametrize(
    ("containers", "init", "expected"),
    [
        ([{"limits": {"nvidia.com/gpu": 2}}], [], 2),
        ([{"requests": {"nvidia.com/gpu": "1"}}, {"limits": {"nvidia.com/gpu": "3"}}], [], 4),
        ([{"limits": {"cpu": "2"}}], [], 0),
        ([{"limits": {"nvidia.com/gpu": 1}}], [{"limits": {"nvidia.com/gpu": 2}}], 2),
    ],
)
def test_requested_gpus_follow_the_schedulers_rule(containers: list[Any], init: list[Any], expected: int) -> None:
    listed = [{"name": f"c{i}", "image": "x", "command": ["t"], "resources": r} for i, r in enumerate(containers)]
    inits = [{"name": f"i{i}", "image": "x", "resources": r} for i, r in enumerate(init)]
    template = {"spec": {"template": {"spec": {"containers": listed, "initContainers": inits}}}}
    task = parse_task(task_manifest(trialTemplate=template))
    assert task.spec.trial_template.requested_gpus() == expected


def test_usage_takes_the_gpus_per_trial_from_its_caller(make_task: MakeTask) -> None:
    task = make_task()
    trials = [
        with_status(
            new_trial(task, i, {"lr": 0.1, "layers": 1}), TrialPhase.SUCCEEDED, [0.5], finished=T0 + timedelta(hours=1)
        )
        for i in range(3)
    ]
    spent = usage(trials, T0 + timedelta(hours=5), lambda t: float(t.spec.index))
    assert (spent.trial_hours, spent.gpu_hours) == (3.0, 0.0 + 1.0 + 2.0)


@pytest.mark.parametrize(
    ("budget", "reason"),
    [
        ({"maxDuration": "1h"}, "MaxDurationReached"),
        ({"deadline": "2026-01-01T01:00:00Z"}, "DeadlineReached"),
        ({"maxTrialHours": 2}, "TrialHoursSpent"),
    ],
)
def test_a_time_limit_is_no_failure_when_the_stopped_trials_reported_values(
    make_task: MakeTask, budget: dict[str, Any], reason: str
) -> None:
    task = make_task(budget={"maxTrials": 10, "parallelTrials": 2, **budget})
    task = task.model_copy(update={"status": plan(task, [], T0).status})
    trials = [running(task, 0), with_status(new_trial(task, 1, {"lr": 0.2, "layers": 1}), TrialPhase.RUNNING, [0.3])]
    step = plan(task, trials, T0 + timedelta(hours=1))
    assert [v.phase for v in step.stop] == [TrialPhase.STOPPED, TrialPhase.STOPPED]
    assert (step.status.phase, step.status.reason) == (TaskPhase.SUCCEEDED, reason)
    # The message says that no trial ran to its end, and which stopped trial is the best so far.
    assert "2 stopped trials reported loss" in (step.status.message or "")
    assert "t1-1 (0.3)" in (step.status.message or "")
