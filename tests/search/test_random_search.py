"""random: uniform draws; in a small finite space, without replacement."""

from __future__ import annotations

from kubetune.api import Parameter
from kubetune.search.base import Observation, TrialState
from kubetune.search.random_search import RandomSearch

from .helpers import request, space_of


def test_random_search_in_a_finite_space_draws_without_replacement_then_is_exhausted() -> None:
    space = space_of(
        Parameter(name="k", type="int", min=1, max=5), Parameter(name="c", type="categorical", values=[1, 2])
    )
    history: list[Observation] = []
    while True:
        proposal = RandomSearch(space).suggest(request(space, history, count=3))
        history += [Observation(len(history), s.params, TrialState.COMPLETE, 0.0) for s in proposal.suggestions]
        if proposal.exhausted:
            break
    assert len(history) == 10
    assert len({space.key(o.params) for o in history}) == 10
    assert RandomSearch(space).suggest(request(space, history)).suggestions == []


def test_random_search_draws_differ_from_call_to_call() -> None:
    space = space_of(Parameter(name="x", min=0, max=1))
    first = RandomSearch(space).suggest(request(space)).suggestions[0]
    history = [Observation(0, first.params, TrialState.COMPLETE, 1.0)]
    second = RandomSearch(space).suggest(request(space, history)).suggestions[0]
    assert first != second
