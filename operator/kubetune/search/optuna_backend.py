"""Optuna's samplers (TPE, GP) on a throwaway in-memory study rebuilt from the history.

The only module that imports Optuna. Each call creates a study, adds the finished trials
(complete, failed as FAIL, stopped as PRUNED with their last value) and the pending ones as
RUNNING, then asks for new trials one by one, leaving each asked trial RUNNING so that the
next ask sees it: that is how the samplers' own constant-liar machinery spreads a batch.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

import numpy as np
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
        """The full space (multivariate TPE), or what TPESampler infers (univariate)."""
        if not self._known_applies:
            return super().infer_relative_search_space(study, trial)
        return dict(self._known)


def _sampler(spec: SamplerSpec, seed: int, distributions: dict[str, BaseDistribution]) -> BaseSampler:
    if spec.kind == "gp":
        return GPSampler(seed=seed, n_startup_trials=spec.n_startup_trials)
    return _KnownSpaceTPE(
        distributions,
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
    taken: Collection[tuple[float, ...]] = (),
) -> list[dict[str, ParamValue]]:
    """``count`` assignments from the sampler, given the finished and pending trials.

    None of them equals an assignment in ``taken`` (keys of :meth:`SearchSpace.key`) or another
    of them, unless the space has no other point left: a duplicate is asked again, with the
    duplicate left running in the study so that the sampler treats its point as taken; after
    a few such tries, a uniform draw replaces it.
    """
    dims = space.dimensions
    distributions = {d.name: distribution_of(d) for d in dims}
    integer = [d.coordinate is not Coordinate.REAL for d in dims]
    trials: list[FrozenTrial] = []
    finished = list(history)
    states = [_state_of(o) for o in finished] + [(OptunaState.RUNNING, None)] * len(pending)
    encoded = space.encode_many([o.params for o in finished] + [p.params for p in pending])
    for coordinates, (state, value) in zip(encoded, states, strict=True):
        if coordinates is None:
            continue  # from another space (the task was edited): not comparable
        model = {d.name: int(x) if whole else x for d, x, whole in zip(dims, coordinates, integer, strict=True)}
        trials.append(_trial(len(trials), distributions, model, state, value))
    storage = InMemoryStorage()
    study = optuna.create_study(storage=storage, sampler=_sampler(spec, seed, distributions), direction="minimize")
    # Straight into the storage: Study.add_trials re-validates every trial, and these were
    # built valid above; at 500 trials that check was a third of the call.
    study_id = storage.get_study_id_from_name(study.study_name)
    for frozen in trials:
        storage.create_new_trial(study_id, template_trial=frozen)
    avoid = set(taken)
    out = []
    for _ in range(count):
        for _attempt in range(_RETRIES):
            # An asked trial stays RUNNING: the next ask sees it, duplicate or not.
            asked = study.ask(distributions)
            params = space.decode([asked.params[d.name] for d in dims])
            if space.key(params) not in avoid:
                break
        else:
            params = _uniform_distinct(space, avoid, seed)
        key = space.key(params)
        if key is not None:
            avoid.add(key)
        out.append(params)
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
