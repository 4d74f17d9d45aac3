"""What kubetune renders for each workload kind, checked against that project's own CRD schema."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from kubetune.api import load_task
from kubetune.cli import main
from kubetune.engine import new_trial
from kubetune.executors.rendering import build_workload
from tests.kube import schema

ROOT = Path(__file__).resolve().parents[2]
CRDS = ROOT.parent / "shared" / "crds"
EXAMPLES = {
    "pytorchjob-ddp.yaml": "kubeflow.org_pytorchjobs.yaml",
    "jobset.yaml": "jobset.x-k8s.io_jobsets.yaml",
    "rayjob.yaml": "ray.io_rayjobs.yaml",
    "kueue.yaml": "kubeflow.org_pytorchjobs.yaml",
}


def crd_schema(file: str, version: str) -> dict[str, Any]:
    crd = next(
        d for d in yaml.safe_load_all((CRDS / file).read_text()) if d and d["kind"] == "CustomResourceDefinition"
    )
    found = next(v for v in crd["spec"]["versions"] if v["name"] == version)
    result: dict[str, Any] = found["schema"]["openAPIV3Schema"]
    return result


@pytest.mark.parametrize("example", sorted(EXAMPLES))
def test_each_examples_workload_is_what_its_real_crd_accepts_and_keeps(example: str) -> None:
    if not CRDS.is_dir():
        pytest.skip(f"the real workload CRDs are not at {CRDS} (the shared/crds folder beside the repository)")
    task = load_task(ROOT / "examples" / example)
    trial = new_trial(
        task, 0, {p.name: p.low if p.min is not None else (p.values or [None])[0] for p in task.spec.parameters}
    )
    rendered = build_workload(task, "ml", trial, "uid-0")
    version = rendered["apiVersion"].rpartition("/")[2]
    crd = crd_schema(EXAMPLES[example], version)

    assert schema.validation_errors(rendered, crd) == []
    kept = schema.prune(rendered, crd)
    assert kept["spec"] == rendered["spec"], "the API server would drop fields kubetune writes"


def test_a_queued_workload_carries_its_queue_and_priorities_and_is_left_for_kueue_to_suspend() -> None:
    task = load_task(ROOT / "examples" / "kueue.yaml")
    rendered = build_workload(task, "ml", new_trial(task, 0, {"lr": 0.01}), "uid-0")
    assert "suspend" not in rendered["spec"]["runPolicy"], "Kueue's webhook suspends it; without Kueue it runs"
    assert rendered["metadata"]["labels"]["kueue.x-k8s.io/queue-name"] == "team-gpu"
    assert rendered["metadata"]["labels"]["kueue.x-k8s.io/priority-class"] == "hpo-low"
    for replica in rendered["spec"]["pytorchReplicaSpecs"].values():
        assert replica["template"]["spec"]["priorityClassName"] == "batch-low"
    assert rendered["spec"]["runPolicy"]["activeDeadlineSeconds"] == 3600


def test_an_argo_workflows_template_containers_get_the_parameters_and_its_pods_the_trials_labels(
    tmp_path: Path,
) -> None:
    path = tmp_path / "argo.yaml"
    assert main(["convert", str(ROOT / "tests" / "fixtures" / "katib" / "argo-workflow.yaml"), "-o", str(path)]) == 0
    task = load_task(path)
    trial = new_trial(task, 0, {"learning_rate": 0.25})
    rendered = build_workload(task, "ml", trial, "uid-0")
    [_, prepare, train] = rendered["spec"]["templates"]
    assert train["container"]["command"] == ["python", "train.py", "--lr=0.25"]
    for container in (prepare["script"], train["container"]):
        env = {e["name"]: e["value"] for e in container["env"]}
        assert (env["KUBETUNE_TRIAL"], env["KUBETUNE_PARAM_LEARNING_RATE"]) == (trial.metadata.name, "0.25")
    # Argo gives a Workflow's pods spec.podMetadata: that is how the operator finds them.
    labels = rendered["spec"]["podMetadata"]["labels"]
    assert (labels["kubetune.io/task"], labels["kubetune.io/trial"]) == ("argo-sweep", trial.metadata.name)


def test_kubetune_run_refuses_a_kind_whose_controller_makes_its_pods(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "argo.yaml"
    assert main(["convert", str(ROOT / "tests" / "fixtures" / "katib" / "argo-workflow.yaml"), "-o", str(path)]) == 0
    capsys.readouterr()
    assert main(["run", str(path), "--state-dir", str(tmp_path / "state")]) == 2
    [line] = capsys.readouterr().err.strip().splitlines()
    assert "spec.trialTemplate.kind: kubetune run runs a pod template's container" in line


def _followed(tmp_path: Path, mounts: list[dict[str, Any]]) -> dict[str, Any]:
    task = load_task(ROOT / "examples" / "pytorchjob-ddp.yaml")
    spec = task.model_dump(mode="json", by_alias=True, exclude_none=True)["spec"]
    spec["metricsCollector"] = {"source": "file", "path": "/var/log/train/metrics.json", "follow": True}
    spec["earlyStopping"] = {"rule": "median"}
    master = spec["trialTemplate"]["spec"]["pytorchReplicaSpecs"]["Master"]["template"]["spec"]
    master["containers"][0]["volumeMounts"] = mounts
    path = tmp_path / "task.yaml"
    path.write_text(
        yaml.safe_dump(
            {"apiVersion": "kubetune.io/v1alpha1", "kind": "HPOTask", "metadata": {"name": "f"}, "spec": spec}
        )
    )
    followed = load_task(path)
    trial = new_trial(followed, 0, {"lr": 0.01})
    pod: dict[str, Any] = build_workload(followed, "ml", trial, "uid-0")["spec"]["pytorchReplicaSpecs"]["Master"][
        "template"
    ]["spec"]
    return pod


def test_a_followed_file_gets_a_native_sidecar_in_the_primary_pod_sharing_its_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KUBETUNE_FOLLOWER_IMAGE", "registry.example/kubetune:1.2")
    pod = _followed(tmp_path, [])
    [sidecar] = pod["initContainers"]
    assert sidecar["restartPolicy"] == "Always", "a native sidecar: the pod's end never waits on it"
    assert (sidecar["image"], sidecar["command"]) == (
        "registry.example/kubetune:1.2",
        ["kubetune", "follow-file", "/var/log/train/metrics.json"],
    )
    assert sidecar["volumeMounts"] == [{"name": "kubetune-metrics", "mountPath": "/var/log/train", "readOnly": True}]
    assert {"name": "kubetune-metrics", "mountPath": "/var/log/train"} in pod["containers"][0]["volumeMounts"]
    assert {"name": "kubetune-metrics", "emptyDir": {}} in pod["volumes"]
    assert "terminationMessagePath" not in pod["containers"][0]


def test_a_followed_file_in_a_directory_the_trainer_mounts_is_read_from_that_volume(tmp_path: Path) -> None:
    pod = _followed(tmp_path, [{"name": "runs", "mountPath": "/var/log/train/"}])
    [sidecar] = pod["initContainers"]
    assert sidecar["volumeMounts"] == [{"name": "runs", "mountPath": "/var/log/train", "readOnly": True}]
    assert not any(v["name"] == "kubetune-metrics" for v in pod["volumes"])
