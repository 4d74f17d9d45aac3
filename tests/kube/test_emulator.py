"""The emulator behaves as the Kubernetes API does, for the official client and for the real Kopf operator."""

from __future__ import annotations

import asyncio
import copy
import json
import threading
from typing import Any

import kopf
import kubernetes
import pytest
from kubernetes.client.exceptions import ApiException

from kubetune.api.crd import all_crds
from tests.kube import Annotate, Kube, Log, PodScript, Sleep, pod_args, pod_env, run_kopf, run_kopf_async
from tests.kube.workloads import expand

NS = "default"

WIDGETS = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "widgets.test.kubetune.io"},
    "spec": {
        "group": "test.kubetune.io",
        "scope": "Namespaced",
        "names": {"kind": "Widget", "plural": "widgets", "singular": "widget", "shortNames": ["wg"]},
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "subresources": {"status": {}},
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "properties": {
                            "spec": {
                                "type": "object",
                                "properties": {"size": {"type": "integer", "default": 1}, "colour": {"type": "string"}},
                            },
                            "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                        },
                    }
                },
            }
        ],
    },
}


def widget(name: str, size: int = 1, **labels: str) -> dict[str, Any]:
    return {
        "apiVersion": "test.kubetune.io/v1",
        "kind": "Widget",
        "metadata": {"name": name, "labels": labels},
        "spec": {"size": size},
    }


def pod(name: str, *containers: str, **labels: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "restartPolicy": "Never",
            "containers": [{"name": c, "image": "busybox"} for c in containers or ("main",)],
        },
    }


def job(name: str, **spec: Any) -> dict[str, Any]:
    container = {
        "name": "train",
        "image": "trainer",
        "args": ["--lr", "0.3"],
        "env": [{"name": "EPOCHS", "value": "3"}],
    }
    template = {
        "metadata": {"labels": {"app": "trainer"}},
        "spec": {"restartPolicy": "Never", "containers": [container]},
    }
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name}, "spec": {"template": template, **spec}}


def status_of(e: ApiException) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(e.body)
    return body


@pytest.fixture
def widgets(kube: Kube) -> kubernetes.client.CustomObjectsApi:
    kube.install_crd(WIDGETS)
    return kube.custom


# --- API semantics, through the official client ---


def test_discovery_serves_builtins_and_installed_crds(kube: Kube) -> None:
    for crd in all_crds().values():
        kube.install_crd(crd)
    api = kube.api_client

    def get(path: str) -> Any:
        response = api.call_api("GET", kube.url + path)
        response.read()
        return json.loads(response.data)

    groups = {g["name"] for g in get("/apis")["groups"]}
    assert {"batch", "events.k8s.io", "coordination.k8s.io", "apiextensions.k8s.io", "kubetune.io"} <= groups
    core = {res["name"]: res for res in get("/api/v1")["resources"]}
    assert core["pods/log"]["verbs"] == ["get"]
    assert set(core["pods/status"]["verbs"]) == {"get", "patch", "update"}
    assert core["namespaces"]["namespaced"] is False
    assert "watch" in core["events"]["verbs"]
    ours = {res["name"]: res for res in get("/apis/kubetune.io/v1alpha1")["resources"]}
    assert ours["hpotasks"]["kind"] == "HPOTask" and ours["hpotasks"]["namespaced"] is True
    assert "hpotasks/status" in ours and "trials" in ours
    assert "watch" in ours["hpotasks"]["verbs"]
    crd = kube.get("customresourcedefinitions", "hpotasks.kubetune.io", None)
    assert {c["type"] for c in crd["status"]["conditions"]} >= {"Established", "NamesAccepted"}


