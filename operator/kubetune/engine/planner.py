"""One reconcile step: (task, trials, clock) -> what to create, what to stop, and the task's status.

The same function drives ``kubetune run`` and the Kubernetes operator. It is pure: the trials
passed in are the whole truth (after a restart they are re-read), and the same inputs always
give the same plan, so a repeated step never creates a second trial for an index.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from ..api import (
    AlgorithmName,
    BestTrial,
    Condition,
    ConditionStatus,
    HPOTask,
    HPOTaskSpec,
    HPOTaskStatus,
    ParamValue,
    SuspendPolicy,
    TaskPhase,
    Trial,
    TrialCounts,
    TrialPhase,
    TrialSpec,
    TrialStatus,
    WarmStartStatus,
)
from ..api.base import format_duration
from ..api.task import ObjectMeta
from ..errors import SearchError
from ..search import experiments, registry
from ..search.base import Observation, Pending, SearchRequest
from ..search.space import SearchSpace
from . import compute, ranking
from .events import Event
from .history import WarmSource, import_sources, observation, pareto_front
from .naming import task_seed, trial_name
from .observe import feasible, objective_of, other_metrics
from .stopping import (
    Verdict,
    asha_stop,
    is_active,
    katib_median_stop,
    median_stop,
    phase_of,
    stopped_status,
    timed_out,
)

MAX_TRIALS_LOWERED = "MaxTrialsLowered"
"""The reason of a trial stopped before it started because maxTrials was lowered below the trials created."""


@dataclass(frozen=True)
class Plan:
    """What one reconcile step decided."""

    create: Sequence[Trial]
    """New trials to record, then start, in index order."""
    stop: Sequence[Verdict]
    """Running trials to record as finished with this phase and reason, then stop."""
    status: HPOTaskStatus
    """The task's new status."""
    events: Sequence[Event] = field(default_factory=tuple)
    wake_after: timedelta | None = None
    """When a time-based rule (trial timeout, maxDuration) next needs a step, if no event comes first."""

    @property
    def finished(self) -> bool:
        """Whether the task is over: nothing will ever be created or run again."""
        return self.status.phase.finished


@dataclass(frozen=True)
class _Ending:
    reason: str
    message: str
    failed: bool = False
    stopped: bool = False
    """Ended by the user (``spec.stop``): phase Stopped, whatever the trials achieved."""
    limit: bool = False
    """Ended by a time or compute limit (maxDuration, deadline, trial- or GPU-hours): the trials it
    stopped may have reported values, which are results, not a failure."""


def plan(task: HPOTask, trials: Sequence[Trial], now: datetime, warm: Sequence[WarmSource] | None = ()) -> Plan:
    """Decide the next step of ``task`` given all its trials (any order) and the time.

    ``warm`` is what the executor read of the tasks ``spec.warmStart.tasks`` names: their
    compatible finished trials seed the search algorithm without counting toward the budget.
    None means the executor did not read them (a finished task needs them no more): the status
    keeps what it said.
    """
    spec = task.spec
    previous = task.status or HPOTaskStatus()
    trials = sorted(trials, key=lambda t: t.spec.index)
    events: list[Event] = []

    verdicts = _trial_verdicts(spec, trials, now)
    trials = _apply(trials, verdicts, now)
    lowered = _over_budget(spec, trials)
    verdicts += lowered
    trials = _apply(trials, lowered, now)
    start = previous.start_time or (now if trials else None)

    ending, stopping = _user_stop(spec, trials, previous, _ending(spec, trials, previous, start, now))
    suspended = spec.suspend and ending is None and not stopping
    stops: list[Verdict] = []
    if stopping:  # graceful: what has not started yet never will; running trials finish
        stops = _stop_unstarted(trials, "The task was stopped before this trial ran.")
    elif ending is not None or (suspended and spec.suspend_policy is SuspendPolicy.FORCE):
        stops = _stop_active(trials, ending.message if ending else "The task was suspended with force.")
    verdicts += stops
    trials = _apply(trials, stops, now)

    created: list[Trial] = []
    exhausted = False
    asked = _Asked(ran=previous.algorithm)
    if ending is None and not suspended and not stopping:
        try:
            asked = _new_trials(task, trials, asked, warm)
            created, exhausted = list(asked.created), asked.exhausted
        except SearchError as error:  # e.g. a plugin that is not installed: the task cannot go on
            ending = _Ending("SearchFailed", f"The search algorithm failed: {error}", failed=True)
            stops = _stop_active(trials, ending.message)
            verdicts += stops
            trials = _apply(trials, stops, now)
        if created:
            start = start or now
            total = len(trials) + len(created)
            names = ", ".join(t.metadata.name or "" for t in created)
            events.append(Event("TrialsCreated", f"Created {names} ({total}/{spec.budget.max_trials})."))
        if exhausted and not any(is_active(t) for t in [*trials, *created]):
            ending = _exhausted(asked)

    everything = [*trials, *created]
    succeeded = any(t.status and t.status.phase is TrialPhase.SUCCEEDED for t in everything)
    if ending is not None and not ending.failed and not ending.stopped and not succeeded:
        ending = _unfinished_ending(spec, everything, ending)

    for verdict in verdicts:
        kind: Literal["Normal", "Warning"] = "Warning" if verdict.phase is TrialPhase.FAILED else "Normal"
        events.append(Event(verdict.reason, f"Stopped {verdict.name}: {verdict.message}", kind, verdict.name))
    status = _status(
        task,
        everything,
        previous,
        start,
        ending,
        suspended,
        now,
        asked.waiting,
        stopping,
        _warm(spec, previous, warm)[1],
    )
    status = status.model_copy(update={"algorithm": asked.ran})
    if ending is not None and previous.phase != status.phase:
        kind = "Warning" if ending.failed else "Normal"
        events.append(Event(ending.reason, _summary(spec, status, ending), kind))
    return Plan(created, verdicts, status, events, _wake_after(spec, everything, start, now, status))


