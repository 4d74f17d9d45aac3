"""Ablations of kubetune's bayesian (skopt backend): the benchmark's runs with one internal choice changed.

``python -m benchmarks.ablation run`` runs named variants of ``kubetune:bayesian`` on the search
benchmark's test functions, with its paired starting points and first-in-first-out harness, and
appends every run to a JSON-lines file; ``python -m benchmarks.ablation compare`` reads such files
(and optionally a full run's ``results.json``, for the raw peers) and prints each variant's mean
score and its paired differences against references. This is how docs/search.md's choices for
the skopt backend were measured; the verdicts use the same bootstrap as the report.

A variant sets module-level choices of ``kubetune.search.bayesian`` (the pending strategy, the
acquisition effort, the noise model) in the worker process before it runs, and may give the
algorithm settings a task would give.
"""

from __future__ import annotations

import argparse
import dataclasses
import gzip
import json
import multiprocessing
import sys
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from . import stats
from .optimizers import VARIANTS, RunResult
from .optimizers import run as run_one
from .problems import PROBLEMS

ABLATIONS: dict[str, dict[str, Any]] = {
    "cl_min": {"PENDING_STRATEGY": "cl_min"},
    "cl_mean": {"PENDING_STRATEGY": "cl_mean"},
    "cl_max": {"PENDING_STRATEGY": "cl_max"},
    "believer": {"PENDING_STRATEGY": "believer"},
    "believer-ei": {"PENDING_STRATEGY": "believer", "settings": {"acquisitionFunction": "EI"}},
    "believer-effort": {
        "PENDING_STRATEGY": "believer",
        "ACQ_OPTIMIZER": {"n_points": 10000, "n_restarts_optimizer": 5},
        "GP_RESTARTS": 2,
    },
    "believer-noise": {"PENDING_STRATEGY": "believer", "NOISE": 1e-6},
    "believer-reduced": {
        "PENDING_STRATEGY": "believer",
        "ACQ_OPTIMIZER": {"n_points": 2000, "n_restarts_optimizer": 2},
        "GP_RESTARTS": 1,
    },
    "believer-effort-noise": {
        "PENDING_STRATEGY": "believer",
        "ACQ_OPTIMIZER": {"n_points": 10000, "n_restarts_optimizer": 5},
        "GP_RESTARTS": 2,
        "NOISE": 1e-6,
    },
    "believer-ei-xi0": {
        "PENDING_STRATEGY": "believer",
        "ACQ_FUNC_KWARGS": {"xi": 1e-9},
        "settings": {"acquisitionFunction": "EI"},
    },
}
"""Variant name -> module attributes of kubetune.search.bayesian to set (``settings``: the task's)."""


_DEFAULTS: dict[str, Any] = {}
"""The module's own values of every attribute a variant sets, read once per worker process: a
worker runs several variants in turn, and each starts from these."""


def _apply(variant: str) -> str:
    """Set the variant's choices in this process (the others at the module's own values); the
    optimizer name to run."""
    from kubetune.search import bayesian  # noqa: PLC0415

    names = {name for spec in ABLATIONS.values() for name in spec if name != "settings"}
    if not _DEFAULTS:
        _DEFAULTS.update({name: getattr(bayesian, name) for name in names})
    spec = dict(ABLATIONS[variant])
    settings = spec.pop("settings", {})
    for name, value in {**_DEFAULTS, **spec}.items():
        setattr(bayesian, name, value)
    VARIANTS[f"ablation-{variant}"] = {"name": "bayesian", "settings": settings}
    return f"kubetune:ablation-{variant}"


def _job(job: tuple[str, str, int, int, int]) -> dict[str, Any]:
    variant, problem, evaluations, seed, pending = job
    result = run_one(_apply(variant), problem, evaluations, seed, pending)
    return {**dataclasses.asdict(result), "optimizer": f"ablation:{variant}"}


