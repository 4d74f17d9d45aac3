"""The step loop that ``kubetune run`` and the operator share: observe, plan, record, act.

An :class:`Executor` is where trials run (local processes, Kubernetes workloads). It reads the
world, starts and stops runs, and records trials and the task's status durably; it decides
nothing. :func:`step` is the one place that decides in which order those happen. The two
front ends differ only in their executor and in how they wait between two steps.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from ..api import HPOTask, HPOTaskStatus, SuspendPolicy, Trial, TrialPhase, TrialStatus
from .events import Event
from .history import WarmSource
from .observe import Reason, RunFact, RunState, finished_event, observe
from .planner import Plan, plan
from .retention import released
from .stopping import is_active, stopped_status


@dataclass(frozen=True)
class World:
    """What an executor read of one task's trials, in one go."""

    trials: Sequence[Trial]
    """Every trial of the task as recorded (any order)."""
    facts: Mapping[str, RunFact]
    """What the run of each active trial says now; an active trial missing here has no run."""
    live: frozenset[str] = frozenset()
    """Trials whose run (process, workload) exists and has not ended, finished trials included."""
    warm: Sequence[WarmSource] | None = ()
    """The earlier tasks ``spec.warmStart.tasks`` names, as the executor found them; None when it
    did not read them (the task is finished), so that the status keeps what it said of them."""
    ended: frozenset[str] = frozenset()
    """Trials whose run ended but whose objects remain (a finished Job and its pods), for retention."""


class Executor(Protocol):
    """Where one task's trials run. Called only by :func:`step`, in the order it documents."""

    def read(self) -> World:
        """The task's trials and the facts of their runs (may be served from a cache)."""
        ...

    def record_trial(self, trial: Trial) -> Trial:
        """Durably write a trial (create it, or write its status); return it as stored."""
        ...

    def start(self, trial: Trial) -> None:
        """Start the run of a recorded trial; a run that already exists is kept."""
        ...

    def stop(self, trial: Trial) -> None:
        """End the run of a trial, if it has one; nothing of it keeps running."""
        ...

    def record_status(self, status: HPOTaskStatus) -> None:
        """Durably write the task's status."""
        ...


@dataclass(frozen=True)
class Finished:
    """A trial that ended during this step, for the front end's counters."""

    trial: Trial
    scrape_failed: bool
    """Its metrics could not be read: an unreadable annotation, or a run that reported no objective."""


@dataclass(frozen=True)
class Step:
    """What one step did."""

    plan: Plan
    trials: Sequence[Trial]
    """The trials as recorded at the end of the step, created ones included."""
    events: Sequence[Event] = ()
    finished: Sequence[Finished] = ()
    """Trials whose run ended (observed), in this step; stopped ones are in ``plan.stop``."""
    created: Sequence[Trial] = ()


def step(executor: Executor, task: HPOTask, now: datetime) -> Step:
    """Bring ``task`` (with its last recorded status) one step forward; safe to repeat and to interrupt."""
    world = executor.read()
    spec = task.spec
    # Suspended with force: a trial that has not started yet stays unstarted (the plan stops it).
    may_start = not (spec.suspend and spec.suspend_policy is SuspendPolicy.FORCE)
    trials: list[Trial] = []
    events: list[Event] = []
    finished: list[Finished] = []
    absent: list[str] = []  # recorded without a run: started after the plan, unless it stops them
    for recorded in sorted(world.trials, key=lambda t: t.spec.index):
        trial = recorded
        name = trial.metadata.name or ""
        if not is_active(trial):
            if name in world.live:
                executor.stop(trial)  # a finished trial leaves no run behind
            trials.append(trial)
            continue
        fact = world.facts.get(name, RunFact(RunState.ABSENT))
        if fact.state is RunState.ABSENT:
            if may_start:
                trial = _restart(executor, trial)
                absent.append(name)
            trials.append(trial)
            continue
        status = observe(spec, trial, fact, now)
        if status != trial.status:
            trial = executor.record_trial(trial.model_copy(update={"status": status}))
            if status.phase.finished:
                events.append(finished_event(trial))
                missing = status.reason == Reason.METRICS_UNAVAILABLE
                finished.append(Finished(trial, fact.metrics_unreadable or missing))
        trials.append(trial)

    decided = plan(task, trials, now, world.warm)
    by_name = {t.metadata.name: t for t in trials}
    # Record first, then act. A crash between the two then leaves a recorded decision that the
    # next step carries out (a recorded trial without a run is started; a finished trial whose run
    # still lives is stopped), never an action the records do not know of: no duplicate trial,
    # no run that nothing will stop.
    for verdict in decided.stop:
        known = by_name.get(verdict.name)
        if known is None:
            continue
        stopped = executor.record_trial(known.model_copy(update={"status": stopped_status(known, verdict, now)}))
        by_name[verdict.name] = stopped
        executor.stop(stopped)
    for name in absent:
        if is_active(by_name[name]):
            executor.start(by_name[name])
    created = []
    for new in decided.create:
        stored = executor.record_trial(new)
        by_name[stored.metadata.name] = stored
        created.append(stored)
        executor.start(stored)
    final = sorted(by_name.values(), key=lambda t: t.spec.index)
    # With the results recorded (each trial's record comes before its run's removal): what the
    # retention policy does not keep of ended runs goes.
    for name in released(spec, final, world.ended):
        executor.stop(by_name[name])
    # The task's status last: once it says the task finished, nothing of the step is left to do.
    if decided.status != task.status:
        executor.record_status(decided.status)
    return Step(decided, final, [*events, *decided.events], finished, created)


def _restart(executor: Executor, trial: Trial) -> Trial:
    """A trial whose earlier run vanished with its runner (``kubetune run`` stopped) starts from nothing."""
    status = trial.status
    if status is None or (status.start_time is None and not status.metrics):
        return trial
    return executor.record_trial(trial.model_copy(update={"status": TrialStatus(phase=TrialPhase.PENDING)}))