def _unfinished_ending(spec: HPOTaskSpec, trials: Sequence[Trial], ending: _Ending) -> _Ending:
    """How a task ends when no trial succeeded: a failure, unless a time or compute limit stopped
    trials that had reported the objective (single objective), whose values are the results."""
    reported: list[tuple[Trial, float]] = []
    for trial in trials:
        status = trial.status
        if status is None or status.phase not in (TrialPhase.STOPPED, TrialPhase.EARLY_STOPPED):
            continue
        value = status.objective
        if value is None:  # stopped by this very step: its objective is read from what it reported
            value = objective_of(spec, {s.name: s for s in status.metrics})
        if value is not None:
            reported.append((trial, value))
    if not ending.limit or not reported or spec.objective.multi:
        return _Ending("NoTrialSucceeded", f"{ending.message} No trial succeeded.", failed=True)
    best, value = reported[0]
    for trial, candidate in reported[1:]:
        if spec.objective.primary_direction.better(candidate, value):
            best, value = trial, candidate
    return _Ending(
        ending.reason,
        f"{ending.message} No trial ran to its end; {len(reported)} stopped trials reported "
        f"{spec.objective.primary} (the best: {best.metadata.name} ({value:.6g}); kubetune best answers from them).",
    )


def _exhausted(asked: _Asked) -> _Ending:
    """The ending of a search that has nothing more to try, in the algorithm's own words where it has
    them (hyperband: its brackets are assigned; grid: every point)."""
    said = asked.waiting or "The search algorithm has no new assignment to try: every one was tried."
    return _Ending("SearchSpaceExhausted", said)


def _stop_active(trials: Sequence[Trial], why: str) -> list[Verdict]:
    """Stop every active trial because the task ends or is suspended with force."""
    return [Verdict(t.metadata.name or "", TrialPhase.STOPPED, "TaskStopped", why) for t in trials if is_active(t)]


def _over_budget(spec: HPOTaskSpec, trials: Sequence[Trial]) -> list[Verdict]:
    """Stop trials that have not started, newest first, while more trials exist than maxTrials allows.

    (maxTrials was lowered below the number created; running and finished trials are kept.)
    """
    budget = spec.budget.max_trials
    # Trials already stopped for this count as gone, so that a later step stops no more.
    excess = sum(1 for t in trials if t.status is None or t.status.reason != MAX_TRIALS_LOWERED) - budget
    waiting = [t for t in reversed(trials) if phase_of(t) in (TrialPhase.PENDING, TrialPhase.QUEUED)]
    why = f"maxTrials was lowered to {budget} before this trial started."
    # max(): a negative excess would slice from the end and stop trials that are within the budget.
    stop = waiting[: max(excess, 0)]
    return [Verdict(t.metadata.name or "", TrialPhase.STOPPED, MAX_TRIALS_LOWERED, why) for t in stop]


