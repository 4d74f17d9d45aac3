"""The search benchmark: kubetune's algorithms and the raw libraries on the same problems, paired seeds.

For every problem and seed, every optimizer starts from the same points (see ``optimizers``),
sequentially and, for the model-based ones, with 4 trials pending under the same first-in-first-out
harness. The bi-objective problems are run the same way, sequentially, and read by hypervolume;
the early-stopping rules run on a learning curve (see ``early_stopping``). The runs go to a
process pool; then, alone in this process, the suggestion latency is timed (when single-objective
problems were run). ``results.json`` keeps every run's values, every optimizer's settings and the
library versions, so that ``python -m benchmarks.report`` can recompute every figure from it.
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

from . import early_stopping, latency, report
from .early_stopping import CurveRun
from .optimizers import (
    DESIGN_SIZE,
    RunResult,
    design,
    kubetune_suggester,
    objectives,
    settings,
    versions,
)
from .optimizers import run as run_one
from .problems import CURVES, FUNCTIONS, MODELS, MULTI_OBJECTIVE, PROBLEMS

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
    multi_objective: tuple[str, ...] = ()
    """Bi-objective problems (seeds as their kind: ``seeds`` for a function, ``model_seeds`` for a model)."""
    multi_objective_optimizers: tuple[str, ...] = ()
    early_stopping: tuple[str, ...] = ()
    """Learning-curve problems (``model_seeds`` seeds; ``evaluations`` trials, see ``early_stopping``)."""
    early_stopping_rules: tuple[str, ...] = ()
    early_stopping_samplers: tuple[str, ...] = ()


FITTING = (
    "The full run is fitted to about half an hour of 2 idle cores (about 65 CPU minutes): three of the "
    "five test functions (Branin, Hartmann-6 and the mixed space; Rosenbrock-4 and Ackley-5 stay "
    "available with --functions), 50 evaluations and 30 seeds each; the six real models with 10 "
    "seeds, since every evaluation trains a model (three of them, gbm-diabetes, net-schedule and "
    "net-conditional, were added after kubetune's algorithms were tuned, and nobody tuned against "
    "them); 4 pending only on the test functions; "
    "scikit-optimize's raw GP only where Optuna's GPSampler cannot run (12 CPU s per 50-evaluation "
    "run, more than any other optimizer), so kubetune's bayesian (whose default backend is "
    "scikit-optimize) is compared with Optuna's GPSampler as its raw GP peer. The bi-objective "
    "problems (ZDT1 with 30 seeds, the MLP's error against its size with 10) and the early-stopping "
    "rules on the MLP's learning curve (10 seeds) add about 30 CPU minutes."
)


def multi_objective_optimizers(gp: bool) -> tuple[str, ...]:
    """kubetune's multi-objective algorithms and their raw Optuna peers (GP ones only with torch)."""
    return (
        "kubetune:tpe",
        "kubetune:bayesian",  # the default backend, skopt: ParEGO
        "kubetune:nsga2",
        "kubetune:nsga2-pop10",
        *(("kubetune:bayesian-optuna-gp",) if gp else ()),
        "kubetune:auto",
        "optuna:tpe",
        "optuna:nsga2",
        "optuna:nsga2-pop10",
        *(("optuna:gp",) if gp else ()),
        "random",
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
            multi_objective=("zdt1",),
            multi_objective_optimizers=multi_objective_optimizers(gp=False),
            early_stopping=tuple(CURVES),
            early_stopping_rules=tuple(early_stopping.RULES),
            early_stopping_samplers=("random",),
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
        multi_objective=tuple(MULTI_OBJECTIVE),
        multi_objective_optimizers=multi_objective_optimizers(gp),
        early_stopping=tuple(CURVES),
        early_stopping_rules=tuple(early_stopping.RULES),
        early_stopping_samplers=early_stopping.SAMPLERS,
    )


def auto_alias(problem: str, evaluations: int) -> str | None:
    """The optimizer whose runs auto repeats exactly on this problem, if any.

    After the design, auto delegates to the suggester it chooses; when that is the one a task
    naming the algorithm gets, auto's runs are that algorithm's runs, and are not run twice.
    """
    p = PROBLEMS.get(problem) or MULTI_OBJECTIVE[problem]
    space = p.space()
    n = objectives(p)
    after_design = [
        Observation(i, x, TrialState.COMPLETE, 0.0, values=(0.0,) * n if n > 1 else ())
        for i, x in enumerate(design(p, 0))
    ]
    chosen = Auto(space).choose(SearchRequest(space, after_design, [], 1, 0, evaluations, n))
    # Suggesters are frozen dataclasses: equal when built on the same space with the same settings.
    for name in ("bayesian", "tpe", "nsga2"):
        if chosen == kubetune_suggester(name, p, space):
            return f"kubetune:{name}"
    return None


