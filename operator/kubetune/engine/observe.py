"""Facts an executor reports about one trial's run, and the trial status the engine makes of them."""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Literal

from ..api import HPOTaskSpec, MetricSeries, Trial, TrialPhase, TrialStatus
from ..metrics import aggregate
from .events import Event


class RunState(StrEnum):
    """What an executor saw of a trial's process or Job."""

    WAITING = "waiting"
    """Not started yet: no process, or a Job whose pod is not running."""
    QUEUED = "queued"
    """Its workload waits, suspended, for a queue to admit it (again, after a preemption)."""
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    """Exited with code 0, or the Job completed."""
    FAILED = "failed"
    """Exited with another code, or the Job failed."""
    LOST = "lost"
    """The process or Job disappeared without an exit status."""
    DELETED = "deleted"
    """Someone deleted the run (a Job deleted by hand): the trial stops, and is not run again."""
    ABSENT = "absent"
    """No run exists and none was lost: the trial is to be started (again, after ``kubetune run`` stopped)."""


class Reason(StrEnum):
    """Why a trial ended, as its status records it (one CamelCase word)."""

    COMPLETED = "Completed"
    METRICS_UNAVAILABLE = "MetricsUnavailable"
    """The run succeeded but its objective could not be read."""
    RUN_LOST = "RunLost"
    WORKLOAD_DELETED = "WorkloadDeleted"
    """Its Job (or other workload) was deleted by someone else than kubetune."""
    TIMED_OUT = "TimedOut"
    ERROR = "Error"


@dataclass(frozen=True)
class RunFact:
    """One observation of a trial's run, with the metrics parsed from it so far."""

    state: RunState
    metrics: Mapping[str, MetricSeries] = field(default_factory=dict)
    started_at: datetime | None = None
    finished_at: datetime | None = None
    reason: str = ""
    """A CamelCase cause for a failure when the runtime gives one (``DeadlineExceeded``, ``ExitCode``)."""
    detail: str = ""
    """A sentence about the failure (``exited with code 1``)."""
    metrics_note: str = ""
    """Why metrics may be missing or partial (``the metrics annotation is not JSON``)."""
    metrics_unreadable: bool = False
    """The metrics source itself could not be read (an absent or malformed annotation)."""
    job_name: str | None = None
    gpus: int | None = None
    """GPUs the run's workload requests, all replicas together, where the executor knows it."""


LAST_OUTPUT_LINES = 5
LAST_OUTPUT_BYTES = 1024
"""A failed trial's message quotes at most this much of the end of its output."""


_TERMINAL_ESCAPE = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def last_output(output: bytes | str) -> str:
    """The end of a run's output on one line: its last non-blank lines joined by `` | ``, within the bounds."""
    text = output.decode("utf-8", errors="replace") if isinstance(output, bytes) else output
    # A progress bar redraws its line after a carriage return: keep its last state; drop colours.
    redrawn = (_TERMINAL_ESCAPE.sub("", line.rstrip("\r").rsplit("\r", 1)[-1]) for line in text.split("\n"))
    lines = ["".join(c if c.isprintable() else " " for c in line).strip() for line in redrawn]
    joined = " | ".join([line for line in lines if line][-LAST_OUTPUT_LINES:])
    encoded = joined.encode()
    if len(encoded) <= LAST_OUTPUT_BYTES:
        return joined
    return "…" + encoded[-(LAST_OUTPUT_BYTES - 3) :].decode("utf-8", errors="ignore")  # the end is what explains


def with_last_output(detail: str, output: bytes | str, where: str = "") -> str:
    """``Exited with code 3. Last output: "..." (where).``: a failure's detail, the output's end, where the rest is."""
    tail = last_output(output)
    said = f'Last output: "{tail}"' if tail else "No output"
    return f"{detail} {said}" + (f" ({where})." if where else ".")


def recorded_metrics(spec: HPOTaskSpec) -> list[str]:
    """The metrics a trial's status records, in order: the objectives, the constraints, the additional ones."""
    wanted = list(spec.objective.names)
    for name in [c.metric for c in spec.objective.constraints] + spec.objective.additional_metrics:
        if name not in wanted:
            wanted.append(name)
    return wanted


def objective_of(spec: HPOTaskSpec, series: Mapping[str, MetricSeries]) -> float | None:
    """The trial's objective value (the first objective's, with several), aggregated as the task says."""
    found = series.get(spec.objective.primary)
    return aggregate(found, spec.objective.aggregation) if found is not None else None


def objective_values(spec: HPOTaskSpec, trial: Trial) -> list[float | None]:
    """The trial's value of each objective metric, in order (None where it reported none)."""
    by_name = {s.name: s for s in (trial.status.metrics if trial.status else [])}
    return [
        aggregate(by_name[name], spec.objective.aggregation) if name in by_name else None
        for name in spec.objective.names
    ]


