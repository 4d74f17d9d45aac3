"""Early stopping on a learning curve: what each rule trains, stops and counts, and how runs are read."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import pytest

from benchmarks import analysis, early_stopping, report
from benchmarks.optimizers import design
from benchmarks.problems import CURVES, Assignment, CurveProblem, Dim

EPOCHS = 27


def _toy(curve: Callable[[float, int], float]) -> CurveProblem:
    """A learning curve of one parameter x: ``curve(x, epoch)`` after each epoch."""

    def errors(params: Assignment, epochs: int) -> tuple[float, ...]:
        return tuple(curve(float(params["x"]), epoch) for epoch in range(1, epochs + 1))

    return CurveProblem("toy", (Dim("x", 0.0, 1.0),), errors, EPOCHS, "a toy curve")


@pytest.fixture
def smaller_x_is_better(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setitem(CURVES, "toy", _toy(lambda x, epoch: x + 1 / epoch))
    return "toy"


def test_without_early_stopping_every_trial_trains_every_epoch(smaller_x_is_better: str) -> None:
    run = early_stopping.run("none", "random", smaller_x_is_better, 0, 12)
    assert run.epochs == [EPOCHS] * 12 and not any(run.stopped)
    starts = design(CURVES[smaller_x_is_better], 0)  # the paired starting points, trained to the end
    assert run.values[: len(starts)] == [float(p["x"]) + 1 / EPOCHS for p in starts]


def test_asha_stops_trials_at_its_rungs_and_counts_the_epochs_they_trained(smaller_x_is_better: str) -> None:
    run = early_stopping.run("asha", "random", smaller_x_is_better, 0, 12)
    stopped = [e for e, s in zip(run.epochs, run.stopped, strict=True) if s]
    completed = [e for e, s in zip(run.epochs, run.stopped, strict=True) if not s]
    assert stopped and set(stopped) <= {3, 9}  # the defaults: minResource 27 // 3**2, reductionFactor 3
    assert set(completed) == {EPOCHS} and not run.stopped[0]  # the first trial has no one to lose to
    # Trials go on until the epochs of 12 full trainings are spent, and not one trial more.
    assert sum(run.epochs) >= 12 * EPOCHS > sum(run.epochs[:-1])
    reading = analysis._curve_reading(dataclasses.asdict(run), EPOCHS)
    assert reading["epochs"] == sum(run.epochs[:12]) and reading["stopped"] == sum(run.stopped[:12])


def test_asha_from_the_first_epoch_stops_trials_there(smaller_x_is_better: str) -> None:
    run = early_stopping.run("asha-min1", "random", smaller_x_is_better, 0, 12)
    assert min(run.epochs) == 1 and set(run.epochs) <= {1, 3, 9, EPOCHS}


def test_a_trial_is_not_stopped_after_its_last_epoch(monkeypatch: pytest.MonkeyPatch) -> None:
    # Every trial has the same curve up to the last epoch (ties go on), which ranks them; a rule
    # judging there (27 is a rung of minResource 1, reductionFactor 3) would stop all but the best.
    monkeypatch.setitem(CURVES, "toy", _toy(lambda x, epoch: 1 / epoch + (x if epoch == EPOCHS else 0.0)))
    run = early_stopping.run("asha-min1", "random", "toy", 0, 8)
    assert not any(run.stopped[:8]) and run.epochs[:8] == [EPOCHS] * 8


def test_early_errors_that_rank_as_the_final_ones_agree_fully(smaller_x_is_better: str) -> None:
    rows = early_stopping.rung_agreement(smaller_x_is_better, 2)
    assert [r["epoch"] for r in rows] == [1, 3, 9]
    assert all(r["spearman"] == pytest.approx(1.0) and r["best_tenth_kept"] == 1.0 for r in rows)
    assert rows[0]["configurations"] == 20  # the paired starting points of 2 seeds


def test_the_median_rule_waits_for_three_completed_trials(smaller_x_is_better: str) -> None:
    run = early_stopping.run("median", "random", smaller_x_is_better, 1, 12)
    assert not any(run.stopped[:3]) and any(run.stopped)


def _record(rule: str, epochs: list[int], values: list[float], stopped: list[bool], seed: int = 0) -> dict[str, Any]:
    """A run as results.json keeps it, of 2 trials of 3 epochs."""
    return {"rule": rule, "sampler": "random", "problem": "toy", "seed": seed, "trials": 2} | {
        "epochs": epochs,
        "values": values,
        "stopped": stopped,
        "seconds": 1.0,
        "cpu_seconds": 1.0,
    }


def test_a_run_is_read_at_equal_trial_count_and_at_equal_training_time() -> None:
    run = _record("asha", [3, 1, 1, 3, 1], [0.5, 0.9, 0.8, 0.4, 0.7], [False, True, True, False, True])
    reading = analysis._curve_reading(run, 3)
    # The first 2 trials: 4 epochs, one stopped, the best succeeded one 0.5.
    assert (reading["epochs"], reading["stopped"], reading["best"]) == (4.0, 1.0, 0.5)
    # 2 trials without early stopping cost 6 epochs: 3 trials fit (3 + 1 + 1); the fourth (0.4) does not.
    assert (reading["trials_at_budget"], reading["best_at_budget"]) == (3.0, 0.5)


def test_the_training_saved_is_read_seed_by_seed_against_no_early_stopping() -> None:
    runs = []
    for seed in range(6):
        runs.append(_record("none", [3, 3], [0.5, 0.6], [False, False], seed))
        runs.append(_record("asha", [3, 1, 1, 1], [0.5, 0.9, 0.8, 0.7], [False, True, True, True], seed))
    section = {
        "trials": 2,
        "problems": {"toy": {"about": "a toy curve", "epochs": 3}},
        "settings": {"rules": {"none": "no early stopping", "asha": {"rule": "asha"}}},
        "runs": runs,
    }
    found = analysis.analyze_early_stopping(section)
    (comparison,) = found["problems"]["toy"]["random"]["comparisons"]
    assert comparison["against"] == "none"
    assert comparison["saved"]["mean"] == pytest.approx(1 - 4 / 6)
    assert comparison["best"]["verdict"] == "tied" and comparison["best"]["mean"] == 0.0
    text = "\n".join(report.render_early_stopping({"early_stopping": section}))
    assert "| random | asha | none | 33% [33, 33] | tied (0 [0, 0]) | tied (0 [0, 0]) |" in text
