"""Optuna's samplers (TPE, GP, NSGA-II) and its successive-halving pruner, on throwaway in-memory
studies rebuilt from the history.

The only module that imports Optuna. Each call creates a study, adds the finished trials
(complete, failed as FAIL, stopped as PRUNED with their last value) and the pending ones as
RUNNING, then asks for new trials one by one, leaving each asked trial RUNNING so that the
next ask sees it: that is how the samplers' own constant-liar machinery spreads a batch.

Several objectives become a study with one direction per objective (all minimized: the values
are losses), and constraints the violations Optuna's samplers read from each finished trial
(<= 0 is feasible). A conditional space is asked define-by-run: each parameter is suggested
only when its condition holds on the values suggested before it, so that finished trials carry
their active parameters only and TPE (with ``group``) models each sub-space apart.
"""

from __future__ import annotations

import copy
import math
import warnings
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

import numpy as np
import optuna
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.pruners import SuccessiveHalvingPruner
from optuna.samplers import BaseSampler, GPSampler, NSGAIISampler, TPESampler
from optuna.storages import InMemoryStorage
from optuna.trial import FrozenTrial
from optuna.trial import TrialState as OptunaState

from ..api import ParamValue
from .base import Observation, Pending, TrialState
from .space import Coordinate, Dimension, SearchSpace

# Every call creates a study, and Optuna logs each creation at INFO: noise for a library user.
optuna.logging.set_verbosity(optuna.logging.WARNING)

_EPOCH = datetime(2000, 1, 1)
"""Trials need timestamps; fixed ones keep the rebuilt study independent of the clock."""


@dataclass(frozen=True)
class SamplerSpec:
    """Which Optuna sampler to build, and its settings."""

    kind: Literal["tpe", "gp", "nsga2"]
    n_startup_trials: int = 10
    multivariate: bool = True
    constant_liar: bool = True
    population_size: int = 50


def gp_available() -> bool:
    """True when Optuna's GPSampler can run (it needs torch)."""
    try:
        import torch  # noqa: F401, PLC0415 -- only probing whether the optional dependency is installed
    except ImportError:
        return False
    return True


class _KnownSpaceTPE(TPESampler):
    """TPE told the search space instead of inferring it: every trial of a rebuilt study has every
    parameter, so the intersection Optuna computes over the whole history (a tenth of a call at
    500 trials; a long-lived study caches it) is always the full space."""

    def __init__(self, distributions: dict[str, BaseDistribution], **settings: Any) -> None:
        super().__init__(**settings)
        # As Optuna's intersection gives it: sorted by name, single-valued ranges left out.
        self._known = {n: d for n, d in sorted(distributions.items()) if not d.single()}
        self._known_applies = bool(settings.get("multivariate")) and not settings.get("group")

    def infer_relative_search_space(self, study: optuna.Study, trial: FrozenTrial) -> dict[str, BaseDistribution]:
        """The full space (multivariate TPE), or what TPESampler infers (univariate, or grouped)."""
        if not self._known_applies:
            return super().infer_relative_search_space(study, trial)
        return dict(self._known)


def _sampler(
    spec: SamplerSpec, seed: int, conditional: bool, distributions: dict[str, BaseDistribution]
) -> BaseSampler:
    # Constraints need no setting: since Optuna 5 every sampler that supports them reads them from
    # the finished trials (``FrozenTrial.constraints``), and ``constraints_func`` is deprecated.
    if spec.kind == "gp":
        return GPSampler(seed=seed, n_startup_trials=spec.n_startup_trials)
    if spec.kind == "nsga2":
        return NSGAIISampler(seed=seed, population_size=spec.population_size)
    with warnings.catch_warnings():
        # ``group`` is marked experimental since Optuna 2.8; it is the documented way to model
        # conditional parameters, and a warning per suggestion says nothing to a user.
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return _tpe(spec, seed, conditional, distributions)


