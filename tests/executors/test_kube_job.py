"""The Job a trial runs as, built from the user's template (no cluster needed to check it)."""

from __future__ import annotations

from typing import Any

from kubetune import names
from kubetune.api import parse_task
from kubetune.engine import new_trial
from kubetune.executors.rendering import PARAMS_FILE
from kubetune.executors.workload.job import JOB


def task(**budget: Any) -> Any:
    return parse_task(
        {
            "apiVersion": "kubetune.io/v1alpha1",
            "kind": "HPOTask",
            "metadata": {"name": "t", "namespace": "ml"},
            "spec": {
                "objective": {"metric": "loss", "direction": "minimize"},
                "parameters": [{"name": "lr", "min": 0.001, "max": 1.0}],
                "budget": budget,
                "trialTemplate": {
                    "spec": {
                        "ttlSecondsAfterFinished": 10,
                        "template": {
                            "spec": {
                                "containers": [
                                    {
                                        "name": "train",
                                        "image": "i",
                                        "args": ["--lr=${params.lr}"],
                                        "env": [{"name": "LR", "value": "${params.lr}"}],
                                        "resources": {"limits": {"nvidia.com/gpu": 1}},
                                    },
                                    {"name": "sidecar", "image": "s"},
                                ]
                            }
                        },
                    }
                },
            },
        }
    )


def test_the_job_carries_the_parameters_everywhere_a_trainer_looks() -> None:
    t = task()
    job = JOB.render(t, "ml", new_trial(t, 3, {"lr": 0.01}), "uid-3")
    train, sidecar = job["spec"]["template"]["spec"]["containers"]
    assert train["args"] == ["--lr=0.01"]
    env = {e["name"]: e["value"] for e in train["env"]}
    assert env["LR"] == "0.01" and env["KUBETUNE_PARAM_LR"] == "0.01" and env[names.ENV_PARAMS_FILE] == PARAMS_FILE
    assert {"name": "kubetune-parameters", "mountPath": "/etc/kubetune", "readOnly": True} in train["volumeMounts"]
    assert train["resources"] == {"limits": {"nvidia.com/gpu": 1}}
    assert sidecar["image"] == "s"
    assert job["metadata"]["name"] == "t-3"
    assert job["metadata"]["ownerReferences"][0]["uid"] == "uid-3"
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"


def test_the_job_is_never_deleted_behind_the_operators_back() -> None:
    t = task()
    job = JOB.render(t, "ml", new_trial(t, 0, {"lr": 0.5}), "u")
    assert "ttlSecondsAfterFinished" not in job["spec"]


def test_a_sub_second_timeout_still_gives_the_job_a_deadline() -> None:
    t = task(trialTimeout="500ms")
    assert JOB.render(t, "ml", new_trial(t, 0, {"lr": 0.5}), "u")["spec"]["activeDeadlineSeconds"] == 1
    t = task(trialTimeout="90s")
    assert JOB.render(t, "ml", new_trial(t, 0, {"lr": 0.5}), "u")["spec"]["activeDeadlineSeconds"] == 90
