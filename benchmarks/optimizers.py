"""Every optimizer the benchmark runs, behind one first-in-first-out harness, on paired starting points.

Pairing: for a problem and a seed, :func:`design` draws one set of ``DESIGN_SIZE`` uniform random
starting points, and every optimizer evaluates exactly those first, in the same order: Optuna gets
them through ``enqueue_trial``, scikit-optimize through ``tell``, and kubetune's suggesters through
the harness, which hands them out before it first asks the suggester (the benchmark-only path:
the engine never does this). ``DESIGN_SIZE`` is at least every optimizer's own number of random
starting trials, so no optimizer draws more random points of its own before its model starts.

The harness keeps ``pending`` assignments in flight: it asks until that many are out, evaluates
the oldest, tells its value, and asks again. Each assignment that equals one already evaluated or
still pending (the same point of the search space) is counted as a duplicate.

Every library's settings are spelled out here, not left to its defaults (which change between
versions), and :func:`settings` returns them for results.json.
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
import itertools
import math
import time
import warnings
import zlib
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Literal, Protocol, TypeVar

import numpy as np

from kubetune.api import Algorithm, ParamValue
from kubetune.search import registry
from kubetune.search.auto import Auto
from kubetune.search.base import Observation, Pending, SearchRequest, Suggester, TrialState
from kubetune.search.space import SearchSpace

from .problems import MULTI_OBJECTIVE, PROBLEMS, Assignment, Dim, MultiObjectiveProblem, Problem

DESIGN_SIZE = 10
"""Random starting points per run, the same for every optimizer: Optuna's TPE and GP samplers
start with 10 by default, kubetune's algorithms with at most 10."""


V = TypeVar("V")
V_co = TypeVar("V_co", covariant=True)


class Spaced(Protocol):
    """Any problem: a name and a search space."""

    @property
    def name(self) -> str: ...
    @property
    def dims(self) -> tuple[Dim, ...]: ...
    def space(self) -> SearchSpace:
        """The kubetune search space."""
        ...


class Evaluable(Spaced, Protocol[V_co]):
    """A problem as the harness sees it: a :class:`Problem` (one loss) or a
    :class:`MultiObjectiveProblem` (a tuple of losses)."""

    @property
    def evaluate(self) -> Callable[[Assignment], V_co]: ...


Ask = Callable[[], tuple[int, Assignment]]


@dataclass(frozen=True)
class RunResult:
    """One run: the value of each evaluation in order, and what the harness counted."""

    optimizer: str
    problem: str
    seed: int
    pending: int
    values: list[float] | list[list[float]]
    """One loss per evaluation; with several objectives, a list of losses per evaluation."""
    duplicates: int
    seconds: float
    """Wall time of the run."""
    cpu_seconds: float
    """CPU time of the run's process: what the run cost, whatever else the machine was doing."""


def design(problem: Spaced, seed: int) -> list[dict[str, ParamValue]]:
    """The starting points every optimizer evaluates first for this problem and seed."""
    rng = np.random.default_rng([seed, zlib.crc32(problem.name.encode())])
    space = problem.space()
    return [space.sample(rng) for _ in range(DESIGN_SIZE)]


def drive(
    problem: Evaluable[V], evaluations: int, pending: int, ask: Ask, tell: Callable[[int, Assignment, V], None]
) -> tuple[list[V], int]:
    """Run the first-in-first-out loop; returns the values in order and the duplicate count."""
    space = problem.space()
    running: deque[tuple[int, Assignment]] = deque()
    taken: set[tuple[float, ...] | None] = set()
    values: list[V] = []
    duplicates = 0
    asked = 0
    while len(values) < evaluations:
        while len(running) < max(pending, 1) and asked < evaluations:
            token, params = ask()
            asked += 1
            key = space.key(params)
            duplicates += key in taken
            taken.add(key)
            running.append((token, params))
        token, params = running.popleft()
        value = problem.evaluate(params)
        tell(token, params, value)
        values.append(value)
    return values, duplicates


# --- kubetune ------------------------------------------------------------------------------------


VARIANTS: dict[str, dict[str, Any]] = {
    "bayesian-optuna-gp": {"name": "bayesian", "settings": {"backend": "optuna-gp"}},
    # NSGA-II's default generation of 50 is all random at 50 evaluations: 10 breeds four generations.
    "nsga2-pop10": {"name": "nsga2", "settings": {"populationSize": 10}},
}
"""kubetune algorithms run with a setting other than the default, by the name the results give them."""


