"""What the chart renders in each mode, validated against Kubernetes' own schemas."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

import kubetune
from kubetune.executors.workload import DEFAULT_KINDS

from .chart import CHART, KUBE_VERSIONS, NAMESPACED, e2e_values, of_kind, one, render, renderer, validation_problems

Objects = list[dict[str, Any]]

# The operator's contract (docs/rbac.md): exactly these rules, in either mode.
OPERATOR_RULES = {
    ("kubetune.io", "hpotasks"): {"get", "list", "watch", "patch"},
    ("kubetune.io", "hpotasks/status"): {"patch"},
    ("kubetune.io", "hpotasks/finalizers"): {"update"},
    ("kubetune.io", "trials"): {"get", "list", "watch", "create"},
    ("kubetune.io", "trials/status"): {"patch"},
    ("kubetune.io", "trials/finalizers"): {"update"},
    ("batch", "jobs"): {"list", "watch", "create", "delete", "patch"},
    ("jobset.x-k8s.io", "jobsets"): {"list", "watch", "create", "delete", "patch"},
    ("kubeflow.org", "pytorchjobs"): {"list", "watch", "create", "delete", "patch"},
    ("trainer.kubeflow.org", "trainjobs"): {"list", "watch", "create", "delete", "patch"},
    ("ray.io", "rayjobs"): {"list", "watch", "create", "delete", "patch"},
    ("", "pods"): {"list", "watch"},
    ("", "pods/log"): {"get"},
    ("", "events"): {"create"},
}
LEASE_RULES = {("coordination.k8s.io", "leases"): {"get", "create", "update"}}
# Cluster-wide only: reading CRDs, so that a workload kind installed or removed is followed (docs/rbac.md).
CRD_RULES = {("apiextensions.k8s.io", "customresourcedefinitions"): {"list", "watch"}}


def rules_of(role: dict[str, Any]) -> dict[tuple[str, str], set[str]]:
    granted: dict[tuple[str, str], set[str]] = {}
    for rule in role["rules"]:
        assert "resourceNames" not in rule and "nonResourceURLs" not in rule
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                granted.setdefault((group, resource), set()).update(rule["verbs"])
    return granted


def container(objects: Objects) -> dict[str, Any]:
    containers = one(objects, "Deployment")["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    result: dict[str, Any] = containers[0]
    return result


@pytest.mark.parametrize("mode", ["cluster_mode", "namespaced_mode", "e2e_mode"])
@pytest.mark.parametrize("kube_version", KUBE_VERSIONS)
def test_every_rendered_object_validates_against_kubernetes_schemas(
    mode: str, kube_version: str, request: pytest.FixtureRequest
) -> None:
    objects: Objects = request.getfixturevalue(mode)

    assert validation_problems(objects, kube_version) == []


@pytest.mark.parametrize("kube_version", KUBE_VERSIONS)
def test_crds_validate_against_the_kubernetes_crd_schema(kube_version: str) -> None:
    crds = [manifest.obj for manifest in renderer.crds()]

    assert [crd["metadata"]["name"] for crd in crds] == ["hpotasks.kubetune.io", "trials.kubetune.io"]
    assert validation_problems(crds, kube_version) == []


def test_validation_catches_a_field_kubernetes_does_not_know(cluster_mode: Objects) -> None:
    deployment = {**one(cluster_mode, "Deployment")}
    deployment["spec"] = {**deployment["spec"], "replica": 2}

    assert validation_problems([deployment], KUBE_VERSIONS[0]) != []


def operator_cluster_roles(objects: Objects) -> Objects:
    """ClusterRoles other than the users' aggregated ones (which bind nobody by themselves)."""
    return [r for r in of_kind(objects, "ClusterRole") if not any("aggregate-to" in k for k in r["metadata"]["labels"])]


def test_cluster_mode_binds_a_cluster_role_with_the_operator_rules_and_crd_reading(cluster_mode: Objects) -> None:
    [cluster_role] = operator_cluster_roles(cluster_mode)
    binding = one(cluster_mode, "ClusterRoleBinding")
    service_account = one(cluster_mode, "ServiceAccount")

    assert rules_of(cluster_role) == OPERATOR_RULES | CRD_RULES
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "ClusterRole",
        "name": cluster_role["metadata"]["name"],
    }
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": service_account["metadata"]["name"], "namespace": "kubetune-system"}
    ]
    assert "--all-namespaces" in container(cluster_mode)["args"]