def _user_stop(
    spec: HPOTaskSpec, trials: Sequence[Trial], previous: HPOTaskStatus, ending: _Ending | None
) -> tuple[_Ending | None, bool]:
    """The task's ending once a stop the user asked for (``spec.stop``) is counted, and whether it is
    still stopping (graceful, trials running). The task's own ending comes first, unless the task
    was already stopped: a stopped task stays stopped, even if ``spec.stop`` is removed again.
    """
    if previous.phase is TaskPhase.STOPPED:
        return _Ending(
            previous.reason or "StoppedByUser", previous.message or "Stopped by the user.", stopped=True
        ), False
    if ending is not None or spec.stop is None:
        return ending, False
    running = sum(1 for t in trials if phase_of(t) is TrialPhase.RUNNING)
    if spec.stop.policy is SuspendPolicy.FORCE or not running:
        how = "with force" if spec.stop.policy is SuspendPolicy.FORCE else "after its running trials finished"
        return _Ending(
            "StoppedByUser", f"Stopped by the user {how}; its trials and results are kept.", stopped=True
        ), False
    return None, True


def _stop_unstarted(trials: Sequence[Trial], why: str) -> list[Verdict]:
    """Stop every trial that is created but not running yet."""
    return [
        Verdict(t.metadata.name or "", TrialPhase.STOPPED, "TaskStopped", why)
        for t in trials
        if phase_of(t) is TrialPhase.PENDING
    ]


def _warm(
    spec: HPOTaskSpec, previous: HPOTaskStatus, warm: Sequence[WarmSource] | None
) -> tuple[list[Observation], WarmStartStatus | None]:
    """The imported observations and the warm-start status (kept as it was when nothing was read)."""
    if not spec.warm_start or not spec.warm_start.tasks:
        return [], None
    if warm is None:
        return [], previous.warm_start
    return import_sources(spec, warm)


def _trial_verdicts(spec: HPOTaskSpec, trials: Sequence[Trial], now: datetime) -> list[Verdict]:
    verdicts = []
    for trial in trials:
        verdict = (
            timed_out(spec, trial, now)
            or median_stop(spec, trial, trials)
            or katib_median_stop(spec, trial, trials)
            or asha_stop(spec, trial, trials)
        )
        if verdict is not None:
            verdicts.append(verdict)
    return verdicts


def _apply(trials: Sequence[Trial], verdicts: Sequence[Verdict], now: datetime) -> list[Trial]:
    """The trials as they will be once the verdicts are recorded."""
    by_name = {v.name: v for v in verdicts}
    out = []
    for trial in trials:
        verdict = by_name.get(trial.metadata.name or "")
        stopped = verdict is not None and is_active(trial)
        out.append(
            trial.model_copy(update={"status": stopped_status(trial, verdict, now)}) if verdict and stopped else trial
        )
    return out


def _finish_order(trial: Trial) -> tuple[datetime, int]:
    status = trial.status
    assert status is not None and status.completion_time is not None
    return status.completion_time, trial.spec.index


def _stalled(spec: HPOTaskSpec, trials: Sequence[Trial]) -> int:
    """How many trials in a row have completed since the best value last improved."""
    done = sorted(
        (t for t in trials if t.status and t.status.phase is TrialPhase.SUCCEEDED and t.status.completion_time),
        key=_finish_order,
    )
    best: float | None = None
    since = 0
    for trial in done:
        value = trial.status.objective if trial.status else None
        if value is None or not feasible(spec, trial):
            continue
        if best is None or spec.objective.primary_direction.better(value, best):
            best, since = value, 0
        else:
            since += 1
    return since


