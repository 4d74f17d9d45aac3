"""The one step loop: observe, plan, record, then act, whatever the executor."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from kubetune.api import HPOTask, HPOTaskStatus, Trial, TrialPhase
from kubetune.engine import RunFact, RunState, World, step

from .conftest import T0, MakeTask, series


class Crash(Exception):
    """The process running the step died here."""


@dataclass
class Memory:
    """An executor whose durable records and runs are dictionaries; it can crash before an action."""

    trials: dict[str, Trial] = field(default_factory=dict)
    runs: dict[str, RunFact] = field(default_factory=dict)
    status: HPOTaskStatus | None = None
    calls: list[tuple[str, str]] = field(default_factory=list)
    crash_on: str = ""

    def read(self) -> World:
        live = {n: f for n, f in self.runs.items() if f.state is RunState.RUNNING}
        return World(list(self.trials.values()), dict(self.runs), frozenset(live))

    def record_trial(self, trial: Trial) -> Trial:
        self.calls.append(("record", trial.metadata.name or ""))
        self.trials[trial.metadata.name or ""] = trial
        return trial

    def start(self, trial: Trial) -> None:
        if self.crash_on == "start":
            raise Crash
        self.calls.append(("start", trial.metadata.name or ""))
        self.runs[trial.metadata.name or ""] = RunFact(RunState.RUNNING, started_at=T0)

    def stop(self, trial: Trial) -> None:
        if self.crash_on == "stop":
            raise Crash
        self.calls.append(("stop", trial.metadata.name or ""))
        self.runs.pop(trial.metadata.name or "", None)

    def record_status(self, status: HPOTaskStatus) -> None:
        self.status = status


def with_status(task: HPOTask, memory: Memory) -> HPOTask:
    return task.model_copy(update={"status": memory.status})


def test_a_new_trial_is_recorded_before_its_run_starts(make_task: MakeTask) -> None:
    memory = Memory()
    step(memory, make_task(), T0)
    assert memory.calls == [("record", "t1-0"), ("start", "t1-0"), ("record", "t1-1"), ("start", "t1-1")]


def test_a_crash_before_a_start_leaves_a_recorded_trial_that_the_next_step_starts_once(make_task: MakeTask) -> None:
    task = make_task()
    memory = Memory(crash_on="start")
    with pytest.raises(Crash):
        step(memory, task, T0)
    assert list(memory.trials) == ["t1-0"] and memory.runs == {}
    memory.crash_on = ""
    again = step(memory, with_status(task, memory), T0)
    assert sorted(memory.trials) == ["t1-0", "t1-1"], "no second trial for index 0"
    assert sorted(memory.runs) == ["t1-0", "t1-1"]
    assert [t.metadata.name for t in again.created] == ["t1-1"]


def test_a_trial_stopped_by_the_plan_is_recorded_before_its_run_is_stopped(make_task: MakeTask) -> None:
    task = make_task(budget={"maxTrials": 2, "parallelTrials": 2, "trialTimeout": "1m"})
    memory = Memory()
    step(memory, task, T0)
    memory.calls.clear()
    later = T0.replace(minute=5)
    memory.crash_on = "stop"
    with pytest.raises(Crash):
        step(memory, with_status(task, memory), later)
    assert memory.trials["t1-0"].status is not None
    assert memory.trials["t1-0"].status.phase is TrialPhase.FAILED, "the verdict is on record"
    memory.crash_on = ""
    step(memory, with_status(task, memory), later)
    assert memory.runs == {}, "the next step stops the run of a trial recorded as finished"


def test_an_ended_run_is_observed_recorded_and_reported(make_task: MakeTask) -> None:
    task = make_task(budget={"maxTrials": 1, "parallelTrials": 1})
    memory = Memory()
    step(memory, task, T0)
    memory.runs["t1-0"] = RunFact(RunState.SUCCEEDED, {"loss": series("loss", [0.3])}, T0, T0)
    done = step(memory, with_status(task, memory), T0)
    assert [f.trial.metadata.name for f in done.finished] == ["t1-0"]
    assert not done.finished[0].scrape_failed
    assert done.plan.finished and memory.status is not None and memory.status.best_trial is not None


def test_a_run_that_reported_no_objective_counts_as_a_scrape_failure(make_task: MakeTask) -> None:
    task = make_task(budget={"maxTrials": 1, "parallelTrials": 1})
    memory = Memory()
    step(memory, task, T0)
    memory.runs["t1-0"] = RunFact(RunState.SUCCEEDED, {}, T0, T0, metrics_note="Read 0 values.")
    done = step(memory, with_status(task, memory), T0)
    assert done.finished[0].scrape_failed
    assert done.finished[0].trial.status is not None and done.finished[0].trial.status.reason == "MetricsUnavailable"
