"""Katib's Push collector (``katib.report_metrics``, what Katib's Python SDK uses) converts to ``kubetune.report``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

import kubetune
from kubetune.api import parse_task
from kubetune.convert import convert
from kubetune.metrics import read_log, wanted_metrics

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "katib"


def experiment(**spec: Any) -> dict[str, Any]:
    base = yaml.safe_load((FIXTURES / "hyperband.yaml").read_text())
    base["spec"].update(spec)
    return base


def test_the_push_collector_becomes_logs_read_from_kubetune_report(capsys: pytest.CaptureFixture[str]) -> None:
    out = convert(experiment(metricsCollectorSpec={"collector": {"kind": "Push"}}))
    assert out.manifest["spec"]["metricsCollector"] == {"source": "logs"}
    [note] = [n for n in out.notes if n.katib == "spec.metricsCollectorSpec.collector.kind"]
    assert note.changed, "the trainer must change: a line on stderr too"
    assert "replace kubeflow.katib.report_metrics({...}) with kubetune.report(**{...})" in note.message
    # What the changed trainer prints is what the converted task's collector reads.
    task = parse_task(out.manifest)
    kubetune.report(**{task.spec.objective.metric: 0.25}, step=1)
    reading = read_log(capsys.readouterr().out, task.spec.metrics_collector, wanted_metrics(task.spec.objective))
    assert reading.series[task.spec.objective.metric].last == 0.25
