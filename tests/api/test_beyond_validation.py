"""Misuses of objectives, constraints, conditions, warm start and ASHA: one line each, naming the field,
and the CRD's CEL rules say the same where the API server can check it."""

from __future__ import annotations

from typing import Any

import pytest

from kubetune.api import parse_task
from kubetune.errors import InvalidSpec
from tests.engine.conftest import task_manifest

TWO = {"metrics": [{"name": "loss", "direction": "minimize"}, {"name": "mb", "direction": "minimize"}]}
OPTIMIZER = {"name": "optimizer", "type": "categorical", "values": ["adam", "sgd"]}


def momentum(**when: Any) -> dict[str, Any]:
    return {"name": "momentum", "min": 0.5, "max": 0.99, "when": {"parameter": "optimizer", "in": ["sgd"], **when}}


def problems(**spec: Any) -> list[str]:
    with pytest.raises(InvalidSpec) as caught:
        parse_task(task_manifest(**spec))
    return [line for line in str(caught.value).splitlines() if line.strip()]


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (
            {"objective": {**TWO, "metric": "loss"}},
            "spec.objective.metrics: replaces metric and direction",
        ),
        ({"objective": {"metrics": TWO["metrics"][:1]}}, "spec.objective.metrics: list should have at least 2 items"),
        ({"objective": {**TWO, "goal": 0.1}}, "spec.objective.goal: applies to a single objective only"),
        ({"objective": {"direction": "minimize"}}, "spec.objective.metric: is required"),
        (
            {"objective": {"metric": "loss", "direction": "minimize", "constraints": [{"metric": "mb"}]}},
            "spec.objective.constraints[0].max: give exactly one of max and min",
        ),
        (
            {"objective": TWO, "algorithm": {"name": "hyperband", "settings": {"resourceParameter": "layers"}}},
            "spec.algorithm.name: hyperband optimizes a single",
        ),
        ({"objective": TWO, "budget": {"patience": 3}}, "spec.budget.patience: applies to a single objective only"),
        ({"parameters": [momentum()]}, "spec.parameters[0].when.parameter: names no parameter: 'optimizer'"),
        (
            {"parameters": [{"name": "optimizer", "min": 0, "max": 1}, momentum()]},
            "spec.parameters[1].when.parameter: must name a searched categorical parameter",
        ),
        (
            {"parameters": [OPTIMIZER, momentum(**{"in": ["rmsprop"]})]},
            "spec.parameters[1].when.in[0]: 'rmsprop' is not",
        ),
        (
            {
                "parameters": [
                    {"name": "a", "type": "categorical", "values": [1, 2], "when": {"parameter": "b", "in": [1]}},
                    {"name": "b", "type": "categorical", "values": [1, 2], "when": {"parameter": "a", "in": [1]}},
                ]
            },
            "spec.parameters[0].when.parameter: makes a cycle of conditions: a -> b -> a",
        ),
        (
            {"warmStart": {"enqueue": [{"lr": 0.1}]}},
            "spec.warmStart.enqueue[0]: gives no value for parameter 'layers'",
        ),
        (
            {"warmStart": {"enqueue": [{"lr": 0.1, "layers": 9}]}},
            "spec.warmStart.enqueue[0].layers: 9 is outside [1, 4]",
        ),
        (
            {"earlyStopping": {"rule": "median", "reductionFactor": 2}},
            "spec.earlyStopping.reductionFactor: applies to the asha rule only",
        ),
        (
            {"earlyStopping": {"rule": "asha", "minTrials": 2}},
            "spec.earlyStopping.minTrials: applies to the median rule only",
        ),
        (
            {"earlyStopping": {"rule": "asha", "minResource": 9, "maxResource": 9}},
            "spec.earlyStopping.minResource: must be below maxResource (9)",
        ),
        (
            {"earlyStopping": {"rule": "median", "maxResource": 27}},
            "spec.earlyStopping.maxResource: applies to the asha rule only",
        ),
        ({"warmStart": {"tasks": ["Not_A_Name"]}}, "spec.warmStart.tasks[0]: string should match pattern"),
        (
            {
                "algorithm": {"name": "hyperband", "settings": {"resourceParameter": "layers"}},
                "warmStart": {"tasks": ["earlier"]},
            },
            "spec.warmStart.tasks: does not apply to hyperband",
        ),
    ],
)
def test_each_misuse_is_one_line_naming_its_field(spec: dict[str, Any], expected: str) -> None:
    found = problems(**spec)
    assert len(found) == 1, found
    assert found[0].startswith(expected), found


def test_a_placeholder_of_a_conditional_parameter_needs_a_default() -> None:
    container = {"name": "t", "image": "x", "command": ["train", "--momentum=${params.momentum}"]}
    template = {"spec": {"template": {"spec": {"containers": [container]}}}}
    found = problems(parameters=[OPTIMIZER, momentum()], trialTemplate=template)
    assert len(found) == 1 and "give it parameters[].when.default" in found[0]
    parse_task(task_manifest(parameters=[OPTIMIZER, momentum(default=0.0)], trialTemplate=template))


def test_an_enqueued_point_may_leave_out_inactive_parameters_and_not_give_them() -> None:
    parameters = [OPTIMIZER, momentum()]
    parse_task(task_manifest(parameters=parameters, warmStart={"enqueue": [{"optimizer": "adam"}]}))
    found = problems(parameters=parameters, warmStart={"enqueue": [{"optimizer": "adam", "momentum": 0.9}]})
    assert found == ["spec.warmStart.enqueue[0].momentum: is inactive here: its condition on 'optimizer' does not hold"]


def test_a_cycle_of_conditions_is_named_in_the_order_the_conditions_follow() -> None:
    def conditional(name: str, parent: str) -> dict[str, Any]:
        return {"name": name, "type": "categorical", "values": [1, 2], "when": {"parameter": parent, "in": [1]}}

    found = problems(parameters=[conditional("a", "b"), conditional("b", "c"), conditional("c", "a")])
    assert found == [
        "spec.parameters[0].when.parameter: makes a cycle of conditions: a -> b -> c -> a; "
        "spec.parameters[1].when.parameter: makes a cycle of conditions: b -> c -> a -> b; "
        "spec.parameters[2].when.parameter: makes a cycle of conditions: c -> a -> b -> c"
    ], found
