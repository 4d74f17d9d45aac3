"""The Argo CD health check documented in docs/gitops.md, run with Lua 5.1 as Argo CD runs it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lupa.lua51
import pytest
import yaml

from .chart import ROOT, render

DOCS = ROOT / "docs"
SCRIPT = (DOCS / "argocd" / "hpotask-health.lua").read_text()


def health(obj: dict[str, Any]) -> dict[str, str]:
    """Run the health script the way Argo CD does: ``obj`` is a global table, the script returns one."""
    lua = lupa.lua51.LuaRuntime(unpack_returned_tuples=True)
    lua.globals().obj = lua.table_from(obj, recursive=True)
    result = lua.execute(SCRIPT)
    return dict(result.items())


def task(status: dict[str, Any] | None = None, generation: int = 1) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "apiVersion": "kubetune.io/v1alpha1",
        "kind": "HPOTask",
        "metadata": {"name": "digits-demo", "generation": generation},
        "spec": {},
    }
    if status is not None:
        obj["status"] = status
    return obj


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (None, "Progressing"),
        ({"phase": "Pending", "observedGeneration": 1}, "Progressing"),
        ({"phase": "Running", "observedGeneration": 1}, "Progressing"),
        ({"phase": "Suspended", "observedGeneration": 1}, "Suspended"),
        ({"phase": "Succeeded", "observedGeneration": 1}, "Healthy"),
        ({"phase": "Stopped", "observedGeneration": 1, "reason": "StoppedByUser"}, "Healthy"),
        ({"phase": "Failed", "observedGeneration": 1, "message": "5 trials failed"}, "Degraded"),
        ({"phase": "Something", "observedGeneration": 1}, "Unknown"),
    ],
)
def test_health_follows_the_task_phase(status: dict[str, Any] | None, expected: str) -> None:
    assert health(task(status))["status"] == expected


def test_a_status_older_than_the_spec_is_progressing_whatever_its_phase() -> None:
    result = health(task({"phase": "Succeeded", "observedGeneration": 1}, generation=2))

    assert result == {"status": "Progressing", "message": "Waiting for the operator to observe generation 2"}


def test_an_invalid_spec_is_degraded_with_the_condition_message() -> None:
    conditions = [
        {"type": "Running", "status": "False"},
        {"type": "Valid", "status": "False", "reason": "InvalidSpec", "message": "parameters[0].min > max"},
    ]

    result = health(task({"phase": "Pending", "observedGeneration": 1, "conditions": conditions}))

    assert result == {"status": "Degraded", "message": "parameters[0].min > max"}


def test_the_message_shows_progress_and_the_best_trial() -> None:
    status = {
        "phase": "Running",
        "observedGeneration": 1,
        "progress": "12/50",
        "bestTrial": {"name": "digits-demo-7", "objective": 0.9733, "parameters": {"lr": 0.01}},
        "message": "Created 2 trials (14/50).",
    }

    message = health(task(status))["message"]

    assert message == "Running: 12/50 trials, best 0.9733 (digits-demo-7). Created 2 trials (14/50)."


def test_gitops_doc_embeds_the_tested_health_check() -> None:
    blocks = (DOCS / "gitops.md").read_text().split("```yaml\n")[1:]
    config_maps = [yaml.safe_load(block.split("```")[0]) for block in blocks]
    argocd_cm = next(cm for cm in config_maps if cm.get("kind") == "ConfigMap")

    assert argocd_cm["data"]["resource.customizations.health.kubetune.io_HPOTask"] == SCRIPT


@pytest.mark.parametrize("name", ["kubetune-application.yaml", "experiments-application.yaml"])
def test_gitops_doc_shows_the_example_applications(name: str) -> None:
    assert (DOCS / "argocd" / name).read_text() in (DOCS / "gitops.md").read_text()


def test_operator_application_points_at_the_chart_with_values_the_chart_accepts() -> None:
    application = yaml.safe_load((DOCS / "argocd" / "kubetune-application.yaml").read_text())
    source = application["spec"]["source"]

    assert application["kind"] == "Application"
    assert Path(ROOT / source["path"] / "Chart.yaml").exists()
    render(source["helm"]["valuesObject"])  # raises if values.schema.json rejects them