def kubetune_suggester(name: str, problem: Spaced, space: SearchSpace | None = None) -> Suggester:
    """The suggester a task with ``algorithm: {name: <name>}`` and no settings gets (or a variant)."""
    algorithm = Algorithm.model_validate(VARIANTS.get(name, {"name": name}))
    return registry.create(algorithm, space or problem.space())


def kubetune_settings(name: str, problem: Spaced) -> dict[str, Any]:
    """The suggester's settings as built: its dataclass fields."""
    suggester = kubetune_suggester(name, problem)
    request = SearchRequest(problem.space(), [], [], 1, 0, 50, objectives(problem))
    if isinstance(suggester, Auto):
        suggester = suggester.choose(request)
        out: dict[str, Any] = {"chooses": type(suggester).__name__}
    else:
        out = {}
    if dataclasses.is_dataclass(suggester):
        for f in dataclasses.fields(suggester):
            if f.name != "space":
                out[f.name] = _plain(getattr(suggester, f.name))
    return out


def _plain(value: object) -> object:
    return value if value is None or isinstance(value, bool | int | float | str) else str(value)


def objectives(problem: Spaced) -> int:
    """How many losses the problem returns."""
    return len(problem.objectives) if isinstance(problem, MultiObjectiveProblem) else 1


def _observation(index: int, params: Assignment, value: object, done: Pending) -> Observation:
    """A finished evaluation as the engine reports it to an algorithm: several losses in ``values``."""
    if isinstance(value, tuple):
        losses = tuple(float(v) for v in value)
        return Observation(index, params, TrialState.COMPLETE, losses[0], done.resource, done.tags, losses)
    assert isinstance(value, int | float)
    return Observation(index, params, TrialState.COMPLETE, float(value), done.resource, done.tags)


def run_kubetune(name: str, problem: Evaluable[V], evaluations: int, seed: int, pending: int) -> tuple[list[V], int]:
    """Drive a kubetune algorithm as the engine does (rebuilt for every call), after the design."""
    space = problem.space()
    n_objectives = objectives(problem)
    suggester = kubetune_suggester(name, problem)
    starts = iter(design(problem, seed))
    history: list[Observation] = []
    running: dict[int, Pending] = {}
    counter = itertools.count()

    def ask() -> tuple[int, Assignment]:
        index = next(counter)
        start = next(starts, None)
        if start is None:
            request = SearchRequest(space, list(history), list(running.values()), 1, seed, evaluations, n_objectives)
            suggestion = suggester.suggest(request).suggestions[0]
            running[index] = Pending(index, suggestion.params, suggestion.resource, suggestion.tags)
        else:
            running[index] = Pending(index, start)
        return index, running[index].params

    def tell(index: int, params: Assignment, value: V) -> None:
        history.append(_observation(index, params, value, running.pop(index)))
        history.sort(key=lambda o: o.index)

    return drive(problem, evaluations, pending, ask, tell)


# --- Optuna --------------------------------------------------------------------------------------


def optuna_distributions(dims: tuple[Dim, ...]) -> dict[str, Any]:
    """Optuna's distributions for the problem's inputs."""
    from optuna.distributions import (  # noqa: PLC0415 -- a competitor, loaded where it runs
        CategoricalDistribution,
        FloatDistribution,
        IntDistribution,
    )

    out: dict[str, Any] = {}
    for d in dims:
        if d.choices:
            out[d.name] = CategoricalDistribution(list(d.choices))
        elif d.integer_step:
            out[d.name] = IntDistribution(int(d.low), int(d.high), log=d.log, step=d.integer_step)
        else:
            out[d.name] = FloatDistribution(d.low, d.high, log=d.log)
    return out


OPTUNA_SETTINGS: dict[str, dict[str, Any]] = {
    # The same choices as kubetune's tpe (multivariate, constant liar) so that the comparison is
    # of the two ways of running one sampler. Optuna 4.9 deprecated the prior, magic-clip and
    # endpoint settings: they are left to the sampler, which warns when they are given.
    "tpe": {
        "n_startup_trials": DESIGN_SIZE,
        "n_ei_candidates": 24,
        "multivariate": True,
        "group": False,
        "constant_liar": True,
    },
    "gp": {"n_startup_trials": DESIGN_SIZE, "deterministic_objective": False},
    "cmaes": {"n_startup_trials": DESIGN_SIZE, "sigma0": None, "restart_strategy": None, "popsize": None},
    # Optuna 5's NSGA-II defaults, spelled out (kubetune's nsga2 sets only the population size).
    "nsga2": {"population_size": 50, "mutation_prob": None, "crossover_prob": 0.9, "swapping_prob": 0.5},
    "nsga2-pop10": {"population_size": 10, "mutation_prob": None, "crossover_prob": 0.9, "swapping_prob": 0.5},
}
"""Sampler keyword arguments (besides the seed); ``None`` is the sampler's own rule, e.g. CMA-ES's
sigma0 of a sixth of the narrowest range."""


