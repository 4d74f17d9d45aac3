"""Optuna's samplers (TPE, GP) on a throwaway in-memory study rebuilt from the history.

The only module that imports Optuna. Each call creates a study, adds the finished trials
(complete, failed as FAIL, stopped as PRUNED with their last value) and the pending ones as
RUNNING, then asks for new trials one by one, leaving each asked trial RUNNING so that the
next ask sees it: that is how the samplers' own constant-liar machinery spreads a batch.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

import optuna
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.samplers import BaseSampler, GPSampler, TPESampler
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

    kind: Literal["tpe", "gp"]
    n_startup_trials: int = 10
    multivariate: bool = True
    constant_liar: bool = True


def gp_available() -> bool:
    """True when Optuna's GPSampler can run (it needs torch)."""
    try:
        import torch  # noqa: F401, PLC0415 -- only probing whether the optional dependency is installed
    except ImportError:
        return False
    return True


def _sampler(spec: SamplerSpec, seed: int) -> BaseSampler:
    if spec.kind == "gp":
        return GPSampler(seed=seed, n_startup_trials=spec.n_startup_trials)
    return TPESampler(
        seed=seed,
        n_startup_trials=spec.n_startup_trials,
        multivariate=spec.multivariate,
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
    value: float | None,
) -> _OwnedTrial:
    intermediate = {}
    if state is OptunaState.PRUNED and value is not None:
        intermediate = {0: value}  # TPE ranks pruned trials by their last intermediate value
    return _OwnedTrial(
        number=number,
        state=state,
        value=value if state is OptunaState.COMPLETE else None,
        datetime_start=_EPOCH + timedelta(seconds=number),
        datetime_complete=None if state is OptunaState.RUNNING else _EPOCH + timedelta(seconds=number + 1),
        params=params,
        distributions=distributions,
        user_attrs={},
        system_attrs={},
        intermediate_values=intermediate,
        trial_id=number,
    )


def _state_of(observation: Observation) -> tuple[OptunaState, float | None]:
    value = observation.value
    finite = value is not None and math.isfinite(value)
    if observation.state is TrialState.COMPLETE:
        # A trial without a usable metric is what Optuna calls FAIL: left out of every model.
        return (OptunaState.COMPLETE, value) if finite else (OptunaState.FAIL, None)
    if observation.state is TrialState.STOPPED:
        return OptunaState.PRUNED, value if finite else None
    return OptunaState.FAIL, None


def ask(
    space: SearchSpace,
    history: Sequence[Observation],
    pending: Sequence[Pending],
    count: int,
    seed: int,
    spec: SamplerSpec,
) -> list[dict[str, ParamValue]]:
    """``count`` assignments from the sampler, given the finished and pending trials."""
    dims = space.dimensions
    distributions = {d.name: distribution_of(d) for d in dims}
    trials: list[FrozenTrial] = []
    for observation in history:
        coordinates = space.encode(observation.params)
        if coordinates is None:
            continue  # from another space (the task was edited): not comparable
        state, value = _state_of(observation)
        params = {d.name: _coordinate(d, x) for d, x in zip(dims, coordinates, strict=True)}
        trials.append(_trial(len(trials), distributions, params, state, value))
    for trial in pending:
        coordinates = space.encode(trial.params)
        if coordinates is not None:
            params = {d.name: _coordinate(d, x) for d, x in zip(dims, coordinates, strict=True)}
            trials.append(_trial(len(trials), distributions, params, OptunaState.RUNNING, None))
    storage = InMemoryStorage()
    study = optuna.create_study(storage=storage, sampler=_sampler(spec, seed), direction="minimize")
    # Straight into the storage: Study.add_trials re-validates every trial, and these were
    # built valid above; at 500 trials that check was a third of the call.
    study_id = storage.get_study_id_from_name(study.study_name)
    for frozen in trials:
        storage.create_new_trial(study_id, template_trial=frozen)
    out = []
    for _ in range(count):
        asked = study.ask(distributions)
        out.append(space.decode([asked.params[d.name] for d in dims]))
    return out
