"""Rules that end trials early (median rule, trial timeout) and rules that end the whole task."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from ..api import EarlyStoppingRule, HPOTaskSpec, MetricSeries, Trial, TrialPhase, TrialStatus
from ..api.base import format_duration
from ..metrics import best_so_far, running_average
from ..search import optuna_backend


@dataclass(frozen=True)
class Verdict:
    """A decision to end one running trial, and why."""

    name: str
    phase: TrialPhase
    reason: str
    message: str


def stopped_status(trial: Trial, verdict: Verdict, now: datetime) -> TrialStatus:
    """The status a trial gets when ``verdict`` ends it: what an executor records before it kills the run."""
    return (trial.status or TrialStatus()).model_copy(
        update={
            "phase": verdict.phase,
            "reason": verdict.reason,
            "message": verdict.message,
            "start_time": (trial.status.start_time if trial.status else None) or now,
            "completion_time": now,
        }
    )


def phase_of(trial: Trial) -> TrialPhase:
    """The trial's phase (Pending before anything was recorded)."""
    return trial.status.phase if trial.status else TrialPhase.PENDING


def is_active(trial: Trial) -> bool:
    """Pending or running: it occupies a parallel slot."""
    return not phase_of(trial).finished


def timed_out(spec: HPOTaskSpec, trial: Trial, now: datetime) -> Verdict | None:
    """Stop a running trial that has run longer than ``budget.trialTimeout``."""
    timeout = spec.budget.trial_timeout
    status = trial.status
    if timeout is None or status is None or status.phase is not TrialPhase.RUNNING or status.start_time is None:
        return None
    if now - status.start_time < timeout:
        return None
    message = f"Ran longer than the trial timeout of {format_duration(timeout)}."
    return Verdict(trial.metadata.name or "", TrialPhase.FAILED, "TimedOut", message)


def _series(spec: HPOTaskSpec, trial: Trial) -> MetricSeries | None:
    if trial.status is None:
        return None
    return next((s for s in trial.status.metrics if s.name == spec.objective.primary), None)


def median_stop(spec: HPOTaskSpec, trial: Trial, trials: Sequence[Trial]) -> Verdict | None:
    """The median rule: stop a running trial whose best value so far is worse than the median of
    the completed trials' running averages at the same step (Vizier's median stopping rule).

    Katib's medianstop differs (docs/migrating-from-katib.md): it checks once, at the trial's
    start_step-th report, against the *mean* of succeeded trials' averages over their first
    start_step reports, fixed when the trial was created."""
    rule = spec.early_stopping
    series = _series(spec, trial)
    if rule is None or rule.rule is not EarlyStoppingRule.MEDIAN:
        return None
    if phase_of(trial) is not TrialPhase.RUNNING or series is None or not series.points:
        return None
    step = series.points[-1].step
    if step < rule.start_step:
        return None
    averages = []
    for other in trials:
        other_series = _series(spec, other)
        if phase_of(other) is TrialPhase.SUCCEEDED and other_series is not None:
            average = running_average(other_series, step)
            if average is not None:
                averages.append(average)
    if len(averages) < rule.min_trials:
        return None
    median = statistics.median(averages)
    direction = spec.objective.primary_direction
    best = best_so_far(series, step, direction)
    if best is None or not direction.better(median, best):
        return None
    metric = spec.objective.primary
    message = (
        f"Best {metric} {best:.6g} by step {step} is worse than the median {median:.6g} "
        f"of {len(averages)} completed trials' running averages at that step."
    )
    return Verdict(trial.metadata.name or "", TrialPhase.EARLY_STOPPED, "MedianStop", message)


