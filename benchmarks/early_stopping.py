"""Early stopping on a learning curve: the training the median rule and ASHA save, and the quality they keep.

A run asks a kubetune algorithm for one trial at a time (the seed's paired starting points first,
as everywhere in the benchmark) and trains it epoch by epoch. After every epoch it asks kubetune's
own rule (``engine.stopping``: the median rule, or ASHA through Optuna's SuccessiveHalvingPruner)
about the trial, given every earlier trial, as the engine does when it steps at every report. A
stopped trial has cost the epochs it trained; the algorithm learns it as a stopped trial with its
last value, as the engine reports it (``engine.history.observation``); and it is never the best
trial, since the engine's best is the best succeeded trial.

A run goes on until it has trained as many epochs as ``trials`` trials trained to the end would
(what no early stopping spends on them), so one run is read twice: after its first ``trials``
trials (equal trial count: the training saved, and the quality kept), and when that many epochs
are spent (equal resource: the quality bought with the same training time).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from kubetune.api import HPOTaskSpec, MetricPoint, MetricSeries, ParamValue, Trial, TrialPhase, TrialSpec, TrialStatus
from kubetune.engine.history import observation
from kubetune.engine.stopping import asha_stop, median_stop
from kubetune.search.base import Observation, SearchRequest

from .optimizers import design, kubetune_suggester
from .problems import CURVES, CurveProblem

RULES: dict[str, dict[str, Any] | None] = {
    "none": None,
    # kubetune's defaults: judged from the first step, once 3 trials have completed.
    "median": {"rule": "median"},
    # kubetune's defaults: reductionFactor 3, maxResource the 27 epochs of the first succeeded
    # trial, so minResource 27 // 3**2 = 3: rungs at epochs 3 and 9.
    "asha": {"rule": "asha"},
    # The first rung at the first epoch (rungs at 1, 3 and 9), as Ray Tune's ASHA starts
    # (grace_period 1), and kubetune's default before the first rung was derived from maxResource.
    "asha-min1": {"rule": "asha", "minResource": 1, "reductionFactor": 3},
}
"""Each rule as ``spec.earlyStopping`` spells it (``None``: no early stopping)."""

SAMPLERS = ("random", "tpe")
"""The kubetune algorithms that pick the trials: random search shows the rule alone (the same
trials, whatever is stopped), tpe what a model that learns from stopped trials makes of it."""

MAX_TRIALS_FACTOR = 20
"""An equal-resource run ends after this many times ``trials`` trials whatever it has spent."""

METRIC = "error"


@dataclass(frozen=True)
class CurveRun:
    """One run: each trial's epochs trained, its last validation error and whether it was stopped."""

    rule: str
    sampler: str
    problem: str
    seed: int
    trials: int
    """The equal-trial-count reading: the first this many trials."""
    epochs: list[int]
    values: list[float]
    stopped: list[bool]
    seconds: float
    cpu_seconds: float


def task_spec(problem: CurveProblem, rule: str, sampler: str, trials: int) -> HPOTaskSpec:
    """The HPOTask spec the run stands for: what the stopping rules read."""
    early = RULES[rule]
    return HPOTaskSpec.model_validate(
        {
            "objective": {"metric": METRIC, "direction": "minimize"},
            "algorithm": {"name": sampler},
            "parameters": [d.parameter().model_dump(by_alias=True, exclude_none=True) for d in problem.dims],
            "budget": {"maxTrials": trials},
            **({"earlyStopping": early} if early else {}),
            "metricsCollector": {"stepKey": "epoch"},
            "trialTemplate": {"spec": {"template": {"spec": {"containers": [{"name": "t", "image": "t"}]}}}},
        }
    )


def _trial(index: int, params: Mapping[str, ParamValue], errors: Sequence[float], phase: TrialPhase) -> Trial:
    points = [MetricPoint(step=step, value=v) for step, v in enumerate(errors, 1)]
    series = MetricSeries(
        name=METRIC,
        points=points,
        count=len(points),
        last=errors[-1],
        min=min(errors),
        max=max(errors),
        mean=sum(errors) / len(errors),
    )
    return Trial(
        spec=TrialSpec(task="bench", index=index, parameters=dict(params)),
        status=TrialStatus(phase=phase, objective=errors[-1], metrics=[series]),
    )