def test_namespaced_mode_grants_roles_in_the_watched_namespaces_and_nothing_cluster_wide(
    namespaced_mode: Objects,
) -> None:
    assert operator_cluster_roles(namespaced_mode) == []
    assert of_kind(namespaced_mode, "ClusterRoleBinding") == []

    operator_roles = {r["metadata"]["namespace"]: r for r in of_kind(namespaced_mode, "Role") if "leases" not in str(r)}
    assert set(operator_roles) == {"team-a", "team-b"}
    assert all(rules_of(role) == OPERATOR_RULES for role in operator_roles.values())

    bindings = [b for b in of_kind(namespaced_mode, "RoleBinding") if b["roleRef"]["name"].endswith("kubetune")]
    assert {b["metadata"]["namespace"] for b in bindings} == {"team-a", "team-b"}
    assert all(b["subjects"][0]["namespace"] == "kubetune-system" for b in bindings)

    args = container(namespaced_mode)["args"]
    assert "--all-namespaces" not in args
    assert [a for a in args if a.startswith("--namespace")] == ["--namespace=team-a", "--namespace=team-b"]


@pytest.mark.parametrize("mode", ["cluster_mode", "namespaced_mode"])
def test_leader_election_is_granted_on_leases_in_the_operator_namespace_only(
    mode: str, request: pytest.FixtureRequest
) -> None:
    objects: Objects = request.getfixturevalue(mode)
    lease_roles = [role for role in of_kind(objects, "Role") if ("coordination.k8s.io", "leases") in rules_of(role)]

    assert len(lease_roles) == 1
    assert lease_roles[0]["metadata"]["namespace"] == "kubetune-system"
    assert rules_of(lease_roles[0]) == LEASE_RULES
    args = container(objects)["args"]
    assert "--leader-election" in args
    assert "--lease-name=kubetune-operator" in args
    env = {e["name"]: e for e in container(objects)["env"]}
    assert env["POD_NAMESPACE"]["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.namespace"}}


def test_docs_give_a_reason_for_every_rule_the_chart_grants() -> None:
    table = [
        [cell.strip().strip("`") for cell in line.strip().strip("|").split("|")]
        for line in (CHART.parents[1] / "docs" / "rbac.md").read_text().splitlines()
        if line.startswith("| `")
    ]
    documented: dict[tuple[str, str], set[str]] = {}
    for group, resource, verbs, reason in table:
        assert reason, f"no reason for {group} {resource}"
        key = ("" if group.startswith('""') else group, resource)
        documented.setdefault(key, set()).update(v.strip() for v in verbs.split(","))

    assert documented == {**OPERATOR_RULES, **LEASE_RULES, **CRD_RULES}


def test_operator_pod_runs_as_non_root_with_a_read_only_root_filesystem(cluster_mode: Objects) -> None:
    pod = one(cluster_mode, "Deployment")["spec"]["template"]["spec"]
    security = container(cluster_mode)["securityContext"]

    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 65532
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["runAsNonRoot"] is True
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert security["seccompProfile"] == {"type": "RuntimeDefault"}
    # Writable scratch space only where HOME and TMPDIR point.
    assert container(cluster_mode)["volumeMounts"] == [{"name": "tmp", "mountPath": "/tmp"}]
    assert pod["volumes"][0]["emptyDir"]["sizeLimit"] == "64Mi"
    env = {e["name"]: e.get("value") for e in container(cluster_mode)["env"]}
    assert env["HOME"] == env["TMPDIR"] == "/tmp"


def test_operator_container_has_requests_limits_and_probes_on_the_health_endpoint(cluster_mode: Objects) -> None:
    operator = container(cluster_mode)

    assert set(operator["resources"]) == {"requests", "limits"}
    assert set(operator["resources"]["requests"]) == set(operator["resources"]["limits"]) == {"cpu", "memory"}
    ports = {port["name"]: port["containerPort"] for port in operator["ports"]}
    assert ports == {"health": 8080, "metrics": 9090}
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert operator[probe]["httpGet"] == {"path": "/healthz", "port": "health"}
    assert "--health-port=8080" in operator["args"]
    assert "--metrics-port=9090" in operator["args"]
    assert operator["args"][0] == "operator"