def test_label_and_field_selectors(kube: Kube) -> None:
    core = kube.core
    core.create_namespaced_pod(NS, pod("a", tier="web", env="prod"))
    core.create_namespaced_pod(NS, pod("b", tier="db", env="prod"))
    core.create_namespaced_pod(NS, pod("c", tier="web"))

    def names(**kwargs: Any) -> list[str]:
        return sorted(p.metadata.name for p in core.list_namespaced_pod(NS, **kwargs).items)

    assert names(label_selector="tier=web") == ["a", "c"]
    assert names(label_selector="tier==web,env=prod") == ["a"]
    assert names(label_selector="env!=prod") == ["c"]  # a missing label satisfies !=
    assert names(label_selector="tier in (db, cache)") == ["b"]
    assert names(label_selector="tier notin (db)") == ["a", "c"]
    assert names(label_selector="env") == ["a", "b"]
    assert names(label_selector="!env") == ["c"]
    assert names(field_selector="metadata.name=b") == ["b"]
    assert names(field_selector="metadata.name!=b,metadata.namespace=default") == ["a", "c"]
    assert sorted(p.metadata.name for p in core.list_pod_for_all_namespaces(label_selector="tier=web").items) == [
        "a",
        "c",
    ]
    with pytest.raises(ApiException) as bad:
        names(label_selector="tier in web")
    assert bad.value.status == 400
    with pytest.raises(ApiException) as unsupported:
        names(field_selector="spec.containers=x")
    assert unsupported.value.status == 400 and "field label not supported" in status_of(unsupported.value)["message"]


def test_metadata_generation_and_status_subresource(kube: Kube, widgets: kubernetes.client.CustomObjectsApi) -> None:
    args = ("test.kubetune.io", "v1", NS, "widgets")
    body = widget("w1", 2)
    body["status"] = {"phase": "Forged"}
    created = widgets.create_namespaced_custom_object(*args, body)
    meta = created["metadata"]
    assert meta["generation"] == 1 and meta["uid"] and meta["creationTimestamp"] and meta["resourceVersion"].isdigit()
    assert "status" not in created  # status is written through /status only

    # A main-resource write ignores status; spec changes bump the generation, metadata changes do not.
    patched = widgets.patch_namespaced_custom_object(*args, "w1", {"spec": {"size": 3}, "status": {"phase": "Ignored"}})
    assert patched["spec"]["size"] == 3 and "status" not in patched and patched["metadata"]["generation"] == 2
    labelled = widgets.patch_namespaced_custom_object(*args, "w1", {"metadata": {"labels": {"x": "y"}}})
    assert labelled["metadata"]["generation"] == 2
    assert int(labelled["metadata"]["resourceVersion"]) > int(patched["metadata"]["resourceVersion"])

    # A /status write changes status only, and never the generation.
    status = widgets.patch_namespaced_custom_object_status(
        *args, "w1", {"spec": {"size": 99}, "status": {"phase": "Ready"}}
    )
    assert (
        status["status"] == {"phase": "Ready"} and status["spec"]["size"] == 3 and status["metadata"]["generation"] == 2
    )

    # The schema applies as on a cluster: defaults filled, undeclared spec fields pruned, types validated.
    pruned = widgets.create_namespaced_custom_object(
        *args, {**widget("w2"), "spec": {"colour": "red", "shape": "round"}}
    )
    assert pruned["spec"] == {"colour": "red", "size": 1}
    with pytest.raises(ApiException) as invalid:
        widgets.create_namespaced_custom_object(*args, {**widget("w3"), "spec": {"size": "big"}})
    assert invalid.value.status == 422


