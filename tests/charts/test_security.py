"""The chart's admission policy admits an HPOTask only if its author could create its workloads, and the users' roles.

The policy's CEL runs in cel-python here, the way the API server runs a ValidatingAdmissionPolicy:
match conditions, then variables in order, then every validation. The ``authorizer`` is a stand-in
for the API server's (Kubernetes' CEL authz library; the decisions come from the table each test
gives), since that library and RBAC belong to the API server, not to kubetune. As in the API
server (k8s.io/apiserver admission/plugin/policy/validating: compilePolicy, validator.Validate), a
messageExpression gets no authorizer, and one that fails gives way to the validation's message.
Nothing here ran against a real API server.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import helm_python
import pytest
import yaml
from celpy import CELEvalError, celtypes

from kubetune.api import kinds
from tests.cel import evaluate, to_cel

from .chart import NAMESPACED, ROOT, of_kind, one, render
from .workloads import BY_KIND, WORKLOADS, workload

DEMO = yaml.safe_load((ROOT / "examples" / "demo.yaml").read_text())
NAMESPACE = "team-a"

Permission = tuple[str, str, str, str, str]
"""(API group, resource, namespace, verb, name or "*")."""


@dataclass(frozen=True)
class Check:
    """A stand-in for the API server's authorizer value and the checks built from it."""

    granted: frozenset[Permission]
    group: str = ""
    resource: str = ""
    namespace: str = ""
    name: str = ""
    verb: str = ""


AUTHZ = {
    "group": lambda a, g: replace(a, group=str(g)),
    "resource": lambda a, r: replace(a, resource=str(r)),
    "namespace": lambda a, n: replace(a, namespace=str(n)),
    "name": lambda a, n: replace(a, name=str(n)),
    "check": lambda a, verb: replace(a, verb=str(verb)),
    # RBAC: a rule without resourceNames ("*") allows every name.
    "allowed": lambda a: celtypes.BoolType(
        any((a.group, a.resource, a.namespace, a.verb, n) in a.granted for n in ("*", a.name))
    ),
}

CREATE_JOBS: Permission = ("batch", "jobs", NAMESPACE, "create", "*")


@dataclass
class Request:
    """One admission request for an HPOTask."""

    obj: dict[str, Any]
    granted: set[Permission] = field(default_factory=lambda: {CREATE_JOBS})
    operation: str = "CREATE"
    old: dict[str, Any] | None = None
    user: str = "alice"


def policy(objects: list[dict[str, Any]]) -> dict[str, Any]:
    return one(objects, "ValidatingAdmissionPolicy")


def _variables(spec: Mapping[str, Any], activation: dict[str, Any], strict: bool) -> celtypes.MapType:
    """The policy's variables in order; ``strict``: an evaluation error is a bug in the policy."""
    variables: dict[Any, Any] = {}
    for variable in spec.get("variables", []):
        activation["variables"] = celtypes.MapType(variables)
        try:
            value = evaluate(variable["expression"], activation, AUTHZ)
        except CELEvalError:
            if strict:
                raise
            continue  # reading it fails, as the API server's lazy variable would
        if isinstance(value, CELEvalError):
            if strict:
                raise value
            continue
        variables[celtypes.StringType(variable["name"])] = value
    return celtypes.MapType(variables)


def _message(validation: Mapping[str, Any], activation: dict[str, Any]) -> str:
    if "messageExpression" in validation:
        try:
            message = evaluate(validation["messageExpression"], activation, AUTHZ)
        except CELEvalError:
            message = None
        if isinstance(message, str) and "\n" not in message:
            return str(message).strip()
    return str(validation.get("message", "failed expression"))


def refusals(vap: Mapping[str, Any], request: Request) -> list[str]:
    """The messages the API server would refuse ``request`` with; [] when it admits it."""
    spec = vap["spec"]
    activation: dict[str, Any] = {
        # A policy sees the object as plain JSON, not typed by the CRD's schema (`object` is declared
        # dyn: k8s.io/apiserver admission/plugin/cel/compile.go), so fields under trialTemplate.spec are there.
        "object": to_cel(request.obj),
        "oldObject": to_cel(request.old) if request.old is not None else None,
        "request": to_cel(
            {"operation": request.operation, "namespace": NAMESPACE, "userInfo": {"username": request.user}}
        ),
        "params": None,
        "authorizer": Check(frozenset(request.granted)),
    }
    if not all(evaluate(c["expression"], activation, AUTHZ) for c in spec.get("matchConditions", [])):
        return []
    activation["variables"] = _variables(spec, activation, strict=True)
    failed = [v for v in spec["validations"] if evaluate(v["expression"], activation, AUTHZ) != celtypes.BoolType(True)]
    # Messages are evaluated apart, without the authorizer.
    for_messages = {k: v for k, v in activation.items() if k != "authorizer"}
    for_messages["variables"] = _variables(spec, for_messages, strict=False)
    return [_message(v, for_messages) for v in failed]


