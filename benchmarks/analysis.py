"""From the runs in results.json to figures and verdicts (pure: the same results give the same analysis).

Per problem, mode and optimizer, at each checkpoint: the mean score with its bootstrap interval,
the median, and the fraction of runs in the global basin (test functions). Then verdicts, each
from the interval of a per-seed paired difference (see ``stats``):

- every kubetune algorithm against the best raw peer (the raw library with the lowest mean);
- every kubetune algorithm against the raw library of its own family (tpe and Optuna's TPE, ...);
- with 4 pending: kubetune against the raw library of its family with 4 pending, and against
  its own sequential runs at the same number of model updates: the point a parallel run
  evaluates k-th was chosen from k - 4 results, like the sequential run's (k - 3)-th.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

from . import stats

CHECKPOINTS = (10, 25, 50)
FAMILY: dict[str, tuple[str, ...]] = {
    "kubetune:tpe": ("optuna:tpe",),
    "kubetune:bayesian": ("skopt:gp", "optuna:gp"),
    "kubetune:bayesian-optuna-gp": ("optuna:gp",),
    "kubetune:cmaes": ("optuna:cmaes",),
    "kubetune:random": ("random",),
    "kubetune:sobol": ("random",),
}
"""The raw library each kubetune algorithm wraps or stands in for (the first one present is used)."""


def checkpoints(evaluations: int) -> list[int]:
    """10, 25 and 50 evaluations where the runs are that long, and the runs' length."""
    ks = [k for k in CHECKPOINTS if k <= evaluations]
    return ks if evaluations in ks else [*ks, evaluations]


def mode_of(pending: int) -> str:
    """``sequential`` or ``parallelN``."""
    return "sequential" if pending <= 1 else f"parallel{pending}"


def analyze(results: Mapping[str, Any]) -> dict[str, Any]:
    """Summaries, verdicts and duplicate counts of a results.json document."""
    ks = checkpoints(int(results["plan"]["evaluations"]))
    runs: dict[tuple[str, str, int], dict[int, Sequence[float]]] = defaultdict(dict)
    duplicates: dict[tuple[str, str], list[int]] = defaultdict(list)
    cpu: dict[tuple[str, str, int], list[float]] = defaultdict(list)
    for r in results["runs"]:
        runs[(r["problem"], r["optimizer"], r["pending"])][r["seed"]] = r["values"]
        duplicates[(r["optimizer"], mode_of(r["pending"]))].append(r["duplicates"])
        cpu[(r["problem"], r["optimizer"], r["pending"])].append(r.get("cpu_seconds", r["seconds"]))
    for problem, alias in results.get("aliases", {}).items():
        for optimizer, source in alias.items():
            if source and (problem, source, 1) in runs:
                runs[(problem, optimizer, 1)] = runs[(problem, source, 1)]
                cpu[(problem, optimizer, 1)] = cpu[(problem, source, 1)]
    out: dict[str, Any] = {"checkpoints": ks, "problems": {}, "verdicts": [], "duplicates": {}}
    for problem, info in results["problems"].items():
        scores = _scores(runs, problem, info, ks, int(results.get("pending", 4)))
        out["problems"][problem] = _summaries(runs, problem, info, ks, scores)
        for (p, optimizer, pending), seconds in cpu.items():
            if p == problem:
                out["problems"][problem][mode_of(pending)][optimizer]["cpu_per_run"] = statistics.mean(seconds)
        out["verdicts"] += _verdicts(problem, scores, ks, int(results.get("pending", 4)))
    for (optimizer, mode), counts in sorted(duplicates.items()):
        out["duplicates"].setdefault(mode, {})[optimizer] = {
            "runs": len(counts),
            "total": sum(counts),
            "per_run": sum(counts) / len(counts),
            "max": max(counts),
        }
    return out


Scores = dict[tuple[str, int, int], dict[int, float]]
"""(optimizer, pending, k) -> seed -> score."""