def test_conflicts_and_not_found(kube: Kube, widgets: kubernetes.client.CustomObjectsApi) -> None:
    args = ("test.kubetune.io", "v1", NS, "widgets")
    first = widgets.create_namespaced_custom_object(*args, widget("w1"))
    widgets.patch_namespaced_custom_object(*args, "w1", {"spec": {"size": 2}})

    stale = copy.deepcopy(first)
    stale["spec"]["size"] = 5
    with pytest.raises(ApiException) as replaced:
        widgets.replace_namespaced_custom_object(*args, "w1", stale)
    assert replaced.value.status == 409 and status_of(replaced.value)["reason"] == "Conflict"
    with pytest.raises(ApiException) as patched:
        rv = first["metadata"]["resourceVersion"]
        widgets.patch_namespaced_custom_object(*args, "w1", {"metadata": {"resourceVersion": rv}, "spec": {"size": 6}})
    assert patched.value.status == 409

    # PUT with the current resourceVersion (or none at all) succeeds.
    current = widgets.get_namespaced_custom_object(*args, "w1")
    current["spec"]["size"] = 7
    assert widgets.replace_namespaced_custom_object(*args, "w1", current)["spec"]["size"] == 7

    with pytest.raises(ApiException) as duplicate:
        widgets.create_namespaced_custom_object(*args, widget("w1"))
    assert duplicate.value.status == 409 and status_of(duplicate.value)["reason"] == "AlreadyExists"
    with pytest.raises(ApiException) as missing:
        widgets.get_namespaced_custom_object(*args, "nope")
    gone = status_of(missing.value)
    assert missing.value.status == 404
    assert gone["kind"] == "Status" and gone["reason"] == "NotFound" and gone["details"]["name"] == "nope"
    assert gone["message"] == 'widgets.test.kubetune.io "nope" not found'
    with pytest.raises(ApiException) as no_namespace:
        kube.core.create_namespaced_pod("elsewhere", pod("p"))
    assert (
        no_namespace.value.status == 404
        and status_of(no_namespace.value)["message"] == 'namespaces "elsewhere" not found'
    )


def test_creating_an_object_read_back_is_refused_for_its_resource_version(
    kube: Kube, widgets: kubernetes.client.CustomObjectsApi
) -> None:
    """As kube-apiserver 1.28 answers it (seen in the real-API-server tier): a 500 without a reason,
    before the name is looked up, so even a name that exists gets this answer, not AlreadyExists."""
    args = ("test.kubetune.io", "v1", NS, "widgets")
    stored = widgets.create_namespaced_custom_object(*args, widget("w2"))
    with pytest.raises(ApiException) as refused:
        widgets.create_namespaced_custom_object(*args, stored)
    assert refused.value.status == 500
    assert status_of(refused.value) == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": "resourceVersion should not be set on objects to be created",
        "code": 500,
    }


def test_patch_formats(kube: Kube, widgets: kubernetes.client.CustomObjectsApi) -> None:
    widgets.create_namespaced_custom_object("test.kubetune.io", "v1", NS, "widgets", widget("w1", 2))
    path = f"{kube.url}/apis/test.kubetune.io/v1/namespaces/{NS}/widgets/w1"

    def patch(body: Any, content_type: str) -> tuple[int, dict[str, Any]]:
        try:
            response = kube.api_client.call_api("PATCH", path, header_params={"Content-Type": content_type}, body=body)
        except ApiException as e:  # older clients raise from call_api itself
            return int(e.status), status_of(e)
        response.read()
        return response.status, json.loads(response.data)

    code, result = patch(
        [{"op": "test", "path": "/spec/size", "value": 2}, {"op": "replace", "path": "/spec/size", "value": 4}],
        "application/json-patch+json",
    )
    assert code == 200 and result["spec"]["size"] == 4
    code, result = patch(
        [{"op": "test", "path": "/spec/size", "value": 2}, {"op": "replace", "path": "/spec/size", "value": 5}],
        "application/json-patch+json",
    )
    assert code == 422 and result["reason"] == "Invalid"
    code, result = patch({"spec": {"size": 5}}, "application/strategic-merge-patch+json")
    assert code == 415  # custom resources have no strategic-merge schema
    code, result = patch({"spec": {"size": None}}, "application/merge-patch+json")
    assert code == 200 and result["spec"] == {"size": 1}  # null removes; the schema default comes back


def test_noop_writes_produce_no_event(kube: Kube, widgets: kubernetes.client.CustomObjectsApi) -> None:
    args = ("test.kubetune.io", "v1", NS, "widgets")
    created = widgets.create_namespaced_custom_object(*args, widget("w1", 2, a="b"))
    rv = created["metadata"]["resourceVersion"]
    again = widgets.patch_namespaced_custom_object(
        *args, "w1", {"spec": {"size": 2}, "metadata": {"labels": {"a": "b"}}}
    )
    assert again["metadata"]["resourceVersion"] == rv
    events = list(
        kubernetes.watch.Watch().stream(
            widgets.list_namespaced_custom_object, *args, resource_version=rv, timeout_seconds=1
        )
    )
    assert events == []


