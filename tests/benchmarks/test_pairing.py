"""Pairing: every optimizer evaluates the same starting points first, for the same problem and seed."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import pytest

from benchmarks import optimizers
from benchmarks.optimizers import DESIGN_SIZE, design, drive
from benchmarks.problems import PROBLEMS, Assignment, Problem

Runner = Callable[[Problem, int, int, int], tuple[list[float], int]]
RUNNERS: dict[str, Runner] = {
    "kubetune:tpe": lambda p, n, s, k: optimizers.run_kubetune("tpe", p, n, s, k),
    "kubetune:cmaes": lambda p, n, s, k: optimizers.run_kubetune("cmaes", p, n, s, k),
    "kubetune:random": lambda p, n, s, k: optimizers.run_kubetune("random", p, n, s, k),
    "optuna:tpe": lambda p, n, s, k: optimizers.run_optuna("tpe", p, n, s, k),
    "optuna:cmaes": lambda p, n, s, k: optimizers.run_optuna("cmaes", p, n, s, k),
    "skopt:gp": optimizers.run_skopt,
    "random": optimizers.run_random,
}


def _recording(problem: Problem) -> tuple[Problem, list[Assignment]]:
    seen: list[Assignment] = []

    def evaluate(params: Assignment) -> float:
        seen.append(dict(params))
        return problem.evaluate(params)

    return dataclasses.replace(problem, evaluate=evaluate), seen


@pytest.mark.parametrize("optimizer", sorted(RUNNERS))
@pytest.mark.parametrize("problem", ["branin", "mixed"])
def test_every_optimizer_first_evaluates_the_seeds_shared_starting_points(optimizer: str, problem: str) -> None:
    recording, seen = _recording(PROBLEMS[problem])
    pending = 1 if optimizer == "skopt:gp" else 4
    values, _ = RUNNERS[optimizer](recording, DESIGN_SIZE + 2, 7, pending)
    assert len(values) == DESIGN_SIZE + 2
    assert seen[:DESIGN_SIZE] == design(PROBLEMS[problem], 7)
    assert values[:DESIGN_SIZE] == [PROBLEMS[problem].evaluate(p) for p in design(PROBLEMS[problem], 7)]


def test_seeds_and_problems_get_their_own_starting_points() -> None:
    branin = PROBLEMS["branin"]
    assert design(branin, 0) == design(branin, 0)
    assert design(branin, 0) != design(branin, 1)
    assert len(design(branin, 0)) == DESIGN_SIZE
    assert all(branin.space().contains(p) for p in design(branin, 3))


def test_the_harness_counts_assignments_equal_to_an_evaluated_or_pending_one() -> None:
    problem = PROBLEMS["branin"]
    points = [{"x1": 1.0, "x2": 2.0}, {"x1": 1.0, "x2": 2.0}, {"x1": 3.0, "x2": 4.0}, {"x1": 1.0, "x2": 2.0}]
    source = iter(enumerate(points))
    told: list[float] = []
    values, duplicates = drive(problem, 4, 2, lambda: next(source), lambda _i, _p, v: told.append(v))
    assert duplicates == 2  # the second (pending) and the fourth (evaluated) repeat the first
    assert values == told and len(values) == 4


def test_every_optimizer_is_run_with_settings_written_out() -> None:
    names = ("kubetune:tpe", "kubetune:bayesian", "kubetune:auto", "optuna:tpe", "optuna:gp", "skopt:gp", "random")
    recorded = optimizers.settings(names, PROBLEMS["branin"])
    assert recorded["optuna:tpe"]["multivariate"] is True
    assert recorded["optuna:tpe"]["n_startup_trials"] == DESIGN_SIZE
    assert recorded["optuna:gp"]["n_startup_trials"] == DESIGN_SIZE
    assert recorded["skopt:gp"]["n_initial_points"] == DESIGN_SIZE
    assert recorded["kubetune:auto"]["chooses"] == "Bayesian"
    assert "optuna" in optimizers.versions()


def test_auto_is_not_run_twice_where_it_delegates_to_bayesian() -> None:
    from benchmarks.search import auto_alias  # noqa: PLC0415 -- the run module, heavier

    assert auto_alias("branin", 50) == "kubetune:bayesian"
    assert auto_alias("gbm-cancer", 50) == "kubetune:bayesian"


@pytest.mark.parametrize("optimizer", sorted(RUNNERS))
def test_in_a_conditional_space_every_optimizer_sets_momentum_exactly_for_sgd(optimizer: str) -> None:
    # Optuna asks define-by-run, scikit-optimize searches momentum always and it is dropped where
    # inactive: every optimizer's assignments are points of the same conditional space.
    problem = PROBLEMS["net-conditional"]
    recording, seen = _recording(problem)
    RUNNERS[optimizer](recording, DESIGN_SIZE + 4, 3, 1)
    space = problem.space()
    assert len(seen) == DESIGN_SIZE + 4
    for params in seen:
        assert ("momentum" in params) == (params["optimizer"] == "sgd"), params
        assert space.contains(params)


def test_the_real_problems_are_cheap_deterministic_and_tell_configurations_apart() -> None:
    for name in ("gbm-diabetes", "net-schedule", "net-conditional"):
        problem = PROBLEMS[name]
        points = design(problem, 0)[:4]
        values = [problem.evaluate(p) for p in points]
        assert values == [problem.evaluate(p) for p in points]
        assert all(0.0 <= v <= 1.5 for v in values) and len(set(values)) > 1, (name, values)
