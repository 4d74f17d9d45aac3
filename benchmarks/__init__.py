"""Benchmarks that ``kubetune bench`` runs: the search algorithms, and the local runner's overhead.

The options are declared here, with no heavy import, so that building the CLI stays fast.
"""

from __future__ import annotations

import argparse
import os

FUNCTIONS = ("branin", "hartmann6", "rosenbrock4", "ackley5", "mixed")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``kubetune bench``."""
    parser.add_argument("--quick", action="store_true", help="fewer functions and evaluations: under a few minutes")
    parser.add_argument("--output", default="bench-results", help="directory for the JSON and markdown results")
    parser.add_argument("--seeds", type=int, help="seeds per function and optimizer (default 10)")
    parser.add_argument("--functions", help="comma-separated subset of: " + ", ".join(FUNCTIONS))
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="processes (default: CPU count)")
    parser.add_argument("--gap-trials", type=int, default=30, help="local gap: trials per algorithm (default 30)")
    parser.add_argument("--gap-algorithms", default="random,tpe,bayesian", help="local gap: comma-separated")