def test_watch_resumes_filters_and_expires(kube: Kube) -> None:
    core = kube.core
    created = core.create_namespaced_pod(NS, pod("a", tier="web"))
    rv = created.metadata.resource_version
    core.patch_namespaced_pod("a", NS, {"metadata": {"labels": {"tier": "db"}}})
    core.create_namespaced_pod(NS, pod("b", tier="web"))

    def events(**kwargs: Any) -> list[tuple[str, str]]:
        stream = kubernetes.watch.Watch().stream(core.list_namespaced_pod, NS, timeout_seconds=1, **kwargs)
        return [(e["type"], e["object"].metadata.name) for e in stream if e["type"] != "BOOKMARK"]

    # Resuming from a version replays what happened since; leaving the selector reads as DELETED.
    # (The kubelet's status writes to the pods are MODIFIED events in between.)
    replay = [e for e in events(resource_version=rv, label_selector="tier=web") if e[0] != "MODIFIED"]
    assert replay == [("DELETED", "a"), ("ADDED", "b")]
    # Without a version, the current state comes first as ADDED.
    assert sorted(e for e in events(label_selector="tier") if e[0] == "ADDED") == [("ADDED", "a"), ("ADDED", "b")]
    kube.compact()
    with pytest.raises(ApiException) as expired:
        events(resource_version=rv)
    assert expired.value.status == 410


def test_a_refused_resource_answers_as_rbac_does_and_access_reviews_agree(
    kube: Kube, widgets: kubernetes.client.CustomObjectsApi
) -> None:
    kube.refuse("widgets.test.kubetune.io")
    with pytest.raises(ApiException) as cluster_wide:
        widgets.list_cluster_custom_object("test.kubetune.io", "v1", "widgets")
    assert cluster_wide.value.status == 403
    assert status_of(cluster_wide.value) == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": 'widgets.test.kubetune.io is forbidden: User "system:serviceaccount:kubetune:kubetune" cannot '
        'list resource "widgets" in API group "test.kubetune.io" at the cluster scope',
        "reason": "Forbidden",
        "code": 403,
        "details": {"group": "test.kubetune.io", "kind": "widgets"},
    }
    with pytest.raises(ApiException) as in_namespace:
        kubernetes.watch.Watch().stream(
            widgets.list_namespaced_custom_object, "test.kubetune.io", "v1", NS, "widgets", timeout_seconds=1
        ).__next__()
    assert status_of(in_namespace.value)["message"].endswith(
        'cannot watch resource "widgets" in API group "test.kubetune.io" in the namespace "default"'
    )
    widgets.create_namespaced_custom_object("test.kubetune.io", "v1", NS, "widgets", widget("w"))  # create: granted

    def may(verb: str, resource: str) -> bool:
        attributes = kubernetes.client.V1ResourceAttributes(group="test.kubetune.io", resource=resource, verb=verb)
        spec = kubernetes.client.V1SelfSubjectAccessReviewSpec(resource_attributes=attributes)
        review = kubernetes.client.V1SelfSubjectAccessReview(spec=spec)
        answer = kubernetes.client.AuthorizationV1Api(kube.api_client).create_self_subject_access_review(review)
        return bool(answer.status.allowed)

    assert not may("list", "widgets") and not may("watch", "widgets")
    assert may("create", "widgets") and may("list", "gadgets")