def task(**pod: Any) -> dict[str, Any]:
    """The demo task in NAMESPACE, its trial pods given extra pod-spec fields."""
    obj = copy.deepcopy(DEMO)
    obj["metadata"]["namespace"] = NAMESPACE
    obj["spec"]["trialTemplate"]["spec"]["template"]["spec"].update(pod)
    return obj


def with_container(**fields: Any) -> dict[str, Any]:
    obj = task()
    obj["spec"]["trialTemplate"]["spec"]["template"]["spec"]["containers"][0].update(fields)
    return obj


@pytest.fixture(scope="module")
def default_policy() -> dict[str, Any]:
    return policy(render())


@pytest.fixture(scope="module")
def strict_policy() -> dict[str, Any]:
    return policy(
        render(
            {
                "admissionPolicy": {
                    "denyHostNamespaces": True,
                    "denyHostPath": True,
                    "denyPrivileged": True,
                    "allowedServiceAccounts": ["default", "trainer"],
                }
            }
        )
    )


def test_an_author_who_may_create_the_jobs_is_admitted(default_policy: dict[str, Any]) -> None:
    assert refusals(default_policy, Request(task())) == []


def test_an_author_who_may_not_create_jobs_there_is_refused(default_policy: dict[str, Any]) -> None:
    elsewhere: Permission = ("batch", "jobs", "team-b", "create", "*")
    for granted in (set(), {elsewhere}, {("batch", "jobs", NAMESPACE, "get", "*")}):
        assert refusals(default_policy, Request(task(), granted=granted)) == [
            "an HPOTask makes the operator create Jobs (batch) in namespace team-a, and alice may not create them there"
        ]


@pytest.mark.parametrize("field_name", ["serviceAccountName", "serviceAccount"])
def test_running_trials_as_another_service_account_needs_the_right_to_act_as_it(
    default_policy: dict[str, Any], field_name: str
) -> None:
    obj = task(**{field_name: "trainer"})
    assert refusals(default_policy, Request(obj)) == [
        "trials would run as ServiceAccount trainer, and alice may not impersonate it in namespace team-a"
    ]
    impersonate: Permission = ("", "serviceaccounts", NAMESPACE, "impersonate", "trainer")
    assert refusals(default_policy, Request(obj, granted={CREATE_JOBS, impersonate})) == []
    other: Permission = ("", "serviceaccounts", NAMESPACE, "impersonate", "builder")
    assert refusals(default_policy, Request(obj, granted={CREATE_JOBS, other})) != []
    assert refusals(default_policy, Request(task(serviceAccountName="default"))) == []


def test_a_spec_change_is_checked_and_the_operators_updates_and_controls_are_not(
    default_policy: dict[str, Any],
) -> None:
    before = task()
    after = copy.deepcopy(before)
    after["metadata"]["finalizers"] = ["kubetune.io/finalizer"]
    operator = Request(after, granted=set(), operation="UPDATE", old=before, user="system:serviceaccount:x:kubetune")
    assert refusals(default_policy, operator) == []

    changed = task(hostNetwork=True)
    changed["spec"]["budget"]["maxTrials"] = 99
    assert refusals(default_policy, Request(changed, granted=set(), operation="UPDATE", old=before)) != []

    # Holding trials back needs no right to create Jobs; resuming is only a control too.
    for control in ({"suspend": True}, {"suspend": True, "suspendPolicy": "force"}, {"stop": {"policy": "force"}}):
        held = copy.deepcopy(before)
        held["spec"].update(control)
        assert refusals(default_policy, Request(held, granted=set(), operation="UPDATE", old=before)) == []
        assert refusals(default_policy, Request(before, granted=set(), operation="UPDATE", old=held)) == []
    added = copy.deepcopy(before)
    added["spec"]["earlyStopping"] = {"rule": "median"}
    assert refusals(default_policy, Request(added, granted=set(), operation="UPDATE", old=before)) != []


