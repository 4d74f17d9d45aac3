"""experiments: the user's list, in order, once each."""

from __future__ import annotations

from kubetune.api import Algorithm, Parameter
from kubetune.search import registry
from kubetune.search.base import Observation, Pending, TrialState

from .helpers import request, space_of

SPACE = space_of(Parameter(name="lr", min=0.001, max=1), Parameter(name="arch", type="categorical", value="resnet"))
ALGORITHM = Algorithm(name="experiments", experiments=[{"lr": 0.1}, {"lr": 0.01}, {"lr": 0.001}])


def test_experiments_run_in_order_with_fixed_values_then_report_exhaustion() -> None:
    suggester = registry.create(ALGORITHM, SPACE)
    first = suggester.suggest(request(SPACE, count=2))
    assert [s.params for s in first.suggestions] == [{"lr": 0.1, "arch": "resnet"}, {"lr": 0.01, "arch": "resnet"}]
    assert not first.exhausted
    history = [Observation(0, first.suggestions[0].params, TrialState.FAILED, tags=first.suggestions[0].tags)]
    pending = [Pending(1, first.suggestions[1].params, tags=first.suggestions[1].tags)]
    last = suggester.suggest(request(SPACE, history, pending, count=2))
    assert [s.params["lr"] for s in last.suggestions] == [0.001]
    assert last.exhausted and last.reason
    finished = [*history, Observation(2, {}, TrialState.FAILED, tags={"experiment": 2})]
    assert suggester.suggest(request(SPACE, finished, pending)).suggestions == []
