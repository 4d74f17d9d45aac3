"""Mistakes a migration from Katib makes are one clear line each; the new fields validate."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from kubetune.api import parse_task
from kubetune.errors import InvalidSpec
from tests.engine.conftest import task_manifest


def problems(manifest: dict[str, Any]) -> list[str]:
    with pytest.raises(InvalidSpec) as caught:
        parse_task(manifest)
    return [str(p) for p in caught.value.problems]


def with_container(**fields: Any) -> dict[str, Any]:
    manifest = task_manifest()
    manifest["spec"]["trialTemplate"]["spec"]["template"]["spec"]["containers"][0].update(fields)
    return manifest


def test_a_leftover_katib_placeholder_is_one_error_naming_its_field() -> None:
    found = problems(with_container(args=["--lr=${params.lr}", "--momentum=${trialParameters.momentum}"]))
    assert len(found) == 1
    assert found[0].startswith("spec.trialTemplate.spec.template.spec.containers[0].args[1]: ")
    assert "${trialParameters.momentum} is not a kubetune placeholder" in found[0]


def test_shell_expansions_in_a_script_are_not_mistaken_for_placeholders() -> None:
    script = 'python train.py --lr=${params.lr} --out="${HOME}/${RUN:-run}" --n=${#ARGS}'
    parse_task(with_container(command=["sh", "-c", script]))


def test_a_parameter_placeholder_where_kubetune_does_not_replace_it_is_an_error() -> None:
    found = problems(with_container(image="registry.example/train:${params.lr}"))
    assert found == [
        "spec.trialTemplate.spec.template.spec.containers[0].image: ${params.lr} is only replaced in a "
        "container's command, args and env values, not here"
    ]


def test_parameters_in_init_containers_are_replaced_so_they_pass() -> None:
    manifest = task_manifest()
    pod = manifest["spec"]["trialTemplate"]["spec"]["template"]["spec"]
    pod["initContainers"] = [{"name": "fetch", "image": "x", "args": ["--lr=${params.lr}"]}]
    parse_task(manifest)


def test_a_leftover_placeholder_in_a_trial_label_is_caught() -> None:
    manifest = task_manifest()
    manifest["spec"]["trialTemplate"]["metadata"] = {"labels": {"run": "${trialSpec.Name}"}}
    [found] = problems(manifest)
    assert found.startswith("spec.trialTemplate.metadata.labels.run: ${trialSpec.Name} is not a kubetune placeholder")


def test_a_katib_wrapped_trial_spec_says_what_kubetune_expects() -> None:
    manifest = task_manifest()
    job_spec = manifest["spec"]["trialTemplate"]["spec"]
    manifest["spec"]["trialTemplate"]["spec"] = {"apiVersion": "batch/v1", "kind": "Job", "spec": job_spec}
    [found] = problems(manifest)
    assert found.startswith("spec.trialTemplate.spec: must be the workload's spec, not a whole Job object")
    assert "trialTemplate.apiVersion and trialTemplate.kind, its spec up to trialTemplate.spec" in found


def test_each_additional_metric_may_name_its_own_aggregation() -> None:
    objective = {
        "metric": "loss",
        "direction": "minimize",
        "aggregation": "min",
        "additionalMetrics": ["accuracy", "seconds"],
        "metricAggregations": {"accuracy": "max"},
    }
    task = parse_task(task_manifest(objective=objective))
    assert [task.spec.objective.aggregation_of(m) for m in ("loss", "accuracy", "seconds")] == ["min", "max", "min"]
    objective["metricAggregations"] = {"acuracy": "max"}
    assert problems(task_manifest(objective=objective)) == [
        "spec.objective.metricAggregations.acuracy: names no additional or constraint metric"
    ]


def test_metric_names_with_spaces_need_the_json_or_regex_format() -> None:
    objective = {"metric": "valid_1 auc", "direction": "maximize", "additionalMetrics": ["training's auc"]}
    found = problems(task_manifest(objective=objective))
    assert found[0] == (
        "spec.objective.metric: 'valid_1 auc' holds a space, which the keyValue format cannot read "
        "(it reads name=value); set metricsCollector.format to json or regex"
    )
    assert found[1].startswith('spec.objective.additionalMetrics[0]: "training\'s auc" holds a space')
    parse_task(task_manifest(objective=objective, metricsCollector={"format": "json"}))
    for bad in ("valid_1  auc", " auc", "auc ", "a\tb"):
        assert problems(
            task_manifest(objective={"metric": bad, "direction": "minimize"}, metricsCollector={"format": "json"})
        )


@pytest.mark.parametrize(
    ("parameter", "expected"),
    [
        ({"distribution": "normal", "mean": 0.0}, "spec.parameters[0].sigma: is required by the normal distribution"),
        ({"distribution": "normal", "sigma": 1.0}, "spec.parameters[0].mean: is required by the normal distribution"),
        (
            {"distribution": "logNormal", "mean": 0.0, "sigma": 1.0, "min": -1.0},
            "spec.parameters[0].min: must be > 0 for the logNormal distribution (its values are positive)",
        ),
        (
            {"distribution": "normal", "mean": 0.0, "sigma": 1.0, "scale": "log"},
            "spec.parameters[0].scale: must be linear with the normal distribution (it sets the shape)",
        ),
        (
            {"min": 0.0, "max": 1.0, "mean": 0.5},
            "spec.parameters[0].mean: applies to the normal and logNormal distributions only",
        ),
        (
            {"type": "categorical", "values": ["a"], "distribution": "normal"},
            "spec.parameters[0].distribution: does not apply to a categorical parameter",
        ),
    ],
)
def test_distribution_parameters_are_checked(parameter: dict[str, Any], expected: str) -> None:
    manifest = task_manifest(parameters=[{"name": "x", **parameter}])
    assert expected in problems(manifest)


def test_a_normal_parameter_needs_no_bounds_and_cannot_be_the_hyperband_resource() -> None:
    normal = {"name": "x", "distribution": "normal", "mean": 0.0, "sigma": 1.0}
    parse_task(task_manifest(parameters=[normal]))
    algorithm = {"name": "hyperband", "settings": {"resourceParameter": "x"}}
    found = problems(task_manifest(parameters=[copy.deepcopy(normal)], algorithm=algorithm))
    assert found == ["spec.algorithm.settings.resourceParameter: must name an int or double range, 'x' is not one"]