def optuna_sampler(name: str, seed: int) -> Any:
    """A sampler with the settings of :data:`OPTUNA_SETTINGS`."""
    import optuna  # noqa: PLC0415 -- a competitor, loaded where it runs

    settings = OPTUNA_SETTINGS[name]
    independent = optuna.samplers.RandomSampler(seed=seed)
    if name == "gp":
        return optuna.samplers.GPSampler(seed=seed, independent_sampler=independent, **settings)
    if name.startswith("nsga2"):
        return optuna.samplers.NSGAIISampler(seed=seed, **settings)
    if name == "cmaes":
        return optuna.samplers.CmaEsSampler(
            seed=seed, independent_sampler=independent, warn_independent_sampling=False, **settings
        )
    return optuna.samplers.TPESampler(seed=seed, **settings)


def run_optuna(name: str, problem: Evaluable[V], evaluations: int, seed: int, pending: int) -> tuple[list[V], int]:
    """One Optuna study (one direction per objective), the design enqueued, ask and tell."""
    import optuna  # noqa: PLC0415 -- a competitor, loaded where it runs

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    distributions = optuna_distributions(problem.dims)
    directions: list[Literal["minimize"]] = ["minimize"] * objectives(problem)
    study = optuna.create_study(sampler=optuna_sampler(name, seed), directions=directions)
    for params in design(problem, seed):
        study.enqueue_trial(params)
    trials: dict[int, Any] = {}

    conditional = any(d.when for d in problem.dims)

    def ask() -> tuple[int, Assignment]:
        if conditional:
            # Define-by-run, parents first: an inactive input is never asked, as a user would write it.
            trial = study.ask()
            for d in problem.dims:
                if not d.active(trial.params):
                    continue
                if d.choices:
                    trial.suggest_categorical(d.name, list(d.choices))
                elif d.integer_step:
                    trial.suggest_int(d.name, int(d.low), int(d.high), step=d.integer_step, log=d.log)
                else:
                    trial.suggest_float(d.name, d.low, d.high, log=d.log)
        else:
            trial = study.ask(distributions)
        trials[trial.number] = trial
        return trial.number, trial.params

    def tell(number: int, params: Assignment, value: V) -> None:
        told: Any = list(value) if isinstance(value, tuple) else value  # a float, or one per objective
        study.tell(trials.pop(number), told)

    return drive(problem, evaluations, pending, ask, tell)


# --- scikit-optimize -----------------------------------------------------------------------------

SKOPT_SETTINGS: dict[str, Any] = {
    "base_estimator": "GP",
    "n_initial_points": DESIGN_SIZE,
    "initial_point_generator": "random",
    "acq_func": "gp_hedge",
    "acq_optimizer": "lbfgs",
    "acq_optimizer_kwargs": {"n_points": 10000, "n_restarts_optimizer": 5, "n_jobs": 1},
}
"""scikit-optimize 0.10's documented defaults, spelled out."""


