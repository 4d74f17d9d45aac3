"""What a benchmark run covers: every kubetune algorithm meets a raw library of its own family."""

from __future__ import annotations

import pytest

from benchmarks.analysis import FAMILY, MULTI_OBJECTIVE_FAMILY
from benchmarks.search import make_plan


@pytest.mark.parametrize("quick", [True, False], ids=["quick", "full"])
@pytest.mark.parametrize("gp", [True, False], ids=["with-torch", "without-torch"])
def test_every_kubetune_algorithm_family_has_a_raw_peer_in_the_run(quick: bool, gp: bool) -> None:
    plan = make_plan(quick, gp)
    ours = [o for o in plan.sequential if o.startswith("kubetune:") and o != "kubetune:auto"]
    assert {"kubetune:tpe", "kubetune:bayesian", "kubetune:cmaes", "kubetune:random"} <= set(ours)
    for optimizer in ours:
        assert set(FAMILY[optimizer]) & set(plan.sequential), optimizer
    assert ("optuna:gp" in plan.sequential) == gp  # GPSampler needs torch; scikit-optimize stands in
    assert {"optuna:tpe", "optuna:gp"} & set(plan.parallel)


def test_the_full_run_has_thirty_seeds_per_test_function_and_every_checkpoint() -> None:
    plan = make_plan(quick=False, gp=True)
    assert plan.seeds >= 30 and plan.evaluations == 50 and plan.repeats >= 5
    assert len(plan.models) == 6  # three of them added after the algorithms were tuned


@pytest.mark.parametrize("gp", [True, False], ids=["with-torch", "without-torch"])
def test_every_multi_objective_algorithm_meets_the_raw_sampler_it_runs(gp: bool) -> None:
    plan = make_plan(quick=False, gp=gp)
    assert set(plan.multi_objective) == {"zdt1", "mlp-digits-size"}
    ours = [o for o in plan.multi_objective_optimizers if o.startswith("kubetune:") and o != "kubetune:auto"]
    assert {"kubetune:tpe", "kubetune:nsga2"} <= set(ours)
    assert ("kubetune:bayesian-optuna-gp" in ours) == gp
    assert "kubetune:bayesian" in ours  # ParEGO, what auto runs
    for optimizer in ours:
        if optimizer == "kubetune:bayesian" and not gp:
            continue  # no raw library runs ParEGO; its nearest, GPSampler, needs torch
        assert set(MULTI_OBJECTIVE_FAMILY[optimizer]) & set(plan.multi_objective_optimizers), optimizer


def test_asha_is_run_next_to_the_median_rule_and_no_early_stopping() -> None:
    plan = make_plan(quick=True, gp=False)
    assert {"none", "median", "asha"} <= set(plan.early_stopping_rules) and plan.early_stopping
