"""The search benchmark: kubetune's algorithms and the raw libraries on the same problems, paired seeds.

For every problem and seed, every optimizer starts from the same points (see ``optimizers``),
sequentially and, for the model-based ones, with 4 trials pending under the same first-in-first-out
harness. The runs go to a process pool; then, alone in this process, the suggestion latency is
timed. ``results.json`` keeps every run's values, every optimizer's settings and the library
versions, so that ``python -m benchmarks.report`` can recompute every figure from it.
"""

from __future__ import annotations

import argparse
import functools
import json
import multiprocessing
import os
import platform
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from kubetune.search.auto import Auto
from kubetune.search.base import Observation, SearchRequest, TrialState
from kubetune.search.optuna_backend import gp_available

from . import latency, report
from .optimizers import (
    DESIGN_SIZE,
    RunResult,
    design,
    kubetune_suggester,
    settings,
    versions,
)
from .optimizers import run as run_one
from .problems import FUNCTIONS, MODELS, PROBLEMS

PENDING = 4
LATENCY_SIZES = (50, 200, 500)


@dataclass(frozen=True)
class Plan:
    """What one benchmark run covers."""

    functions: tuple[str, ...]
    models: tuple[str, ...]
    evaluations: int
    seeds: int
    model_seeds: int
    sequential: tuple[str, ...]
    parallel: tuple[str, ...]
    latency: tuple[tuple[str, tuple[int, ...]], ...]
    repeats: int


FITTING = (
    "The full run is fitted to about half an hour of 2 idle cores (about 65 CPU minutes): three of the "
    "five test functions (Branin, Hartmann-6 and the mixed space; Rosenbrock-4 and Ackley-5 stay "
    "available with --functions), 50 evaluations and 30 seeds each; the three real models with 10 "
    "seeds, since every evaluation trains a model; 4 pending only on the test functions; "
    "scikit-optimize's raw GP only where Optuna's GPSampler cannot run (12 CPU s per 50-evaluation "
    "run, more than any other optimizer), so kubetune's bayesian (whose default backend is "
    "scikit-optimize) is compared with Optuna's GPSampler as its raw GP peer."
)


def make_plan(quick: bool, gp: bool) -> Plan:
    """The full benchmark (see :data:`FITTING`), or the quick one; one raw peer per installed
    algorithm family in both."""
    gp_peer = "optuna:gp" if gp else "skopt:gp"
    kubetune = (
        "kubetune:random",
        "kubetune:sobol",
        "kubetune:tpe",
        "kubetune:bayesian",  # the default backend, skopt
        *(("kubetune:bayesian-optuna-gp",) if gp else ()),
        "kubetune:cmaes",
    )
    raw = ("optuna:tpe", gp_peer, "optuna:cmaes", "random")
    parallel = ("kubetune:tpe", "kubetune:bayesian", "optuna:tpe", *(("optuna:gp",) if gp else ()))
    if quick:
        return Plan(
            functions=("branin", "mixed"),
            models=("svm-digits",),
            evaluations=25,
            seeds=10,
            model_seeds=5,
            sequential=(*kubetune, "kubetune:auto", *raw),
            parallel=parallel,
            latency=(
                *((a, (50, 200)) for a in (*kubetune, "kubetune:auto")),
                ("optuna:tpe", (50, 200)),
                ("optuna:cmaes", (50, 200)),
                *((("optuna:gp", (50,)),) if gp else ()),
                ("skopt:gp", (50,)),
            ),
            repeats=5,
        )
    return Plan(
        functions=("branin", "hartmann6", "mixed"),
        models=MODELS,
        evaluations=50,
        seeds=30,
        model_seeds=10,
        sequential=(*kubetune, "kubetune:auto", *raw),
        parallel=parallel,
        latency=(
            *((a, LATENCY_SIZES) for a in (*kubetune, "kubetune:auto")),
            ("optuna:tpe", LATENCY_SIZES),
            ("optuna:cmaes", LATENCY_SIZES),
            *((("optuna:gp", LATENCY_SIZES),) if gp else ()),
            ("skopt:gp", (50,)),
        ),
        repeats=5,
    )


def auto_alias(problem: str, evaluations: int) -> str | None:
    """The optimizer whose runs auto repeats exactly on this problem, if any.

    After the design, auto delegates to the suggester it chooses; when that is the one a task
    naming the algorithm gets, auto's runs are that algorithm's runs, and are not run twice.
    """
    p = PROBLEMS[problem]
    space = p.space()
    after_design = [Observation(i, x, TrialState.COMPLETE, 0.0) for i, x in enumerate(design(p, 0))]
    chosen = Auto(space).choose(SearchRequest(space, after_design, [], 1, 0, evaluations))
    # Suggesters are frozen dataclasses: equal when built on the same space with the same settings.
    for name in ("bayesian", "tpe"):
        if chosen == kubetune_suggester(name, p, space):
            return f"kubetune:{name}"
    return None