def _scores(
    runs: Mapping[tuple[str, str, int], Mapping[int, Sequence[float]]],
    problem: str,
    info: Mapping[str, Any],
    ks: Sequence[int],
    pending: int,
) -> Scores:
    out: Scores = {}
    # Sequential runs are also read at k - pending + 1, for the comparison with parallel runs.
    read_at = {*ks, *(k - pending + 1 for k in ks if k - pending + 1 >= 1)}
    for (p, optimizer, in_flight), by_seed in runs.items():
        if p != problem:
            continue
        for k in read_at:
            out[(optimizer, in_flight, k)] = {
                seed: stats.score(values, k, info["kind"], info["optimum"])
                for seed, values in by_seed.items()
                if len(values) >= k
            }
    return out


def _summaries(
    runs: Mapping[tuple[str, str, int], Mapping[int, Sequence[float]]],
    problem: str,
    info: Mapping[str, Any],
    ks: Sequence[int],
    scores: Scores,
) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = defaultdict(dict)
    for p, optimizer, pending in sorted(runs):
        if p != problem:
            continue
        entry: dict[str, Any] = {}
        for k in ks:
            values = list(scores[(optimizer, pending, k)].values())
            if not values:
                continue
            interval = stats.bootstrap_mean(values)
            entry[str(k)] = {
                "mean": interval.mean,
                "low": interval.low,
                "high": interval.high,
                "median": statistics.median(values),
                "runs": interval.n,
            }
            if info.get("basin") is not None:
                regrets = [min(v[:k]) - info["optimum"] for v in runs[(p, optimizer, pending)].values()]
                entry[str(k)]["basin"] = stats.fraction_below(regrets, info["basin"])
        out[mode_of(pending)][optimizer] = entry
    return dict(out)


def _row(
    problem: str, k: int, mode: str, relation: str, ours: str, theirs: str, a: dict[int, float], b: dict[int, float]
) -> dict[str, Any]:
    difference = stats.paired_difference(a, b)
    return {
        "problem": problem,
        "k": k,
        "mode": mode,
        "relation": relation,
        "ours": ours,
        "theirs": theirs,
        "difference": difference.mean,
        "low": difference.low,
        "high": difference.high,
        "seeds": difference.n,
        "verdict": stats.verdict(difference),
    }


def _verdicts(problem: str, scores: Scores, ks: Sequence[int], pending: int) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    ours_seq = sorted({o for o, p, _ in scores if p == 1 and not is_raw(o)})
    raw_seq = sorted({o for o, p, _ in scores if p == 1 and is_raw(o)})
    ours_par = sorted({o for o, p, _ in scores if p == pending and not is_raw(o)})
    raw_par = {o for o, p, _ in scores if p == pending and is_raw(o)}
    for k in ks:
        means = {o: stats.bootstrap_mean(list(scores[(o, 1, k)].values())).mean for o in raw_seq}
        means = {o: m for o, m in means.items() if m == m}  # noqa: PLR0124 -- drop NaN (no runs that long)
        best = stats.best_peer(means) if means else None
        for ours in ours_seq:
            mine = scores[(ours, 1, k)]
            peer = next((p for p in FAMILY.get(ours, ()) if p in raw_seq), None)
            if best is not None:
                relation = "best raw peer, same family" if best == peer else "best raw peer"
                rows.append(_row(problem, k, "sequential", relation, ours, best, mine, scores[(best, 1, k)]))
            if peer is not None and peer != best:
                rows.append(_row(problem, k, "sequential", "same family", ours, peer, mine, scores[(peer, 1, k)]))
        mode = mode_of(pending)
        for ours in ours_par:
            mine = scores[(ours, pending, k)]
            peer = next((p for p in FAMILY.get(ours, ()) if p in raw_par), None)
            if peer is not None:
                rows.append(_row(problem, k, mode, "same family", ours, peer, mine, scores[(peer, pending, k)]))
        for optimizer in sorted({*ours_par, *raw_par}):
            earlier = k - pending + 1
            if (optimizer, 1, earlier) in scores:
                rows.append(
                    _row(
                        problem,
                        k,
                        mode,
                        "sequential, same model updates",
                        optimizer,
                        f"{optimizer}@{earlier}",
                        scores[(optimizer, pending, k)],
                        scores[(optimizer, 1, earlier)],
                    )
                )
    return rows


def is_raw(optimizer: str) -> bool:
    """True for a raw library, False for kubetune's algorithms."""
    return not optimizer.startswith("kubetune:")


# --- several objectives --------------------------------------------------------------------------