def katib_median_stop(spec: HPOTaskSpec, trial: Trial, trials: Sequence[Trial]) -> Verdict | None:
    """Katib's medianstop (pkg/earlystopping/v1beta1/medianstop/service.py, applied by Katib's
    metrics collector, cmd/metricscollector/v1beta1/file-metricscollector/main.go): once a running
    trial has reported ``startStep`` values, stop it if the best of them is worse than the mean of
    the averages over their first ``startStep`` values of the trials that had succeeded when it
    started (Katib: when it was created), if there were at least ``minTrials`` of them.

    The verdict reads only values that never change (a trial's first reports, trials finished
    before it started), so judging it again at every step gives the same answer, as Katib's
    single check does. A trial whose series was thinned before it was judged (over 100 reports)
    is not judged; a succeeded trial's thinned series gives the average of its first kept points.
    """
    rule = spec.early_stopping
    if rule is None or rule.rule is not EarlyStoppingRule.KATIB_MEDIAN:
        return None
    series = _series(spec, trial)
    started = trial.status.start_time if trial.status else None
    count = max(rule.start_step, 1)
    if phase_of(trial) is not TrialPhase.RUNNING or series is None or started is None:
        return None
    if series.count < count or len(series.points) != series.count:
        return None
    averages = []
    for other in trials:
        other_series = _series(spec, other)
        finished = other.status.completion_time if other.status else None
        if phase_of(other) is not TrialPhase.SUCCEEDED or other_series is None or not other_series.points:
            continue
        if finished is not None and finished <= started:
            averages.append(statistics.fmean(p.value for p in other_series.points[:count]))
    if len(averages) < rule.min_trials:
        return None
    baseline = statistics.fmean(averages)
    direction = spec.objective.primary_direction
    values = [p.value for p in series.points[:count]]
    best = direction.best(values)
    if not direction.better(baseline, best):
        return None
    metric = spec.objective.primary
    message = (
        f"Best {metric} {best:.6g} of its first {count} reports is worse than {baseline:.6g}, the mean of "
        f"{len(averages)} succeeded trials' averages over their first {count} reports (Katib's medianstop)."
    )
    return Verdict(trial.metadata.name or "", TrialPhase.EARLY_STOPPED, "MedianStop", message)


def asha_stop(spec: HPOTaskSpec, trial: Trial, trials: Sequence[Trial]) -> Verdict | None:
    """Asynchronous successive halving (Optuna's SuccessiveHalvingPruner): stop a running trial
    that is not in the best 1/reductionFactor of the values every trial had at the highest rung
    (step minResource * reductionFactor**k, below maxResource) it has reached.

    A trial is judged at its highest rung from the stored series alone, against every trial that
    has reached that rung so far, on each step until it reaches the next rung; nothing is kept
    between steps, so a restarted operator decides the same, and a trial that reports faster than
    the engine steps is judged all the same (judging only on arrival, as Optuna's pruner does when
    called at every report, would let it pass rungs unjudged). A trial that reported maxResource
    has trained in full: it is never judged, whatever rung that step would be.
    """
    rule = spec.early_stopping
    series = _series(spec, trial)
    if rule is None or rule.rule is not EarlyStoppingRule.ASHA:
        return None
    if phase_of(trial) is not TrialPhase.RUNNING or series is None or not series.points:
        return None
    max_resource = rule.max_resource or _longest_success(spec, trials)
    step = series.points[-1].step
    if max_resource is None or step >= max_resource:
        return None
    loss = spec.objective.loss
    curves = []
    for other in trials:
        other_series = _series(spec, other)
        if other_series is not None and other_series.points:
            curves.append((other.spec.index, [(p.step, loss(p.value)) for p in other_series.points]))
    min_resource, factor = rule.asha_rungs(max_resource)
    if not optuna_backend.stop_by_successive_halving(curves, trial.spec.index, min_resource, factor, max_resource):
        return None
    rung = min_resource
    while rung * factor <= step:
        rung *= factor
    message = (
        f"Its {spec.objective.primary} at rung step {rung} is not in the best 1/{factor} of the values "
        "the trials that reached that rung had there (asynchronous successive halving)."
    )
    return Verdict(trial.metadata.name or "", TrialPhase.EARLY_STOPPED, "AshaStop", message)


def _longest_success(spec: HPOTaskSpec, trials: Sequence[Trial]) -> int | None:
    """The highest step a succeeded trial reported: how long a trial trains in full, as far as
    the task has seen (Optuna's HyperbandPruner guesses its max_resource the same way)."""
    steps = [
        s.points[-1].step
        for t in trials
        if phase_of(t) is TrialPhase.SUCCEEDED and (s := _series(spec, t)) is not None and s.points
    ]
    return max(steps, default=None)
