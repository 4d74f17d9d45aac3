"""The real operator, run by Kopf against the Kubernetes API emulator over HTTP."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import REGISTRY

from kubetune.api.crd import all_crds
from tests.kube import Kube, Log, PodScript, Sleep, pod_args, run_kopf
from tests.kube.fixtures import kube, kube_api  # noqa: F401 - fixtures used by the tests here

RunOperator = Callable[[], contextlib.AbstractContextManager[Any]]


@pytest.fixture
def cluster(kube: Kube, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Kube:  # noqa: F811
    """The emulator with kubetune's CRDs, and a kubeconfig that points the operator at it."""
    for crd in all_crds().values():
        kube.install_crd(crd)
    kubeconfig = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "emulator", "cluster": {"server": kube.url}}],
        "users": [{"name": "test", "user": {"token": "test"}}],
        "contexts": [{"name": "emulator", "context": {"cluster": "emulator", "user": "test", "namespace": "default"}}],
        "current-context": "emulator",
    }
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(kubeconfig))
    monkeypatch.setenv("KUBECONFIG", str(path))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.setenv("POD_NAMESPACE", "default")
    monkeypatch.setenv("POD_NAME", "kubetune-operator-0")  # a restarted operator keeps its identity and its lease
    monkeypatch.setenv("KUBETUNE_FOLLOW_SECONDS", "0.2")
    return kube


@pytest.fixture
def operator(cluster: Kube) -> RunOperator:
    """Start the operator (leader election on, as deployed); use as a context manager, as often as needed."""

    @contextlib.contextmanager
    def start() -> Iterator[Any]:
        with run_kopf(cluster, modules=["kubetune.handlers.operator"], timeout=20) as runner:
            yield runner

    return start


def steps_done() -> float:
    """How many reconcile steps the operator in this process has finished, from its own metric: a test
    that checks that something did not happen waits for steps that began after it could have."""
    return REGISTRY.get_sample_value("kubetune_reconcile_duration_seconds_count") or 0.0


def arg(pod: dict[str, Any], name: str, default: str = "") -> str:
    """The value of ``--name=value`` in the pod's first container's arguments."""
    for item in pod_args(pod):
        if item.startswith(f"--{name}="):
            return item.split("=", 1)[1]
    return default


def quadratic(pod: dict[str, Any]) -> PodScript:
    """A trainer: loss = (lr - 0.1)^2 + 1/epoch over three epochs; ``--mode`` makes it misbehave."""
    lr = float(arg(pod, "lr", "0.5"))
    mode = arg(pod, "mode", "normal")
    epochs = int(arg(pod, "epochs", "3"))
    if mode == "crash":
        return PodScript([Sleep(0.05), Log("CUDA error: out of memory")], exit_code=1)
    if mode == "silent":
        return PodScript([Sleep(0.05), Log("training done, no metrics printed")])
    steps: list[Any] = []
    for epoch in range(1, epochs + 1):
        loss = (lr - 0.1) ** 2 + 1.0 / epoch + (10.0 if mode == "bad" else 0.0)
        steps += [Sleep(float(arg(pod, "sleep", "0.05"))), Log(f"epoch={epoch} loss={loss:.6f}")]
    return PodScript(steps)


def task_manifest(name: str = "lr-search", **spec: Any) -> dict[str, Any]:
    """An HPOTask for the scripted trainer, with a GPU request as real ones have."""
    body: dict[str, Any] = {
        "objective": {"metric": "loss", "direction": "minimize"},
        "algorithm": {"name": "random", "seed": 7},
        "parameters": [{"name": "lr", "type": "double", "min": 0.001, "max": 1.0, "scale": "log"}],
        "budget": {"maxTrials": 4, "parallelTrials": 2, "trialTimeout": "10m"},
        "trialTemplate": {
            "metadata": {"labels": {"kueue.x-k8s.io/queue-name": "gpu"}},
            "spec": {
                "backoffLimit": 0,
                "template": {
                    "spec": {
                        "nodeSelector": {"gpu": "a100"},
                        "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists"}],
                        "containers": [
                            {
                                "name": "train",
                                "image": "trainer:1",
                                "command": ["python", "train.py"],
                                "args": ["--lr=${params.lr}"],
                                "resources": {"limits": {"nvidia.com/gpu": 1}},
                            }
                        ],
                    }
                },
            },
        },
    }
    body.update(spec)
    return {"apiVersion": "kubetune.io/v1alpha1", "kind": "HPOTask", "metadata": {"name": name}, "spec": body}


def phase(cluster: Kube, name: str) -> str | None:
    """The task's status.phase, or None."""
    obj = cluster.find("hpotasks", name)
    return ((obj or {}).get("status") or {}).get("phase")
