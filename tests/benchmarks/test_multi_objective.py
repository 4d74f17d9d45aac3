"""Two objectives: the hypervolume a run is read by, the runs' pairing, and the report's verdicts."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from benchmarks import analysis, optimizers, report, stats
from benchmarks.optimizers import DESIGN_SIZE, design
from benchmarks.problems import MULTI_OBJECTIVE, ZDT1_DIMENSIONS

from .test_report import _results as single_objective_results


def test_hypervolume_of_a_known_front_is_the_area_it_dominates_up_to_the_reference() -> None:
    # Two corners of the unit square dominate all of the 2 x 2 box but the unit square at (1, 1).
    assert stats.hypervolume([[1.0, 0.0], [0.0, 1.0]], [2.0, 2.0]) == pytest.approx(3.0)
    # A dominated point and a point beyond the reference add nothing.
    assert stats.hypervolume([[1.0, 0.0], [0.0, 1.0], [1.5, 1.5], [3.0, 0.0]], [2.0, 2.0]) == pytest.approx(3.0)
    assert stats.hypervolume([[5.0, 5.0]], [2.0, 2.0]) == 0.0


def test_points_on_zdt1s_true_front_approach_its_known_hypervolume_from_below() -> None:
    zdt1 = MULTI_OBJECTIVE["zdt1"]
    best = zdt1.best_hypervolume
    assert best is not None
    volumes = []
    for n in (5, 50, 500):
        f1 = np.linspace(0.0, 1.0, n)
        points = [zdt1.evaluate({"x0": x} | {f"x{i}": 0.0 for i in range(1, ZDT1_DIMENSIONS)}) for x in f1]
        volumes.append(stats.hypervolume(points, zdt1.reference))
    assert volumes[0] < volumes[1] < volumes[2] < best
    assert volumes[2] == pytest.approx(best, rel=1e-4)


def test_a_higher_hypervolume_is_better() -> None:
    higher = stats.paired_difference({s: 2.0 + 0.01 * s for s in range(10)}, {s: 1.0 for s in range(10)})
    assert stats.verdict(higher, higher_is_better=True) == "better"
    assert stats.verdict(higher) == "worse"


@pytest.mark.parametrize(
    "optimizer", ["kubetune:tpe", "kubetune:nsga2-pop10", "optuna:tpe", "optuna:nsga2-pop10", "random"]
)
def test_every_multi_objective_optimizer_starts_from_the_seeds_points_and_returns_both_losses(optimizer: str) -> None:
    result = optimizers.run(optimizer, "zdt1", DESIGN_SIZE + 3, 4, 1)
    zdt1 = MULTI_OBJECTIVE["zdt1"]
    assert len(result.values) == DESIGN_SIZE + 3
    assert all(len(v) == 2 for v in result.values)  # type: ignore[arg-type]
    assert result.values[:DESIGN_SIZE] == [list(zdt1.evaluate(p)) for p in design(zdt1, 4)]


def _section(shift: float, seeds: int = 10) -> dict[str, Any]:
    """kubetune:tpe's fronts are optuna:tpe's moved ``shift`` towards the origin, seed by seed."""
    rng = np.random.default_rng(0)
    runs = []
    for seed in range(seeds):
        theirs = rng.uniform(0.2, 1.0, size=(50, 2))
        ours = theirs - shift
        for optimizer, values in (("optuna:tpe", theirs), ("kubetune:tpe", ours), ("random", theirs + 0.1)):
            runs.append(
                {"optimizer": optimizer, "problem": "zdt1", "seed": seed, "pending": 1, "values": values.tolist()}
                | {"duplicates": 0, "seconds": 1.0, "cpu_seconds": 1.0}
            )
    return {
        "evaluations": 50,
        "problems": {
            "zdt1": {"about": "ZDT1", "objectives": ["f1", "f2"], "reference": [2.0, 2.0], "best_hypervolume": 3.9}
        },
        "settings": {"optuna:tpe": {"multivariate": True}},
        "aliases": {"zdt1": {"kubetune:auto": "kubetune:tpe"}},
        "runs": runs,
    }


@pytest.mark.parametrize(("shift", "expected"), [(0.05, "better"), (0.0, "tied"), (-0.05, "worse")])
def test_kubetune_is_compared_with_the_raw_sampler_it_runs_by_paired_hypervolume(shift: float, expected: str) -> None:
    found = analysis.analyze_multi_objective(_section(shift))
    rows = [r for r in found["verdicts"] if r["k"] == 50 and r["ours"] == "kubetune:tpe"]
    assert {r["theirs"] for r in rows} == {"optuna:tpe"}  # the best raw peer is its own family
    assert rows[0]["verdict"] == expected
    assert found["problems"]["zdt1"]["kubetune:auto"] == found["problems"]["zdt1"]["kubetune:tpe"]


def test_a_two_objective_run_is_merged_into_the_kept_results_with_its_own_conditions(tmp_path: Path) -> None:
    kept = tmp_path / "kept.json.gz"
    single = single_objective_results(0.5)
    kept.write_bytes(gzip.compress(json.dumps(single).encode()))
    new = tmp_path / "new.json"
    conditions = {
        "command": "kubetune bench search --functions '' --models ''",
        "note": "",
        "machine": {"cpus": 2, "platform": "test", "python": "3.11"},
        "versions": {"optuna": "5.0.0"},
        "workers": 2,
        "load": [{"seconds": 0, "load1": 1.0, "load5": 1.0, "load15": 1.0}],
        "runs_seconds": 60.0,
        "wall_seconds": 61.0,
    }
    new.write_text(json.dumps({**conditions, "runs": [], "multi_objective": _section(0.05)}), encoding="utf-8")
    docs = tmp_path / "benchmarks.md"
    assert report.main([str(kept), "--merge", str(new), "--docs", str(docs)]) == 0
    merged = json.loads(gzip.decompress(kept.read_bytes()))
    assert merged["runs"] == single["runs"] and merged["command"] == single["command"]  # the old run is kept
    assert merged["multi_objective"]["conditions"]["command"] == conditions["command"]
    text = docs.read_text(encoding="utf-8")
    assert "| branin | sequential | kubetune:tpe | optuna:tpe (best raw peer, same family) | better (" in text
    assert "| zdt1 | kubetune:tpe | optuna:tpe (best raw peer, same family) | better (" in text
    assert "Command: `kubetune bench search --functions '' --models ''`" in text
