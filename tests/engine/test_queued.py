"""A trial whose workload waits in a queue: Queued, holding a slot, and its clock not running."""

from __future__ import annotations

from datetime import timedelta

from kubetune.api import TrialPhase, TrialStatus, parse_task
from kubetune.engine import RunFact, RunState, new_trial, observe, plan

from .conftest import T0, task_manifest


def test_a_requeued_trial_keeps_its_slot_and_its_time_in_the_queue_is_not_counted() -> None:
    task = parse_task(task_manifest(budget={"maxTrials": 4, "parallelTrials": 1, "trialTimeout": "10m"}))
    trial = new_trial(task, 0, {"lr": 0.01, "layers": 2})
    running = trial.model_copy(update={"status": TrialStatus(phase=TrialPhase.RUNNING, start_time=T0)})
    queued = observe(task.spec, running, RunFact(RunState.QUEUED, job_name="q-0"), T0 + timedelta(minutes=9))
    assert (queued.phase, queued.start_time) == (TrialPhase.QUEUED, None), "preempted: requeued, clock stopped"

    later = T0 + timedelta(hours=5)  # far past trialTimeout, all of it in the queue
    requeued = trial.model_copy(update={"status": queued})
    step = plan(task, [requeued], later)
    assert step.stop == [] and step.create == [], "not timed out, and it still holds the one parallel slot"
    assert step.status.trials.queued == 1


def test_queued_trials_within_the_budget_are_never_stopped_as_over_it() -> None:
    task = parse_task(task_manifest(budget={"maxTrials": 3, "parallelTrials": 2}))
    queued = [
        new_trial(task, i, {"lr": 0.01, "layers": 2}).model_copy(
            update={"status": TrialStatus(phase=TrialPhase.QUEUED)}
        )
        for i in range(2)
    ]
    step = plan(task, queued, T0)
    assert step.stop == [], "two trials of three allowed: nothing is over maxTrials"
