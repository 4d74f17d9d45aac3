"""How runs become figures and verdicts: per-run scores, bootstrap intervals, paired comparisons.

A run's *score* at ``k`` evaluations is what the best of its first ``k`` values says: the log10
of the simple regret on a test function (regrets span many decades, and a mean of raw regrets is
the mean of a few outliers), the validation error itself on a real model. Lower is better.

Optimizers are compared *per seed*: every optimizer starts a seed's run from the same points
(see ``optimizers.design``), so the difference of two optimizers' scores on one seed is free of
the luck of the starting points. A verdict is read from the bootstrap 95% interval of the mean
paired difference: "better" when the whole interval is below 0, "worse" when it is above 0,
"tied" otherwise. A ratio of medians is never used: outcomes are often bimodal (a run finds the
global basin or it does not), and medians of such samples jump between the modes.

With several objectives, a run's score is the hypervolume of its first ``k`` evaluations (higher
is better), computed exactly by Optuna from a fixed reference point per problem.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy.stats import bootstrap

REGRET_FLOOR = 1e-12
"""Regrets below this count as this (log10 of an exact hit would be -inf)."""

CONFIDENCE = 0.95
RESAMPLES = 4000

Verdict = Literal["better", "tied", "worse"]


@dataclass(frozen=True)
class Interval:
    """A mean and its bootstrap 95% interval (NaN bounds with fewer than two values)."""

    mean: float
    low: float
    high: float
    n: int


def score(values: Sequence[float], k: int, kind: str, optimum: float) -> float:
    """A run's score after ``k`` evaluations: log10 regret (functions) or best error (models)."""
    best = min(values[:k])
    if kind == "model":
        return best
    return math.log10(max(best - optimum, REGRET_FLOOR))


def bootstrap_mean(values: Sequence[float], seed: int = 0) -> Interval:
    """The mean of ``values`` and a percentile bootstrap interval (scipy.stats.bootstrap)."""
    data = np.asarray(values, dtype=float)
    if len(data) == 0:
        return Interval(math.nan, math.nan, math.nan, 0)
    mean = float(data.mean())
    if len(data) < 2:
        return Interval(mean, math.nan, math.nan, 1)
    if np.all(data == data[0]):  # every resample has the same mean; scipy warns on such data
        return Interval(mean, mean, mean, len(data))
    result = bootstrap(
        (data,),
        np.mean,
        confidence_level=CONFIDENCE,
        n_resamples=RESAMPLES,
        method="percentile",
        rng=np.random.default_rng(seed),
    )
    ci = result.confidence_interval
    return Interval(mean, float(ci.low), float(ci.high), len(data))


def paired_difference(ours: Mapping[int, float], theirs: Mapping[int, float], seed: int = 0) -> Interval:
    """Mean of ``ours[s] - theirs[s]`` over the seeds both have, with its bootstrap interval."""
    common = sorted(set(ours) & set(theirs))
    return bootstrap_mean([ours[s] - theirs[s] for s in common], seed)


MIN_SEEDS = 5
"""Fewer paired seeds than this give "tied" whatever the interval: a bootstrap of 3 values can
give a point interval (three seeds one validation sample apart), which is no evidence."""


ROUNDING = 1e-12
"""Interval bounds this close to 0 count as 0: a difference of two validation errors (multiples of
one row's share) that is exactly 0 comes out of floating-point sums as about 1e-17."""


def verdict(difference: Interval, higher_is_better: bool = False) -> Verdict:
    """better / tied / worse, from the interval of a paired difference (lower scores are better,
    unless ``higher_is_better``: a hypervolume)."""
    if difference.n < MIN_SEEDS:
        return "tied"
    below: Verdict = "worse" if higher_is_better else "better"
    above: Verdict = "better" if higher_is_better else "worse"
    if difference.high < -ROUNDING:
        return below
    if difference.low > ROUNDING:
        return above
    return "tied"  # includes NaN bounds: too few seeds to tell


def hypervolume(losses: Sequence[Sequence[float]], reference: Sequence[float]) -> float:
    """The hypervolume the points dominate up to ``reference`` (all objectives minimized); a point
    beyond the reference on some objective adds nothing."""
    # Optuna's exact computation (WFG; a sweep for two objectives), the one its samplers and
    # plot_hypervolume_history use: not public API, so it is imported here only.
    from optuna._hypervolume import compute_hypervolume  # noqa: PLC0415

    ref = np.asarray(reference, dtype=float)
    points = np.asarray(losses, dtype=float).reshape(-1, len(ref))
    inside = points[np.all(points <= ref, axis=1)]
    if len(inside) == 0:
        return 0.0
    return float(compute_hypervolume(inside, ref))


def fraction_below(values: Sequence[float], threshold: float) -> float:
    """The fraction of ``values`` below ``threshold``."""
    return sum(v < threshold for v in values) / len(values) if values else math.nan


def best_peer(means: Mapping[str, float]) -> str:
    """The optimizer with the lowest mean score (ties: the first name in sorted order)."""
    return min(sorted(means), key=lambda name: means[name])
