"""tpe: Optuna's TPE rebuilt from the history; constant liar spreads batches."""

from __future__ import annotations

from kubetune.api import Parameter
from kubetune.search.base import Assignment, Pending
from kubetune.search.tpe import TPE

from .helpers import optimize, request, space_of

SPACE = space_of(
    Parameter(name="x", min=0, max=1),
    Parameter(name="opt", type="categorical", values=["sgd", "adam", "rmsprop", "lamb"]),
)


def loss(params: Assignment) -> float:
    x = params["x"]
    assert isinstance(x, float)
    return (x - 0.3) ** 2 + (0.0 if params["opt"] == "adam" else 1.0)


def test_tpe_learns_the_best_category() -> None:
    history = optimize(TPE(SPACE, n_initial_points=8), SPACE, loss, trials=40, seed=1)
    modelled = [o.params["opt"] for o in history[8:]]
    # Random search would pick adam a quarter of the time.
    assert modelled.count("adam") / len(modelled) > 0.4


def test_constant_liar_keeps_a_batch_away_from_running_trials() -> None:
    history = optimize(TPE(SPACE, n_initial_points=8), SPACE, loss, trials=20, seed=1)
    pending = [Pending(20, {"x": 0.3, "opt": "adam"})]
    proposal = TPE(SPACE).suggest(request(SPACE, history, pending, count=4))
    xs = [s.params["x"] for s in proposal.suggestions]
    assert len(set(xs)) == 4 and 0.3 not in xs
