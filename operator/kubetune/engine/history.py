"""Trials as the search algorithm and the status see them: losses, constraint violations, the
Pareto front, and the finished trials of earlier tasks that seed a warm-started search."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..api import FrontMember, HPOTaskSpec, Trial, TrialPhase, TrialStatus, WarmStartSource, WarmStartStatus
from ..api.task import MAX_FRONT
from ..metrics import aggregate
from ..search.base import Observation, TrialState
from ..search.space import SearchSpace
from . import pareto
from .observe import feasible, objective_values, other_metrics, violations


def observation(spec: HPOTaskSpec, trial: Trial, index: int | None = None) -> Observation:
    """A finished trial as the search algorithm sees it: losses (maximized objectives negated)."""
    status = trial.status or TrialStatus()
    state = {
        TrialPhase.SUCCEEDED: TrialState.COMPLETE,
        TrialPhase.FAILED: TrialState.FAILED,
    }.get(status.phase, TrialState.STOPPED)
    losses = spec.objective.losses(objective_values(spec, trial)) if spec.objective.multi else ()
    primary = spec.objective.losses([status.objective] + [None] * (len(spec.objective.names) - 1))[0]
    failed = state is TrialState.FAILED
    return Observation(
        index=trial.spec.index if index is None else index,
        params=trial.spec.parameters,
        state=state,
        value=None if failed else primary,
        resource=trial.spec.resource,
        tags=trial.spec.search_tags,
        values=() if failed else losses,
        constraints=violations(spec, trial) if status.phase is TrialPhase.SUCCEEDED else (),
    )


def front_names(spec: HPOTaskSpec, trials: Sequence[Trial]) -> set[str]:
    """The names of every trial on the Pareto front (not only the ones the status lists)."""
    return {p.trial.metadata.name or "" for p in pareto.front(_points(spec, trials))}


def _points(spec: HPOTaskSpec, trials: Sequence[Trial]) -> list[pareto.Point]:
    points = []
    for trial in trials:
        if trial.status is None or trial.status.phase is not TrialPhase.SUCCEEDED or not feasible(spec, trial):
            continue
        losses = spec.objective.losses(objective_values(spec, trial))
        if all(v is not None for v in losses):
            points.append(pareto.Point(trial, tuple(float(v) for v in losses if v is not None)))
    return points


def pareto_front(spec: HPOTaskSpec, trials: Sequence[Trial]) -> tuple[list[FrontMember], int]:
    """The feasible succeeded trials no other one dominates, at most MAX_FRONT of them, and the whole front's size."""
    whole = pareto.front(_points(spec, trials))
    members = []
    for point in pareto.bounded(whole, MAX_FRONT):
        trial = point.trial
        values = objective_values(spec, trial)
        others = other_metrics(spec, trial, spec.objective.names)
        members.append(
            FrontMember(
                name=trial.metadata.name or "",
                parameters=trial.spec.parameters,
                objectives={n: float(v) for n, v in zip(spec.objective.names, values, strict=True) if v is not None},
                metrics=others,
            )
        )
    return members, len(whole)


@dataclass(frozen=True)
class WarmSource:
    """What an executor read of one task named in ``spec.warmStart.tasks``."""

    task: str
    spec: HPOTaskSpec | None
    """The earlier task's spec; None when no such task was found."""
    trials: Sequence[Trial] = ()
    """Its trials, any order."""


def _compatible(spec: HPOTaskSpec, other: HPOTaskSpec) -> str | None:
    """Why the other task's parameters cannot seed this one (names and types must match), or None."""
    mine = {p.name: p.type for p in spec.parameters}
    theirs = {p.name: p.type for p in other.parameters}
    if set(mine) != set(theirs):
        return f"its parameters {sorted(theirs)} are not this task's {sorted(mine)}"
    changed = sorted(name for name in mine if mine[name] != theirs[name])
    return f"its parameters {changed} have other types" if changed else None


def import_sources(spec: HPOTaskSpec, sources: Sequence[WarmSource]) -> tuple[list[Observation], WarmStartStatus]:
    """The earlier tasks' trials that fit this task's space, as observations with negative indices
    (before this task's own), and the status that says how many came from where.

    A source trial is imported when it succeeded, reported every objective of this task (values
    are read from its metric series with this task's aggregation) and its parameters lie in
    this task's space; any other of its trials is dropped.
    """
    space = SearchSpace.from_parameters(spec.parameters)
    wanted = spec.warm_start.tasks if spec.warm_start else []
    by_name = {s.task: s for s in sources}
    kept: list[Trial] = []
    reports = []
    for name in wanted:
        source = by_name.get(name)
        if source is None or source.spec is None:
            reports.append(WarmStartSource(task=name, message="No such task was found."))
            continue
        why = _compatible(spec, source.spec)
        if why is not None:
            reports.append(WarmStartSource(task=name, dropped=len(source.trials), message=f"Skipped: {why}."))
            continue
        imported = dropped = 0
        for trial in sorted(source.trials, key=lambda t: t.spec.index):
            usable = (
                trial.status is not None
                and trial.status.phase is TrialPhase.SUCCEEDED
                and all(v is not None for v in objective_values(spec, trial))
                and space.contains(space.active(trial.spec.parameters))
            )
            if usable:
                kept.append(
                    trial.model_copy(
                        update={
                            "spec": trial.spec.model_copy(update={"parameters": space.active(trial.spec.parameters)})
                        }
                    )
                )
                imported += 1
            elif trial.status is not None and trial.status.phase.finished:
                dropped += 1
        reports.append(WarmStartSource(task=name, imported=imported, dropped=dropped))
    observations = []
    for position, trial in enumerate(kept):
        # The objective of this task, not the source's: recompute the aggregated value from the series.
        series = {s.name: s for s in (trial.status.metrics if trial.status else [])}
        found = series.get(spec.objective.primary)
        value = aggregate(found, spec.objective.aggregation) if found is not None else None
        recomputed = (trial.status or TrialStatus()).model_copy(update={"objective": value})
        observations.append(observation(spec, trial.model_copy(update={"status": recomputed}), position - len(kept)))
    status = WarmStartStatus(
        imported=sum(r.imported for r in reports), dropped=sum(r.dropped for r in reports), sources=reports
    )
    return observations, status
