"""Seconds per suggestion, by completed trials in the history: kubetune's algorithms and the raw libraries.

Measured alone (after the regret runs, in one process, nothing else of the benchmark running),
each case repeated and reported by its median. kubetune and the raw libraries see the same space
and the same history (the same assignments and losses). kubetune is timed the way the operator
calls it: a suggester rebuilt from the history for one suggestion. A raw library is timed the way
its users call it: one ``ask`` on a study (or optimizer) that already holds the history, whose
building is not timed.
"""

from __future__ import annotations

import statistics
import time
import warnings
from typing import Any

import numpy as np

from kubetune.search.base import Observation, SearchRequest, Suggester, TrialState
from kubetune.search.space import SearchSpace

from .optimizers import kubetune_suggester, optuna_distributions, optuna_sampler
from .problems import Dim, Problem

SPACE = Problem(
    "latency-space",
    "function",
    (
        Dim("lr", 1e-5, 1e-1, log=True),
        Dim("batch_size", 16, 256, integer_step=16),
        Dim("dropout", 0.0, 0.5),
        Dim("optimizer", choices=("sgd", "adam", "rmsprop")),
        Dim("epochs", 1, 729, integer_step=1),
    ),
    lambda _: 0.0,
    0.0,
    None,
    "five HPO-like parameters: log-scaled float, stepped int, float, categorical, int",
)


def _history(space: SearchSpace, n: int) -> list[Observation]:
    rng = np.random.default_rng(n)
    return [Observation(i, space.sample(rng), TrialState.COMPLETE, float(rng.random())) for i in range(n)]


def _own_history(suggester: Suggester, space: SearchSpace, n: int) -> list[Observation]:
    """``n`` trials proposed by the algorithm itself (CMA-ES reads its generation tags), random losses."""
    rng = np.random.default_rng(n)
    history: list[Observation] = []
    while len(history) < n:
        request = SearchRequest(space, history, [], min(50, n - len(history)), 0)
        for s in suggester.suggest(request).suggestions:
            history.append(Observation(len(history), s.params, TrialState.COMPLETE, float(rng.random()), tags=s.tags))
    return history


def seconds_per_suggestion(optimizer: str, n: int, repeats: int) -> list[float]:
    """``repeats`` timings of one suggestion by ``optimizer`` with ``n`` completed trials."""
    library, _, name = optimizer.partition(":")
    space = SPACE.space()
    if library == "kubetune":
        suggester = kubetune_suggester(name, SPACE)
        history = _own_history(suggester, space, n) if name == "cmaes" else _history(space, n)
        suggester.suggest(SearchRequest(space, history, [], 1, repeats))  # untimed: first-call imports
        times = []
        for r in range(repeats):
            request = SearchRequest(space, history, [], 1, r)
            started = time.perf_counter()
            suggester.suggest(request)
            times.append(time.perf_counter() - started)
        return times
    if library == "optuna":
        _optuna_ask(name, space, min(n, 20), repeats)  # untimed: first-call imports (torch for GP)
        return [_optuna_ask(name, space, n, r) for r in range(repeats)]
    return [_skopt_ask(space, n, r) for r in range(repeats)]


def _optuna_ask(name: str, space: SearchSpace, n: int, seed: int) -> float:
    import optuna  # noqa: PLC0415 -- a competitor

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    distributions = optuna_distributions(SPACE.dims)
    study = optuna.create_study(sampler=optuna_sampler(name, seed))
    study.add_trials(
        [
            optuna.trial.create_trial(params=dict(o.params), distributions=distributions, value=o.value)
            for o in _history(space, n)
        ]
    )
    started = time.perf_counter()
    study.ask(distributions)
    return time.perf_counter() - started


def _skopt_ask(space: SearchSpace, n: int, seed: int) -> float:
    from skopt import Optimizer  # noqa: PLC0415 -- a competitor

    from .optimizers import SKOPT_SETTINGS, _skopt_dims  # noqa: PLC0415

    settings: dict[str, Any] = {**SKOPT_SETTINGS, "n_initial_points": n}
    optimizer = Optimizer(_skopt_dims(SPACE.dims), random_state=seed, **settings)
    history = _history(space, n)
    xs = [
        [int(o.params[d.name]) // d.integer_step if d.integer_step else o.params[d.name] for d in SPACE.dims]
        for o in history
    ]
    ys = [float(o.value or 0.0) for o in history]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # GP kernel bounds warnings: expected, harmless
        optimizer.tell(xs[:-1], ys[:-1])
        started = time.perf_counter()
        # scikit-optimize refits and optimizes the acquisition inside tell(); ask() returns the result.
        optimizer.tell(xs[-1], ys[-1])
        optimizer.ask()
    return time.perf_counter() - started


def measure(cases: list[tuple[str, int]], repeats: int) -> dict[str, dict[str, Any]]:
    """Median seconds (and every timing) per ``optimizer@n``."""
    out: dict[str, dict[str, Any]] = {}
    for optimizer, n in cases:
        times = seconds_per_suggestion(optimizer, n, repeats)
        out[f"{optimizer}@{n}"] = {"median": statistics.median(times), "min": min(times), "times": times}
    return out
