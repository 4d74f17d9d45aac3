"""Which trials are best: the one ranking that the planner, retention, the trial tables, ``kubetune
best`` and the dashboard use (pure).

A trial is ranked when it ended in one of the given phases (by default: succeeded), reported its
objective, and respects every constraint of the task. Ranked trials are ordered by the primary
objective as a loss (:meth:`~kubetune.api.Objective.loss`), ties going to the earliest trial. With
several objectives there is no single best trial (the status keeps the Pareto front instead), but
an order is still needed (which workloads to keep): the first objective gives it.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence

from ..api import HPOTaskSpec, Trial, TrialPhase
from .observe import feasible

SUCCEEDED = frozenset({TrialPhase.SUCCEEDED})
"""What the status's best trial and retention rank: trials that ran to their end."""
REPORTED = frozenset({TrialPhase.SUCCEEDED, TrialPhase.EARLY_STOPPED, TrialPhase.STOPPED})
"""What ``kubetune best --include-stopped`` ranks: any trial that reported its objective."""


def sort_key(spec: HPOTaskSpec, trial: Trial) -> tuple[int, float, int]:
    """Order of trials for people: those with an objective, best first, then the others by index."""
    value = trial.status.objective if trial.status else None
    if value is None or math.isnan(value):
        return 1, 0.0, trial.spec.index
    return 0, spec.objective.loss(value), trial.spec.index


def ranked(
    spec: HPOTaskSpec,
    trials: Sequence[Trial],
    phases: Collection[TrialPhase] = SUCCEEDED,
    *,
    feasible_only: bool = True,
) -> list[Trial]:
    """The trials that compete for best (see the module's docstring), best first."""
    competing = [
        t
        for t in trials
        if t.status is not None
        and t.status.phase in phases
        and t.status.objective is not None
        and not math.isnan(t.status.objective)
        and (not feasible_only or feasible(spec, t))
    ]
    return sorted(competing, key=lambda t: sort_key(spec, t))


def best(spec: HPOTaskSpec, trials: Sequence[Trial]) -> Trial | None:
    """The best feasible succeeded trial; None with several objectives (the Pareto front replaces it)."""
    if spec.objective.multi:
        return None
    found = ranked(spec, trials)
    return found[0] if found else None
