"""Validation of trial templates of other workload kinds: CEL conditions, the file source."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from kubetune.api import kinds, parse_task
from kubetune.cli import main
from tests.api.test_migration_checks import problems
from tests.engine.conftest import task_manifest

CONTAINER = {"name": "train", "image": "t:1", "command": ["python", "train.py"], "args": ["--lr=${params.lr}"]}


def custom(**template: Any) -> dict[str, Any]:
    manifest = task_manifest()
    manifest["spec"]["trialTemplate"] = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Workflow",
        "spec": {"templates": [{"name": "train", "container": {"x": 1}, "pod": {"containers": [CONTAINER]}}]},
        **template,
    }
    return manifest


def test_a_kind_kubetune_does_not_know_needs_its_conditions_and_primary_pod_labels() -> None:
    assert problems(custom()) == [
        f"spec.trialTemplate.{key}: is required for a Workflow (argoproj.io/v1alpha1), a kind kubetune has no "
        "built-in knowledge of (see docs/workloads.md)"
        for key in ("successCondition", "failureCondition", "primaryPodLabels")
    ]


def test_a_cel_condition_that_does_not_compile_is_one_line_naming_the_field(tmp_path: Any) -> None:
    manifest = custom(
        successCondition="object.status.phase == 'Succeeded'",
        failureCondition="object.status.phase ==",
        primaryPodLabels={"role": "train"},
    )
    assert problems(manifest) == [
        "spec.trialTemplate.failureCondition: is not a valid CEL expression: it does not parse at line 1, column 21"
    ]


@pytest.mark.parametrize(
    ("collector", "expected"),
    [
        ({"source": "file"}, "spec.metricsCollector.path: is required by, and only allowed with, the file source"),
        ({"path": "/m.json"}, "spec.metricsCollector.path: is required by, and only allowed with, the file source"),
    ],
)
def test_the_file_source_needs_a_path(collector: dict[str, Any], expected: str) -> None:
    manifest = task_manifest()
    manifest["spec"]["metricsCollector"] = collector
    assert problems(manifest) == [expected]


def test_early_stopping_reads_a_metrics_file_only_when_it_is_followed() -> None:
    manifest = task_manifest()
    manifest["spec"]["metricsCollector"] = {"source": "file", "path": "/m/metrics.json", "format": "json"}
    manifest["spec"]["earlyStopping"] = {"rule": "median"}
    [found] = problems(manifest)
    assert found.startswith("spec.metricsCollector.follow: must be true with earlyStopping")
    manifest["spec"]["metricsCollector"]["follow"] = True
    parse_task(manifest)


@pytest.mark.parametrize(
    ("collector", "expected"),
    [
        ({"follow": True}, "spec.metricsCollector.follow: is only for the file source"),
        (
            {"source": "file", "path": "/metrics.json", "follow": True},
            "spec.metricsCollector.path: must be in a directory other than / to be followed",
        ),
        (
            {"source": "file", "path": "/logs", "format": "tfevent"},
            "spec.metricsCollector.follow: must be true for the tfevent format",
        ),
        ({"format": "tfevent"}, "spec.metricsCollector.format: tfevent is only for the file source"),
    ],
)
def test_following_needs_a_file_in_a_directory_of_its_own(collector: dict[str, Any], expected: str) -> None:
    manifest = task_manifest()
    manifest["spec"]["metricsCollector"] = collector
    [found] = problems(manifest)
    assert found.startswith(expected)


def test_validate_accepts_the_workload_examples(capsys: pytest.CaptureFixture[str]) -> None:
    for example in ("pytorchjob-ddp", "jobset", "rayjob", "kueue"):
        assert main(["validate", str(Path(__file__).resolve().parents[2] / "examples" / f"{example}.yaml")]) == 0
    assert capsys.readouterr().err == ""


ARGO = {
    "successCondition": "has(object.status.phase) && object.status.phase == 'Succeeded'",
    "failureCondition": "has(object.status.phase) && object.status.phase == 'Failed'",
    "primaryPodLabels": {"stage": "train"},
}


def argo(**template: Any) -> dict[str, Any]:
    """An Argo Workflow whose containers are its templates' (no pod template anywhere)."""
    return custom(
        spec={
            "entrypoint": "train",
            "templates": [{"name": "train", "container": {"image": "t:1", "command": ["python", "--lr=${params.lr}"]}}],
        },
        **{**ARGO, **template},
    )


def test_a_kind_whose_controller_makes_pods_of_its_containers_needs_the_pods_container_name() -> None:
    parse_task(argo(primaryContainer="main"))
    [line] = problems(argo())
    assert line.startswith("spec.trialTemplate.primaryContainer: is required for a Workflow without pod templates")


def test_a_placeholder_in_a_workflow_templates_script_source_is_not_replaced() -> None:
    manifest = argo(primaryContainer="main")
    manifest["spec"]["trialTemplate"]["spec"]["templates"][0]["script"] = {"image": "t:1", "source": "${params.lr}"}
    assert problems(manifest) == [
        "spec.trialTemplate.spec.templates[0].script.source: ${params.lr} is only replaced in a container's "
        "command, args and env values, not here"
    ]


def test_only_a_mapping_with_an_image_and_something_to_run_is_taken_for_a_controllers_container() -> None:
    spec = {
        "image": "ray:2",  # a field of the kind's own, not a container
        "steps": [{"name": "fit", "image": "t:1", "script": "python fit.py"}],
        "pod": {"containers": [{"name": "c", "image": "t:1", "command": ["x"]}]},  # a pod template's
    }
    assert [loc for loc, _ in kinds.container_objects(spec)] == [("steps", 0)]
