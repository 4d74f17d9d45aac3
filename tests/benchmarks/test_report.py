"""From a synthetic results.json to verdicts, results.md and the README block."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from benchmarks import analysis, report
from benchmarks.problems import PROBLEMS


def _results(shift: float, seeds: int = 30) -> dict[str, Any]:
    """kubetune:tpe reaches ``shift`` decades lower regret than optuna:tpe on branin, seed by seed."""
    rng = np.random.default_rng(0)
    optimum = PROBLEMS["branin"].optimum
    runs = []
    for seed in range(seeds):
        luck = 10 ** rng.uniform(-3, 0)
        curve = [optimum + luck * 10 ** (-i / 10) for i in range(50)]
        ours = [optimum + (v - optimum) * 10**-shift for v in curve]
        for optimizer, values, pending in (
            ("optuna:tpe", curve, 1),
            ("kubetune:tpe", ours, 1),
            ("kubetune:bayesian", curve, 1),
            ("kubetune:tpe", ours, 4),
            ("optuna:tpe", curve, 4),
        ):
            runs.append(
                {"optimizer": optimizer, "problem": "branin", "seed": seed, "pending": pending, "values": values}
                | {"duplicates": 0, "seconds": 1.0}
            )
    return {
        "command": "kubetune bench --test",
        "note": "",
        "quick": False,
        "machine": {"cpus": 2, "platform": "test", "python": "3.11"},
        "versions": {"optuna": "x"},
        "workers": 2,
        "plan": {"functions": ["branin"], "models": [], "evaluations": 50, "seeds": seeds, "model_seeds": 0},
        "design_size": 10,
        "pending": 4,
        "problems": {"branin": {"kind": "function", "about": "Branin", "optimum": optimum, "basin": 0.01}},
        "settings": {"optuna:tpe": {"multivariate": True}},
        "aliases": {"branin": {"kubetune:auto": "kubetune:bayesian"}},
        "runs": runs,
        "latency": {"kubetune:tpe@500": {"median": 0.012, "times": [0.012] * 5}}
        | {"optuna:tpe@500": {"median": 0.010, "times": [0.01] * 5}},
        "load": [{"seconds": 0, "load1": 3.0, "load5": 2.0, "load15": 1.0}],
        "runs_seconds": 60.0,
        "wall_seconds": 70.0,
    }


def _verdict(found: dict[str, Any], k: int, ours: str, theirs: str, mode: str = "sequential") -> str:
    rows = [r for r in found["verdicts"] if (r["k"], r["ours"], r["theirs"], r["mode"]) == (k, ours, theirs, mode)]
    assert len(rows) == 1, rows
    return str(rows[0]["verdict"])


@pytest.mark.parametrize(("shift", "expected"), [(0.5, "better"), (0.0, "tied"), (-0.5, "worse")])
def test_verdicts_follow_the_paired_difference(shift: float, expected: str) -> None:
    found = analysis.analyze(_results(shift))
    assert _verdict(found, 50, "kubetune:tpe", "optuna:tpe") == expected
    assert _verdict(found, 50, "kubetune:tpe", "optuna:tpe", "parallel4") == expected
    assert _verdict(found, 10, "kubetune:bayesian", "optuna:tpe") == "tied"


def test_auto_is_read_from_the_runs_of_the_algorithm_it_delegates_to() -> None:
    found = analysis.analyze(_results(0.5))
    summary = found["problems"]["branin"]["sequential"]
    assert summary["kubetune:auto"] == summary["kubetune:bayesian"]
    assert _verdict(found, 50, "kubetune:auto", "optuna:tpe") == "tied"


def test_parallel_runs_are_compared_with_sequential_ones_at_the_same_model_updates() -> None:
    found = analysis.analyze(_results(0.0))
    # Same curves in both modes: the parallel run at 50 equals nothing less than the sequential at 47.
    rows = [r for r in found["verdicts"] if r["relation"] == "sequential, same model updates" and r["k"] == 50]
    assert {r["theirs"] for r in rows} == {"kubetune:tpe@47", "optuna:tpe@47"}
    assert all(r["verdict"] == "better" for r in rows)  # the synthetic curves keep improving


def test_summaries_hold_means_intervals_medians_and_basin_fractions() -> None:
    cell = analysis.analyze(_results(0.5))["problems"]["branin"]["sequential"]["kubetune:tpe"]["50"]
    assert cell["low"] <= cell["mean"] <= cell["high"] and cell["runs"] == 30
    assert 0.0 <= cell["basin"] <= 1.0


def test_results_md_and_the_readme_block_are_generated_from_the_results(tmp_path: Path) -> None:
    results = _results(0.5)
    text = report.render(results)
    assert "| branin | sequential | kubetune:tpe | optuna:tpe (best raw peer, same family) | better (" in text
    assert "kubetune:tpe / optuna:tpe at n=500: 1.20" in text
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{report.README_START}\nold figures\n{report.README_END}\nrest\n", encoding="utf-8")
    results_file = tmp_path / "results.json"
    results_file.write_text(__import__("json").dumps(results), encoding="utf-8")
    docs = tmp_path / "benchmarks.md"
    assert report.main([str(results_file), "--docs", str(docs), "--readme", str(readme)]) == 0
    updated = readme.read_text(encoding="utf-8")
    assert "old figures" not in updated and updated.startswith("intro\n") and updated.endswith("rest\n")
    assert "kubetune:tpe | optuna:tpe (best raw peer, same family) | better" in updated
    assert "do not edit" in docs.read_text(encoding="utf-8")
    kept = tmp_path / "results.json.gz"  # how a run is kept in docs/
    kept.write_bytes(gzip.compress(results_file.read_bytes()))
    again = tmp_path / "again.md"
    assert report.main([str(kept), "--docs", str(again)]) == 0
    assert again.read_text(encoding="utf-8") == docs.read_text(encoding="utf-8")


def test_the_operators_figures_beside_the_generated_file_are_kept_in_it(tmp_path: Path) -> None:
    results_file = tmp_path / "results.json"
    results_file.write_text(__import__("json").dumps(_results(0.5)), encoding="utf-8")
    docs = tmp_path / "benchmarks.md"
    assert report.main([str(results_file), "--docs", str(docs)]) == 0
    assert "bench operator" not in docs.read_text(encoding="utf-8")
    (tmp_path / report.OPERATOR_FIGURES).write_text(
        "# The operator at scale\n\n| gap p50 | 0.09 s |\n", encoding="utf-8"
    )
    assert report.main([str(results_file), "--docs", str(docs)]) == 0
    text = docs.read_text(encoding="utf-8")
    assert text.endswith("# The operator at scale\n\n| gap p50 | 0.09 s |\n")
    assert f"copied from {report.OPERATOR_FIGURES}" in text
