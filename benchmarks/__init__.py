"""kubetune's benchmarks: the search algorithms against the raw libraries (one objective, two
objectives, early stopping), the local runner's overhead, and the operator at scale against the
API emulator of tests/kube/ (``kubetune bench operator``).

They live outside the ``kubetune`` package, as Optuna keeps its benchmarks outside ``optuna``:
what is installed (and what the operator image ships) is the operator. Run them from a source
checkout: ``make bench``, ``python -m benchmarks``, or ``kubetune bench``, which finds this folder
in the current directory.

The options are declared here, with no heavy import, so that ``--help`` stays fast.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from collections.abc import Sequence

from .problems import CURVES, FUNCTIONS, MODELS, MULTI_OBJECTIVE


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``kubetune bench``."""
    # "operator" is not part of "all": it runs the operator as a process for minutes, and only
    # in a checkout (its emulator is the tests').
    parser.add_argument("part", nargs="?", choices=["all", "search", "local", "operator"], default="all")
    parser.add_argument("--quick", action="store_true", help="fewer problems, seeds and evaluations: a few minutes")
    parser.add_argument("--output", default="bench-results", help="directory for the JSON and markdown results")
    parser.add_argument("--seeds", type=int, help="seeds per test function (default: 30; 10 with --quick)")
    parser.add_argument("--evaluations", type=int, help="evaluations per run (default: 50; 25 with --quick)")
    parser.add_argument("--functions", help="comma-separated test functions: " + ", ".join(FUNCTIONS))
    parser.add_argument("--models", help="comma-separated real models: " + ", ".join(MODELS) + " ('' for none)")
    parser.add_argument(
        "--multi-objective",
        help="comma-separated bi-objective problems: " + ", ".join(MULTI_OBJECTIVE) + " ('' for none)",
    )
    parser.add_argument(
        "--early-stopping", help="comma-separated learning curves for the early-stopping rules: " + ", ".join(CURVES)
    )
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="processes (default: CPU count)")
    parser.add_argument("--note", default="", help="a sentence on the run's conditions, kept in results.json")
    parser.add_argument("--resume", action="store_true", help="continue a stopped run in --output (its runs.jsonl)")
    parser.add_argument(
        "--finish", action="store_true", help="end a stopped run in --output: no more runs; latency, results"
    )
    parser.add_argument("--gap-trials", type=int, default=30, help="local gap: trials per algorithm (default 30)")
    parser.add_argument("--gap-algorithms", default="random,tpe,bayesian", help="local gap: comma-separated")
    parser.add_argument("--trials", type=int, help="operator: trials per task (default: the two issue scenarios)")
    parser.add_argument("--parallel", type=int, help="operator: parallelTrials of each task")
    parser.add_argument("--tasks", type=int, help="operator: tasks at once (default 1)")
    parser.add_argument("--trial-seconds", type=float, default=10.0, help="operator: mean length of a trial (10)")
    parser.add_argument(
        "--trial-spread", type=float, default=0.5, help="operator: trials last trial-seconds times 1 ± this (0.5)"
    )
    parser.add_argument("--hostile", action="store_true", help="operator: trials flood their logs; peak memory")
    parser.add_argument("--keep-log", action="store_true", help="operator: keep the operator's log in --output")
    parser.add_argument(
        "--real-api-server",
        action="store_true",
        help="operator: against a real kube-apiserver with a fake node (tests/realcluster), not the emulator",
    )


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m benchmarks`` and ``kubetune bench``."""
    parser = argparse.ArgumentParser(prog="kubetune bench", description=__doc__)
    add_arguments(parser)
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    args.command = shlex.join(["kubetune", "bench", *argv])
    if args.part == "operator":
        from . import operator  # noqa: PLC0415

        return operator.run(args)
    from . import local, search  # noqa: PLC0415 -- the benchmarks' heavy imports, once the options are valid

    code = 0
    if args.part in ("all", "search"):
        code |= search.run(args)
    if args.part in ("all", "local"):
        code |= local.run(args)
    return code
