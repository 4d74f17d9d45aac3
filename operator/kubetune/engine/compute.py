"""What a task's trials have spent: trial-hours and GPU-hours, for ``budget.maxTrialHours`` and ``maxGPUHours``.

How many GPUs a trial holds is a parameter (``gpus``), so that where it comes from (the trial
template's requests today; a workload that reports its replicas later) changes in one place.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from ..api import HPOTaskSpec, Trial, TrialPhase

GpusOf = Callable[[Trial], float]
"""The GPUs one trial holds while it runs."""

HOUR = timedelta(hours=1)


def template_gpus(spec: HPOTaskSpec) -> GpusOf:
    """Every trial holds what the trial template's pod requests."""
    gpus = spec.trial_template.requested_gpus()
    return lambda _: gpus


@dataclass(frozen=True)
class Usage:
    """Hours spent so far, and how fast the running trials add to them (hours per hour)."""

    trial_hours: float = 0.0
    gpu_hours: float = 0.0
    trial_rate: float = 0.0
    """Trials running now: trial-hours added per hour of wall-clock time."""
    gpu_rate: float = 0.0
    """GPUs held by the running trials: GPU-hours added per hour of wall-clock time."""


def run_hours(trial: Trial, now: datetime) -> float:
    """How long the trial has run (or ran), in hours: start to completion, or to now while running."""
    status = trial.status
    if status is None or status.start_time is None:
        return 0.0
    end = status.completion_time or (now if status.phase is TrialPhase.RUNNING else status.start_time)
    return max((end - status.start_time) / HOUR, 0.0)


def usage(trials: Sequence[Trial], now: datetime, gpus: GpusOf) -> Usage:
    """What ``trials`` have spent by ``now``."""
    trial_hours = gpu_hours = trial_rate = gpu_rate = 0.0
    for trial in trials:
        hours, held = run_hours(trial, now), gpus(trial)
        trial_hours += hours
        gpu_hours += hours * held
        if trial.status is not None and trial.status.phase is TrialPhase.RUNNING and trial.status.start_time:
            trial_rate += 1
            gpu_rate += held
    return Usage(trial_hours, gpu_hours, trial_rate, gpu_rate)


def time_left(spent: float, limit: float | None, rate: float) -> timedelta | None:
    """Wall-clock time until ``spent`` reaches ``limit`` at ``rate`` (None: no limit, or nothing adds to it)."""
    if limit is None or rate <= 0:
        return None
    return max(timedelta(hours=(limit - spent) / rate), timedelta(0))
