"""What a benchmark run covers: every kubetune algorithm meets a raw library of its own family."""

from __future__ import annotations

import pytest

from benchmarks.analysis import FAMILY
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
    assert len(plan.models) == 3