def run(args: argparse.Namespace) -> int:
    """Run every (variant, function, seed, mode) not yet in the output file."""
    out = Path(args.output)
    done = set()
    if out.exists():
        for line in out.read_text(encoding="utf-8").splitlines():
            r = json.loads(line)
            done.add((r["optimizer"], r["problem"], r["seed"], r["pending"], len(r["values"])))
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    jobs = [
        (v, f, args.evaluations, s, p)
        for s in seeds
        for f in args.functions.split(",")
        for v in args.variants.split(",")
        for p in (int(m) for m in args.pending.split(","))
        if (f"ablation:{v}", f, s, p, args.evaluations) not in done
    ]
    with multiprocessing.get_context("spawn").Pool(args.workers) as pool, out.open("a", encoding="utf-8") as file:
        for i, record in enumerate(pool.imap_unordered(_job, jobs), 1):
            file.write(json.dumps(record) + "\n")
            file.flush()
            print(f"{i}/{len(jobs)} {record['optimizer']} {record['problem']} seed {record['seed']}", file=sys.stderr)
    return 0


def _load(paths: Sequence[str]) -> list[RunResult]:
    """Runs from this module's JSON-lines files (plain or gzipped) and from full runs' results.json(.gz)."""
    runs: list[RunResult] = []
    for path in paths:
        opener = gzip.open if path.endswith(".gz") else open
        with opener(path, "rt", encoding="utf-8") as file:
            text = file.read()
        if ".jsonl" in path:
            runs += [RunResult(**json.loads(line)) for line in text.splitlines()]
        else:
            runs += [RunResult(**r) for r in json.loads(text)["runs"]]
    return runs


def compare(args: argparse.Namespace) -> int:
    """Print mean scores and paired differences (ours - reference, lower is better)."""
    runs = _load(args.inputs)
    scores: dict[tuple[str, str, int, int], dict[int, float]] = defaultdict(dict)
    for r in runs:
        if r.problem not in PROBLEMS or len(r.values) < args.at:
            continue
        p = PROBLEMS[r.problem]
        assert isinstance(r.values[0], float)
        for k in (args.at, args.at - 3):
            scores[(r.optimizer, r.problem, r.pending, k)][r.seed] = stats.score(r.values, k, p.kind, p.optimum)
    references = args.against.split(",")
    for problem in args.functions.split(","):
        print(f"## {problem} @{args.at}")
        for (optimizer, prob, pending, k), by_seed in sorted(scores.items()):
            if prob != problem or k != args.at or not optimizer.startswith(args.show):
                continue
            mean = stats.bootstrap_mean(list(by_seed.values()))
            cells = [f"{optimizer} p{pending}: {mean.mean:.3g} [{mean.low:.3g}, {mean.high:.3g}] n={mean.n}"]
            for ref in references:
                name, _, mode = ref.partition("@")
                if name == "self-seq":  # the same optimizer sequential, with the same model updates
                    same = args.at - 3 if pending > 1 else args.at
                    theirs = scores.get((optimizer, problem, 1, same)) or scores.get(
                        (args.sequential, problem, 1, same), {}
                    )
                else:
                    theirs = scores.get((name, problem, int(mode or pending), args.at), {})
                d = stats.paired_difference(by_seed, theirs)
                cells.append(f"vs {ref}: {stats.verdict(d)} {d.mean:.2g} [{d.low:.2g}, {d.high:.2g}] n={d.n}")
            print("  " + " | ".join(cells))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m benchmarks.ablation run|compare``."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.ablation", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run")
    r.add_argument("--variants", required=True, help="comma-separated: " + ", ".join(ABLATIONS))
    r.add_argument("--functions", default="branin,hartmann6,mixed")
    r.add_argument("--seeds", type=int, default=30)
    r.add_argument("--first-seed", type=int, default=0)
    r.add_argument("--evaluations", type=int, default=50)
    r.add_argument("--pending", default="1,4", help="comma-separated pending counts (1: sequential)")
    r.add_argument("--workers", type=int, default=2)
    r.add_argument("--output", required=True, help="JSON-lines file, appended to")
    c = sub.add_parser("compare")
    c.add_argument("inputs", nargs="+", help="JSON-lines files of this module, or a results.json(.gz)")
    c.add_argument("--functions", default="branin,hartmann6,mixed")
    c.add_argument("--at", type=int, default=50, help="evaluations")
    c.add_argument("--show", default="ablation:", help="prefix of the optimizers to list")
    c.add_argument(
        "--sequential", default="kubetune:bayesian", help="self-seq of a variant run only with pending trials"
    )
    c.add_argument("--against", default="optuna:gp,self-seq", help="references: NAME[@PENDING] or self-seq")
    args = parser.parse_args(argv)
    return run(args) if args.command == "run" else compare(args)


if __name__ == "__main__":
    sys.exit(main())