def _tpe(spec: SamplerSpec, seed: int, conditional: bool, distributions: dict[str, BaseDistribution]) -> TPESampler:
    return _KnownSpaceTPE(
        distributions,
        seed=seed,
        n_startup_trials=spec.n_startup_trials,
        multivariate=spec.multivariate,
        # group: a multivariate model per sub-space of parameters that occur together, which is
        # how TPE handles conditional parameters (Optuna's docs for ``group``).
        group=spec.multivariate and conditional,
        constant_liar=spec.constant_liar,
    )


def distribution_of(dimension: Dimension) -> BaseDistribution:
    """The Optuna distribution of a dimension's model coordinate."""
    low, high = dimension.bounds
    if dimension.coordinate is Coordinate.CATEGORY:
        return CategoricalDistribution(list(range(int(high) + 1)))
    if dimension.coordinate is Coordinate.ORDERED:
        return IntDistribution(int(low), int(high))
    return FloatDistribution(low, high)


class _OwnedTrial(FrozenTrial):
    """A trial built for one study and never shared: the storage's defensive deep copy of each
    added trial is skipped (it dominated the cost of rebuilding a 500-trial study)."""

    def __deepcopy__(self, memo: dict[int, Any]) -> _OwnedTrial:
        return copy.copy(self)


def _coordinate(dimension: Dimension, x: float) -> float | int:
    return x if dimension.coordinate is Coordinate.REAL else int(x)


def _trial(
    number: int,
    distributions: dict[str, BaseDistribution],
    params: dict[str, float | int],
    state: OptunaState,
    values: Sequence[float] | None,
    constraints: Sequence[float] = (),
    extra: Mapping[str, Any] | None = None,
) -> _OwnedTrial:
    intermediate = {}
    if state is OptunaState.PRUNED and values is not None and len(values) == 1:
        intermediate = {0: values[0]}  # TPE ranks pruned trials by their last intermediate value
    system_attrs: dict[str, Any] = {}
    if constraints and state is OptunaState.COMPLETE and values is not None:
        # Where a told trial keeps what Trial.set_constraint recorded; create_trial writes it the same way.
        named = {str(i): v for i, v in enumerate(constraints)}
        system_attrs = optuna.trial.create_trial(state=state, values=values, constraints=named).system_attrs
    system_attrs.update(extra or {})
    return _OwnedTrial(
        number=number,
        state=state,
        value=None,
        values=values if state is OptunaState.COMPLETE else None,
        datetime_start=_EPOCH + timedelta(seconds=number),
        datetime_complete=None if state is OptunaState.RUNNING else _EPOCH + timedelta(seconds=number + 1),
        params=params,
        distributions={k: distributions[k] for k in params},
        user_attrs={},
        system_attrs=system_attrs,
        intermediate_values=intermediate,
        trial_id=number,
    )


def _state_of(observation: Observation, objectives: int) -> tuple[OptunaState, list[float] | None]:
    values = list(observation.values) if objectives > 1 else [observation.value]
    finite = len(values) == objectives and all(v is not None and math.isfinite(v) for v in values)
    clean = [float(v) for v in values if v is not None] if finite else None
    if observation.state is TrialState.COMPLETE:
        # A trial without a usable metric is what Optuna calls FAIL: left out of every model.
        return (OptunaState.COMPLETE, clean) if finite else (OptunaState.FAIL, None)
    if observation.state is TrialState.STOPPED:
        return OptunaState.PRUNED, clean
    return OptunaState.FAIL, None


def _suggest(trial: optuna.Trial, name: str, distribution: BaseDistribution) -> float:
    if isinstance(distribution, CategoricalDistribution):
        choices: list[int] = [int(c) for c in distribution.choices]  # type: ignore[arg-type]
        return float(trial.suggest_categorical(name, choices))
    if isinstance(distribution, IntDistribution):
        return float(trial.suggest_int(name, distribution.low, distribution.high))
    assert isinstance(distribution, FloatDistribution)
    return trial.suggest_float(name, distribution.low, distribution.high)


