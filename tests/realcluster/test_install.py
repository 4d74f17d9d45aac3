"""Installing kubetune on real API servers: the CRDs, deploy/kubetune.yaml, `helm install`, the examples,
and the CRD's validation rules refusing what `kubetune validate` refuses, with the same words."""

from __future__ import annotations

import copy
import subprocess
import uuid
from pathlib import Path
from typing import Any

import helm_python
import pytest
import yaml

from kubetune.api import HPOTask

from .cluster import DEPLOY, ROOT, SHARED_CRDS, documents, for_release
from .controlplane import ControlPlane

CRDS = sorted((ROOT / "crds").glob("*.yaml"))
CHART = ROOT / "charts" / "kubetune"
EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))


def apply(plane: ControlPlane, path: Path) -> subprocess.CompletedProcess[str]:
    return plane.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(path), check=False)


def established(plane: ControlPlane, paths: list[Path]) -> None:
    names = [d["metadata"]["name"] for p in paths for d in documents(p) if d["kind"] == "CustomResourceDefinition"]
    plane.wait_established(*names)


@pytest.mark.parametrize("path", CRDS, ids=[p.name for p in CRDS])
def test_kubetunes_crds_are_accepted_by_the_api_server(plane: ControlPlane, path: Path) -> None:
    result = apply(plane, path)

    assert result.returncode == 0, result.stderr
    established(plane, [path])


SHARED = sorted(SHARED_CRDS.glob("*.yaml")) if SHARED_CRDS.is_dir() else []


@pytest.mark.parametrize("path", SHARED, ids=[p.name for p in SHARED])
def test_the_workload_crds_of_the_ecosystem_are_accepted(plane: ControlPlane, path: Path) -> None:
    """JobSet, the Training Operator, TrainJob, RayJob and Kueue, as the tier's other tests use them."""
    result = apply(plane, path)

    if result.returncode != 0 and plane.minor < 30:
        pytest.skip(f"{path.name} does not install on {plane.version}: {result.stderr.splitlines()[0][:200]}")
    assert result.returncode == 0, f"{path.name}: {result.stderr}"
    established(plane, [path])


def test_deploy_manifest_installs_server_side(plane: ControlPlane) -> None:
    result = plane.kubectl(
        "apply", "--server-side", "--force-conflicts", "-f", "-", input=for_release(DEPLOY, plane.minor), check=False
    )

    assert result.returncode == 0, result.stderr
    kinds = {d["kind"] for d in documents(DEPLOY)}
    assert {"ValidatingAdmissionPolicy", "Deployment", "ClusterRole"} <= kinds
    for line in result.stdout.splitlines():
        assert "serverside-applied" in line, line


def test_helm_install_succeeds(plane: ControlPlane) -> None:
    """`helm install` by Helm's own library, against the server's real version (the chart reads
    .Capabilities.KubeVersion), with a release name of its own so it owns every object it creates."""
    floor = yaml.safe_load((CHART / "Chart.yaml").read_text())["kubeVersion"]
    if plane.minor < 30:
        pytest.skip(
            f"the chart needs Kubernetes {floor} with its admission policy's v1 API (1.30); this is {plane.version}"
        )
    release = f"kt{uuid.uuid4().hex[:6]}"
    helm = helm_python.Config(kubeconfig_path=str(plane.admin))
    try:
        installed = helm.install(
            str(CHART), release, {}, namespace=f"{release}-system", create_namespace=True, timeout=120
        )
        manifest = yaml.safe_load_all(str(getattr(installed, "manifest", "")))
        kinds = {d["kind"] for d in manifest if d}
        assert "ValidatingAdmissionPolicy" in kinds  # 1.30 and newer: the policy is part of the install
        assert "Deployment" in kinds
        listed = plane.kubectl("get", "validatingadmissionpolicies", "-o", "name").stdout
        assert f"{release}-kubetune-hpotask-authors" in listed or release in listed
    finally:
        helm.uninstall(release, ignore_not_found=True, timeout=120)


def _installed(plane: ControlPlane) -> None:
    for path in CRDS:
        assert apply(plane, path).returncode == 0
    established(plane, CRDS)


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_every_example_is_created(plane: ControlPlane, path: Path) -> None:
    _installed(plane)
    namespace = f"ex-{uuid.uuid4().hex[:6]}"
    for doc in documents(path):  # an example that names its namespace is created there
        namespace = doc["metadata"].get("namespace", namespace)
    plane.kubectl("create", "namespace", namespace, check=False)

    result = plane.kubectl("create", "-n", namespace, "-f", str(path), check=False)

    assert result.returncode == 0, result.stderr
    plane.kubectl("delete", "-n", namespace, "-f", str(path), "--wait=false")


# --- the CRD's rules, as the API server applies them -------------------------------------------

BASE: dict[str, Any] = {
    "apiVersion": "kubetune.io/v1alpha1",
    "kind": "HPOTask",
    "metadata": {"name": "bad"},
    "spec": {
        "objective": {"metric": "loss", "direction": "minimize"},
        "algorithm": {"name": "random"},
        "parameters": [],
        "budget": {"maxTrials": 2},
        "trialTemplate": {
            "spec": {
                "template": {
                    "spec": {
                        "restartPolicy": "Never",
                        "containers": [
                            {"name": "t", "image": "busybox", "command": ["echo", "parameters come as env"]}
                        ],
                    }
                }
            }
        },
    },
}

