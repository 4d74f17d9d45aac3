"""cmaes: the optimizer is replayed from generation tags, so restarts continue the same run."""

from __future__ import annotations

from kubetune.api import Parameter
from kubetune.search.base import Observation, TrialState
from kubetune.search.cma_es import TAG, CmaEs

from .helpers import optimize, quadratic, request, space_of

SPACE = space_of(Parameter(name="x", min=-2, max=2), Parameter(name="y", min=-2, max=2))


def test_a_generation_is_told_once_population_size_trials_completed() -> None:
    history = optimize(CmaEs(SPACE, population_size=4), SPACE, quadratic, trials=12, batch=2)
    assert [o.tags[TAG] for o in history] == [0] * 4 + [1] * 4 + [2] * 4


def test_a_failed_trial_keeps_its_generation_open_for_one_more() -> None:
    history = optimize(CmaEs(SPACE, population_size=4), SPACE, quadratic, trials=3)
    history.append(Observation(3, history[0].params, TrialState.FAILED, tags={TAG: 0}))
    nxt = CmaEs(SPACE, population_size=4).suggest(request(SPACE, history))
    assert nxt.suggestions[0].tags[TAG] == 0


def test_cma_es_converges_on_a_bowl() -> None:
    history = optimize(CmaEs(SPACE, population_size=6), SPACE, quadratic, trials=120, batch=6)
    assert min(o.value for o in history if o.value is not None) < 1e-3


def test_an_all_categorical_space_is_searched_at_random() -> None:
    space = space_of(Parameter(name="c", type="categorical", values=["a", "b", "c"]))
    proposal = CmaEs(space).suggest(request(space, count=3))
    assert sorted(str(s.params["c"]) for s in proposal.suggestions) == ["a", "b", "c"]