def test_removing_a_crd_ends_its_watches_and_its_resource(
    kube: Kube, widgets: kubernetes.client.CustomObjectsApi
) -> None:
    """As the API server does: the objects go (DELETED), the stream ends a moment later, then 404."""
    widgets.create_namespaced_custom_object("test.kubetune.io", "v1", NS, "widgets", widget("w"))
    # The server's end, not the 600 s asked for, ends the stream (else the client's read times out: a failure).
    stream = kubernetes.watch.Watch().stream(
        widgets.list_namespaced_custom_object,
        "test.kubetune.io",
        "v1",
        NS,
        "widgets",
        timeout_seconds=600,
        _request_timeout=30,
    )
    assert next(stream)["type"] == "ADDED"
    kube.remove_crd("widgets.test.kubetune.io")
    rest = [e["type"] for e in stream]
    assert "DELETED" in rest
    with pytest.raises(ApiException) as gone:
        widgets.list_namespaced_custom_object("test.kubetune.io", "v1", NS, "widgets")
    assert gone.value.status == 404


def test_finalizers_and_deletion_timestamp(kube: Kube, widgets: kubernetes.client.CustomObjectsApi) -> None:
    args = ("test.kubetune.io", "v1", NS, "widgets")
    body = widget("w1")
    body["metadata"]["finalizers"] = ["test/hold"]
    widgets.create_namespaced_custom_object(*args, body)
    widgets.delete_namespaced_custom_object(*args, "w1")
    held = widgets.get_namespaced_custom_object(*args, "w1")
    assert held["metadata"]["deletionTimestamp"] and held["metadata"]["generation"] == 2
    with pytest.raises(ApiException) as adding:
        widgets.patch_namespaced_custom_object(*args, "w1", {"metadata": {"finalizers": ["test/hold", "test/more"]}})
    assert adding.value.status == 422
    widgets.patch_namespaced_custom_object(*args, "w1", {"metadata": {"finalizers": None}})
    assert kube.find("widgets", "w1") is None


def test_garbage_collection(kube: Kube, widgets: kubernetes.client.CustomObjectsApi) -> None:
    args = ("test.kubetune.io", "v1", NS, "widgets")

    def owned(name: str, owner: dict[str, Any], *, block: bool = False, finalizer: bool = False) -> None:
        body = pod(name)
        ref = {
            "apiVersion": "test.kubetune.io/v1",
            "kind": "Widget",
            "name": owner["metadata"]["name"],
            "uid": owner["metadata"]["uid"],
            "blockOwnerDeletion": block,
        }
        body["metadata"].update(ownerReferences=[ref], finalizers=["test/hold"] if finalizer else [])
        kube.core.create_namespaced_pod(NS, body)

    # Background (the default for custom resources): the owner goes at once, its dependents after it.
    owner = widgets.create_namespaced_custom_object(*args, widget("bg"))
    owned("bg-pod", owner)
    widgets.delete_namespaced_custom_object(*args, "bg")
    kube.wait_gone("pods", "bg-pod")

    # Foreground: the owner stays (deletionTimestamp set) until its blocking dependents are gone.
    owner = widgets.create_namespaced_custom_object(*args, widget("fg"))
    owned("fg-pod", owner, block=True, finalizer=True)
    widgets.delete_namespaced_custom_object(*args, "fg", propagation_policy="Foreground")
    kube.wait_for(lambda: (kube.find("pods", "fg-pod") or {}).get("metadata", {}).get("deletionTimestamp"))
    # A later pass of the garbage collector (the one that collects an orphan made now) leaves the owner waiting.
    owned("probe-pod", {"metadata": {"name": "gone", "uid": "no-such-uid"}})
    kube.wait_gone("pods", "probe-pod")
    assert kube.get("widgets", "fg")["metadata"]["finalizers"] == ["foregroundDeletion"]
    kube.core.patch_namespaced_pod("fg-pod", NS, {"metadata": {"finalizers": None}})
    kube.wait_gone("widgets", "fg")

    # Orphan: the dependents stay, without the reference to their owner.
    owner = widgets.create_namespaced_custom_object(*args, widget("or"))
    owned("or-pod", owner)
    widgets.delete_namespaced_custom_object(*args, "or", propagation_policy="Orphan")
    kube.wait_gone("widgets", "or")
    assert "ownerReferences" not in kube.get("pods", "or-pod")["metadata"]