MULTI_OBJECTIVE_FAMILY: dict[str, tuple[str, ...]] = {
    "kubetune:tpe": ("optuna:tpe",),
    "kubetune:nsga2": ("optuna:nsga2",),
    "kubetune:nsga2-pop10": ("optuna:nsga2-pop10",),
    "kubetune:bayesian-optuna-gp": ("optuna:gp",),
    # ParEGO on scikit-optimize, which has no multi-objective mode of its own: the other GP.
    "kubetune:bayesian": ("optuna:gp",),
}
"""The raw Optuna sampler each kubetune multi-objective algorithm runs (for ParEGO, the nearest)."""


def analyze_multi_objective(section: Mapping[str, Any]) -> dict[str, Any]:
    """Hypervolume summaries and verdicts of the ``multi_objective`` section of a results.json:
    per problem, optimizer and checkpoint, the mean hypervolume with its interval; every kubetune
    algorithm against the best raw peer and the raw sampler it runs, seed by seed (higher is better)."""
    ks = checkpoints(int(section["evaluations"]))
    runs: dict[tuple[str, str], dict[int, Sequence[Sequence[float]]]] = defaultdict(dict)
    cpu: dict[tuple[str, str], list[float]] = defaultdict(list)
    for r in section["runs"]:
        runs[(r["problem"], r["optimizer"])][r["seed"]] = r["values"]
        cpu[(r["problem"], r["optimizer"])].append(r["cpu_seconds"])
    for problem, alias in section.get("aliases", {}).items():
        for optimizer, source in alias.items():
            if (problem, source) in runs:
                runs[(problem, optimizer)] = runs[(problem, source)]
                cpu[(problem, optimizer)] = cpu[(problem, source)]
    out: dict[str, Any] = {"checkpoints": ks, "problems": {}, "verdicts": []}
    for problem, info in section["problems"].items():
        volumes: dict[tuple[str, int], dict[int, float]] = {}
        for (p, optimizer), by_seed in runs.items():
            if p == problem:
                for k in ks:
                    volumes[(optimizer, k)] = {
                        seed: stats.hypervolume(values[:k], info["reference"])
                        for seed, values in by_seed.items()
                        if len(values) >= k
                    }
        summary: dict[str, Any] = {}
        for optimizer in sorted({o for o, _ in volumes}):
            entry: dict[str, Any] = {"cpu_per_run": statistics.mean(cpu[(problem, optimizer)])}
            for k in ks:
                values = list(volumes[(optimizer, k)].values())
                interval = stats.bootstrap_mean(values)
                entry[str(k)] = {
                    "mean": interval.mean,
                    "low": interval.low,
                    "high": interval.high,
                    "median": statistics.median(values),
                    "runs": interval.n,
                }
            summary[optimizer] = entry
        out["problems"][problem] = summary
        out["verdicts"] += _multi_objective_verdicts(problem, volumes, ks)
    return out


