"""``kubetune run`` end to end with what Katib users bring: metric names with spaces, a different
aggregation per metric, normal parameters, and a task written by ``kubetune convert``."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubetune.cli import main

# Prints LightGBM-style metric names as JSON lines: auc rises then falls, logloss falls.
TRAINER = """
import json, sys
lr = float(sys.argv[1])
for step, auc in enumerate([0.70, 0.90, 0.80], start=1):
    print(json.dumps({"iteration": step, "valid_1 auc": auc + lr, "valid_1 binary_logloss": 1.0 / step}), flush=True)
"""


def task(tmp_path: Path, **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "objective": {
            "metric": "valid_1 auc",
            "direction": "maximize",
            "aggregation": "max",
            "additionalMetrics": ["valid_1 binary_logloss"],
            "metricAggregations": {"valid_1 binary_logloss": "min"},
        },
        "algorithm": {"name": "random", "seed": 4},
        "parameters": [{"name": "lr", "type": "double", "distribution": "normal", "mean": 0.01, "sigma": 0.002}],
        "budget": {"maxTrials": 3, "parallelTrials": 1},
        "metricsCollector": {"format": "json", "stepKey": "iteration"},
        "trialTemplate": {
            "spec": {
                "template": {
                    "spec": {
                        "containers": [
                            {
                                "name": "train",
                                "image": "lgbm",
                                "command": [sys.executable, "-c", TRAINER, "${params.lr}"],
                            }
                        ]
                    }
                }
            }
        },
    }
    body.update(spec)
    return {"apiVersion": "kubetune.io/v1alpha1", "kind": "HPOTask", "metadata": {"name": "lgbm"}, "spec": body}


def run(tmp_path: Path, obj: dict[str, Any]) -> tuple[int, Path]:
    path = tmp_path / "task.yaml"
    path.write_text(yaml.safe_dump(obj))
    state = tmp_path / "state"
    return main(["run", str(path), "--plain", "--state-dir", str(state)]), state


def test_spaced_metrics_each_aggregated_their_own_way_and_a_normal_parameter(tmp_path: Path) -> None:
    code, state = run(tmp_path, task(tmp_path))
    assert code == 0
    status = json.loads((state / "status.json").read_text())
    assert status["phase"] == "Succeeded"
    best = status["bestTrial"]
    lr = best["parameters"]["lr"]
    assert isinstance(lr, float) and abs(lr - 0.01) < 0.02  # drawn from N(0.01, 0.002): 10 sigmas is plenty
    assert best["objective"] == pytest.approx(0.90 + lr)  # max of the auc series
    assert best["metrics"] == {"valid_1 binary_logloss": pytest.approx(1.0 / 3)}  # min of the logloss series


# Katib's default collector reads name=value lines; the loss dips at step 2.
KEY_VALUE_TRAINER = """
import sys
lr = float(sys.argv[1].split("=")[1])
for step, loss in enumerate([0.5, 0.2, 0.4], start=1):
    print(f"step={step} loss={loss + lr}", flush=True)
"""


def test_a_converted_katib_experiment_runs_locally_as_katib_would_search(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    experiment = {
        "apiVersion": "kubeflow.org/v1beta1",
        "kind": "Experiment",
        "metadata": {"name": "local-katib"},
        "spec": {
            "objective": {"type": "minimize", "objectiveMetricName": "loss"},
            "algorithm": {"algorithmName": "random", "algorithmSettings": [{"name": "random_state", "value": "2"}]},
            "parallelTrialCount": 1,
            "maxTrialCount": 2,
            "parameters": [
                {"name": "learning-rate", "parameterType": "double", "feasibleSpace": {"min": "0.01", "max": "0.02"}}
            ],
            "trialTemplate": {
                "trialParameters": [{"name": "lr", "reference": "learning-rate"}],
                "trialSpec": {
                    "apiVersion": "batch/v1",
                    "kind": "Job",
                    "spec": {
                        "template": {
                            "spec": {
                                "restartPolicy": "Never",
                                "containers": [
                                    {
                                        "name": "train",
                                        "image": "x",
                                        "command": [
                                            sys.executable,
                                            "-c",
                                            KEY_VALUE_TRAINER,
                                            "--lr=${trialParameters.lr}",
                                        ],
                                    }
                                ],
                            }
                        }
                    },
                },
            },
        },
    }
    source, converted, state = tmp_path / "experiment.yaml", tmp_path / "task.yaml", tmp_path / "state"
    source.write_text(yaml.safe_dump(experiment))
    assert main(["convert", str(source), "-o", str(converted)]) == 0
    assert main(["run", str(converted), "--plain", "--state-dir", str(state)]) == 0
    trials = [json.loads(p.read_text()) for p in sorted((state / "trials").glob("*.json"))]
    assert len(trials) == 2
    for trial in trials:
        lr = trial["spec"]["parameters"]["learning_rate"]
        assert 0.01 <= lr <= 0.02
        # Katib's default for a minimized objective, written out by convert: the minimum, not the last value.
        assert trial["status"]["objective"] == pytest.approx(0.2 + lr)
    capsys.readouterr()