def test_pod_logs(kube: Kube) -> None:
    lines = [Log(f"line {i}") for i in range(5)]
    kube.behaviour = lambda p: PodScript([*lines, Log("side", container="sidecar")])
    kube.core.create_namespaced_pod(NS, pod("solo"))
    kube.core.create_namespaced_pod(NS, pod("duo", "main", "sidecar"))
    kube.wait_for(lambda: kube.get("pods", "solo")["status"]["phase"] == "Succeeded")
    kube.wait_for(lambda: kube.get("pods", "duo")["status"]["phase"] == "Succeeded")
    read = kube.core.read_namespaced_pod_log

    assert read("solo", NS) == "".join(f"line {i}\n" for i in range(5))
    assert read("solo", NS, limit_bytes=9) == "line 0\nli"
    assert read("solo", NS, tail_lines=2) == "line 3\nline 4\n"
    stamped = read("solo", NS, timestamps=True, tail_lines=1)
    assert stamped.endswith("Z line 4\n") and stamped[:4].isdigit()
    assert read("solo", NS, since_seconds=60).count("\n") == 5
    assert read("duo", NS, container="sidecar") == "side\n"
    with pytest.raises(ApiException) as ambiguous:
        read("duo", NS)
    assert ambiguous.value.status == 400 and "choose one of: [main sidecar]" in status_of(ambiguous.value)["message"]


def test_events_accept_generate_name(kube: Kube) -> None:
    event = {
        "metadata": {"generateName": "w1."},
        "involvedObject": {"kind": "Pod", "name": "w1", "namespace": NS},
        "reason": "Tested",
        "message": "m",
        "type": "Normal",
    }
    first = kube.core.create_namespaced_event(NS, event)
    second = kube.core.create_namespaced_event(NS, event)
    assert first.metadata.name != second.metadata.name and first.metadata.name.startswith("w1.")
    assert len(kube.events(NS, involved="w1")) == 2


# --- the simulated Job controller and kubelet ---


def training(pod: dict[str, Any]) -> PodScript:
    """A fake trainer: reads its learning rate from args and epochs from env, logs the loss per epoch."""
    args = pod_args(pod)
    lr, epochs = float(args[args.index("--lr") + 1]), int(pod_env(pod)["EPOCHS"])
    steps: list[Any] = []
    for epoch in range(epochs):
        steps += [Sleep(0.02), Log(f"epoch={epoch} loss={(lr - 0.1) ** 2 / (epoch + 1):.4f}")]
    return PodScript([*steps, Annotate("kubetune.io/objective", f"{(lr - 0.1) ** 2 / epochs:.4f}")])


def test_job_runs_a_scripted_pod_to_completion(kube: Kube) -> None:
    kube.behaviour = training
    kube.batch.create_namespaced_job(NS, job("train"))
    kube.wait_condition("jobs", "train", "Complete")

    status = kube.get("jobs", "train")["status"]
    assert status["succeeded"] == 1 and "active" not in status and status["startTime"] and status["completionTime"]
    (trainer,) = kube.list("pods", labels="job-name=train")
    meta = trainer["metadata"]
    assert meta["name"].startswith("train-") and len(meta["name"]) == len("train-") + 5
    assert meta["labels"]["app"] == "trainer" and meta["labels"]["batch.kubernetes.io/job-name"] == "train"
    assert meta["labels"]["controller-uid"] == kube.get("jobs", "train")["metadata"]["uid"]
    assert meta["ownerReferences"][0] | {"uid": None} == {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "name": "train",
        "uid": None,
        "controller": True,
        "blockOwnerDeletion": True,
    }
    assert meta["annotations"]["kubetune.io/objective"] == "0.0133"
    assert trainer["status"]["phase"] == "Succeeded"
    assert trainer["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"] == 0
    assert kube.logs(meta["name"]).splitlines() == ["epoch=0 loss=0.0400", "epoch=1 loss=0.0200", "epoch=2 loss=0.0133"]


