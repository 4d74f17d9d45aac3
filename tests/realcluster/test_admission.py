"""The chart's ValidatingAdmissionPolicy on a real API server, with the real authorizer (RBAC).

An HPOTask makes the operator create workloads with the operator's own rights; the policy makes
sure its author could have created them: the workload kind itself, in that namespace, and any
ServiceAccount other than ``default`` named in any pod template of it. Authors are people with
client certificates and a Role; every request is a server-side dry run, so no operator acts.
"""

from __future__ import annotations

import copy
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubetune.api import kinds
from tests.handlers.test_workloads import CASES, manifest

from .cluster import Cluster
from .test_workloads import JOB_CASE, TRAINING_OPERATOR, _training

GRANTED = {
    "Job": ("batch", "jobs"),
    "JobSet": ("jobset.x-k8s.io", "jobsets"),
    "PyTorchJob": ("kubeflow.org", "pytorchjobs"),
    "TrainJob": ("trainer.kubeflow.org", "trainjobs"),
    "RayJob": ("ray.io", "rayjobs"),
}
"""The chart's default workloadKinds."""
CASE = {c.kind: c for c in [JOB_CASE, *CASES, *(_training(k) for k in TRAINING_OPERATOR)]}


def author(
    cluster: Cluster, namespace: str, *, may_create: tuple[str, str] | None, may_impersonate: str | None
) -> Path:
    """A person who may create HPOTasks in ``namespace``, and what else the test gives them."""
    user = f"author-{uuid.uuid4().hex[:6]}"
    rules: list[dict[str, Any]] = [
        {"apiGroups": ["kubetune.io"], "resources": ["hpotasks"], "verbs": ["create", "get"]}
    ]
    if may_create is not None:
        rules.append({"apiGroups": [may_create[0]], "resources": [may_create[1]], "verbs": ["create"]})
    if may_impersonate is not None:
        rules.append(
            {
                "apiGroups": [""],
                "resources": ["serviceaccounts"],
                "verbs": ["impersonate"],
                "resourceNames": [may_impersonate],
            }
        )
    role = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": {"name": user, "namespace": namespace},
        "rules": rules,
    }
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": {"name": user, "namespace": namespace},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": user},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}],
    }
    cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump_all([role, binding]))
    return cluster.user_kubeconfig(user)


def submit(cluster: Cluster, namespace: str, body: dict[str, Any], kubeconfig: Path) -> tuple[bool, str]:
    result = cluster.kubectl(
        "create",
        "--dry-run=server",
        "-n",
        namespace,
        "-f",
        "-",
        input=yaml.safe_dump(body),
        as_kubeconfig=kubeconfig,
        check=False,
    )
    return result.returncode == 0, result.stderr


def task_of(kind: str) -> dict[str, Any]:
    return manifest(CASE[kind], f"t-{kind.lower()}")


@pytest.mark.parametrize("kind", list(GRANTED))
def test_an_author_who_may_create_the_workload_kind_has_the_task_admitted(
    cluster: Cluster, namespace: str, kind: str
) -> None:
    who = author(cluster, namespace, may_create=GRANTED[kind], may_impersonate=None)

    admitted, said = submit(cluster, namespace, task_of(kind), who)

    assert admitted, said


@pytest.mark.parametrize("kind", list(GRANTED))
def test_an_author_who_may_not_create_the_workload_kind_is_refused(cluster: Cluster, namespace: str, kind: str) -> None:
    # Allowed to create Jobs (what the old policy checked), never the task's own kind.
    other = GRANTED["JobSet"] if kind == "Job" else GRANTED["Job"]
    who = author(cluster, namespace, may_create=other, may_impersonate=None)

    admitted, said = submit(cluster, namespace, task_of(kind), who)

    assert not admitted, f"a {kind} task was admitted for an author who may not create {kind}s"
    assert "denied request" in said or "Forbidden" in said or "forbidden" in said, said
    assert kind in said, said


def _pod_spec_places(kind: str, body: dict[str, Any]) -> list[tuple[Any, ...]]:
    """Every PodSpec of the task's workload, where a ServiceAccount can be named."""
    spec = body["spec"]["trialTemplate"]["spec"]
    places = [loc for loc, _ in kinds.pod_specs(spec)]
    if kind == "TrainJob":  # its pods come from the runtime; a patch may name their ServiceAccount
        spec["runtimePatches"] = [
            {
                "manager": "example.com/author",
                "trainingRuntimeSpec": {
                    "template": {
                        "spec": {"replicatedJobs": [{"name": "node", "template": {"spec": {"template": {"spec": {}}}}}]}
                    }
                },
            }
        ]
        places.append(
            (
                "runtimePatches",
                0,
                "trainingRuntimeSpec",
                "template",
                "spec",
                "replicatedJobs",
                0,
                "template",
                "spec",
                "template",
                "spec",
            )
        )
    if kind == "RayJob":
        spec["submitterPodTemplate"] = {
            "spec": {"restartPolicy": "Never", "containers": [{"name": "submit", "image": "ray:2"}]}
        }
        places.append(("submitterPodTemplate", "spec"))
    return places


def _place(node: Any, loc: tuple[Any, ...]) -> dict[str, Any]:
    for key in loc:
        node = node[key]
    assert isinstance(node, dict)
    return node


SA_CASES = [(kind, i) for kind in GRANTED for i in range(len(_pod_spec_places(kind, task_of(kind))))]


@pytest.mark.parametrize(("kind", "place"), SA_CASES, ids=[f"{k}-{i}" for k, i in SA_CASES])
def test_a_service_account_in_any_pod_template_needs_the_right_to_act_as_it(
    cluster: Cluster, namespace: str, kind: str, place: int
) -> None:
    body = task_of(kind)
    loc = _pod_spec_places(kind, body)[place]
    _place(body["spec"]["trialTemplate"]["spec"], loc)["serviceAccountName"] = "powerful"
    cluster.kubectl("-n", namespace, "create", "serviceaccount", "powerful")
    refused_author = author(cluster, namespace, may_create=GRANTED[kind], may_impersonate=None)
    allowed_author = author(cluster, namespace, may_create=GRANTED[kind], may_impersonate="powerful")

    refused, said = submit(cluster, namespace, copy.deepcopy(body), refused_author)
    admitted, said_too = submit(cluster, namespace, copy.deepcopy(body), allowed_author)

    assert not refused, f"{kind} with serviceAccountName at {loc} was admitted without the right to act as it"
    assert "powerful" in said, said
    assert admitted, said_too


def test_a_kind_the_operator_does_not_manage_is_refused(cluster: Cluster, namespace: str) -> None:
    who = author(cluster, namespace, may_create=("kubeflow.org", "tfjobs"), may_impersonate=None)

    admitted, said = submit(cluster, namespace, task_of("TFJob"), who)

    assert not admitted
    assert "TFJob" in said, said
