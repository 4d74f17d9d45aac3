"""What every built-in algorithm promises, whatever it is (after optuna/testing/pytest_samplers.py)."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

import numpy as np
import pytest

from kubetune.api import Algorithm, Parameter
from kubetune.search import registry
from kubetune.search.base import Assignment, Observation, Pending, Suggester, TrialState
from kubetune.search.space import SearchSpace

from .helpers import optimize, request

SPACE = SearchSpace.from_parameters(
    [
        Parameter(name="x", min=0, max=1),
        Parameter(name="lr", min=1e-4, max=1, scale="log"),
        Parameter(name="epochs", type="int", min=1, max=9),
        Parameter(name="optimizer", type="categorical", values=["sgd", "adam", "lamb"]),
        Parameter(name="momentum", min=0.9, max=0.999, scale="reverse_log"),
        Parameter(name="image_size", value=224),
    ]
)
EXPERIMENTS = [
    {"x": x, "lr": 0.01, "epochs": e, "optimizer": "adam", "momentum": 0.9} for x in (0.1, 0.5, 0.9) for e in (1, 9)
]


def _algorithm(name: str, **settings: object) -> Callable[[SearchSpace], Suggester]:
    def build(space: SearchSpace) -> Suggester:
        algorithm = Algorithm.model_validate(
            {"name": name, "settings": settings} | ({"experiments": EXPERIMENTS} if name == "experiments" else {})
        )
        return registry.create(algorithm, space)

    return build


ALGORITHMS: dict[str, Callable[[SearchSpace], Suggester]] = {
    "auto": _algorithm("auto"),
    "random": _algorithm("random"),
    "grid": _algorithm("grid", points_per_dimension=3),
    "sobol": _algorithm("sobol"),
    "bayesian": _algorithm("bayesian", n_initial_points=3),
    "bayesian-optuna-gp": _algorithm("bayesian", n_initial_points=3, backend="optuna-gp"),
    "tpe": _algorithm("tpe", n_initial_points=3),
    "cmaes": _algorithm("cmaes", population_size=4),
    "hyperband": _algorithm("hyperband", resource_parameter="epochs"),
    "experiments": _algorithm("experiments"),
}
MODEL_BASED = {"auto", "bayesian", "bayesian-optuna-gp", "tpe", "cmaes"}
STOCHASTIC = {"auto", "random", "sobol", "bayesian", "bayesian-optuna-gp", "tpe", "cmaes", "hyperband"}


def loss(params: Assignment) -> float:
    """A smooth loss with its minimum inside the space."""
    x, lr, epochs = params["x"], params["lr"], params["epochs"]
    assert isinstance(x, float) and isinstance(lr, float) and isinstance(epochs, int)
    return (x - 0.3) ** 2 + (math.log10(lr) + 2) ** 2 / 4 + (params["optimizer"] != "adam") * 0.5 + 1 / epochs


@functools.cache
def history_of(name: str) -> list[Observation]:
    """Six trials run two at a time, shared by the tests (model fits are the slow part)."""
    return optimize(ALGORITHMS[name](SPACE), SPACE, loss, trials=6, batch=2, seed=3)


@pytest.fixture(params=sorted(ALGORITHMS))
def name(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def test_every_suggestion_is_a_valid_assignment_with_plain_values(name: str) -> None:
    history = history_of(name)
    assert len(history) == 6
    for observation in history:
        assert SPACE.contains(observation.params), observation.params
        assert all(type(v) in (int, float, str, bool) for v in observation.params.values())
        assert all(type(v) in (int, float, str, bool) for v in observation.tags.values())


def test_the_same_request_gives_the_same_proposal_after_a_restart(name: str) -> None:
    history = history_of(name)
    pending = [Pending(len(history), history[-1].params, history[-1].resource, history[-1].tags)]
    first = ALGORITHMS[name](SPACE).suggest(request(SPACE, history[:-1], pending, count=2, seed=3))
    again = ALGORITHMS[name](SPACE).suggest(request(SPACE, history[:-1], pending, count=2, seed=3))
    assert first == again


def test_another_seed_gives_other_suggestions(name: str) -> None:
    if name not in STOCHASTIC:
        pytest.skip("deterministic by design")
    one = ALGORITHMS[name](SPACE).suggest(request(SPACE, count=2, seed=1))
    two = ALGORITHMS[name](SPACE).suggest(request(SPACE, count=2, seed=2))
    assert one.suggestions != two.suggestions


def test_no_more_than_count_suggestions(name: str) -> None:
    for count in (1, 3):
        proposal = ALGORITHMS[name](SPACE).suggest(request(SPACE, count=count))
        assert len(proposal.suggestions) <= count
        assert proposal.suggestions, proposal.reason


def test_failed_stopped_and_metricless_trials_do_not_break_the_algorithm(name: str) -> None:
    rng = np.random.default_rng(0)
    states = [
        (TrialState.COMPLETE, 1.0),
        (TrialState.FAILED, None),
        (TrialState.COMPLETE, None),
        (TrialState.STOPPED, 2.0),
        (TrialState.STOPPED, None),
        (TrialState.COMPLETE, math.inf),
        (TrialState.COMPLETE, math.nan),
        (TrialState.COMPLETE, 0.5),
        (TrialState.COMPLETE, 0.7),
        (TrialState.FAILED, None),
        (TrialState.COMPLETE, 0.2),
    ]
    history = [Observation(i, SPACE.sample(rng), s, v) for i, (s, v) in enumerate(states)]
    history.append(Observation(len(history), {"x": 0.5}, TrialState.COMPLETE, 0.1))  # from an older space
    proposal = ALGORITHMS[name](SPACE).suggest(request(SPACE, history, count=2))
    assert proposal.suggestions
    assert all(SPACE.contains(s.params) for s in proposal.suggestions)


def test_parallel_suggestions_differ_from_each_other_and_from_running_trials(name: str) -> None:
    history = history_of(name)
    pending = [Pending(len(history) + i, s.params, s.resource, s.tags) for i, s in enumerate(history[-2:])]
    proposal = ALGORITHMS[name](SPACE).suggest(request(SPACE, history[:-2], pending, count=3))
    keys: list[object] = [SPACE.key(s.params) for s in proposal.suggestions]
    if name == "hyperband":
        # Promotions repeat a configuration at a larger resource; the pair is what must differ.
        keys = [(k, s.resource) for k, s in zip(keys, proposal.suggestions, strict=True)]
        running: set[object] = {(SPACE.key(p.params), p.resource) for p in pending}
    else:
        running = {SPACE.key(p.params) for p in pending}
    assert len(set(keys)) == len(keys)
    assert not set(keys) & running


@pytest.mark.parametrize("name", ["tpe", "cmaes"])  # bayesian: in test_bayesian.py
def test_a_model_based_algorithm_beats_its_first_random_trials(name: str) -> None:
    history = optimize(ALGORITHMS[name](SPACE), SPACE, loss, trials=12, seed=5)
    best_initial = min(o.value for o in history[:3] if o.value is not None)
    best = min(o.value for o in history if o.value is not None)
    assert best < best_initial
