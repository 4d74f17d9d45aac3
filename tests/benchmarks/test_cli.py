"""`kubetune bench` runs the benchmarks of a checkout, and says in one line where they are elsewhere."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

KUBETUNE = str(Path(sys.executable).with_name("kubetune"))
ROOT = Path(__file__).resolve().parents[2]


def test_outside_a_checkout_kubetune_bench_says_where_the_benchmarks_are(tmp_path: Path) -> None:
    done = subprocess.run([KUBETUNE, "bench", "--quick"], cwd=tmp_path, capture_output=True, text=True, check=False)
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1 and "clone of the kubetune repository" in done.stderr


def test_in_a_checkout_kubetune_bench_is_the_benchmarks_command() -> None:
    done = subprocess.run([KUBETUNE, "bench", "--help"], cwd=ROOT, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: kubetune bench") and "--quick" in done.stdout