def _ending(
    spec: HPOTaskSpec, trials: Sequence[Trial], previous: HPOTaskStatus, start: datetime | None, now: datetime
) -> _Ending | None:
    """Why the task ends now, if it does (the search being exhausted is found later)."""
    budget = spec.budget
    failed = sum(1 for t in trials if phase_of(t) is TrialPhase.FAILED)
    if budget.max_failed_trials is not None and failed > budget.max_failed_trials:
        return _Ending(
            "TooManyFailedTrials",
            f"{failed} trials failed, more than maxFailedTrials ({budget.max_failed_trials}).",
            failed=True,
        )
    best = ranking.best(spec, trials)
    goal = spec.objective.goal
    if goal is not None and best is not None and best.status is not None and best.status.objective is not None:
        trial, value = best, best.status.objective
        if value == goal or spec.objective.primary_direction.better(value, goal):
            return _Ending("GoalReached", f"{trial.metadata.name} reached the goal {goal:g} ({value:.6g}).")
    if budget.max_duration is not None and start is not None and now - start >= budget.max_duration:
        return _Ending(
            "MaxDurationReached", f"The task ran for maxDuration ({format_duration(budget.max_duration)}).", limit=True
        )
    if budget.deadline is not None and now >= budget.deadline:
        return _Ending("DeadlineReached", f"The deadline {budget.deadline.isoformat()} has passed.", limit=True)
    spent = compute.usage(trials, now, compute.template_gpus(spec))
    if budget.max_trial_hours is not None and spent.trial_hours >= budget.max_trial_hours:
        return _Ending(
            "TrialHoursSpent",
            f"Trials ran {spent.trial_hours:.3g} hours in all, maxTrialHours is {budget.max_trial_hours:g}.",
            limit=True,
        )
    if budget.max_gpu_hours is not None and spent.gpu_hours >= budget.max_gpu_hours:
        return _Ending(
            "GPUHoursSpent",
            f"Trials used {spent.gpu_hours:.3g} GPU-hours, maxGPUHours is {budget.max_gpu_hours:g}.",
            limit=True,
        )
    if budget.patience is not None and _stalled(spec, trials) >= budget.patience:
        return _Ending("NoImprovement", f"{budget.patience} trials in a row completed without improving the best.")
    if _budgeted(trials) >= budget.max_trials and not any(is_active(t) for t in trials):
        if _budgeted(trials) == budget.max_trials:
            return _Ending("MaxTrialsReached", f"All {budget.max_trials} trials finished.")
        return _Ending("MaxTrialsReached", f"All {len(trials)} trials finished; {_lowered(spec, trials)}")
    return None


def _budgeted(trials: Sequence[Trial]) -> int:
    """Trials that use the maxTrials budget: all but those stopped by force (suspend) before they
    reported the objective, which a resumed task replaces with new ones (new indices)."""
    return sum(1 for t in trials if not _unspent(t))


def _unspent(trial: Trial) -> bool:
    status = trial.status
    return (
        status is not None
        and status.phase is TrialPhase.STOPPED
        and status.reason == "TaskStopped"
        and status.objective is None
    )


def _lowered(spec: HPOTaskSpec, trials: Sequence[Trial]) -> str:
    """What lowering maxTrials below the trials created did, as a sentence."""
    stopped = sum(1 for t in trials if t.status is not None and t.status.reason == MAX_TRIALS_LOWERED)
    return (
        f"maxTrials was lowered to {spec.budget.max_trials} after {len(trials)} were created, "
        f"and {stopped} that had not started were stopped."
    )


@dataclass(frozen=True)
class _Asked:
    """What the search algorithm answered in this step."""

    created: Sequence[Trial] = ()
    exhausted: bool = False
    ran: str | None = None
    """Which algorithm (and backend) made the latest trials, for the status."""
    waiting: str = ""
    """Why fewer trials than there is room for were created (the algorithm's reason), if so."""


