"""The Python API against a real API server: the HPOTask ``kubetune.tune`` writes passes the CRD's
schema and CEL rules, and ``kubetune.Client`` creates, lists, stops and deletes it (no operator runs)."""

from __future__ import annotations

import uuid

import pytest

import kubetune
from kubetune import search
from kubetune.errors import StateError

from .controlplane import ControlPlane
from .test_install import _installed


def objective(lr: float, layers: int, optimizer: str, epochs: int) -> float:
    return lr * layers * epochs


def test_a_tuned_function_is_an_hpotask_the_api_server_accepts_and_the_client_manages(
    plane: ControlPlane, monkeypatch: pytest.MonkeyPatch
) -> None:
    _installed(plane)
    namespace = f"py-{uuid.uuid4().hex[:6]}"
    plane.kubectl("create", "namespace", namespace)
    monkeypatch.setenv("KUBECONFIG", str(plane.admin))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    space = {
        "lr": search.loguniform(1e-4, 1e-1),
        "layers": search.int(1, 8, 2),
        "optimizer": search.categorical(["sgd", "adam"]),
        "epochs": 3,
    }

    result = kubetune.tune(
        objective,
        space,
        "loss",
        namespace=namespace,
        image="python:3.12",
        max_trials=4,
        algorithm="tpe",
        resources={"limits": {"nvidia.com/gpu": 1}},
    )

    client = kubetune.Client(namespace)
    stored = client.get(result.name)
    assert stored.metadata.uid and [p.name for p in stored.spec.parameters] == list(space)
    assert [t.metadata.name for t in client.list()] == ["objective"]
    with pytest.raises(StateError, match=rf"^hpo/objective already exists in namespace {namespace}$"):
        client.create(stored)
    client.stop("objective")  # spec.stop, through the CRD's rules
    assert client.get("objective").spec.stop is not None
    assert client.trials("objective") == []
    assert client.delete("objective") is True
