"""Intervals and verdicts on synthetic scores: the rules results.md states."""

from __future__ import annotations

import math

import numpy as np

from benchmarks import stats


def test_a_verdict_is_better_or_worse_only_when_the_interval_excludes_zero() -> None:
    rng = np.random.default_rng(0)
    theirs = {s: float(v) for s, v in enumerate(rng.normal(0, 1, 30))}
    lower = {s: v - 1.0 + float(rng.normal(0, 0.1)) for s, v in theirs.items()}
    same = {s: v + float(rng.normal(0, 0.1)) for s, v in theirs.items()}
    assert stats.verdict(stats.paired_difference(lower, theirs)) == "better"
    assert stats.verdict(stats.paired_difference(theirs, lower)) == "worse"
    difference = stats.paired_difference(same, theirs)
    assert difference.low < 0 < difference.high
    assert stats.verdict(difference) == "tied"


def test_pairing_finds_a_small_consistent_gain_that_seed_to_seed_spread_hides() -> None:
    rng = np.random.default_rng(1)
    luck = rng.normal(0, 2, 30)  # the starting points matter more than the optimizer
    theirs = {s: float(v) for s, v in enumerate(luck)}
    ours = {s: float(v) - 0.3 for s, v in enumerate(luck)}
    unpaired_ours, unpaired_theirs = stats.bootstrap_mean(list(ours.values())), stats.bootstrap_mean(list(luck))
    assert unpaired_ours.high > unpaired_theirs.low  # the two intervals overlap ...
    assert stats.verdict(stats.paired_difference(ours, theirs)) == "better"  # ... the paired one does not


def test_only_seeds_both_optimizers_ran_are_compared() -> None:
    difference = stats.paired_difference({0: 1.0, 1: 2.0, 2: 3.0}, {1: 1.0, 2: 2.0, 3: 9.0})
    assert difference.n == 2 and difference.mean == 1.0


def test_the_interval_holds_the_mean_and_shrinks_with_more_seeds() -> None:
    rng = np.random.default_rng(2)
    few, many = stats.bootstrap_mean(list(rng.normal(0, 1, 10))), stats.bootstrap_mean(list(rng.normal(0, 1, 200)))
    assert few.low <= few.mean <= few.high and many.low <= many.mean <= many.high
    assert many.high - many.low < few.high - few.low


def test_identical_and_single_values_give_a_point_or_no_interval() -> None:
    same = stats.bootstrap_mean([0.5] * 30)
    assert (same.low, same.high) == (0.5, 0.5) and stats.verdict(stats.paired_difference({0: 1.0}, {0: 1.0})) == "tied"
    one = stats.bootstrap_mean([1.0])
    assert math.isnan(one.low) and stats.verdict(one) == "tied"


def test_scores_are_log10_regret_for_functions_and_error_for_models() -> None:
    assert stats.score([5.0, 2.0, 3.0], 2, "function", 1.0) == 0.0
    assert stats.score([5.0, 1.0], 2, "function", 1.0) == math.log10(stats.REGRET_FLOOR)
    assert stats.score([0.2, 0.1, 0.05], 2, "model", 0.0) == 0.1
    assert stats.best_peer({"optuna:tpe": -1.0, "optuna:gp": -2.0, "random": 0.0}) == "optuna:gp"


def test_too_few_seeds_give_no_verdict_however_consistent() -> None:
    few = stats.paired_difference({s: 0.0 for s in range(4)}, {s: 1.0 for s in range(4)})
    enough = stats.paired_difference({s: float(s % 2) for s in range(5)}, {s: 2.0 + s % 2 for s in range(5)})
    assert (few.low, few.high) == (-1.0, -1.0) and stats.verdict(few) == "tied"
    assert stats.verdict(enough) == "better"


def test_a_bound_that_is_zero_but_for_rounding_gives_no_verdict() -> None:
    # Nine seeds end equal (0.1 + 0.2 is 0.30000000000000004 in floating point), one a row apart.
    ours = {s: 0.1 + 0.2 + (1 / 540 if s == 9 else 0.0) for s in range(10)}
    theirs = {s: 0.3 for s in range(10)}
    difference = stats.paired_difference(ours, theirs)
    assert 0 < difference.low < 1e-15
    assert stats.verdict(difference) == "tied"