def _new_trials(task: HPOTask, trials: Sequence[Trial], before: _Asked, warm: Sequence[WarmSource] | None) -> _Asked:
    """Enqueued points first, then as many of the algorithm's trials as the budget and parallelism allow."""
    spec = task.spec
    active = [t for t in trials if is_active(t)]
    room = min(spec.budget.parallel_trials - len(active), spec.budget.max_trials - _budgeted(trials))
    if room <= 0:
        return before
    space = SearchSpace.from_parameters(spec.parameters)
    # A Trial deleted by hand frees its place in the budget but never its index: a new trial must
    # not take the name of one whose Job the garbage collector may not have removed yet.
    first = _created(trials, task.status)
    # The i-th trial of the task evaluates the i-th enqueued point: indices never repeat, so a
    # repeated step or a restart enqueues nothing twice.
    enqueue = spec.warm_start.enqueue if spec.warm_start else []
    created = [
        new_trial(task, index, space.active({**enqueue[index], **space.fixed}))
        for index in range(first, min(first + room, len(enqueue)))
    ]
    room -= len(created)
    if room <= 0:
        return _Asked(created, False, before.ran)
    request = SearchRequest(
        space=space,
        # A trial outside the space (kept by --allow-changes after the space changed): no model learns from it.
        history=[
            *_warm(spec, task.status or HPOTaskStatus(), warm)[0],
            *(observation(spec, t) for t in trials if not is_active(t) and _in_history(spec, space, t)),
        ],
        pending=[
            Pending(index=t.spec.index, params=t.spec.parameters, resource=t.spec.resource, tags=t.spec.search_tags)
            for t in [*active, *created]
        ],
        count=room,
        seed=task_seed(task),
        max_trials=spec.budget.max_trials,
        objectives=len(spec.objective.names),
    )
    proposal = registry.create(spec.algorithm, space).suggest(request)
    first += len(created)
    created += [
        new_trial(task, first + offset, suggestion.params, suggestion.resource, suggestion.tags)
        for offset, suggestion in enumerate(list(proposal.suggestions)[:room])
    ]
    waiting = proposal.reason if len(proposal.suggestions) < room else ""
    return _Asked(created, proposal.exhausted, proposal.ran or str(spec.algorithm.name), waiting)


def _in_history(spec: HPOTaskSpec, space: SearchSpace, trial: Trial) -> bool:
    """Whether the algorithm learns of a finished trial: one in the search space; for the experiments
    algorithm, one it assigned (its tag holds the experiment's place in the list), since an experiments
    task may declare no parameters, the experiments' keys being the parameters."""
    if spec.algorithm.name is AlgorithmName.EXPERIMENTS:
        return isinstance(trial.spec.search_tags.get(experiments.TAG), int)
    return space.contains(trial.spec.parameters)


def new_trial(
    task: HPOTask,
    index: int,
    params: Mapping[str, ParamValue],
    resource: float | None = None,
    tags: Mapping[str, ParamValue] | None = None,
) -> Trial:
    """The Trial object for the ``index``-th evaluation of ``task``."""
    task_name = task.metadata.name or ""
    return Trial(
        metadata=ObjectMeta(name=trial_name(task_name, index), namespace=task.metadata.namespace),
        spec=TrialSpec(
            task=task_name, index=index, parameters=dict(params), resource=resource, search_tags=dict(tags or {})
        ),
        status=TrialStatus(phase=TrialPhase.PENDING),
    )


def _created(trials: Sequence[Trial], previous: HPOTaskStatus | None) -> int:
    """How many trials were ever created: the next index."""
    recorded = previous.trials.created if previous is not None else 0
    return max(max((t.spec.index for t in trials), default=-1) + 1, recorded)


def _counts(trials: Sequence[Trial], previous: HPOTaskStatus) -> TrialCounts:
    phases = [phase_of(t) for t in trials]
    return TrialCounts(
        total=len(phases),
        created=_created(trials, previous),
        pending=phases.count(TrialPhase.PENDING),
        queued=phases.count(TrialPhase.QUEUED),
        running=phases.count(TrialPhase.RUNNING),
        succeeded=phases.count(TrialPhase.SUCCEEDED),
        failed=phases.count(TrialPhase.FAILED),
        early_stopped=phases.count(TrialPhase.EARLY_STOPPED),
        stopped=phases.count(TrialPhase.STOPPED),
    )


def best_trial(spec: HPOTaskSpec, trials: Sequence[Trial]) -> BestTrial | None:
    """The best succeeded trial, with its parameters and metrics (ties go to the earliest)."""
    best = ranking.best(spec, trials)
    if best is None or best.status is None or best.status.objective is None:
        return None
    objective = best.status.objective
    metrics = other_metrics(spec, best, [spec.objective.primary])
    return BestTrial(
        name=best.metadata.name or "", parameters=best.spec.parameters, objective=objective, metrics=metrics or None
    )