BAD_PARAMETERS: dict[str, dict[str, Any]] = {
    "min above max": {"name": "x", "type": "double", "min": 2, "max": 1},
    "log scale from zero": {"name": "x", "type": "double", "min": 0, "max": 1, "scale": "log"},
    "reverse log to zero": {"name": "x", "type": "double", "min": -1, "max": 0, "scale": "reverse_log"},
    "step wider than the range": {"name": "x", "type": "double", "min": 0, "max": 1, "step": 2},
    "power base one": {"name": "x", "type": "double", "min": 0, "max": 1, "base": 1},
    "power base with log scale": {"name": "x", "type": "double", "min": 1, "max": 2, "base": 10, "scale": "log"},
    "power base on an int": {"name": "x", "type": "int", "min": 0, "max": 3, "base": 2},
    "int bound beyond 2^53": {"name": "x", "type": "int", "min": 0, "max": 1e17},
    "double bound beyond 1e300": {"name": "x", "type": "double", "min": 0, "max": 1e301},
    "fractional int bound": {"name": "x", "type": "int", "min": 0.5, "max": 3},
    "fractional int step": {"name": "x", "type": "int", "min": 0, "max": 3, "step": 1.5},
    "categorical with min": {"name": "x", "type": "categorical", "values": ["a", "b"], "min": 1},
    "categorical with a step": {"name": "x", "type": "categorical", "values": ["a", "b"], "step": 1},
    "categorical with a distribution": {"name": "x", "type": "categorical", "values": ["a"], "distribution": "normal"},
    "categorical with a log scale": {"name": "x", "type": "categorical", "values": ["a", "b"], "scale": "log"},
}


def _manifest(parameters: list[dict[str, Any]]) -> dict[str, Any]:
    body = copy.deepcopy(BASE)
    body["spec"]["parameters"] = parameters
    return body


def _validate_problems(body: dict[str, Any]) -> str:
    """What the model says of a manifest: "" when it accepts it."""
    try:
        HPOTask.model_validate(body)
    except ValueError as error:  # pydantic's ValidationError is a ValueError
        return str(error)
    return ""


@pytest.mark.parametrize("case", BAD_PARAMETERS, ids=list(BAD_PARAMETERS))
def test_the_api_server_refuses_what_validate_refuses_with_the_same_message(plane: ControlPlane, case: str) -> None:
    _installed(plane)
    body = _manifest([BAD_PARAMETERS[case]])
    problems = _validate_problems(body)
    assert problems, f"validate accepts {case}"

    result = plane.kubectl(
        "create", "--dry-run=server", "-n", "default", "-f", "-", input=yaml.safe_dump(body), check=False
    )

    assert result.returncode != 0, f"the API server accepted {case}"
    said = [line for line in result.stderr.splitlines() if "spec.parameters[0]" in line or "Invalid value" in line]
    assert said, result.stderr
    messages = {m.strip() for m in result.stderr.replace("\n", " ").split(":") if m.strip()}
    assert any(message in problems for message in messages if len(message) > 12), (result.stderr, problems)


def test_the_api_server_refuses_a_parameter_name_given_twice(plane: ControlPlane) -> None:
    _installed(plane)
    parameter = {"name": "x", "type": "double", "min": 0, "max": 1}
    body = _manifest([parameter, parameter])
    assert "must not declare a parameter name twice" in _validate_problems(body)

    result = plane.kubectl(
        "create", "--dry-run=server", "-n", "default", "-f", "-", input=yaml.safe_dump(body), check=False
    )

    assert result.returncode != 0
    assert "must not declare a parameter name twice" in result.stderr


def test_the_api_server_accepts_what_validate_accepts(plane: ControlPlane) -> None:
    """Every parameter shape the models accept (fixed values, categoricals of mixed types, power
    bases, normal distributions) is accepted by the CRD's rules too."""
    _installed(plane)
    body = _manifest(
        [
            {"name": "a", "type": "double", "min": 1e-5, "max": 1e-1, "scale": "log"},
            {"name": "b", "type": "int", "min": 1, "max": 9, "step": 2},
            {"name": "c", "type": "categorical", "values": ["sgd", 0.5, 3, True]},
            {"name": "d", "type": "double", "base": 10, "min": -5, "max": -1},
            {"name": "e", "type": "double", "distribution": "normal", "mean": 0, "sigma": 1},
            {"name": "f", "type": "int", "value": 7},
            {"name": "g", "type": "categorical", "values": ["x", "y"], "value": "x"},
            {"name": "h", "type": "double", "min": 0.9, "max": 0.999, "scale": "reverse_log"},
        ]
    )
    assert _validate_problems(body) == ""

    result = plane.kubectl(
        "create", "--dry-run=server", "-n", "default", "-f", "-", input=yaml.safe_dump(body), check=False
    )

    assert result.returncode == 0, result.stderr
