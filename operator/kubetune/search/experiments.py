"""experiments: the user's list of assignments, run once each, in order."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ..api import ParamValue
from .base import Proposal, SearchRequest, Suggestion
from .space import SearchSpace

TAG = "experiment"
"""Suggestion tag: the position of the experiment in the user's list."""


@dataclass(frozen=True)
class Experiments:
    """Suggests the listed experiments not yet assigned (by their ``experiment`` tag), in order."""

    space: SearchSpace
    experiments: Sequence[Mapping[str, ParamValue]]

    def suggest(self, request: SearchRequest) -> Proposal:
        """The next experiments of the list; exhausted when the list is fully assigned."""
        tags = [o.tags for o in request.history] + [p.tags for p in request.pending]
        done = {t[TAG] for t in tags if isinstance(t.get(TAG), int)}
        todo = [i for i in range(len(self.experiments)) if i not in done]
        chosen = todo[: request.count]
        suggestions = [Suggestion({**self.experiments[i], **self.space.fixed}, tags={TAG: i}) for i in chosen]
        exhausted = len(chosen) == len(todo)
        reason = "" if len(chosen) == request.count else f"All {len(self.experiments)} experiments are assigned."
        return Proposal(suggestions, exhausted=exhausted, reason=reason)