def _job(job: tuple[str, str, int, int, int]) -> RunResult:
    return run_one(*job)


def _cost(job: tuple[str, str, int, int, int]) -> float:
    """A rough relative cost, so that the slowest runs start first and the pool ends together."""
    optimizer, problem, evaluations, _, _ = job
    gp = ("optuna:gp", "kubetune:bayesian", "kubetune:bayesian-optuna-gp", "kubetune:auto")
    weight = 12.0 if optimizer == "skopt:gp" else 4.0 if optimizer in gp else 0.3
    if PROBLEMS[problem].kind == "model":
        weight += {"mlp-digits": 0.1, "gbm-cancer": 0.05}.get(problem, 0.03) * evaluations
    return weight * evaluations


def _plan(args: argparse.Namespace, gp: bool) -> Plan:
    plan = make_plan(args.quick, gp)
    if args.functions is not None:
        plan = _replace(plan, functions=tuple(f for f in args.functions.split(",") if f))
    if args.models is not None:
        plan = _replace(plan, models=tuple(m for m in args.models.split(",") if m))
    if args.seeds:
        plan = _replace(plan, seeds=args.seeds, model_seeds=min(plan.model_seeds, args.seeds))
    if args.evaluations:
        plan = _replace(plan, evaluations=args.evaluations)
    return plan


Job = tuple[str, str, int, int, int]
"""(optimizer, problem, evaluations, seed, pending)."""


def _jobs(plan: Plan, aliases: dict[str, str | None]) -> list[Job]:
    """Every run, seed by seed (a run stopped early still has whole seeds), slowest first within a seed."""
    jobs: list[Job] = []
    for problem in (*plan.functions, *plan.models):
        seeds = plan.seeds if PROBLEMS[problem].kind == "function" else plan.model_seeds
        for seed in range(seeds):
            for optimizer in plan.sequential:
                if not (optimizer == "kubetune:auto" and aliases[problem]):
                    jobs.append((optimizer, problem, plan.evaluations, seed, 1))
            if PROBLEMS[problem].kind == "function":
                jobs += [(o, problem, plan.evaluations, seed, PENDING) for o in plan.parallel]
    return sorted(jobs, key=lambda job: (_progress(plan, job), job[3], job[1], -_cost(job)))


def _progress(plan: Plan, job: Job) -> float:
    """How far through the plan a run comes: the share of its problem's seeds. A run stopped at 40%
    has 40% of every problem's seeds (12 of 30, 4 of 10), each seed whole."""
    seeds = plan.seeds if PROBLEMS[job[1]].kind == "function" else plan.model_seeds
    return (job[3] + 1) / seeds


def _key(job: Job | RunResult) -> tuple[str, str, int, int]:
    if isinstance(job, RunResult):
        return job.optimizer, job.problem, job.seed, job.pending
    return job[0], job[1], job[3], job[4]


def _done(path: Path, jobs: list[Job]) -> list[RunResult]:
    """Runs of these jobs already in ``path`` (runs.jsonl), from an earlier, stopped invocation."""
    wanted = {_key(job): job[2] for job in jobs}
    done = []
    for line in path.read_text(encoding="utf-8").splitlines():
        result = RunResult(**json.loads(line))
        if wanted.get(_key(result)) == len(result.values):
            done.append(result)
    return done