def _skopt_dims(dims: tuple[Dim, ...]) -> list[Any]:
    from skopt.space import Categorical, Integer, Real  # noqa: PLC0415 -- a competitor

    out: list[Any] = []
    for d in dims:
        prior = "log-uniform" if d.log else "uniform"
        if d.choices:
            out.append(Categorical(list(d.choices), name=d.name))
        elif d.integer_step:
            out.append(Integer(int(d.low) // d.integer_step, int(d.high) // d.integer_step, prior=prior, name=d.name))
        else:
            out.append(Real(d.low, d.high, prior=prior, name=d.name))
    return out


def run_skopt(problem: Problem, evaluations: int, seed: int, pending: int) -> tuple[list[float], int]:
    """One scikit-optimize Optimizer, sequential: the design told first, then ask and tell."""
    from skopt import Optimizer  # noqa: PLC0415 -- a competitor

    dims = problem.dims
    optimizer = Optimizer(_skopt_dims(dims), random_state=seed, **SKOPT_SETTINGS)
    starts = iter(design(problem, seed))
    counter = itertools.count()

    def to_x(params: Assignment) -> list[Any]:
        # scikit-optimize has no conditions: an inactive input is told at the middle of its range.
        return [
            params[d.name]
            if d.choices
            else (int(params[d.name]) // d.integer_step if d.integer_step else params[d.name])
            if d.name in params
            else (d.low + d.high) / 2
            for d in dims
        ]

    def ask() -> tuple[int, Assignment]:
        params = next(starts, None)
        if params is None:
            x = optimizer.ask()
            drawn = {
                d.name: (str(v) if d.choices else int(v) * d.integer_step if d.integer_step else float(v))
                for d, v in zip(dims, x, strict=True)
            }
            params = {d.name: drawn[d.name] for d in dims if d.active(drawn)}
        return next(counter), params

    def tell(_: int, params: Assignment, value: float) -> None:
        optimizer.tell(to_x(params), value)

    with warnings.catch_warnings():
        # scikit-learn's GP warns when a kernel hyperparameter sits on its bound: expected, harmless.
        warnings.simplefilter("ignore")
        return drive(problem, evaluations, 1, ask, tell)


# --- plain random --------------------------------------------------------------------------------


def run_random(problem: Evaluable[V], evaluations: int, seed: int, pending: int) -> tuple[list[V], int]:
    """The design, then independent uniform draws with numpy (log-uniform on log ranges)."""
    rng = np.random.default_rng([seed, 1])

    def draws() -> Iterator[Assignment]:
        yield from design(problem, seed)
        while True:
            params: dict[str, ParamValue] = {}
            for d in problem.dims:
                if d.choices:
                    params[d.name] = d.choices[int(rng.integers(len(d.choices)))]
                elif d.integer_step and d.log:  # Optuna allows log only with step 1
                    params[d.name] = round(math.exp(rng.uniform(math.log(d.low), math.log(d.high))))
                elif d.integer_step:
                    low, high = int(d.low) // d.integer_step, int(d.high) // d.integer_step
                    params[d.name] = int(rng.integers(low, high + 1)) * d.integer_step
                elif d.log:
                    params[d.name] = float(math.exp(rng.uniform(math.log(d.low), math.log(d.high))))
                else:
                    params[d.name] = float(rng.uniform(d.low, d.high))
            yield {d.name: params[d.name] for d in problem.dims if d.active(params)}

    source = draws()
    counter = itertools.count()
    return drive(problem, evaluations, pending, lambda: (next(counter), next(source)), lambda *_: None)


# --- names ---------------------------------------------------------------------------------------


def is_raw(optimizer: str) -> bool:
    """True for a raw library (a peer), False for kubetune's own algorithms."""
    return not optimizer.startswith("kubetune:")


def run(optimizer: str, problem: str, evaluations: int, seed: int, pending: int) -> RunResult:
    """One run of ``optimizer`` (``kubetune:tpe``, ``optuna:gp``, ``skopt:gp``, ``random``) on a
    problem with one objective or (``MULTI_OBJECTIVE``) several."""
    started, cpu_started = time.perf_counter(), time.process_time()
    if problem in MULTI_OBJECTIVE:
        losses, duplicates = _run_on(optimizer, MULTI_OBJECTIVE[problem], evaluations, seed, pending)
        values: list[float] | list[list[float]] = [list(v) for v in losses]
    else:
        values, duplicates = _run_on(optimizer, PROBLEMS[problem], evaluations, seed, pending)
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    return RunResult(optimizer, problem, seed, pending, values, duplicates, wall, cpu)


def _run_on(optimizer: str, p: Evaluable[V], evaluations: int, seed: int, pending: int) -> tuple[list[V], int]:
    library, _, name = optimizer.partition(":")
    if library == "kubetune":
        return run_kubetune(name, p, evaluations, seed, pending)
    if library == "optuna":
        return run_optuna(name, p, evaluations, seed, pending)
    if library == "skopt":
        assert isinstance(p, Problem), "scikit-optimize runs single-objective problems only"
        return run_skopt(p, evaluations, seed, pending)
    return run_random(p, evaluations, seed, pending)


def settings(optimizers: tuple[str, ...], problem: Spaced) -> dict[str, Any]:
    """Each optimizer's settings as run, for results.json."""
    out: dict[str, Any] = {}
    for optimizer in optimizers:
        library, _, name = optimizer.partition(":")
        if library == "kubetune":
            out[optimizer] = kubetune_settings(name, problem)
        elif library == "optuna":
            out[optimizer] = {**OPTUNA_SETTINGS[name], "seed": "the run's seed"}
        elif library == "skopt":
            out[optimizer] = {**SKOPT_SETTINGS, "random_state": "the run's seed"}
        else:
            out[optimizer] = {"sampling": "numpy uniform, log-uniform on log ranges"}
    return out


def versions() -> dict[str, str | None]:
    """Versions of every library whose code the benchmark runs."""
    out: dict[str, str | None] = {}
    for package in ("kubetune", "optuna", "scikit-optimize", "scikit-learn", "numpy", "scipy", "cmaes", "torch"):
        try:
            out[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            out[package] = None
    return out