def test_job_deadline_exceeded(kube: Kube) -> None:
    kube.behaviour = lambda p: PodScript([Log("starting"), Sleep(30)])
    kube.batch.create_namespaced_job(NS, job("slow", activeDeadlineSeconds=1))
    kube.wait_for(lambda: kube.list("pods", labels="job-name=slow"))
    failed = kube.wait_condition("jobs", "slow", "Failed", timeout=5)
    assert failed["reason"] == "DeadlineExceeded"
    status = kube.get("jobs", "slow")["status"]
    assert status["failed"] == 1 and "completionTime" not in status
    kube.wait_for(lambda: not kube.list("pods", labels="job-name=slow"))  # the running pod was killed


def test_job_retries_until_backoff_limit(kube: Kube) -> None:
    kube.behaviour = lambda p: PodScript([Log("boom")], exit_code=3)
    kube.batch.create_namespaced_job(NS, job("flaky", backoffLimit=2))
    failed = kube.wait_condition("jobs", "flaky", "Failed")
    assert failed["reason"] == "BackoffLimitExceeded"
    assert kube.get("jobs", "flaky")["status"]["failed"] == 3
    assert len(kube.list("pods", labels="job-name=flaky")) == 3


def test_job_suspend_and_resume(kube: Kube) -> None:
    kube.behaviour = lambda p: PodScript([Sleep(0.1)])
    kube.batch.create_namespaced_job(NS, job("paused", suspend=True))
    kube.wait_condition("jobs", "paused", "Suspended")
    assert kube.list("pods", labels="job-name=paused") == []
    kube.batch.patch_namespaced_job("paused", NS, {"spec": {"suspend": False}})
    kube.wait_condition("jobs", "paused", "Complete")


def test_deleting_a_job(kube: Kube) -> None:
    kube.behaviour = lambda p: PodScript([Sleep(30)])
    kube.batch.create_namespaced_job(NS, job("kept"))
    kube.batch.create_namespaced_job(NS, job("cascaded"))
    kube.wait_for(lambda: len([p for p in kube.list("pods") if p["status"]["phase"] == "Running"]) == 2)

    # batch/v1 keeps a Job's pods by default (for backwards compatibility), so operators must ask for a cascade.
    kube.batch.delete_namespaced_job("kept", NS)
    kube.wait_gone("jobs", "kept")
    (orphan,) = kube.list("pods", labels="job-name=kept")
    assert "ownerReferences" not in orphan["metadata"] and orphan["status"]["phase"] == "Running"

    kube.batch.delete_namespaced_job("cascaded", NS, propagation_policy="Background")
    kube.wait_for(lambda: not kube.list("pods", labels="job-name=cascaded"))  # and its script was stopped


# --- the real Kopf operator ---

operator = kopf.OperatorRegistry()
seen: list[tuple[str, str, Any]] = []
seen_lock = threading.Lock()


@kopf.on.create("test.kubetune.io", "v1", "widgets", registry=operator)
def widget_created(name: str, spec: kopf.Spec, patch: kopf.Patch, **_: Any) -> None:
    with seen_lock:
        seen.append(("create", name, spec["size"]))
    patch.status["observedSize"] = spec["size"]


@kopf.on.update("test.kubetune.io", "v1", "widgets", field="spec.size", registry=operator)
def widget_resized(name: str, new: int, patch: kopf.Patch, **_: Any) -> None:
    with seen_lock:
        seen.append(("update", name, new))
    patch.status["observedSize"] = new


@kopf.on.delete("test.kubetune.io", "v1", "widgets", registry=operator)
def widget_deleted(name: str, **_: Any) -> None:
    # A delete handler makes Kopf add its finalizer with a JSON patch that tests the resourceVersion.
    with seen_lock:
        seen.append(("delete", name, None))


