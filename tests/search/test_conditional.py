"""Conditional parameters: only active ones are sampled, grid lists valid combinations once, models accept them."""

from __future__ import annotations

import pytest

from kubetune.api import Algorithm, Parameter
from kubetune.search import registry
from kubetune.search.base import Observation, SearchRequest, TrialState

from .helpers import space_of

SPACE = space_of(
    Parameter(name="optimizer", type="categorical", values=["adam", "sgd"]),
    Parameter.model_validate(
        {"name": "momentum", "min": 0.5, "max": 0.9, "step": 0.2, "when": {"parameter": "optimizer", "in": ["sgd"]}}
    ),
    Parameter.model_validate(
        {
            "name": "nesterov",
            "type": "categorical",
            "values": [True, False],
            "when": {"parameter": "optimizer", "in": ["sgd"]},
        }
    ),
    Parameter(name="lr", min=0.001, max=0.1, scale="log", step=None),
)
GRID = space_of(*(d.parameter for d in SPACE.dimensions[:3]), Parameter(name="layers", type="int", min=1, max=2))


def loss(params: dict[str, object]) -> float:
    lr = float(params["lr"])  # type: ignore[arg-type]
    if params["optimizer"] == "sgd":
        return abs(lr - 0.05) + (0.9 - float(params["momentum"])) + (0 if params["nesterov"] else 0.1)  # type: ignore[arg-type]
    return abs(lr - 0.01) + 0.2


def test_grid_enumerates_only_valid_combinations_once() -> None:
    points = list(GRID.grid())
    # adam x 2 layers, sgd x 3 momenta x 2 nesterov x 2 layers
    assert len(points) == 2 + 12 == GRID.size == GRID.grid_size()
    assert all("momentum" not in p and "nesterov" not in p for p in points if p["optimizer"] == "adam")
    assert len({tuple(sorted(p.items())) for p in points}) == len(points)


@pytest.mark.parametrize("name", ["random", "sobol", "tpe", "bayesian", "cmaes", "nsga2", "grid", "auto"])
def test_every_algorithm_gives_exactly_the_active_parameters(name: str) -> None:
    space = GRID if name == "grid" else SPACE
    suggester = registry.create(Algorithm.model_validate({"name": name}), space)
    history: list[Observation] = []
    for _ in range(14):
        (suggestion,) = suggester.suggest(SearchRequest(space, list(history), [], 1, 5, 30)).suggestions
        params = dict(suggestion.params)
        assert space.contains(params), params
        value = loss(params) if space is SPACE else float(len(history))
        history.append(Observation(len(history), params, TrialState.COMPLETE, value, None, suggestion.tags))
    assert {p.params["optimizer"] for p in history} == {"adam", "sgd"}


def test_tpe_learns_within_the_active_sub_space() -> None:
    suggester = registry.create(Algorithm.model_validate({"name": "tpe", "settings": {"nInitialPoints": 8}}), SPACE)
    history: list[Observation] = []
    for _ in range(40):
        (suggestion,) = suggester.suggest(SearchRequest(SPACE, list(history), [], 1, 1, 40)).suggestions
        history.append(Observation(len(history), suggestion.params, TrialState.COMPLETE, loss(dict(suggestion.params))))
    late = [o for o in history[20:] if o.params["optimizer"] == "sgd"]
    assert late and sum(o.params["momentum"] == 0.9 for o in late) > len(late) / 2
