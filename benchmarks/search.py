"""``kubetune bench``: kubetune's algorithms and the raw libraries on the same functions, same seeds.

Reports, per function and optimizer, the median and interquartile range of the simple regret
(best value found minus the known optimum) after 10, 25 and 50 evaluations, sequentially and with
4 trials pending at a time, and the median time of one suggestion with 50, 200 and 500 completed
trials in the history. Writes ``results.json`` and ``results.md`` to the output directory.

The raw libraries are driven the way their users drive them: one Optuna study or one
scikit-optimize Optimizer per run, ask and tell. kubetune is driven the way the operator drives
it: a fresh suggester per call, rebuilt from the history.
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import os
import platform
import statistics
import sys
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..api import Algorithm, AlgorithmName, GPBackend, Parameter, ParamValue
from ..search import registry
from ..search.auto import MAX_GP_TRIALS, Auto
from ..search.base import Observation, Pending, SearchRequest, Suggester, TrialState
from ..search.bayesian import Bayesian
from ..search.optuna_backend import gp_available
from ..search.space import SearchSpace
from . import add_arguments

Assignment = Mapping[str, ParamValue]
CHECKPOINTS = (10, 20, 25, 50)
LATENCY_SIZES = (50, 200, 500)


# --- functions -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Dim:
    """One input of a benchmark function, as every optimizer is told about it."""

    name: str
    low: float = 0.0
    high: float = 1.0
    log: bool = False
    integer_step: int | None = None
    choices: tuple[str, ...] = ()

    def parameter(self) -> Parameter:
        """The kubetune parameter."""
        if self.choices:
            return Parameter(name=self.name, type="categorical", values=list(self.choices))
        if self.integer_step:
            return Parameter(name=self.name, type="int", min=self.low, max=self.high, step=self.integer_step)
        return Parameter(name=self.name, min=self.low, max=self.high, scale="log" if self.log else "linear")


@dataclass(frozen=True)
class Function:
    """A benchmark function with a known minimum."""

    name: str
    dims: tuple[Dim, ...]
    optimum: float
    evaluate: Callable[[Assignment], float]

    def space(self) -> SearchSpace:
        """The kubetune search space."""
        return SearchSpace.from_parameters([d.parameter() for d in self.dims])


def _vector(params: Assignment, names: Sequence[str]) -> np.ndarray:
    return np.array([float(params[n]) for n in names])


def _branin(p: Assignment) -> float:
    x1, x2 = float(p["x1"]), float(p["x2"])
    b, c, t = 5.1 / (4 * math.pi**2), 5 / math.pi, 1 / (8 * math.pi)
    return (x2 - b * x1**2 + c * x1 - 6) ** 2 + 10 * (1 - t) * math.cos(x1) + 10


_H_A = np.array(
    [[10, 3, 17, 3.5, 1.7, 8], [0.05, 10, 17, 0.1, 8, 14], [3, 3.5, 1.7, 10, 17, 8], [17, 8, 0.05, 10, 0.1, 14]]
)
_H_P = 1e-4 * np.array(
    [
        [1312, 1696, 5569, 124, 8283, 5886],
        [2329, 4135, 8307, 3736, 1004, 9991],
        [2348, 1451, 3522, 2883, 3047, 6650],
        [4047, 8828, 8732, 5743, 1091, 381],
    ]
)
_H_ALPHA = np.array([1.0, 1.2, 3.0, 3.2])


def _hartmann6(p: Assignment) -> float:
    x = _vector(p, [f"x{i}" for i in range(6)])
    return float(-np.sum(_H_ALPHA * np.exp(-np.sum(_H_A * (x - _H_P) ** 2, axis=1))))


def _ackley5(p: Assignment) -> float:
    x = _vector(p, [f"x{i}" for i in range(5)])
    n = len(x)
    return float(
        -20 * np.exp(-0.2 * np.sqrt(np.sum(x**2) / n)) - np.exp(np.sum(np.cos(2 * np.pi * x)) / n) + 20 + math.e
    )


def _rosenbrock4(p: Assignment) -> float:
    x = _vector(p, [f"x{i}" for i in range(4)])
    return float(np.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2))


_OPTIMIZER_PENALTY = {"adam": 0.0, "rmsprop": 0.15, "sgd": 0.4}


def _mixed(p: Assignment) -> float:
    """A synthetic training loss: best at lr 1e-3, batch 64, dropout 0.2 with adam (loss 0)."""
    lr, batch, dropout = float(p["lr"]), float(p["batch_size"]), float(p["dropout"])
    interaction = 0.3 * (math.log10(lr) + 3) * (dropout - 0.2)  # lr and dropout are not separable
    return (
        (math.log10(lr) + 3) ** 2 / 4
        + ((batch - 64) / 128) ** 2
        + 4 * (dropout - 0.2) ** 2
        + interaction**2
        + _OPTIMIZER_PENALTY[str(p["optimizer"])]
    )


FUNCTIONS: dict[str, Function] = {
    f.name: f
    for f in [
        Function("branin", (Dim("x1", -5, 10), Dim("x2", 0, 15)), 0.397887357729738, _branin),
        Function("hartmann6", tuple(Dim(f"x{i}") for i in range(6)), -3.322368011391339, _hartmann6),
        Function("ackley5", tuple(Dim(f"x{i}", -32.768, 32.768) for i in range(5)), 0.0, _ackley5),
        Function("rosenbrock4", tuple(Dim(f"x{i}", -5, 10) for i in range(4)), 0.0, _rosenbrock4),
        Function(
            "mixed",
            (
                Dim("lr", 1e-5, 1e-1, log=True),
                Dim("batch_size", 16, 256, integer_step=16),
                Dim("dropout", 0.0, 0.5),
                Dim("optimizer", choices=("sgd", "adam", "rmsprop")),
            ),
            0.0,
            _mixed,
        ),
    ]
}


# --- optimizers ----------------------------------------------------------------------------------

Run = Callable[[Function, int, int, int], list[float]]
"""(function, evaluations, seed, pending) -> the value of each evaluation in order."""


def _kubetune_suggester(name: str, space: SearchSpace, evaluations: int) -> Suggester:
    if name == "bayesian-optuna-gp":  # the default backend is skopt: the other one, explicitly
        return Bayesian(space, backend=GPBackend.OPTUNA_GP)
    if name == "bayesian-w25":
        return Bayesian(space, history_window=25)
    settings: dict[str, ParamValue] = {"pointsPerDimension": 5} if name == "grid" else {}
    return registry.create(Algorithm(name=AlgorithmName(name), settings=settings), space)


def run_kubetune(name: str, function: Function, evaluations: int, seed: int, pending: int) -> list[float]:
    """Drive a kubetune algorithm as the engine does: rebuilt per call, ``pending`` trials in flight."""
    space = function.space()
    suggester = _kubetune_suggester(name, space, evaluations)
    history: list[Observation] = []
    running: list[Pending] = []
    values: list[float] = []
    assigned = 0
    while len(values) < evaluations:
        want = min(max(pending, 1) - len(running), evaluations - assigned)
        if want > 0:
            request = SearchRequest(space, list(history), list(running), want, seed, evaluations)
            for s in suggester.suggest(request).suggestions:
                running.append(Pending(assigned, s.params, s.resource, s.tags))
                assigned += 1
        if not running:
            break
        done = running.pop(0)
        value = function.evaluate(done.params)
        values.append(value)
        history.append(Observation(done.index, done.params, TrialState.COMPLETE, value, done.resource, done.tags))
        history.sort(key=lambda o: o.index)
    return values


def run_optuna(sampler_name: str, function: Function, evaluations: int, seed: int, pending: int) -> list[float]:
    """One Optuna study, ask/tell, ``pending`` trials in flight (Optuna's own constant liar)."""
    import optuna  # noqa: PLC0415 -- the competitor, loaded in the worker that runs it
    from optuna.distributions import (  # noqa: PLC0415
        BaseDistribution,
        CategoricalDistribution,
        FloatDistribution,
        IntDistribution,
    )

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    distributions: dict[str, BaseDistribution] = {}
    for d in function.dims:
        if d.choices:
            distributions[d.name] = CategoricalDistribution(list(d.choices))
        elif d.integer_step:
            distributions[d.name] = IntDistribution(int(d.low), int(d.high), step=d.integer_step)
        else:
            distributions[d.name] = FloatDistribution(d.low, d.high, log=d.log)
    sampler: optuna.samplers.BaseSampler
    if sampler_name == "gp":
        sampler = optuna.samplers.GPSampler(seed=seed)
    elif sampler_name == "cmaes":
        sampler = optuna.samplers.CmaEsSampler(seed=seed, warn_independent_sampling=False)
    else:
        sampler = optuna.samplers.TPESampler(seed=seed)
    study = optuna.create_study(sampler=sampler)
    running: list[optuna.trial.Trial] = []
    values: list[float] = []
    asked = 0
    while len(values) < evaluations:
        while len(running) < max(pending, 1) and asked < evaluations:
            running.append(study.ask(distributions))
            asked += 1
        trial = running.pop(0)
        value = function.evaluate(trial.params)
        study.tell(trial, value)
        values.append(value)
    return values


def run_skopt(function: Function, evaluations: int, seed: int, pending: int) -> list[float]:
    """One scikit-optimize Optimizer with its defaults (GP, gp_hedge, 10 initial points), sequential."""
    from skopt import Optimizer  # noqa: PLC0415 -- the competitor, loaded in the worker that runs it
    from skopt.space import Categorical, Integer, Real  # noqa: PLC0415

    dims: list[Any] = []
    for d in function.dims:
        if d.choices:
            dims.append(Categorical(list(d.choices), name=d.name))
        elif d.integer_step:
            dims.append(Integer(int(d.low) // d.integer_step, int(d.high) // d.integer_step, name=d.name))
        else:
            dims.append(Real(d.low, d.high, prior="log-uniform" if d.log else "uniform", name=d.name))
    optimizer = Optimizer(dims, random_state=seed)
    values: list[float] = []
    with warnings.catch_warnings():
        # scikit-learn's GP warns when a kernel hyperparameter sits on its bound: expected, harmless.
        warnings.simplefilter("ignore")
        for _ in range(evaluations):
            x = optimizer.ask()
            params = {
                d.name: (int(v) * d.integer_step if d.integer_step else (v if d.choices else float(v)))
                for d, v in zip(function.dims, x, strict=True)
            }
            value = function.evaluate(params)
            optimizer.tell(x, value)
            values.append(value)
    return values


def run_random(function: Function, evaluations: int, seed: int, pending: int) -> list[float]:
    """Plain uniform sampling with numpy (log-uniform for log ranges)."""
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(evaluations):
        params: dict[str, ParamValue] = {}
        for d in function.dims:
            if d.choices:
                params[d.name] = d.choices[int(rng.integers(len(d.choices)))]
            elif d.integer_step:
                params[d.name] = int(rng.integers(int(d.low) // d.integer_step, int(d.high) // d.integer_step + 1))
                params[d.name] *= d.integer_step
            elif d.log:
                params[d.name] = float(math.exp(rng.uniform(math.log(d.low), math.log(d.high))))
            else:
                params[d.name] = float(rng.uniform(d.low, d.high))
        values.append(function.evaluate(params))
    return values


def runner(optimizer: str) -> Callable[[Function, int, int, int], list[float]]:
    """The run function of an optimizer name (``kubetune:tpe``, ``optuna:gp``, ``skopt:gp``, ``random``)."""
    library, _, name = optimizer.partition(":")
    if library == "kubetune":
        return lambda f, n, s, p: run_kubetune(name, f, n, s, p)
    if library == "optuna":
        return lambda f, n, s, p: run_optuna(name, f, n, s, p)
    if library == "skopt":
        return run_skopt
    return run_random


def _task(job: tuple[str, str, int, int, int]) -> tuple[str, str, int, int, list[float], float]:
    optimizer, function, evaluations, seed, pending = job
    started = time.perf_counter()
    values = runner(optimizer)(FUNCTIONS[function], evaluations, seed, pending)
    return optimizer, function, seed, pending, values, time.perf_counter() - started


# --- latency -------------------------------------------------------------------------------------

LATENCY_SPACE = [
    Parameter(name="lr", min=1e-5, max=1e-1, scale="log"),
    Parameter(name="batch_size", type="int", min=16, max=256, step=16),
    Parameter(name="dropout", min=0.0, max=0.5),
    Parameter(name="optimizer", type="categorical", values=["sgd", "adam", "rmsprop"]),
    Parameter(name="epochs", type="int", min=1, max=729),
]


def _own_history(suggester: Suggester, space: SearchSpace, n: int, rng: np.random.Generator) -> list[Observation]:
    """``n`` trials proposed by the algorithm itself (its tags matter), with random losses."""
    history: list[Observation] = []
    while len(history) < n:
        request = SearchRequest(space, history, [], min(50, n - len(history)), 0)
        proposal = suggester.suggest(request)
        for s in proposal.suggestions:
            history.append(
                Observation(len(history), s.params, TrialState.COMPLETE, float(rng.random()), s.resource, s.tags)
            )
        if not proposal.suggestions:
            break
    return history


def _latency_task(job: tuple[str, int, int]) -> tuple[str, int, float]:
    """Median seconds of one suggestion by ``algorithm`` with ``n`` completed trials."""
    algorithm, n, repeats = job
    rng = np.random.default_rng(n)
    space = SearchSpace.from_parameters(LATENCY_SPACE)
    library, _, name = algorithm.partition(":")
    times = []
    if library == "kubetune":
        settings: dict[str, ParamValue] = {}
        if name == "hyperband":
            settings = {"resourceParameter": "epochs"}
        elif name == "grid":
            settings = {"pointsPerDimension": 10}
        if name == "bayesian-nowindow":
            suggester: Suggester = Bayesian(space, history_window=100_000)
        else:
            suggester = registry.create(Algorithm(name=AlgorithmName(name), settings=settings), space)
        if name in ("grid", "hyperband", "cmaes", "sobol"):
            history = _own_history(suggester, space, n, rng)
        else:
            history = [Observation(i, space.sample(rng), TrialState.COMPLETE, float(rng.random())) for i in range(n)]
        for r in range(repeats):
            request = SearchRequest(space, history, [], 1, r)
            started = time.perf_counter()
            suggester.suggest(request)
            times.append(time.perf_counter() - started)
        return algorithm, n, statistics.median(times)
    function = FUNCTIONS["mixed"]
    for r in range(repeats):
        # The raw libraries keep their state: time one ask after n tells, as their users see it.
        times.append(_raw_latency(library, name, function, n, r))
    return algorithm, n, statistics.median(times)


def _raw_latency(library: str, name: str, function: Function, n: int, seed: int) -> float:
    rng = np.random.default_rng(seed)
    if library == "optuna":
        import optuna  # noqa: PLC0415 -- the competitor
        from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution  # noqa: PLC0415

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        distributions = {
            "lr": FloatDistribution(1e-5, 1e-1, log=True),
            "batch_size": IntDistribution(16, 256, step=16),
            "dropout": FloatDistribution(0, 0.5),
            "optimizer": CategoricalDistribution(["sgd", "adam", "rmsprop"]),
        }
        sampler = optuna.samplers.GPSampler(seed=seed) if name == "gp" else optuna.samplers.TPESampler(seed=seed)
        study = optuna.create_study(sampler=sampler)
        space = function.space()
        study.add_trials(
            [
                optuna.trial.create_trial(
                    params=space.sample(rng), distributions=distributions, value=float(rng.random())
                )
                for _ in range(n)
            ]
        )
        started = time.perf_counter()
        study.ask(distributions)
        return time.perf_counter() - started
    from skopt import Optimizer  # noqa: PLC0415 -- the competitor
    from skopt.space import Categorical, Integer, Real  # noqa: PLC0415

    dims = [
        Real(1e-5, 1e-1, prior="log-uniform"),
        Integer(1, 16),
        Real(0, 0.5),
        Categorical(["sgd", "adam", "rmsprop"]),
    ]
    optimizer = Optimizer(dims, random_state=seed, n_initial_points=n)
    xs = [optimizer.space.rvs(random_state=int(rng.integers(2**31)))[0] for _ in range(n)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # GP kernel bounds warnings: expected, harmless
        optimizer.tell(xs[:-1], [float(rng.random()) for _ in xs[:-1]])
        started = time.perf_counter()
        # skopt refits and optimizes the acquisition inside tell(); ask() then returns the result.
        optimizer.tell(xs[-1], float(rng.random()))
        optimizer.ask()
    return time.perf_counter() - started


# --- the run -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    """What one benchmark run covers."""

    functions: tuple[str, ...]
    evaluations: int
    seeds: int
    sequential: tuple[str, ...]
    parallel: tuple[str, ...]
    latency: tuple[tuple[str, tuple[int, ...]], ...]
    repeats: int


def make_plan(quick: bool, gp: bool) -> Plan:
    """The full benchmark, or the quick one (two functions, 20 evaluations, latency up to 500 trials)."""
    kubetune = ("kubetune:random", "kubetune:sobol", "kubetune:tpe", "kubetune:bayesian", "kubetune:cmaes")
    raw = ("optuna:tpe", *(("optuna:gp",) if gp else ()), "skopt:gp", "random")
    optuna_gp = ("kubetune:bayesian-optuna-gp",) if gp else ()
    fast = ("kubetune:random", "kubetune:sobol", "kubetune:grid", "kubetune:tpe", "kubetune:hyperband")
    if quick:
        # scikit-optimize is left to the full run: its refits are most of the quick run's time.
        return Plan(
            functions=("branin", "mixed"),
            evaluations=20,
            seeds=10,
            sequential=(*kubetune, "kubetune:auto", *(r for r in raw if r != "skopt:gp")),
            parallel=("kubetune:tpe", "kubetune:bayesian"),
            latency=(
                *((a, LATENCY_SIZES) for a in (*fast, "kubetune:cmaes", "kubetune:bayesian")),
                ("optuna:tpe", LATENCY_SIZES),
                *((("optuna:gp", (50, 200)),) if gp else ()),
                ("skopt:gp", (50,)),
            ),
            repeats=3,
        )
    return Plan(
        functions=tuple(FUNCTIONS),
        evaluations=50,
        seeds=10,
        sequential=(*kubetune, "kubetune:auto", *optuna_gp, "kubetune:bayesian-w25", *raw),
        parallel=("kubetune:tpe", "kubetune:bayesian", *optuna_gp, "optuna:tpe"),
        latency=(
            *((a, LATENCY_SIZES) for a in (*fast, "kubetune:cmaes", "kubetune:bayesian", "kubetune:auto")),
            ("kubetune:bayesian-nowindow", LATENCY_SIZES),
            ("optuna:tpe", LATENCY_SIZES),
            *((("optuna:gp", LATENCY_SIZES),) if gp else ()),
            ("skopt:gp", LATENCY_SIZES),
        ),
        repeats=3,
    )


def _auto_alias(function: Function, evaluations: int) -> str | None:
    """The optimizer whose runs auto would repeat exactly on this function, if any."""
    space = function.space()
    chosen = Auto(space).choose(SearchRequest(space, [], [], 1, 0, evaluations))
    # Auto keeps its choice for fewer than 250 trials; the same suggester gives the same runs.
    if evaluations < MAX_GP_TRIALS and chosen == Bayesian(space):
        return "kubetune:bayesian"
    return None


def _summary(values: Sequence[Sequence[float]], optimum: float, checkpoints: Sequence[int]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k in checkpoints:
        regrets = [min(v[:k]) - optimum for v in values if len(v) >= k]
        if regrets:
            q1, median, q3 = np.percentile(regrets, [25, 50, 75]).tolist()
            out[str(k)] = {"median": median, "iqr": q3 - q1, "runs": len(regrets)}
    return out


def run(args: argparse.Namespace) -> int:
    """Run the benchmark and write its results; returns the exit status."""
    started = time.perf_counter()
    # One thread per worker: the workers already use every core, and BLAS threads fighting over
    # them would distort the suggestion times.
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")
    gp = gp_available()
    plan = make_plan(args.quick, gp)
    functions = tuple(args.functions.split(",")) if args.functions else plan.functions
    seeds = args.seeds or plan.seeds
    aliases = {f: _auto_alias(FUNCTIONS[f], plan.evaluations) for f in functions}
    jobs = [
        (o, f, plan.evaluations, s, 1)
        for f in functions
        for o in plan.sequential
        for s in range(seeds)
        if not (o == "kubetune:auto" and aliases[f])
    ]
    jobs += [(o, f, plan.evaluations, s, 4) for f in functions for o in plan.parallel for s in range(seeds)]
    latency_jobs = [(a, n, plan.repeats) for a, sizes in plan.latency for n in sizes]
    context = multiprocessing.get_context("spawn")
    with context.Pool(args.workers) as pool:
        results = pool.map(_task, jobs, chunksize=1)
        # Timed after the runs, so that the runs' load does not inflate the suggestion times.
        latencies = pool.map(_latency_task, latency_jobs, chunksize=1)
    checkpoints = [k for k in CHECKPOINTS if k <= plan.evaluations] or [plan.evaluations]
    regret: dict[str, dict[str, dict[str, Any]]] = {}
    for function in functions:
        for mode, pending in (("sequential", 1), ("parallel4", 4)):
            for optimizer in plan.sequential if pending == 1 else plan.parallel:
                source = aliases[function] if optimizer == "kubetune:auto" and aliases[function] else optimizer
                values = [r[4] for r in results if r[0] == source and r[1] == function and r[3] == pending]
                seconds = sum(r[5] for r in results if r[0] == source and r[1] == function and r[3] == pending)
                entry = _summary(values, FUNCTIONS[function].optimum, checkpoints)
                entry["seconds"] = seconds
                label = f"{optimizer} (= {source})" if source != optimizer else optimizer
                regret.setdefault(function, {})[f"{label} [{mode}]"] = entry
    latency = {f"{a}@{n}": t for a, n, t in latencies}
    report = {
        "command": " ".join(["kubetune bench", *sys.argv[1:]]),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
        "quick": args.quick,
        "evaluations": plan.evaluations,
        "seeds": seeds,
        "gp_sampler": gp,
        "regret": regret,
        "latency_seconds": latency,
        "wall_seconds": time.perf_counter() - started,
    }
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    markdown = render(report, checkpoints, plan)
    (out / "results.md").write_text(markdown, encoding="utf-8")
    print(markdown)
    print(f"wrote {out / 'results.json'} and {out / 'results.md'} in {report['wall_seconds']:.0f} s")
    return 0


def render(report: Mapping[str, Any], checkpoints: Sequence[int], plan: Plan) -> str:
    """The results as markdown tables."""
    lines = [
        f"# kubetune search benchmark ({'quick' if report['quick'] else 'full'})",
        "",
        f"{report['seeds']} seeds; simple regret (best value - optimum) after k evaluations, median (IQR); "
        f"machine: {report['machine']['cpus']} CPUs, {report['machine']['platform']}, "
        f"Python {report['machine']['python']}; wall {report['wall_seconds']:.0f} s.",
        "",
    ]
    for function, rows in report["regret"].items():
        lines += [f"## {function}", "", "| optimizer | " + " | ".join(f"@{k}" for k in checkpoints) + " | run s |"]
        lines.append("|---|" + "---|" * (len(checkpoints) + 1))
        for optimizer, entry in rows.items():
            cells = [
                f"{entry[str(k)]['median']:.3g} ({entry[str(k)]['iqr']:.2g})" for k in checkpoints if str(k) in entry
            ]
            lines.append(f"| {optimizer} | " + " | ".join(cells) + f" | {entry['seconds']:.0f} |")
        lines.append("")
    lines += ["## seconds per suggestion (median) by completed trials in history", ""]
    sizes = sorted({int(key.rsplit("@", 1)[1]) for key in report["latency_seconds"]})
    lines += ["| algorithm | " + " | ".join(f"n={n}" for n in sizes) + " |", "|---|" + "---|" * len(sizes)]
    for algorithm, _ in plan.latency:
        cells = [report["latency_seconds"].get(f"{algorithm}@{n}") for n in sizes]
        lines.append(f"| {algorithm} | " + " | ".join("-" if c is None else f"{c:.4f}" for c in cells) + " |")
    lines.append("")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m kubetune.bench.search``."""
    parser = argparse.ArgumentParser(prog="kubetune bench", description=__doc__)
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