def run(args: argparse.Namespace) -> int:
    """Run the benchmark and write results.json and results.md; returns the exit status.

    Each finished run is appended to runs.jsonl as it comes, and results.json is rewritten every
    few runs, so that a stopped benchmark leaves its finished seeds readable (``python -m
    benchmarks.report``); ``--resume`` continues it, skipping the runs already there, and
    ``--finish`` ends it: no more runs, the latency, and the results of the runs done.
    """
    started = time.perf_counter()
    # One thread per worker: the workers already use every core, and BLAS threads fighting over
    # them would distort the suggestion times.
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")
    gp = gp_available()
    plan = _plan(args, gp)
    problems = (*plan.functions, *plan.models)
    unknown = [p for p in problems if p not in PROBLEMS]
    if unknown:
        print(f"kubetune bench: unknown problem {unknown[0]!r}; choose from {', '.join(PROBLEMS)}", file=sys.stderr)
        return 2
    aliases = {p: auto_alias(p, plan.evaluations) for p in problems}
    jobs = _jobs(plan, aliases)
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    runs_file = out / "runs.jsonl"
    resume = args.resume or args.finish  # finishing a run reads its runs, never clears them
    results = _done(runs_file, jobs) if resume and runs_file.exists() else []
    finished = {_key(r) for r in results}
    if not resume:
        runs_file.write_text("", encoding="utf-8")
    todo = [] if args.finish else [job for job in jobs if _key(job) not in finished]
    load = [(0.0, *os.getloadavg())]
    document = functools.partial(_document, args, plan, gp, aliases, len(jobs))
    context = multiprocessing.get_context("spawn")
    print(f"{len(todo)} runs on {args.workers} workers ({len(results)} done before) ...", flush=True)
    with context.Pool(args.workers) as pool, runs_file.open("a", encoding="utf-8") as log:
        for i, result in enumerate(pool.imap_unordered(_job, todo, chunksize=1), 1):
            results.append(result)
            log.write(json.dumps(asdict(result)) + "\n")
            log.flush()
            if i % max(1, len(todo) // 40) == 0:
                elapsed = time.perf_counter() - started
                load.append((round(elapsed), *os.getloadavg()))
                print(f"  {i}/{len(todo)} runs, {elapsed:.0f} s, load {load[-1][1]:.1f}", flush=True)
                _write(out, document(results, {}, load, elapsed, started, complete=False), markdown=False)
    runs_seconds = time.perf_counter() - started
    # Timed alone, after the runs: their load would inflate the suggestion times.
    print("latency, alone ...", flush=True)
    latencies = latency.measure([(a, n) for a, sizes in plan.latency for n in sizes], plan.repeats)
    load.append((round(time.perf_counter() - started), *os.getloadavg()))
    results_json = document(results, latencies, load, runs_seconds, started, complete=len(results) == len(jobs))
    markdown = _write(out, results_json, markdown=True)
    print(markdown)
    print(f"wrote {out / 'results.json'} and {out / 'results.md'} in {results_json['wall_seconds']:.0f} s")
    return 0


def _document(
    args: argparse.Namespace,
    plan: Plan,
    gp: bool,
    aliases: dict[str, str | None],
    planned: int,
    results: list[RunResult],
    latencies: dict[str, Any],
    load: Sequence[tuple[float, ...]],
    runs_seconds: float,
    started: float,
    complete: bool,
) -> dict[str, Any]:
    """results.json: the plan, the conditions, every run, the latency."""
    problems = (*plan.functions, *plan.models)
    optimizers = tuple(dict.fromkeys((*plan.sequential, *plan.parallel)))
    return {
        "command": getattr(args, "command", "kubetune bench"),
        "note": args.note,
        "quick": args.quick,
        "complete": complete,
        "planned_runs": planned,
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
        "versions": versions(),
        "workers": args.workers,
        "plan": asdict(plan),
        "fitting": "" if args.quick else FITTING,
        "design_size": DESIGN_SIZE,
        "pending": PENDING,
        "gp_sampler": gp,
        "problems": {
            p: {
                "kind": PROBLEMS[p].kind,
                "about": PROBLEMS[p].about,
                "optimum": PROBLEMS[p].optimum,
                "basin": PROBLEMS[p].basin,
                "dims": [asdict(d) for d in PROBLEMS[p].dims],
            }
            for p in problems
        },
        "settings": settings(optimizers, PROBLEMS[problems[0]]),
        "aliases": {p: {"kubetune:auto": a} for p, a in aliases.items() if a},
        "runs": [asdict(r) for r in sorted(results, key=lambda r: (r.problem, r.optimizer, r.pending, r.seed))],
        "latency": latencies,
        "load": [{"seconds": t, "load1": a, "load5": b, "load15": c} for t, a, b, c in load],
        "runs_seconds": runs_seconds,
        "cpu_seconds": sum(r.cpu_seconds for r in results),
        "wall_seconds": time.perf_counter() - started,
    }


def _write(out: Path, results_json: dict[str, Any], markdown: bool) -> str:
    # One line: every run's values make it long, and it is read by programs (benchmarks.report).
    (out / "results.json").write_text(json.dumps(results_json) + "\n", encoding="utf-8")
    if not markdown:
        return ""
    text = report.render(results_json)
    (out / "results.md").write_text(text, encoding="utf-8")
    return text


def _replace(plan: Plan, **changes: Any) -> Plan:
    return Plan(**{**asdict(plan), **changes})


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m benchmarks.search``."""
    from . import add_arguments  # noqa: PLC0415

    parser = argparse.ArgumentParser(prog="kubetune bench", description=__doc__)
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())


__all__ = ["FUNCTIONS", "MODELS", "Plan", "make_plan", "run"]