def _multi_objective_verdicts(
    problem: str, volumes: Mapping[tuple[str, int], dict[int, float]], ks: Sequence[int]
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    ours = sorted({o for o, _ in volumes if not is_raw(o)})
    raw = sorted({o for o, _ in volumes if is_raw(o)})
    for k in ks:
        # The best peer has the highest mean hypervolume: best_peer picks the lowest of the negated means.
        best = stats.best_peer({o: -stats.bootstrap_mean(list(volumes[(o, k)].values())).mean for o in raw})
        for optimizer in ours:
            mine = volumes[(optimizer, k)]
            peer = next((p for p in MULTI_OBJECTIVE_FAMILY.get(optimizer, ()) if p in raw), None)
            relation = "best raw peer, same family" if best == peer else "best raw peer"
            rows.append(_higher_row(problem, k, relation, optimizer, best, mine, volumes[(best, k)]))
            if peer is not None and peer != best:
                rows.append(_higher_row(problem, k, "same family", optimizer, peer, mine, volumes[(peer, k)]))
    return rows


def _higher_row(
    problem: str, k: int, relation: str, ours: str, theirs: str, a: dict[int, float], b: dict[int, float]
) -> dict[str, Any]:
    difference = stats.paired_difference(a, b)
    return {
        "problem": problem,
        "k": k,
        "mode": "sequential",
        "relation": relation,
        "ours": ours,
        "theirs": theirs,
        "difference": difference.mean,
        "low": difference.low,
        "high": difference.high,
        "seeds": difference.n,
        "verdict": stats.verdict(difference, higher_is_better=True),
    }


# --- early stopping ------------------------------------------------------------------------------


def _curve_reading(run: Mapping[str, Any], epochs: int) -> dict[str, float]:
    """One early-stopping run read at equal trial count and at equal resource (see ``early_stopping``)."""
    trials = int(run["trials"])
    spent = run["epochs"]
    finished = list(run["values"])
    completed = [not s for s in run["stopped"]]
    best_at_trials = min(v for v, ok in zip(finished[:trials], completed[:trials], strict=True) if ok)
    budget, total, within = trials * epochs, 0, 0
    for used in spent:
        if total + used > budget:
            break
        total += used
        within += 1
    best_at_budget = min(v for v, ok in zip(finished[:within], completed[:within], strict=True) if ok)
    return {
        "epochs": float(sum(spent[:trials])),
        "best": best_at_trials,
        "stopped": float(sum(run["stopped"][:trials])),
        "trials_at_budget": float(within),
        "best_at_budget": best_at_budget,
    }


def analyze_early_stopping(section: Mapping[str, Any]) -> dict[str, Any]:
    """Summaries and comparisons of the ``early_stopping`` section of a results.json.

    Per problem, algorithm and rule, over seeds: the epochs the first ``trials`` trials trained, how
    many were stopped, the best error of the succeeded ones among them; and, at the epochs those
    trials cost without early stopping, how many trials ran and their best error. Each rule is
    compared with no early stopping and each ASHA setting with the median rule, seed by seed: the
    share of epochs saved (1 - ours / theirs) and the difference of best errors (lower is better).
    """
    readings: dict[tuple[str, str, str], dict[int, dict[str, float]]] = defaultdict(dict)
    for r in section["runs"]:
        epochs = int(section["problems"][r["problem"]]["epochs"])
        readings[(r["problem"], r["sampler"], r["rule"])][r["seed"]] = _curve_reading(r, epochs)
    out: dict[str, Any] = {"trials": section["trials"], "problems": {}}
    for problem in section["problems"]:
        by_sampler: dict[str, Any] = {}
        for sampler in sorted({s for p, s, _ in readings if p == problem}):
            ran = {rule for p, s, rule in readings if p == problem and s == sampler}
            rules = [rule for rule in section["settings"]["rules"] if rule in ran]  # as listed: none first
            summaries = {}
            for rule in rules:
                seeds = readings[(problem, sampler, rule)]
                summaries[rule] = {
                    field: _interval(stats.bootstrap_mean([seeds[s][field] for s in sorted(seeds)]))
                    for field in ("epochs", "stopped", "best", "trials_at_budget", "best_at_budget")
                }
            comparisons = []
            for rule in rules:
                against = ["none"] + (["median"] if rule.startswith("asha") and "median" in rules else [])
                for other in against:
                    if rule == other or other not in rules:
                        continue
                    comparisons.append(
                        _curve_comparison(
                            rule, other, readings[(problem, sampler, rule)], readings[(problem, sampler, other)]
                        )
                    )
            by_sampler[sampler] = {"rules": summaries, "comparisons": comparisons}
        out["problems"][problem] = by_sampler
    return out


def _interval(interval: stats.Interval) -> dict[str, float]:
    return {"mean": interval.mean, "low": interval.low, "high": interval.high, "runs": interval.n}


def _curve_comparison(
    rule: str, other: str, ours: Mapping[int, Mapping[str, float]], theirs: Mapping[int, Mapping[str, float]]
) -> dict[str, Any]:
    common = sorted(set(ours) & set(theirs))
    saved = stats.bootstrap_mean([1 - ours[s]["epochs"] / theirs[s]["epochs"] for s in common])
    best = stats.paired_difference({s: ours[s]["best"] for s in common}, {s: theirs[s]["best"] for s in common})
    at_budget = stats.paired_difference(
        {s: ours[s]["best_at_budget"] for s in common}, {s: theirs[s]["best_at_budget"] for s in common}
    )
    return {
        "rule": rule,
        "against": other,
        "saved": _interval(saved),
        "best": _interval(best) | {"verdict": stats.verdict(best)},
        "best_at_budget": _interval(at_budget) | {"verdict": stats.verdict(at_budget)},
    }
