"""Per-kind defaults and validation, the part of the API server's "strategies" that clients can observe."""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from typing import Any

from tests.kube import resources as r
from tests.kube.errors import ApiError, invalid
from tests.kube.resources import ResourceType

_SUBDOMAIN_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")

JOB_NAME_LABELS = ("batch.kubernetes.io/job-name", "job-name")
JOB_UID_LABELS = ("batch.kubernetes.io/controller-uid", "controller-uid")


def validate_name(rt: ResourceType, name: str) -> None:
    # Namespaces are DNS labels; Jobs are subdomains short enough to be a label value (their pods get it).
    if rt == r.NAMESPACES:
        ok, limit = bool(_LABEL_RE.match(name)), 63
    elif rt == r.JOBS:
        ok, limit = bool(_SUBDOMAIN_RE.match(name)), 63
    elif rt in (r.CORE_EVENTS, r.EVENTS):
        ok, limit = bool(re.match(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$", name)), 253
    else:
        ok, limit = bool(_SUBDOMAIN_RE.match(name)), 253
    if not ok or len(name) > limit:
        message = (
            f'Invalid value: "{name}": a lowercase RFC 1123 name must consist of lower case alphanumeric characters'
        )
        raise invalid(rt, name, "metadata.name", message)


def validate_owner_references(rt: ResourceType, name: str, meta: Mapping[str, Any]) -> None:
    controllers = 0
    for i, ref in enumerate(meta.get("ownerReferences") or ()):
        for field in ("apiVersion", "kind", "name", "uid"):
            if not ref.get(field):
                raise invalid(
                    rt, name, f"metadata.ownerReferences[{i}].{field}", "Required value", "FieldValueRequired"
                )
        controllers += bool(ref.get("controller"))
    if controllers > 1:
        raise invalid(
            rt, name, "metadata.ownerReferences", "Invalid value: only one reference can have Controller set to true"
        )


def _validate_pod_spec(rt: ResourceType, name: str, spec: Mapping[str, Any] | None, field: str) -> None:
    containers = (spec or {}).get("containers") or []
    if not containers:
        raise invalid(rt, name, f"{field}.containers", "Required value", "FieldValueRequired")
    for i, container in enumerate(containers):
        for key in ("name", "image"):
            if not container.get(key):
                raise invalid(rt, name, f"{field}.containers[{i}].{key}", "Required value", "FieldValueRequired")


def prepare_create(rt: ResourceType, obj: dict[str, Any]) -> None:
    """Defaults and validation on create; metadata (uid, name) is already assigned."""
    meta, name = obj["metadata"], obj["metadata"]["name"]
    if rt == r.PODS:
        spec = obj.setdefault("spec", {})
        _validate_pod_spec(rt, name, spec, "spec")
        spec.setdefault("restartPolicy", "Always")
        spec.setdefault("terminationGracePeriodSeconds", 30)
        spec.setdefault("dnsPolicy", "ClusterFirst")
        spec.setdefault("schedulerName", "default-scheduler")
        _default_pod(spec)
        obj["status"] = {"phase": "Pending", "qosClass": "BestEffort"}
    elif rt == r.JOBS:
        _prepare_job(rt, obj)
    elif rt == r.NAMESPACES:
        meta.setdefault("labels", {})["kubernetes.io/metadata.name"] = name
        obj["spec"] = {"finalizers": ["kubernetes"]}
        obj["status"] = {"phase": "Active"}
    elif rt.has_status:
        # The status subresource means that status is written through /status only, never on create.
        obj.pop("status", None)
        if rt == r.CRDS:
            obj["status"] = {}


def _default_pod(spec: dict[str, Any]) -> None:
    """The defaults and admission additions every real pod carries, so that pods weigh what real ones do."""
    for key, value in (
        ("serviceAccountName", "default"),
        ("serviceAccount", "default"),
        ("securityContext", {}),
        ("enableServiceLinks", True),
        ("preemptionPolicy", "PreemptLowerPriority"),
        ("priority", 0),
    ):
        spec.setdefault(key, value)  # fmt: skip
    spec["tolerations"] = [*(spec.get("tolerations") or []), *(
        {"key": f"node.kubernetes.io/{taint}", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}
        for taint in ("not-ready", "unreachable")
    )]  # fmt: skip
    # The ServiceAccount admission plugin's projected token volume, mounted in every container.
    volume = "kube-api-access-" + uuid.uuid4().hex[:5]
    spec["volumes"] = [*(spec.get("volumes") or []), {"name": volume, "projected": {"defaultMode": 420, "sources": [
        {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
        {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
        {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {"apiVersion": "v1",
                                                                      "fieldPath": "metadata.namespace"}}]}},
    ]}}]  # fmt: skip
    for container in spec.get("containers") or []:
        container.setdefault("imagePullPolicy", "IfNotPresent")
        container.setdefault("terminationMessagePath", "/dev/termination-log")
        container.setdefault("terminationMessagePolicy", "File")
        mount = {"name": volume, "readOnly": True, "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount"}
        container["volumeMounts"] = [*(container.get("volumeMounts") or []), mount]


def _prepare_job(rt: ResourceType, obj: dict[str, Any]) -> None:
    meta, name = obj["metadata"], obj["metadata"]["name"]
    spec = obj.setdefault("spec", {})
    template = spec.setdefault("template", {})
    _validate_pod_spec(rt, name, template.get("spec"), "spec.template.spec")
    if template["spec"].get("restartPolicy") not in ("Never", "OnFailure"):
        raise invalid(
            rt,
            name,
            "spec.template.spec.restartPolicy",
            'Required value: valid values: "OnFailure", "Never"',
            "FieldValueRequired",
        )
    if spec.get("selector") is not None or spec.get("manualSelector"):
        # Manual selectors exist but are rare; the emulator does not pretend to support them.
        raise ApiError(422, "Invalid", f'Job "{name}" is invalid: spec.selector: manual selectors are not emulated')
    mode = spec.get("completionMode", "NonIndexed")
    if mode not in ("NonIndexed", "Indexed"):
        raise ApiError(422, "Invalid", f'Job "{name}" is invalid: spec.completionMode: Unsupported value: "{mode}"')
    if mode == "Indexed" and spec.get("completions") is None:
        raise ApiError(
            422,
            "Invalid",
            f'Job "{name}" is invalid: spec.completions: Required value: when completion mode is Indexed',
        )
    if "completions" not in spec and "parallelism" not in spec:
        spec["completions"] = 1
    spec.setdefault("parallelism", 1)
    spec.setdefault("backoffLimit", 6)
    spec.setdefault("completionMode", "NonIndexed")
    spec.setdefault("suspend", False)
    spec.setdefault("podReplacementPolicy", "TerminatingOrFailed")
    template_labels = template.setdefault("metadata", {}).setdefault("labels", {})
    if not meta.get("labels") and template_labels:
        meta["labels"] = dict(template_labels)  # SetDefaults_Job: an unlabelled Job takes its template's labels
    uid = meta["uid"]
    template_labels.update({**dict.fromkeys(JOB_UID_LABELS, uid), **dict.fromkeys(JOB_NAME_LABELS, name)})
    spec["selector"] = {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}
    obj["status"] = {}


_POD_MUTABLE_SPEC = {"activeDeadlineSeconds", "tolerations", "terminationGracePeriodSeconds"}


def validate_update(rt: ResourceType, old: Mapping[str, Any], new: Mapping[str, Any]) -> None:
    """Immutability rules that an operator could trip over; `system` writes (controllers) skip these."""
    name = old["metadata"]["name"]
    if rt == r.PODS:
        old_spec = {k: v for k, v in (old.get("spec") or {}).items() if k not in _POD_MUTABLE_SPEC}
        new_spec = {k: v for k, v in (new.get("spec") or {}).items() if k not in _POD_MUTABLE_SPEC}
        strip = (
            [dict(c, image=None) for c in old_spec.get("containers", [])],
            [dict(c, image=None) for c in new_spec.get("containers", [])],
        )
        if {**old_spec, "containers": strip[0]} != {**new_spec, "containers": strip[1]}:
            raise invalid(
                rt, name, "spec", "Forbidden: pod updates may not change fields other than `spec.containers[*].image`, "
                "`spec.activeDeadlineSeconds`, `spec.tolerations` (only additions to existing tolerations), "
                "`spec.terminationGracePeriodSeconds`", "FieldValueForbidden",
            )  # fmt: skip
    elif rt == r.JOBS:
        old_spec, new_spec = old.get("spec") or {}, new.get("spec") or {}
        for field in ("selector", "template", "completions", "completionMode"):
            if old_spec.get(field) != new_spec.get(field):
                raise invalid(rt, name, f"spec.{field}", "Invalid value: field is immutable")