def test_the_deny_list_is_off_by_default(default_policy: dict[str, Any]) -> None:
    risky = task(hostNetwork=True, hostPID=True, volumes=[{"name": "root", "hostPath": {"path": "/"}}])
    risky["spec"]["trialTemplate"]["spec"]["template"]["spec"]["containers"][0]["securityContext"] = {
        "privileged": True
    }
    assert refusals(default_policy, Request(risky)) == []


@pytest.mark.parametrize(
    ("obj", "message"),
    [
        (task(hostNetwork=True), "may not use the host's network, PID or IPC namespace"),
        (task(hostIPC=True), "may not use the host's network, PID or IPC namespace"),
        (task(volumes=[{"name": "root", "hostPath": {"path": "/"}}]), "may not mount hostPath volumes"),
        (with_container(securityContext={"privileged": True}), "may not be privileged"),
        (
            task(initContainers=[{"name": "setup", "image": "x", "securityContext": {"privileged": True}}]),
            "may not be privileged",
        ),
        (task(serviceAccountName="builder"), "may run only as these ServiceAccounts: default, trainer"),
    ],
)
def test_the_deny_list_refuses_what_it_names(strict_policy: dict[str, Any], obj: dict[str, Any], message: str) -> None:
    everything = {
        CREATE_JOBS,
        ("", "serviceaccounts", NAMESPACE, "impersonate", "*"),
    }
    found = refusals(strict_policy, Request(obj, granted=everything))
    assert len(found) == 1 and message in found[0], found


def test_the_deny_list_admits_a_plain_task(strict_policy: dict[str, Any]) -> None:
    safe = task(volumes=[{"name": "data", "emptyDir": {}}], hostNetwork=False)
    assert refusals(strict_policy, Request(safe)) == []


def test_the_policy_is_bound_with_its_actions_and_scoped_to_watched_namespaces() -> None:
    objects = render({**NAMESPACED, "admissionPolicy": {"validationActions": ["Warn", "Audit"]}})
    binding = one(objects, "ValidatingAdmissionPolicyBinding")
    assert binding["spec"]["policyName"] == policy(objects)["metadata"]["name"]
    assert binding["spec"]["validationActions"] == ["Warn", "Audit"]
    selector = binding["spec"]["matchResources"]["namespaceSelector"]["matchExpressions"]
    assert selector == [{"key": "kubernetes.io/metadata.name", "operator": "In", "values": ["team-a", "team-b"]}]
    assert "matchResources" not in one(render(), "ValidatingAdmissionPolicyBinding")["spec"]


def test_the_policy_can_be_turned_off_and_the_service_account_check_relaxed() -> None:
    assert of_kind(render({"admissionPolicy": {"enabled": False}}), "ValidatingAdmissionPolicy") == []
    relaxed = policy(render({"admissionPolicy": {"checkServiceAccountUse": False}}))
    assert refusals(relaxed, Request(task(serviceAccountName="trainer"))) == []


@pytest.mark.parametrize(
    "values",
    [
        {"admissionPolicy": {"enabled": "yes"}},
        {"admissionPolicy": {"validationActions": ["Maybe"]}},
        {"admissionPolicy": {"validationActions": []}},
        {"admissionPolicy": {"allowedServiceAccounts": ["Not A Name"]}},
        {"admissionPolicy": {"denyHostPath": "true"}},
        {"admissionPolicy": {"denyEverything": True}},
    ],
)
def test_the_schema_refuses_policy_values_that_cannot_work(values: dict[str, Any]) -> None:
    with pytest.raises(helm_python.HelmValuesError):
        render(values)


def test_users_get_aggregated_view_and_edit_roles() -> None:
    roles = {r["metadata"]["name"]: r for r in of_kind(render(), "ClusterRole")}
    view, edit = roles["kubetune-view"], roles["kubetune-edit"]
    assert view["metadata"]["labels"]["rbac.authorization.k8s.io/aggregate-to-view"] == "true"
    assert edit["metadata"]["labels"]["rbac.authorization.k8s.io/aggregate-to-edit"] == "true"
    assert "rbac.authorization.k8s.io/aggregate-to-view" not in edit["metadata"]["labels"]
    assert {v for rule in view["rules"] for v in rule["verbs"]} == {"get", "list", "watch"}
    edit_rights = {(res, verb) for rule in edit["rules"] for res in rule["resources"] for verb in rule["verbs"]}
    assert ("hpotasks", "create") in edit_rights
    assert not {("trials", "create"), ("trials", "update"), ("trials", "patch")} & edit_rights
    assert not [
        r for r in of_kind(render({"rbac": {"aggregateToDefaultRoles": False}}), "ClusterRole") if "view" in str(r)
    ]