class _Generations:
    """NSGA-II's record of the generation each trial was bred in, which it reads to find each
    generation's parents, as a sequential run would have written it: a trial belongs to the
    generation under way when it was asked, and a generation ends once ``population_size`` of its
    trials completed (Optuna's own rule, ``BaseGASampler.get_trial_generation``).

    Failed trials and trials without a finite objective do not count: numbering by index alone
    made a generation of trials that mostly diverged (``acc=nan``) the parents of the next with a
    single member, and NSGA-II's crossover, which draws two distinct parents, then failed on
    every call.
    """

    def __init__(self, sampler: BaseSampler, spec: SamplerSpec) -> None:
        self._key = sampler._get_generation_key() if isinstance(sampler, NSGAIISampler) else None
        self._size = spec.population_size
        self._generation = 0
        self._completed = 0

    def record(self, state: OptunaState) -> dict[str, Any]:
        """The system attributes of the next trial in index order, which ended in ``state``."""
        if self._key is None:
            return {}
        extra = {self._key: self._generation}
        if state is OptunaState.COMPLETE:
            self._completed += 1
            if self._completed >= self._size:
                self._generation, self._completed = self._generation + 1, 0
        return extra


def _params(space: SearchSpace, assignment: Mapping[str, ParamValue]) -> dict[str, float | int] | None:
    """The model coordinates of the assignment's active parameters; None when it does not fit the space."""
    coordinates = space.encode(assignment)
    if coordinates is None:
        return None
    return {
        d.name: _coordinate(d, x)
        for d, x in zip(space.dimensions, coordinates, strict=True)
        if space.is_active(d, assignment)
    }


def ask(
    space: SearchSpace,
    history: Sequence[Observation],
    pending: Sequence[Pending],
    count: int,
    seed: int,
    spec: SamplerSpec,
    *,
    taken: Collection[tuple[float, ...]] = (),
    objectives: int = 1,
) -> list[dict[str, ParamValue]]:
    """``count`` assignments from the sampler, given the finished and pending trials.

    In a space without conditions, none of them equals an assignment in ``taken`` (keys of
    :meth:`SearchSpace.key`) or another of them, unless the space has no other point left: a
    duplicate is asked again, with the duplicate left running in the study so that the sampler
    treats its point as taken; after a few such tries, a uniform draw replaces it.
    """
    dims = space.dimensions
    distributions = {d.name: distribution_of(d) for d in dims}
    constrained = any(o.constraints for o in history)
    sampler = _sampler(spec, seed, space.conditional, distributions)
    finished = list(history)
    model = _model_params(space, [o.params for o in finished] + [p.params for p in pending])
    trials: list[FrozenTrial] = []
    generations = _Generations(sampler, spec)
    for observation, params in zip(finished, model, strict=False):
        if params is None:
            continue  # from another space (the task was edited): not comparable
        state, values = _state_of(observation, objectives)
        violations = observation.constraints if constrained else ()
        extra = generations.record(state)
        trials.append(_trial(len(trials), distributions, params, state, values, violations, extra))
    for params in model[len(finished) :]:
        if params is not None:
            extra = generations.record(OptunaState.RUNNING)
            trials.append(_trial(len(trials), distributions, params, OptunaState.RUNNING, None, (), extra))
    storage = InMemoryStorage()
    study = optuna.create_study(storage=storage, sampler=sampler, directions=["minimize"] * objectives)
    # Straight into the storage: Study.add_trials re-validates every trial, and these were
    # built valid above; at 500 trials that check was a third of the call.
    study_id = storage.get_study_id_from_name(study.study_name)
    for frozen in trials:
        storage.create_new_trial(study_id, template_trial=frozen)
    avoid = set(taken)
    out: list[dict[str, ParamValue]] = []
    for _ in range(count):
        if not space.conditional:
            for _attempt in range(_RETRIES):
                # An asked trial stays RUNNING: the next ask sees it, duplicate or not.
                asked = study.ask(distributions)
                suggested = space.decode([asked.params[d.name] for d in dims])
                if space.key(suggested) not in avoid:
                    break
            else:
                suggested = _uniform_distinct(space, avoid, seed)
            key = space.key(suggested)
            if key is not None:
                avoid.add(key)
            out.append(suggested)
            continue
        asked = study.ask()
        chosen: dict[str, ParamValue] = {}
        for d in space.ordered():
            if space.is_active(d, chosen):
                chosen[d.name] = d.decode(_suggest(asked, d.name, distributions[d.name]))
        out.append({**chosen, **space.fixed})
    return out


