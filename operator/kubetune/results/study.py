"""kubetune trials as an Optuna study, so that Optuna's plots and Optuna Dashboard show them.

The one place that maps kubetune's model onto Optuna's: parameters onto distributions, trial
phases onto trial states, the objective series onto intermediate values. The report and the
dashboard both build their study here. A task with several objectives becomes a
multi-objective study: :func:`objectives` is the only function that needs to learn about them.

Both draw the study with plotly, which reads a subset of HTML in every label (``<a href>`` is a
link, ``<br>`` a line break). So every text that is not kubetune's own (categorical values,
metric names, which a trainer prints) enters the study as plotly text, ``<`` as ``&lt;``
(:func:`plotly_text`): a name is shown as written and never becomes markup.
"""

from __future__ import annotations

import html
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal

import optuna
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.storages import BaseStorage, InMemoryStorage
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState

from ..api import Direction, HPOTask, Parameter, ParameterType, Scale, Trial, TrialPhase
from ..metrics import aggregate

STATES = {
    TrialPhase.PENDING: TrialState.WAITING,
    TrialPhase.QUEUED: TrialState.WAITING,
    TrialPhase.RUNNING: TrialState.RUNNING,
    TrialPhase.SUCCEEDED: TrialState.COMPLETE,
    TrialPhase.EARLY_STOPPED: TrialState.PRUNED,  # Optuna's word for a trial a stopping rule ended
    TrialPhase.FAILED: TrialState.FAIL,
    TrialPhase.STOPPED: TrialState.FAIL,  # stopped by a person: the phase is kept in the user attributes
}
"""The Optuna state of each kubetune trial phase."""

PHASE_ATTR = "kubetune_phase"
"""User attribute holding the kubetune phase, which Optuna's states cannot all tell apart."""


def plotly_text(value: object) -> object:
    """A string as plotly shows it literally (it decodes entities, never writes tags); other values as they are."""
    return html.escape(value, quote=False) if isinstance(value, str) else value


def objectives(task: HPOTask) -> list[tuple[str, StudyDirection]]:
    """The task's objectives as (metric, Optuna direction), in order."""
    objective = task.spec.objective
    return [
        (name, StudyDirection.MINIMIZE if direction is Direction.MINIMIZE else StudyDirection.MAXIMIZE)
        for name, direction in zip(objective.names, objective.directions, strict=True)
    ]


def distribution(parameter: Parameter) -> BaseDistribution | None:
    """The Optuna distribution of a searched parameter (None for a fixed one)."""
    if parameter.fixed:
        return None
    if parameter.type is ParameterType.CATEGORICAL:
        return CategoricalDistribution([plotly_text(v) for v in parameter.values or []])  # type: ignore[misc]
    log = parameter.scale is Scale.LOG or parameter.base is not None
    # A power base's step applies to the exponent, which Optuna cannot express: no step then.
    step = None if log or parameter.base is not None else parameter.step
    low, high = parameter.low, parameter.high
    if parameter.type is ParameterType.INT:
        whole = int(step or 1)
        # Optuna wants high on the grid (and warns otherwise); kubetune never suggests beyond it.
        return IntDistribution(int(low), int(low) + (int(high) - int(low)) // whole * whole, log=log, step=whole)
    if step is not None:  # in decimal, as Optuna checks it: 0.3 * 3 in binary falls short of 0.9
        first, last, size = Decimal(str(low)), Decimal(str(high)), Decimal(str(step))
        high = float(first + (last - first) // size * size)
    return FloatDistribution(low, high, log=log, step=step)


def frozen_trial(task: HPOTask, trial: Trial, number: int) -> FrozenTrial:
    """One kubetune trial as an Optuna trial (parameters outside their range are left out)."""
    status = trial.status
    phase = status.phase if status else TrialPhase.PENDING
    state = STATES[phase]
    params: dict[str, object] = {}
    dists: dict[str, BaseDistribution] = {}
    attrs: dict[str, object] = {"kubetune_trial": trial.metadata.name or "", PHASE_ATTR: phase.value}
    for parameter in task.spec.parameters:
        value = plotly_text(trial.spec.parameters.get(parameter.name))
        dist = distribution(parameter)
        if value is None or dist is None:
            continue
        # A manifest changed since the trial ran. ``_contains`` is the check FrozenTrial itself runs
        # (private, but there since Optuna 1.x): asking it keeps one bad value from dropping the trial.
        if not dist._contains(dist.to_internal_repr(value)):
            attrs[f"param_{parameter.name}"] = value
            continue
        params[parameter.name], dists[parameter.name] = value, dist
    series = {s.name: s for s in status.metrics} if status else {}
    main = [metric for metric, _ in objectives(task)]
    values: list[float] | None = None
    if status and status.objective is not None and state in (TrialState.COMPLETE, TrialState.PRUNED):
        others = [
            aggregate(series[m], task.spec.objective.aggregation_of(m)) if m in series else None for m in main[1:]
        ]
        values = [status.objective, *[v for v in others if v is not None]]
        if len(values) != len(main):  # a multi-objective trial that lacks one of its objectives
            values = None
    if state is TrialState.COMPLETE and values is None:  # cannot happen for a trial kubetune marked succeeded
        state = TrialState.FAIL
    first = series.get(main[0])
    intermediate = {p.step: p.value for p in first.points} if first else {}
    for name, found in series.items():
        if name not in main and (value := aggregate(found, task.spec.objective.aggregation_of(name))) is not None:
            attrs[str(plotly_text(name))] = value
    if status and status.reason:
        attrs["reason"] = status.reason
    start = status.start_time if status else None
    end = status.completion_time if status else None
    # Optuna insists: a waiting trial has no start, an unfinished one no end, a finished one both.
    start = None if state is TrialState.WAITING else (start or end or datetime.now(UTC))
    end = (end or start) if state.is_finished() else None
    return optuna.trial.FrozenTrial(
        number=number,
        state=state,
        value=None,
        values=values,
        datetime_start=start,
        datetime_complete=end,
        params=params,
        distributions=dists,
        user_attrs=attrs,
        system_attrs={},
        intermediate_values=intermediate,
        trial_id=number,
    )


@contextmanager
def quiet_optuna() -> Iterator[None]:
    """Silence Optuna's log lines (new studies, plot hints about a parameter with one value) for a while:
    kubetune's commands say themselves what a person needs to know."""
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    try:
        yield
    finally:
        optuna.logging.set_verbosity(verbosity)


def add_study(storage: BaseStorage, task: HPOTask, trials: Sequence[Trial]) -> optuna.Study:
    """Create the task's study in ``storage`` (named after the task) holding its trials."""
    metrics = objectives(task)
    with quiet_optuna():  # no "A new study created" line per dashboard refresh
        study = optuna.create_study(
            storage=storage, study_name=task.metadata.name or "task", directions=[d for _, d in metrics]
        )
    with warnings.catch_warnings():  # set_metric_names is marked experimental; its storage format is stable
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study.set_metric_names([str(plotly_text(m)) for m, _ in metrics])
    study.add_trials([frozen_trial(task, t, i) for i, t in enumerate(sorted(trials, key=lambda t: t.spec.index))])
    return study


def to_study(task: HPOTask, trials: Sequence[Trial]) -> optuna.Study:
    """An in-memory Optuna study of the task's trials."""
    return add_study(InMemoryStorage(), task, trials)


def early_stopped(study: optuna.Study) -> list[FrozenTrial]:
    """The trials a stopping rule ended."""
    return [t for t in study.get_trials(deepcopy=False) if t.user_attrs.get(PHASE_ATTR) == TrialPhase.EARLY_STOPPED]