def train(
    spec: HPOTaskSpec, problem: CurveProblem, index: int, params: Mapping[str, ParamValue], done: list[Trial]
) -> Trial:
    """Train one trial epoch by epoch, asking the task's rule after each; the finished trial."""
    # Not judged after its last epoch: the trial has finished training then, and its process
    # exits with its final report (the engine sees it succeed; a rule would save nothing).
    for epoch in range(1, problem.epochs):
        curve = problem.curve(params, epoch)
        running = _trial(index, params, curve, TrialPhase.RUNNING)
        if spec.early_stopping is not None:
            everyone = [*done, running]
            if median_stop(spec, running, everyone) or asha_stop(spec, running, everyone):
                return _trial(index, params, curve, TrialPhase.EARLY_STOPPED)
    return _trial(index, params, problem.curve(params, problem.epochs), TrialPhase.SUCCEEDED)


def run(rule: str, sampler: str, problem_name: str, seed: int, trials: int) -> CurveRun:
    """One run: trials until ``trials`` full trainings' epochs are spent (see the module's docstring)."""
    started, cpu_started = time.perf_counter(), time.process_time()
    problem = CURVES[problem_name]
    spec = task_spec(problem, rule, sampler, trials)
    space = problem.space()
    suggester = kubetune_suggester(sampler, problem)
    starts = design(problem, seed)
    budget = trials * problem.epochs
    done: list[Trial] = []
    history: list[Observation] = []
    spent = 0
    limit = trials if rule == "none" else trials * MAX_TRIALS_FACTOR
    while len(done) < limit and (len(done) < trials or spent < budget):
        index = len(done)
        if index < len(starts):
            params: Mapping[str, ParamValue] = starts[index]
        else:
            request = SearchRequest(space, list(history), [], 1, seed, limit)
            params = suggester.suggest(request).suggestions[0].params
        trial = train(spec, problem, index, params, done)
        done.append(trial)
        history.append(observation(spec, trial))
        spent += len(trial.status.metrics[0].points) if trial.status else 0
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    return CurveRun(
        rule,
        sampler,
        problem_name,
        seed,
        trials,
        [len(t.status.metrics[0].points) if t.status else 0 for t in done],
        [float(t.status.objective or 0.0) if t.status else 0.0 for t in done],
        [t.status is not None and t.status.phase is TrialPhase.EARLY_STOPPED for t in done],
        wall,
        cpu,
    )


def rung_agreement(problem_name: str, seeds: int) -> list[dict[str, float]]:
    """How well an early epoch's error predicts the last epoch's, over the paired starting points of
    ``seeds`` seeds (random configurations, each trained to the end): at each epoch 3**k, the rank
    correlation with the final error (Spearman), and the share of the best tenth by final error
    that is in the best third at that epoch, where ASHA with reductionFactor 3 would keep it."""
    from scipy.stats import spearmanr  # noqa: PLC0415

    problem = CURVES[problem_name]
    curves = [problem.curve(p, problem.epochs) for seed in range(seeds) for p in design(problem, seed)]
    final = [c[-1] for c in curves]
    best_tenth = sorted(range(len(curves)), key=lambda i: (final[i], i))[: max(1, len(curves) // 10)]
    out = []
    epoch = 1
    while epoch < problem.epochs:
        early = [c[epoch - 1] for c in curves]
        third = set(sorted(range(len(curves)), key=lambda i: (early[i], i))[: max(1, len(curves) // 3)])
        correlation = float(spearmanr(early, final).statistic)
        kept = sum(i in third for i in best_tenth) / len(best_tenth)
        out.append({"epoch": epoch, "configurations": len(curves), "spearman": correlation, "best_tenth_kept": kept})
        epoch *= 3
    return out


def settings() -> dict[str, Any]:
    """Each rule and sampler as run, for results.json."""
    return {
        "rules": {name: rule or "no early stopping" for name, rule in RULES.items()},
        "samplers": {name: f"kubetune {name}, default settings" for name in SAMPLERS},
        "one trial at a time": True,
        "judged": "after every epoch",
        "max_trials_factor": MAX_TRIALS_FACTOR,
    }


__all__ = ["RULES", "SAMPLERS", "CurveRun", "run", "settings", "task_spec"]