def _condition(
    previous: Sequence[Condition], kind: str, on: bool, reason: str, message: str, now: datetime, generation: int | None
) -> Condition:
    """A condition that keeps its lastTransitionTime while its status does not change."""
    status = ConditionStatus.TRUE if on else ConditionStatus.FALSE
    old = next((c for c in previous if c.type == kind), None)
    since = old.last_transition_time if old is not None and old.status == status else now
    return Condition(
        type=kind,
        status=status,
        reason=reason,
        message=message,
        last_transition_time=since,
        observed_generation=generation,
    )


def _status(
    task: HPOTask,
    trials: Sequence[Trial],
    previous: HPOTaskStatus,
    start: datetime | None,
    ending: _Ending | None,
    suspended: bool,
    now: datetime,
    waiting: str = "",
    stopping: bool = False,
    warm_status: WarmStartStatus | None = None,
) -> HPOTaskStatus:
    spec = task.spec
    counts = _counts(trials, previous)
    best = best_trial(spec, trials)
    members, front_size = pareto_front(spec, trials) if spec.objective.multi else ([], None)
    if ending is not None:
        phase = TaskPhase.STOPPED if ending.stopped else TaskPhase.FAILED if ending.failed else TaskPhase.SUCCEEDED
        reason, message = ending.reason, ending.message
    elif stopping:
        phase, reason = TaskPhase.RUNNING, "Stopping"
        message = f"Stopping (graceful): waiting for {counts.running} running trials to finish; no new trial starts."
    elif suspended:
        phase, reason = TaskPhase.SUSPENDED, "Suspended"
        active = counts.pending + counts.queued + counts.running
        message = f"Suspended ({spec.suspend_policy}); {active} trials still active."
    elif trials:
        phase, reason = TaskPhase.RUNNING, "TrialsRunning"
        active = counts.running + counts.queued + counts.pending
        message = f"{active} trials active, {counts.total}/{spec.budget.max_trials} created."
        if counts.total > spec.budget.max_trials:
            message = f"{active} trials active; {_lowered(spec, trials)}"
        if counts.queued:
            message += f" {counts.queued} waiting for their queue."
        if waiting and active:
            message += f" {waiting}"  # e.g. hyperband waiting for a rung to finish
        message += _spent(spec, trials, now)
    else:
        phase, reason, message = TaskPhase.PENDING, "Waiting", "No trial created yet."
    generation = task.metadata.generation
    old = previous.conditions
    conditions = [
        _condition(old, "Valid", True, "SpecValid", "The spec is valid.", now, generation),
        _condition(old, "Running", phase is TaskPhase.RUNNING, reason, message, now, generation),
        _condition(old, "Suspended", phase is TaskPhase.SUSPENDED, reason, message, now, generation),
        _condition(old, "Succeeded", phase is TaskPhase.SUCCEEDED, reason, message, now, generation),
        _condition(old, "Failed", phase is TaskPhase.FAILED, reason, message, now, generation),
        _condition(old, "Stopped", phase is TaskPhase.STOPPED, reason, message, now, generation),
        _condition(old, "Ready", True, "Reconciled", "The last reconcile succeeded.", now, generation),
    ]
    # Trials that never ran to a result (stopped by force before it) are left out.
    finished = _budgeted(trials) - counts.pending - counts.queued - counts.running
    completion = (previous.completion_time or now) if ending is not None else None
    return HPOTaskStatus(
        phase=phase,
        reason=reason,
        message=message,
        conditions=conditions,
        trials=counts,
        progress=f"{finished}/{max(spec.budget.max_trials, _budgeted(trials))}",
        best_trial=best,
        pareto_front=members,
        front_size=front_size,
        warm_start=warm_status,
        start_time=start,
        completion_time=completion,
        observed_generation=generation,
        gpu_hours=_gpu_hours(spec, trials, now),
    )


def _spent(spec: HPOTaskSpec, trials: Sequence[Trial], now: datetime) -> str:
    """How much of a compute budget is used, for the status message. In tenths of an hour: the
    message (hence the status) then changes a few times an hour, not at every step."""
    budget = spec.budget
    if budget.max_trial_hours is None and budget.max_gpu_hours is None:
        return ""
    spent = compute.usage(trials, now, compute.template_gpus(spec))
    parts = []
    if budget.max_trial_hours is not None:
        parts.append(f" {spent.trial_hours:.1f} of {budget.max_trial_hours:g} trial-hours used.")
    if budget.max_gpu_hours is not None:
        parts.append(f" {spent.gpu_hours:.1f} of {budget.max_gpu_hours:g} GPU-hours used.")
    return "".join(parts)