# --- Every workload kind ----------------------------------------------------------------------

EVERY_KIND = {
    "workloadKinds": [{"group": k.group, "resource": k.plural, "kind": k.kind} for k in kinds.BUILTIN.values()]
}


def create(kind: str, namespace: str = NAMESPACE) -> Permission:
    return (BY_KIND[kind].group, BY_KIND[kind].plural, namespace, "create", "*")


def kind_task(kind: str, at: kinds.Loc | None = None, **pod: Any) -> dict[str, Any]:
    """The demo task, its trials of ``kind``, the pod spec at ``at`` given extra fields."""
    obj = task()
    obj["spec"]["trialTemplate"] = workload(kind)
    if at is not None:
        target = kinds.at(obj["spec"]["trialTemplate"]["spec"], at)
        assert isinstance(target, dict)
        target.update(pod)
    return obj


POD_TEMPLATES = [(kind, loc) for kind in sorted(WORKLOADS) for loc, _ in kinds.pod_specs(WORKLOADS[kind]["spec"])]


@pytest.fixture(scope="module")
def every_kind_policy() -> dict[str, Any]:
    return policy(render(EVERY_KIND))


@pytest.mark.parametrize("kind", sorted(WORKLOADS))
def test_an_author_who_may_create_the_tasks_workloads_is_admitted(every_kind_policy: dict[str, Any], kind: str) -> None:
    assert refusals(every_kind_policy, Request(kind_task(kind), granted={create(kind)})) == []


@pytest.mark.parametrize("kind", sorted(WORKLOADS))
def test_an_author_who_may_not_create_the_tasks_workloads_is_refused(
    every_kind_policy: dict[str, Any], kind: str
) -> None:
    group = BY_KIND[kind].group
    jobs_only = {CREATE_JOBS} if kind != "Job" else set()
    for granted in (set(), jobs_only, {create(kind, "team-b")}):
        assert refusals(every_kind_policy, Request(kind_task(kind), granted=granted)) == [
            f"an HPOTask makes the operator create {kind}s ({group}) in namespace team-a, "
            "and alice may not create them there"
        ]


def test_a_task_of_a_kind_the_chart_does_not_run_is_refused(default_policy: dict[str, Any]) -> None:
    # The default workloadKinds has no TFJob; nor is a Job of another API group a batch/v1 Job.
    tfjob = kind_task("TFJob")
    assert refusals(default_policy, Request(tfjob, granted={create("TFJob")})) == [
        "an HPOTask of kind TFJob (kubeflow.org/v1) makes the operator create workloads this installation does "
        "not run: the chart value workloadKinds does not list that kind"
    ]
    impostor = kind_task("Job")
    impostor["spec"]["trialTemplate"]["apiVersion"] = "example.com/v1"
    assert len(refusals(default_policy, Request(impostor, granted={CREATE_JOBS}))) == 1


@pytest.mark.parametrize(
    ("kind", "at"), POD_TEMPLATES, ids=[f"{k}:{'.'.join(map(str, loc))}" for k, loc in POD_TEMPLATES]
)
def test_a_service_account_in_any_pod_template_needs_the_right_to_act_as_it(
    every_kind_policy: dict[str, Any], kind: str, at: kinds.Loc
) -> None:
    obj = kind_task(kind, at, serviceAccountName="powerful")
    # The right to create Jobs too: the policy must not stop at the Job's one pod template.
    may_create = {create(kind), CREATE_JOBS}
    assert refusals(every_kind_policy, Request(obj, granted=may_create)) == [
        "trials would run as ServiceAccount powerful, and alice may not impersonate it in namespace team-a"
    ]
    impersonate: Permission = ("", "serviceaccounts", NAMESPACE, "impersonate", "powerful")
    assert refusals(every_kind_policy, Request(obj, granted={*may_create, impersonate})) == []