def test_metrics_service_targets_the_metrics_port_of_the_operator_pods(cluster_mode: Objects) -> None:
    service = one(cluster_mode, "Service")
    deployment = one(cluster_mode, "Deployment")

    assert service["spec"]["ports"] == [{"name": "metrics", "port": 9090, "targetPort": "metrics", "protocol": "TCP"}]
    assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    assert of_kind(cluster_mode, "ServiceMonitor") == []


def test_non_default_values_give_two_replicas_a_disruption_budget_and_a_service_monitor(e2e_mode: Objects) -> None:
    deployment = one(e2e_mode, "Deployment")
    monitor = one(e2e_mode, "ServiceMonitor")
    service = one(e2e_mode, "Service")
    budget = one(e2e_mode, "PodDisruptionBudget")

    assert deployment["spec"]["replicas"] == 2
    assert container(e2e_mode)["image"] == "kubetune/operator:e2e"
    assert container(e2e_mode)["imagePullPolicy"] == "Never"
    assert {"--log-format=plain", "--verbose"} <= set(container(e2e_mode)["args"])
    assert budget["spec"] == {"minAvailable": 1, "selector": deployment["spec"]["selector"]}
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert monitor["metadata"]["labels"]["release"] == "prometheus"
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    assert monitor["spec"]["namespaceSelector"] == {"matchNames": ["kubetune-system"]}
    assert monitor["spec"]["endpoints"] == [{"port": "metrics", "path": "/metrics", "interval": "30s"}]


def test_image_tag_defaults_to_the_app_version_and_a_digest_wins() -> None:
    digest = "sha256:" + "0" * 64

    assert container(render())["image"] == f"kubetune/operator:{kubetune.__version__}"
    assert container(render({"image": {"digest": digest}}))["image"] == f"kubetune/operator@{digest}"


def test_chart_app_version_is_the_package_version() -> None:
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())

    assert chart["appVersion"] == kubetune.__version__


@pytest.mark.parametrize(("values", "namespace"), [(None, "default"), (NAMESPACED, "team-a")])
def test_notes_tell_how_to_apply_the_example_and_watch_it(values: dict[str, Any] | None, namespace: str) -> None:
    notes = renderer.notes(values)

    assert f"kubectl -n {namespace} apply -f examples/demo.yaml" in notes
    assert f"kubectl -n {namespace} get hpotasks --watch" in notes
    assert "kubectl -n kubetune-system rollout status deployment/kubetune" in notes
    assert "docker build -f examples/trainer/Dockerfile" in notes


def test_notes_mention_leader_election_when_replicated() -> None:
    assert "2 replicas share Lease kubetune-operator" in renderer.notes(e2e_values())


def test_rbac_grants_exactly_the_workload_kinds_the_values_list() -> None:
    kinds = [{"group": "kubeflow.org", "resource": "pytorchjobs", "kind": "PyTorchJob"}]
    objects = render({"workloadKinds": kinds})

    [operator_role] = operator_cluster_roles(objects)
    granted = rules_of(operator_role)
    workload_rules = {key for key, verbs in granted.items() if verbs == {"list", "watch", "create", "delete", "patch"}}
    assert workload_rules == {("kubeflow.org", "pytorchjobs")}, "not even batch/v1 Jobs when they are not listed"
    env = {e["name"]: e.get("value") for e in container(objects)["env"]}
    assert env["KUBETUNE_WORKLOAD_KINDS"] == "PyTorchJob.kubeflow.org"


def test_the_default_workload_kinds_are_the_operators_default() -> None:
    """With no KUBETUNE_WORKLOAD_KINDS the operator manages the kinds the chart grants by default, not more."""
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    listed = {f"{k['kind']}.{k['group']}" for k in values["workloadKinds"]}

    assert listed == DEFAULT_KINDS
    env = {e["name"]: e.get("value") for e in container(render({}))["env"]}
    assert set(env["KUBETUNE_WORKLOAD_KINDS"].split(",")) == DEFAULT_KINDS