def _gpu_hours(spec: HPOTaskSpec, trials: Sequence[Trial], now: datetime) -> float | None:
    """GPU-hours the trials used, as maxGPUHours counts them: queued time excluded (None: no GPUs)."""
    gpus = compute.template_gpus(spec)
    if not any(gpus(t) for t in trials):
        return None
    return round(compute.usage(trials, now, gpus).gpu_hours, 4)


def _summary(spec: HPOTaskSpec, status: HPOTaskStatus, ending: _Ending) -> str:
    best = status.best_trial
    found = f" Best: {best.name} with {spec.objective.primary}={best.objective:.6g}." if best else ""
    if status.front_size:
        found = f" Pareto front: {status.front_size} trials."
    return f"Task finished: {ending.message}{found}"


def _wake_after(
    spec: HPOTaskSpec, trials: Sequence[Trial], start: datetime | None, now: datetime, status: HPOTaskStatus
) -> timedelta | None:
    if status.phase.finished:
        return None
    budget = spec.budget
    deadlines = []
    if budget.max_duration is not None and start is not None:
        deadlines.append(start + budget.max_duration)
    if budget.deadline is not None:
        deadlines.append(budget.deadline)
    spent = compute.usage(trials, now, compute.template_gpus(spec))
    for left in (
        compute.time_left(spent.trial_hours, budget.max_trial_hours, spent.trial_rate),
        compute.time_left(spent.gpu_hours, budget.max_gpu_hours, spent.gpu_rate),
    ):
        if left is not None:
            deadlines.append(now + left)
    if spec.budget.trial_timeout is not None:
        for trial in trials:
            if trial.status and trial.status.phase is TrialPhase.RUNNING and trial.status.start_time:
                deadlines.append(trial.status.start_time + spec.budget.trial_timeout)
    if not deadlines:
        return None
    return max(min(deadlines) - now, timedelta(0))


def invalid_status(
    previous: HPOTaskStatus | None, generation: int | None, message: str, now: datetime
) -> HPOTaskStatus:
    """The status of a task whose spec can never work: Failed, with ``Valid=False`` saying why."""
    previous = previous or HPOTaskStatus()
    valid = _condition(previous.conditions, "Valid", False, "InvalidSpec", message, now, generation)
    failed = _condition(previous.conditions, "Failed", True, "InvalidSpec", message, now, generation)
    return previous.model_copy(
        update={
            "phase": TaskPhase.FAILED,
            "reason": "InvalidSpec",
            "message": message,
            "conditions": [valid, failed],
            "observed_generation": generation,
        }
    )


def unavailable_status(
    previous: HPOTaskStatus | None, generation: int | None, message: str, now: datetime
) -> HPOTaskStatus:
    """The status of a task whose workload kind cannot be used now: ``Valid=False`` saying why, not Failed.

    The task keeps its phase (Pending, when it has not started) and waits: the kind may be installed or
    granted later, and the task then starts (or goes on) without an edit.
    """
    previous = previous or HPOTaskStatus()
    valid = _condition(previous.conditions, "Valid", False, "WorkloadKindUnavailable", message, now, generation)
    others = [c for c in previous.conditions if c.type != "Valid"]
    return previous.model_copy(
        update={
            "reason": "WorkloadKindUnavailable",
            "message": message,
            "conditions": [valid, *others],
            "observed_generation": generation,
        }
    )


def reconcile_error_status(previous: HPOTaskStatus | None, message: str, now: datetime) -> HPOTaskStatus:
    """The status of a task whose reconcile failed unexpectedly: ``Ready=False`` saying why.

    Everything else stays as last recorded: the failure says nothing about the trials.
    """
    previous = previous or HPOTaskStatus()
    generation = previous.observed_generation
    ready = _condition(previous.conditions, "Ready", False, "ReconcileError", message, now, generation)
    others = [c for c in previous.conditions if c.type != "Ready"]
    return previous.model_copy(update={"conditions": [*others, ready]})