def test_kopf_operator_handles_events_and_survives_a_restart(
    kube: Kube, widgets: kubernetes.client.CustomObjectsApi
) -> None:
    seen.clear()
    args = ("test.kubetune.io", "v1", NS, "widgets")

    def observed(name: str) -> Any:
        return ((kube.find("widgets", name) or {}).get("status") or {}).get("observedSize")

    with run_kopf(kube, operator):
        widgets.create_namespaced_custom_object(*args, widget("w1", 2))
        kube.wait_for(lambda: observed("w1") == 2)
        widgets.patch_namespaced_custom_object(*args, "w1", {"spec": {"size": 3}})
        kube.wait_for(lambda: observed("w1") == 3)
    assert seen == [("create", "w1", 2), ("update", "w1", 3)]
    handled = kube.get("widgets", "w1")
    assert handled["metadata"]["generation"] == 2  # Kopf's status writes went through /status

    # While the operator is down, the object changes; the next operator catches up, and only on that.
    widgets.patch_namespaced_custom_object(*args, "w1", {"spec": {"size": 4}})
    with run_kopf(kube, operator):
        kube.wait_for(lambda: observed("w1") == 4)
        widgets.create_namespaced_custom_object(*args, widget("w2", 5))
        kube.wait_for(lambda: observed("w2") == 5)
        assert kube.get("widgets", "w2")["metadata"]["finalizers"] == ["kopf.zalando.org/KopfFinalizerMarker"]
        widgets.delete_namespaced_custom_object(*args, "w2")
        kube.wait_gone("widgets", "w2")
    assert seen == [
        ("create", "w1", 2),
        ("update", "w1", 3),
        ("update", "w1", 4),
        ("create", "w2", 5),
        ("delete", "w2", None),
    ]


def test_an_operator_run_leaves_kopfs_default_registry_as_it_was(
    kube: Kube, widgets: kubernetes.client.CustomObjectsApi
) -> None:
    # Kopf's `run` installs the registry it runs as the process's default; without putting it back, the
    # next test's operator on the same worker ran these widget handlers too (and waited on their CRD).
    before = kopf.get_default_registry()
    with run_kopf(kube, operator):
        pass
    assert kopf.get_default_registry() is before


async def test_kopf_from_an_async_test(kube: Kube, widgets: kubernetes.client.CustomObjectsApi) -> None:
    registry = kopf.OperatorRegistry()

    @kopf.on.login(registry=registry)
    def in_cluster_login(**_: Any) -> kopf.ConnectionInfo:
        raise RuntimeError("run_kopf replaces the operator's own login handlers")

    @kopf.on.create("test.kubetune.io", "v1", "widgets", registry=registry)
    def created(patch: kopf.Patch, **_: Any) -> None:
        patch.status["seen"] = True

    async with run_kopf_async(kube, registry):
        await asyncio.to_thread(kube.create, widget("a"))
        await kube.await_for(lambda: (kube.get("widgets", "a").get("status") or {}).get("seen"))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("$(A)", "a"),
        ("x$(A)y$(B)z", "xaybz"),
        ("$(UNSET)", "$(UNSET)"),
        ("$$(A)", "$(A)"),
        ("$$$(A)", "$a"),
        ("$$$$(A)", "$$(A)"),
        ("cost$$5", "cost$5"),
        ("$A and ${A}", "$A and ${A}"),
        ("trailing$", "trailing$"),
        ("open$(A", "open$(A"),
        ("$($(A)", "$($(A)"),
        ("$()", "$()"),
        ("$(EMPTY)!", "!"),
    ],
)
def test_the_kubelet_expands_dollar_parentheses_as_kubernetes_does(text: str, expected: str) -> None:
    assert expand(text, {"A": "a", "B": "b", "EMPTY": ""}) == expected


def test_an_env_value_sees_only_the_variables_declared_before_it() -> None:
    pod = {
        "spec": {
            "containers": [
                {
                    "name": "c",
                    "command": ["run", "$(LATE)", "$(EARLY)"],
                    "env": [
                        {"name": "EARLY", "value": "1-$(LATE)"},
                        {"name": "LATE", "value": "2-$(EARLY)"},
                    ],
                }
            ]
        }
    }
    assert pod_env(pod) == {"EARLY": "1-$(LATE)", "LATE": "2-1-$(LATE)"}
    assert pod_args(pod) == ["run", "2-1-$(LATE)", "1-$(LATE)"]
