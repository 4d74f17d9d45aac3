"""hyperband: successive-halving brackets over a resource parameter (Li et al., 2018).

With ``R = max / min`` of the resource parameter and ``s_max = floor(log_eta R)``, bracket
``s`` (from ``s_max`` down to 0) starts ``n = ceil((s_max + 1) / (s + 1) * eta**s)`` random
configurations at resource ``max * eta**-s``; rung ``i`` of the bracket keeps the best
``floor(n / eta**i)`` of them and gives them ``eta`` times the previous resource. For eta = 3
and R = 27 the brackets are 27-9-3-1, 12-4-1, 6-2 and 4 trials.

Nothing is remembered between calls: every suggestion carries its bracket, rung and
configuration number (and, for a promotion, the index of the trial it continues) in its tags,
and the state is rebuilt from the tags of the history. A rung is promoted only when every trial
of the previous rung has finished (synchronous successive halving); failed trials rank last.
While a bracket waits, the next one starts, so parallel workers stay busy.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from ..api import ParamValue
from ..api.algorithms import HyperbandSettings
from .base import Observation, Pending, Proposal, SearchRequest, Suggestion, TrialState
from .seeding import fixed_rng
from .space import NumericDimension, SearchSpace

DEFAULT_ETA = HyperbandSettings().eta

TAG_BRACKET = "hyperband_bracket"
TAG_RUNG = "hyperband_rung"
TAG_CONFIG = "hyperband_config"
TAG_PARENT = "hyperband_parent"


@dataclass(frozen=True)
class Rung:
    """One rung of a bracket: how many trials it runs and at which resource."""

    bracket: int
    rung: int
    size: int
    resource: float


def plan(min_resource: float, max_resource: float, eta: float) -> list[list[Rung]]:
    """Hyperband's brackets, most exploratory first, each a list of rungs. ``eta`` need not be
    whole (IBM's experiments use 2.027); a whole one is computed in exact integers."""
    # The tolerance keeps log(27) / log(3) = 3.0000000000000004 from losing a bracket.
    s_max = math.floor(math.log(max_resource / min_resource) / math.log(eta) + 1e-9)
    brackets = []
    for s in range(s_max, -1, -1):
        if float(eta).is_integer():
            whole = int(eta)
            n = -(-(s_max + 1) * whole**s // (s + 1))  # integer ceil, exact for any eta and s
            sizes = [n // whole**i for i in range(s + 1)]
        else:  # the same formulas in floating point, with a tolerance against rounding noise
            n = math.ceil((s_max + 1) * eta**s / (s + 1) - 1e-9)
            sizes = [math.floor(n / eta**i + 1e-9) for i in range(s + 1)]
        brackets.append([Rung(s, i, sizes[i], max_resource * float(eta) ** (i - s)) for i in range(s + 1)])
    return brackets


Entry = Observation | Pending


@dataclass(frozen=True)
class Hyperband:
    """Decides each trial's assignment and resource, and which trials are promoted."""

    space: SearchSpace
    resource_parameter: str
    eta: float = DEFAULT_ETA

    def _resource_dimension(self) -> NumericDimension:
        dimension = self.space.dimension(self.resource_parameter)
        if not isinstance(dimension, NumericDimension) or dimension.base is not None or dimension.min <= 0:
            # The task's validation refuses such a resource (api.task, from HyperbandSettings'
            # capabilities); this only guards the class used on its own, as the tests do.
            raise TypeError(f"the resource {dimension.name!r} is not an int or double range with min > 0")
        return dimension

    def brackets(self) -> list[list[Rung]]:
        """The plan for this space's resource parameter."""
        dimension = self._resource_dimension()
        return plan(dimension.min, dimension.max, self.eta)

    def suggest(self, request: SearchRequest) -> Proposal:
        """Promotions and new configurations, bracket by bracket, as far as finished rungs allow."""
        dimension = self._resource_dimension()
        brackets = plan(dimension.min, dimension.max, self.eta)
        entries = _entries([*request.history, *request.pending])
        suggestions: list[Suggestion] = []
        waiting: list[str] = []
        for rungs in brackets:
            work, wait = self._work(rungs, entries, request.seed, dimension, request.count - len(suggestions))
            suggestions += work
            if wait:
                waiting.append(wait)
        planned = sum(r.size for rungs in brackets for r in rungs)
        assigned = sum(len(v) for v in entries.values()) + len(suggestions)
        exhausted = assigned >= planned
        reason = ""
        if len(suggestions) < request.count:
            reason = " ".join(waiting) if waiting else f"All {planned} trials of the brackets are assigned."
        return Proposal(suggestions, exhausted=exhausted, reason=reason)

    def _work(
        self,
        rungs: list[Rung],
        entries: dict[tuple[int, int], dict[int, Entry]],
        seed: int,
        dimension: NumericDimension,
        limit: int,
    ) -> tuple[list[Suggestion], str]:
        """Up to ``limit`` trials a bracket can start now, or why it cannot start any."""
        for rung in rungs:
            assigned = entries.get((rung.bracket, rung.rung), {})
            if len(assigned) >= rung.size:
                continue
            resource = dimension.decode(dimension.encode(rung.resource))
            if rung.rung == 0:
                configs = [c for c in range(rung.size) if c not in assigned][: max(limit, 0)]
                return [self._new_config(rung, config, seed, resource) for config in configs], ""
            previous = entries.get((rung.bracket, rung.rung - 1), {})
            running = sum(isinstance(e, Pending) for e in previous.values())
            if running:
                return [], (
                    f"Bracket {rung.bracket} waits for {running} of the {len(previous)} trials of rung "
                    f"{rung.rung - 1} to finish before promoting the best {rung.size}."
                )
            best = sorted(previous.items(), key=lambda item: (_loss(item[1]), item[0]))[: rung.size]
            promoted = [(config, parent) for config, parent in best if config not in assigned][: max(limit, 0)]
            return [
                _promotion(rung, config, parent, self.resource_parameter, resource) for config, parent in promoted
            ], ""
        return [], ""

    def _new_config(self, rung: Rung, config: int, seed: int, resource: ParamValue) -> Suggestion:
        # Each configuration's draw depends on its place in the plan only, not on the history.
        params = self.space.sample(fixed_rng(seed, rung.bracket, config))
        params[self.resource_parameter] = resource
        tags: dict[str, ParamValue] = {TAG_BRACKET: rung.bracket, TAG_RUNG: 0, TAG_CONFIG: config}
        return Suggestion(params, resource=float(resource), tags=tags)


def _promotion(rung: Rung, config: int, parent: Entry, resource_parameter: str, resource: ParamValue) -> Suggestion:
    params = {**parent.params, resource_parameter: resource}
    tags: dict[str, ParamValue] = {
        TAG_BRACKET: rung.bracket,
        TAG_RUNG: rung.rung,
        TAG_CONFIG: config,
        TAG_PARENT: parent.index,
    }
    return Suggestion(params, resource=float(resource), tags=tags)


def _loss(entry: Entry) -> float:
    """A finished trial's loss; failed trials and trials without a value rank last."""
    if isinstance(entry, Observation) and entry.state is not TrialState.FAILED and entry.value is not None:
        return entry.value if not math.isnan(entry.value) else math.inf
    return math.inf


def _entries(trials: Sequence[Entry]) -> dict[tuple[int, int], dict[int, Entry]]:
    """(bracket, rung) -> configuration -> its trial, from the tags; the first trial wins."""
    out: dict[tuple[int, int], dict[int, Entry]] = {}
    for trial in sorted(trials, key=lambda t: t.index):
        bracket, rung, config = (trial.tags.get(k) for k in (TAG_BRACKET, TAG_RUNG, TAG_CONFIG))
        if isinstance(bracket, int) and isinstance(rung, int) and isinstance(config, int):
            out.setdefault((bracket, rung), {}).setdefault(config, trial)
    return out