Job = tuple[str, str, int, int, int]
"""(optimizer, problem, evaluations, seed, pending): a run on a problem of ``PROBLEMS`` or ``MULTI_OBJECTIVE``."""


@dataclass(frozen=True)
class CurveJob:
    """A run of an early-stopping rule on a learning curve (see ``early_stopping.run``)."""

    rule: str
    sampler: str
    problem: str
    seed: int
    trials: int


def _job(job: Job | CurveJob) -> RunResult | CurveRun:
    if isinstance(job, CurveJob):
        return early_stopping.run(job.rule, job.sampler, job.problem, job.seed, job.trials)
    return run_one(*job)


def _kind(problem: str) -> str:
    """``function`` or ``model``: which seed count a problem gets."""
    if problem in CURVES:
        return "model"
    return (PROBLEMS.get(problem) or MULTI_OBJECTIVE[problem]).kind


def _cost(job: Job | CurveJob) -> float:
    """A rough relative cost, so that the slowest runs start first and the pool ends together."""
    if isinstance(job, CurveJob):
        return 0.2 * job.trials
    optimizer, problem, evaluations, _, _ = job
    gp = ("optuna:gp", "kubetune:bayesian", "kubetune:bayesian-optuna-gp", "kubetune:auto")
    weight = 12.0 if optimizer == "skopt:gp" else 4.0 if optimizer in gp else 0.3
    if _kind(problem) == "model":
        weight += {"mlp-digits": 0.1, "mlp-digits-size": 0.1, "gbm-cancer": 0.05, "gbm-diabetes": 0.05}.get(
            problem, 0.03
        ) * evaluations
    return weight * evaluations


def _names(value: str) -> tuple[str, ...]:
    return tuple(name for name in value.split(",") if name)


def _plan(args: argparse.Namespace, gp: bool) -> Plan:
    plan = make_plan(args.quick, gp)
    if args.functions is not None:
        plan = _replace(plan, functions=_names(args.functions))
    if args.models is not None:
        plan = _replace(plan, models=_names(args.models))
    if getattr(args, "multi_objective", None) is not None:
        plan = _replace(plan, multi_objective=_names(args.multi_objective))
    if getattr(args, "early_stopping", None) is not None:
        plan = _replace(plan, early_stopping=_names(args.early_stopping))
    if args.seeds:
        plan = _replace(plan, seeds=args.seeds, model_seeds=min(plan.model_seeds, args.seeds))
    if args.evaluations:
        plan = _replace(plan, evaluations=args.evaluations)
    if not (plan.functions or plan.models):
        plan = _replace(plan, latency=())  # the latency is read next to the single-objective runs
    return plan


def _jobs(plan: Plan, aliases: dict[str, str | None]) -> list[Job | CurveJob]:
    """Every run, seed by seed (a run stopped early still has whole seeds), slowest first within a seed."""
    jobs: list[Job | CurveJob] = []
    for problem in (*plan.functions, *plan.models):
        seeds = plan.seeds if PROBLEMS[problem].kind == "function" else plan.model_seeds
        for seed in range(seeds):
            for optimizer in plan.sequential:
                if not (optimizer == "kubetune:auto" and aliases[problem]):
                    jobs.append((optimizer, problem, plan.evaluations, seed, 1))
            if PROBLEMS[problem].kind == "function":
                jobs += [(o, problem, plan.evaluations, seed, PENDING) for o in plan.parallel]
    for problem in plan.multi_objective:
        seeds = plan.seeds if MULTI_OBJECTIVE[problem].kind == "function" else plan.model_seeds
        for seed in range(seeds):
            for optimizer in plan.multi_objective_optimizers:
                if not (optimizer == "kubetune:auto" and aliases[problem]):
                    jobs.append((optimizer, problem, plan.evaluations, seed, 1))
    for problem in plan.early_stopping:
        for seed in range(plan.model_seeds):
            for sampler in plan.early_stopping_samplers:
                for rule in plan.early_stopping_rules:
                    jobs.append(CurveJob(rule, sampler, problem, seed, plan.evaluations))
    return sorted(jobs, key=lambda job: (_progress(plan, job), _seed(job), _problem(job), -_cost(job)))


def _seed(job: Job | CurveJob) -> int:
    return job.seed if isinstance(job, CurveJob) else job[3]


def _problem(job: Job | CurveJob) -> str:
    return job.problem if isinstance(job, CurveJob) else job[1]


def _progress(plan: Plan, job: Job | CurveJob) -> float:
    """How far through the plan a run comes: the share of its problem's seeds. A run stopped at 40%
    has 40% of every problem's seeds (12 of 30, 4 of 10), each seed whole."""
    seeds = plan.seeds if _kind(_problem(job)) == "function" else plan.model_seeds
    return (_seed(job) + 1) / seeds


Key = tuple[str, str, int, int]


