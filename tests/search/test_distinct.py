"""Model-based algorithms never hand out an assignment already evaluated or pending while the space
has another point: an evaluation spent twice on one point teaches nothing."""

from __future__ import annotations

import pytest

from kubetune.api import GPBackend, Parameter
from kubetune.search import optuna_backend
from kubetune.search.base import Observation, Pending, Suggester, TrialState
from kubetune.search.bayesian import Bayesian
from kubetune.search.tpe import TPE

from .helpers import request, space_of

# Nine points: a model that has seen most of them keeps wanting the best one again.
SPACE = space_of(
    Parameter(name="x", type="int", min=0, max=2),
    Parameter(name="y", type="int", min=0, max=2),
)
NEEDS_TORCH = pytest.mark.skipif(not optuna_backend.gp_available(), reason="Optuna's GPSampler needs the gp extra")


SUGGESTERS = {
    "tpe": TPE(SPACE, n_initial_points=2),
    "bayesian-skopt": Bayesian(SPACE, n_initial_points=2, backend=GPBackend.SKOPT),
    "bayesian-optuna": Bayesian(SPACE, n_initial_points=2, backend=GPBackend.OPTUNA_GP),
}


def _loss(x: int, y: int) -> float:
    return float((x - 1) ** 2 + (y - 1) ** 2)


@pytest.mark.parametrize("name", ["tpe", "bayesian-skopt", pytest.param("bayesian-optuna", marks=NEEDS_TORCH)])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_model_never_repeats_an_evaluated_or_pending_point_while_others_remain(name: str, seed: int) -> None:
    suggester: Suggester = SUGGESTERS[name]
    points = [(x, y) for x in range(3) for y in range(3)]
    # The optimum (1, 1) and its neighbours are done or running: what is left are the corners.
    done = [(1, 1), (0, 1), (1, 0), (2, 1), (1, 2)]
    running = [(0, 0)]
    history = [Observation(i, {"x": x, "y": y}, TrialState.COMPLETE, _loss(x, y)) for i, (x, y) in enumerate(done)]
    pending = [Pending(len(done), {"x": x, "y": y}) for x, y in running]
    proposal = suggester.suggest(request(SPACE, history, pending, count=3, seed=seed))
    proposed = [(p.params["x"], p.params["y"]) for p in proposal.suggestions]
    assert len(proposed) == 3
    assert sorted(proposed) == sorted(set(points) - set(done) - set(running))