_RETRIES = 3
"""Asks per suggestion before a duplicate is replaced by a uniform draw."""


def _uniform_distinct(space: SearchSpace, avoid: set[tuple[float, ...]], seed: int) -> dict[str, ParamValue]:
    rng = np.random.default_rng([seed, len(avoid)])
    params = space.sample(rng)
    for _ in range(64):  # a finite space may have no point left: then a duplicate it is
        if space.key(params) not in avoid:
            break
        params = space.sample(rng)
    return params


def _model_params(
    space: SearchSpace, assignments: Sequence[Mapping[str, ParamValue]]
) -> list[dict[str, float | int] | None]:
    """Each assignment's model coordinates by parameter name (None: from another space).

    A space without conditions is encoded a dimension at a time, which is most of what rebuilding
    a study from a long history costs; a conditional one leaves out each assignment's inactive
    parameters."""
    if space.conditional:
        return [_params(space, a) for a in assignments]
    dims = space.dimensions
    return [
        None if coordinates is None else {d.name: _coordinate(d, x) for d, x in zip(dims, coordinates, strict=True)}
        for coordinates in space.encode_many(assignments)
    ]


def stop_by_successive_halving(
    trials: Sequence[tuple[int, Sequence[tuple[int, float]]]],
    judged: int,
    min_resource: int,
    reduction_factor: int,
    max_resource: int | None = None,
) -> bool:
    """Optuna's SuccessiveHalvingPruner's verdict on trial ``judged``, from every trial's
    intermediate losses ``(index, [(step, loss), ...])``.

    A rung is reached at steps ``min_resource * reduction_factor**k`` below ``max_resource`` (Optuna's
    pruner has no maximum: a rung at the last step would judge a trial that has finished). Each trial's value at a rung
    is its loss at the first step it reported at or beyond the rung (what the pruner records when
    it is asked at every report); the judged trial carries the rungs below its highest as passed,
    and the pruner decides at its highest rung against every trial that has reached it.
    """
    rungs = []
    step = min_resource
    last = max((s for _, series in trials for s, _ in series), default=0)
    if max_resource is not None:
        last = min(last, max_resource - 1)
    while step <= last:
        rungs.append(step)
        step *= reduction_factor
    storage = InMemoryStorage()
    study = optuna.create_study(storage=storage, direction="minimize")
    study_id = storage.get_study_id_from_name(study.study_name)
    target: FrozenTrial | None = None
    for number, (index, series) in enumerate(trials):
        ordered = sorted(series)
        reached = {}
        for k, rung in enumerate(rungs):
            at = next(((s, v) for s, v in ordered if s >= rung), None)
            if at is not None:
                reached[k] = at
        if index == judged:
            if not reached:
                return False
            top = max(reached)
            # Judged on the value at its highest rung, so a repeated step gives the same verdict.
            ordered = [(s, v) for s, v in ordered if s <= reached[top][0]]
            reached = {k: at for k, at in reached.items() if k < top}
        frozen = _OwnedTrial(
            number=number,
            state=OptunaState.RUNNING,
            value=None,
            datetime_start=_EPOCH + timedelta(seconds=number),
            datetime_complete=None,
            params={},
            distributions={},
            user_attrs={},
            system_attrs={f"completed_rung_{k}": v for k, (_, v) in reached.items()},
            intermediate_values=dict(ordered),
            trial_id=number,
        )
        trial_id = storage.create_new_trial(study_id, template_trial=frozen)
        if index == judged:
            target = storage.get_trial(trial_id)
    if target is None:
        return False
    pruner = SuccessiveHalvingPruner(min_resource=min_resource, reduction_factor=reduction_factor)
    return bool(pruner.prune(study, target))
