"""Benchmark of ``kubetune run``'s own overhead: the gap between one trial ending and the next starting.

Trials are tiny processes that print one metric and exit, run one at a time, so the gap is all
kubetune's: noticing the exit, parsing, asking the algorithm, writing the state, starting a process.
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

from kubetune.api import HPOTask, parse_task
from kubetune.display import PlainReporter
from kubetune.executors.local import LocalExecutor
from kubetune.executors.state import StateDir

TARGET_SECONDS = 0.2


def _task(algorithm: str, trials: int) -> HPOTask:
    program = "import os; x = float(os.environ['KUBETUNE_PARAM_X']); print(f'loss={(x - 0.3) ** 2}')"
    return parse_task(
        {
            "apiVersion": "kubetune.io/v1alpha1",
            "kind": "HPOTask",
            "metadata": {"name": f"gap-{algorithm}"},
            "spec": {
                "objective": {"metric": "loss", "direction": "minimize"},
                "algorithm": {"name": algorithm, "seed": 1},
                "parameters": [
                    {"name": "x", "type": "double", "min": 0.0, "max": 1.0},
                    {"name": "y", "type": "double", "min": 0.0, "max": 1.0},
                ],
                "budget": {"maxTrials": trials, "parallelTrials": 1},
                "trialTemplate": {
                    "spec": {
                        "template": {
                            "spec": {"containers": [{"name": "t", "image": "-", "command": ["python", "-c", program]}]}
                        }
                    }
                },
            },
        }
    )


class _Quiet(PlainReporter):
    def __init__(self) -> None:
        super().__init__(open("/dev/null", "w"))  # noqa: SIM115 - lives as long as the benchmark


def measure_gaps(algorithm: str, trials: int) -> list[float]:
    """Seconds from each trial's exit to the next trial's start, for one local run."""
    task = _task(algorithm, trials)
    with tempfile.TemporaryDirectory() as tmp, StateDir(Path(tmp) / "state") as state:
        LocalExecutor(task, state, _Quiet(), workdir=Path(tmp)).run()
        done = sorted(state.load_trials(), key=lambda t: t.spec.index)
    gaps = []
    for before, after in itertools.pairwise(done):
        end = before.status.completion_time if before.status else None
        start = after.status.start_time if after.status else None
        if end is not None and start is not None:
            gaps.append((start - end).total_seconds())
    return gaps


def run(args: argparse.Namespace) -> int:
    """Measure and print the median gap per algorithm; write JSON."""
    trials = 12 if args.quick else args.gap_trials
    results: dict[str, Any] = {}
    print("\nGap between one local trial ending and the next starting (kubetune's own overhead):\n")
    print(f"| algorithm | trials | median gap (s) | p90 gap (s) | target < {TARGET_SECONDS} s |")
    print("|---|---|---|---|---|")
    for algorithm in args.gap_algorithms.split(","):
        gaps = measure_gaps(algorithm, trials)
        median = statistics.median(gaps)
        p90 = statistics.quantiles(gaps, n=10)[-1] if len(gaps) >= 2 else median
        results[algorithm] = {"trials": trials, "median_gap_s": median, "p90_gap_s": p90, "gaps_s": gaps}
        verdict = "yes" if median < TARGET_SECONDS else "no"
        print(f"| {algorithm} | {trials} | {median:.3f} | {p90:.3f} | {verdict} |", flush=True)
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    (out / "local-gap.json").write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    from . import main

    sys.exit(main(["local", *sys.argv[1:]]))