def test_several_service_accounts_each_need_the_right_to_act_as_them(every_kind_policy: dict[str, Any]) -> None:
    obj = kind_task("PyTorchJob", ("pytorchReplicaSpecs", "Master", "template", "spec"), serviceAccountName="trainer")
    worker = kinds.at(obj["spec"]["trialTemplate"]["spec"], ("pytorchReplicaSpecs", "Worker", "template", "spec"))
    assert isinstance(worker, dict)
    worker["serviceAccountName"] = "powerful"
    may_be_trainer: Permission = ("", "serviceaccounts", NAMESPACE, "impersonate", "trainer")
    assert refusals(every_kind_policy, Request(obj, granted={create("PyTorchJob"), may_be_trainer})) == [
        "trials would run as ServiceAccount trainer and others, and alice may not impersonate them all "
        "in namespace team-a"
    ]
    may_be_both = {may_be_trainer, ("", "serviceaccounts", NAMESPACE, "impersonate", "powerful")}
    assert refusals(every_kind_policy, Request(obj, granted={create("PyTorchJob"), *may_be_both})) == []


@pytest.fixture(scope="module")
def strict_every_kind_policy() -> dict[str, Any]:
    deny = {"denyHostNamespaces": True, "denyHostPath": True, "denyPrivileged": True}
    return policy(render({**EVERY_KIND, "admissionPolicy": {**deny, "allowedServiceAccounts": ["default", "trainer"]}}))


@pytest.mark.parametrize(
    ("kind", "at"), POD_TEMPLATES, ids=[f"{k}:{'.'.join(map(str, loc))}" for k, loc in POD_TEMPLATES]
)
def test_the_deny_list_looks_at_every_pod_template(
    strict_every_kind_policy: dict[str, Any], kind: str, at: kinds.Loc
) -> None:
    everything = {create(kind), CREATE_JOBS, ("", "serviceaccounts", NAMESPACE, "impersonate", "*")}
    privileged = {"name": "setup", "image": "x", "securityContext": {"privileged": True}}
    for fields, message in (
        ({"hostPID": True}, "may not use the host's network, PID or IPC namespace"),
        ({"volumes": [{"name": "root", "hostPath": {"path": "/"}}]}, "may not mount hostPath volumes"),
        ({"initContainers": [privileged]}, "may not be privileged"),
        (
            {"serviceAccountName": "builder"},
            "may run only as these ServiceAccounts: default, trainer; this task asks for builder",
        ),
    ):
        found = refusals(strict_every_kind_policy, Request(kind_task(kind, at, **fields), granted=everything))
        assert len(found) == 1 and message in found[0], (fields, found)
    assert refusals(strict_every_kind_policy, Request(kind_task(kind), granted=everything)) == []


ARGO = {"group": "argoproj.io", "resource": "workflows", "kind": "Workflow"}


def argo_task(**spec: Any) -> dict[str, Any]:
    obj = task()
    template = {"name": "train", "container": {"image": "python:3.12", "command": ["python", "train.py"]}}
    obj["spec"]["trialTemplate"] = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Workflow",
        "successCondition": "has(object.status.phase) && object.status.phase == 'Succeeded'",
        "failureCondition": "has(object.status.phase) && object.status.phase == 'Failed'",
        "spec": {"entrypoint": "train", "templates": [template], **spec},
    }
    return obj


def test_a_kind_described_in_the_values_is_checked_where_its_podspecs_say() -> None:
    # An Argo Workflow's spec holds its pods' ServiceAccount, volumes and host settings.
    vap = policy(render({"workloadKinds": [{**ARGO, "podSpecs": "[variables.spec]"}]}))
    create_workflows: Permission = ("argoproj.io", "workflows", NAMESPACE, "create", "*")

    assert refusals(vap, Request(argo_task(), granted={create_workflows})) == []
    assert refusals(vap, Request(argo_task(), granted={CREATE_JOBS})) == [
        "an HPOTask makes the operator create Workflows (argoproj.io) in namespace team-a, "
        "and alice may not create them there"
    ]
    assert refusals(vap, Request(argo_task(serviceAccountName="powerful"), granted={create_workflows})) == [
        "trials would run as ServiceAccount powerful, and alice may not impersonate it in namespace team-a"
    ]


def test_a_kind_kubetune_does_not_know_needs_its_podspecs_for_the_policy() -> None:
    with pytest.raises(Exception, match=r"Workflow \(argoproj.io\) is not a kind kubetune knows: give its podSpecs"):
        render({"workloadKinds": [ARGO]})
    assert of_kind(render({"workloadKinds": [ARGO], "admissionPolicy": {"enabled": False}}), "Deployment")