def _key(job: Job | CurveJob | RunResult | CurveRun) -> Key:
    if isinstance(job, RunResult):
        return job.optimizer, job.problem, job.seed, job.pending
    if isinstance(job, CurveJob | CurveRun):
        return f"{job.rule}/{job.sampler}", job.problem, job.seed, job.trials
    return job[0], job[1], job[3], job[4]


def _done(path: Path, jobs: list[Job | CurveJob]) -> list[RunResult | CurveRun]:
    """Runs of these jobs already in ``path`` (runs.jsonl), from an earlier, stopped invocation."""
    wanted = {_key(job) for job in jobs}
    lengths = {_key(job): job[2] for job in jobs if not isinstance(job, CurveJob)}
    done: list[RunResult | CurveRun] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        result: RunResult | CurveRun = CurveRun(**record) if "rule" in record else RunResult(**record)
        key = _key(result)
        if key in wanted and (isinstance(result, CurveRun) or lengths[key] == len(result.values)):
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
    for names, known in ((problems, PROBLEMS), (plan.multi_objective, MULTI_OBJECTIVE), (plan.early_stopping, CURVES)):
        unknown = [p for p in names if p not in known]
        if unknown:
            print(f"kubetune bench: unknown problem {unknown[0]!r}; choose from {', '.join(known)}", file=sys.stderr)
            return 2
    aliases = {p: auto_alias(p, plan.evaluations) for p in (*problems, *plan.multi_objective)}
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
    agreement = {p: early_stopping.rung_agreement(p, plan.model_seeds) for p in plan.early_stopping}
    # Timed alone, after the runs: their load would inflate the suggestion times.
    latencies: dict[str, Any] = {}
    if plan.latency:
        print("latency, alone ...", flush=True)
        latencies = latency.measure([(a, n) for a, sizes in plan.latency for n in sizes], plan.repeats)
    load.append((round(time.perf_counter() - started), *os.getloadavg()))
    results_json = document(results, latencies, load, runs_seconds, started, complete=len(results) == len(jobs))
    for problem, rows in agreement.items():
        results_json["early_stopping"]["problems"][problem]["rung_agreement"] = rows
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
    results: list[RunResult | CurveRun],
    latencies: dict[str, Any],
    load: Sequence[tuple[float, ...]],
    runs_seconds: float,
    started: float,
    complete: bool,
) -> dict[str, Any]:
    """results.json: the plan, the conditions, every run, the latency; the bi-objective runs and
    the early-stopping runs in sections of their own."""
    problems = (*plan.functions, *plan.models)
    optimizers = tuple(dict.fromkeys((*plan.sequential, *plan.parallel)))
    single = [r for r in results if isinstance(r, RunResult) and r.problem in PROBLEMS]
    multi = [r for r in results if isinstance(r, RunResult) and r.problem in MULTI_OBJECTIVE]
    curves = [r for r in results if isinstance(r, CurveRun)]
    document = {
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
        "settings": settings(optimizers, PROBLEMS[problems[0]]) if problems else {},
        "aliases": {p: {"kubetune:auto": a} for p, a in aliases.items() if a and p in PROBLEMS},
        "runs": [asdict(r) for r in sorted(single, key=lambda r: (r.problem, r.optimizer, r.pending, r.seed))],
        "latency": latencies,
        "load": [{"seconds": t, "load1": a, "load5": b, "load15": c} for t, a, b, c in load],
        "runs_seconds": runs_seconds,
        "cpu_seconds": sum(r.cpu_seconds for r in results),
        "wall_seconds": time.perf_counter() - started,
    }
    if plan.multi_objective:
        document["multi_objective"] = {
            "evaluations": plan.evaluations,
            "problems": {
                p: {
                    "kind": MULTI_OBJECTIVE[p].kind,
                    "about": MULTI_OBJECTIVE[p].about,
                    "objectives": list(MULTI_OBJECTIVE[p].objectives),
                    "reference": list(MULTI_OBJECTIVE[p].reference),
                    "best_hypervolume": MULTI_OBJECTIVE[p].best_hypervolume,
                    "dims": [asdict(d) for d in MULTI_OBJECTIVE[p].dims],
                }
                for p in plan.multi_objective
            },
            "settings": settings(plan.multi_objective_optimizers, MULTI_OBJECTIVE[plan.multi_objective[0]]),
            "aliases": {p: {"kubetune:auto": a} for p, a in aliases.items() if a and p in MULTI_OBJECTIVE},
            "runs": [asdict(r) for r in sorted(multi, key=lambda r: (r.problem, r.optimizer, r.seed))],
        }
    if plan.early_stopping:
        document["early_stopping"] = {
            "trials": plan.evaluations,
            "problems": {p: {"about": CURVES[p].about, "epochs": CURVES[p].epochs} for p in plan.early_stopping},
            "settings": early_stopping.settings(),
            "runs": [asdict(r) for r in sorted(curves, key=lambda r: (r.problem, r.sampler, r.rule, r.seed))],
        }
    return document


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