def other_metrics(spec: HPOTaskSpec, trial: Trial, objectives: Collection[str]) -> dict[str, float]:
    """The trial's value of each metric it reported but ``objectives``, aggregated as the task says:
    what a best trial or a front member shows beside its objectives."""
    out = {}
    for series in trial.status.metrics if trial.status else []:
        value = aggregate(series, spec.objective.aggregation_of(series.name))
        if value is not None and series.name not in objectives:
            out[series.name] = value
    return out


def violations(spec: HPOTaskSpec, trial: Trial) -> tuple[float, ...]:
    """How much the trial breaks each constraint (<= 0 where it holds; a missing metric breaks it)."""
    by_name = {s.name: s for s in (trial.status.metrics if trial.status else [])}
    out = []
    for constraint in spec.objective.constraints:
        found = by_name.get(constraint.metric)
        value = aggregate(found, spec.objective.aggregation_of(constraint.metric)) if found is not None else None
        out.append(constraint.violation(value))
    return tuple(out)


def feasible(spec: HPOTaskSpec, trial: Trial) -> bool:
    """Whether the trial respects every constraint of the task."""
    return all(v <= 0 for v in violations(spec, trial))


def observe(spec: HPOTaskSpec, trial: Trial, fact: RunFact, now: datetime) -> TrialStatus:
    """The trial's new status given what its executor saw. A finished trial never changes again."""
    current = trial.status or TrialStatus()
    if current.phase.finished:
        return current
    recorded = recorded_metrics(spec)
    # The declared metrics first, then the (bounded) others the trial printed, for people to see.
    series = [fact.metrics[name] for name in recorded if name in fact.metrics]
    series += [fact.metrics[name] for name in sorted(fact.metrics) if name not in recorded]
    series = series or current.metrics
    by_name = {s.name: s for s in series}
    base = current.model_copy(
        update={
            "metrics": series,
            "objective": objective_of(spec, by_name),
            "job_name": fact.job_name or current.job_name,
            "gpus": fact.gpus if fact.gpus is not None else current.gpus,
        }
    )
    # A run that was restarted (after ``kubetune run`` was killed) starts its clock again.
    started = fact.started_at or current.start_time
    if fact.state in (RunState.WAITING, RunState.ABSENT):
        return base.model_copy(update={"phase": TrialPhase.PENDING})
    if fact.state is RunState.QUEUED:
        # Time in the queue counts toward neither trialTimeout nor the median rule: a requeued
        # trial (preempted, evicted) keeps its index and parameters, and its clock starts again.
        return base.model_copy(update={"phase": TrialPhase.QUEUED, "start_time": None})
    if fact.state is RunState.RUNNING:
        return base.model_copy(
            update={"phase": TrialPhase.RUNNING, "start_time": started or now, "reason": None, "message": None}
        )
    # Conditions carry whole seconds, the pod's start microseconds: a run never ends before it started.
    ended = {"start_time": started or now, "completion_time": max(fact.finished_at or now, started or now)}
    if fact.state is RunState.SUCCEEDED:
        missing = [name for name in spec.objective.names if name not in by_name]
        if base.objective is None or missing:
            note = f" ({fact.metrics_note})" if fact.metrics_note else ""
            message = f"The trial ended without reporting {', '.join(missing or [spec.objective.primary])}{note}."
            return base.model_copy(
                update={**ended, "phase": TrialPhase.FAILED, "reason": Reason.METRICS_UNAVAILABLE, "message": message}
            )
        return base.model_copy(
            update={**ended, "phase": TrialPhase.SUCCEEDED, "reason": Reason.COMPLETED, "message": None}
        )
    if fact.state is RunState.DELETED:
        message = fact.detail or "The trial's run was deleted."
        return base.model_copy(
            update={
                "start_time": current.start_time,
                "completion_time": now,
                "phase": TrialPhase.STOPPED,
                "reason": Reason.WORKLOAD_DELETED,
                "message": message,
            }
        )
    if fact.state is RunState.LOST:
        message = fact.detail or "The trial's run disappeared before it finished."
        return base.model_copy(
            update={**ended, "phase": TrialPhase.FAILED, "reason": Reason.RUN_LOST, "message": message}
        )
    reason = Reason.TIMED_OUT if fact.reason == "DeadlineExceeded" else (fact.reason or Reason.ERROR)
    message = fact.detail or "The trial failed."
    return base.model_copy(update={**ended, "phase": TrialPhase.FAILED, "reason": reason, "message": message})


def finished_event(trial: Trial) -> Event:
    """The Event that says how a trial ended."""
    status = trial.status or TrialStatus()
    name = trial.metadata.name or ""
    if status.phase is TrialPhase.SUCCEEDED and status.objective is not None:
        return Event("TrialSucceeded", f"{name} succeeded with objective {status.objective:.6g}.", trial=name)
    kind: Literal["Normal", "Warning"] = "Warning" if status.phase is TrialPhase.FAILED else "Normal"
    return Event(f"Trial{status.phase}", f"{name}: {status.message or status.reason}", kind, name)
