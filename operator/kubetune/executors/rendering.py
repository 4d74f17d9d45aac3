"""Rendering a trial's batch/v1 Job from the task's template, and the owner references kubetune writes."""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Mapping
from typing import Any

from .. import names
from ..api import HPOTask, Trial
from .templating import literal, parameter_env, parameters_json, render_container

PARAMS_MOUNT = "/etc/kubetune"
PARAMS_FILE = f"{PARAMS_MOUNT}/parameters.json"


def owner_reference(api_version: str, kind: str, name: str, uid: str) -> dict[str, Any]:
    """A controller owner reference: the owner's deletion removes the object (after it, in foreground)."""
    return {
        "apiVersion": api_version,
        "kind": kind,
        "name": name,
        "uid": uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }


def build_job(task: HPOTask, namespace: str, trial: Trial, trial_uid: str) -> dict[str, Any]:
    """The batch/v1 Job of a trial: the user's template with the trial's parameters in it."""
    template = task.spec.trial_template
    name = trial.metadata.name or ""
    params = trial.spec.parameters
    labels = {
        **template.metadata.labels,
        names.LABEL_TASK: trial.spec.task,
        names.LABEL_TRIAL: name,
        names.LABEL_MANAGED_BY: names.MANAGER,
    }
    spec = copy.deepcopy(template.spec)
    pod_template = spec.setdefault("template", {})
    pod_meta = pod_template.setdefault("metadata", {})
    pod_meta["labels"] = {**(pod_meta.get("labels") or {}), **labels}
    pod_meta["annotations"] = {
        **(pod_meta.get("annotations") or {}),
        names.ANNOTATION_PARAMETERS: parameters_json(params),
    }
    pod_spec = pod_template.setdefault("spec", {})
    pod_spec.setdefault("restartPolicy", "Never")
    # Values kubetune inserts reach the trainer as they are, as they do locally: never expanded.
    env = {
        key: literal(value) for key, value in parameter_env(params, trial.spec.task, name, trial.spec.resource).items()
    }
    env[names.ENV_PARAMS_FILE] = PARAMS_FILE
    for key in ("initContainers", "containers"):
        pod_spec[key] = [_with_env(render_container(c, params, literal), env) for c in pod_spec.get(key) or []]
        if not pod_spec[key]:
            del pod_spec[key]
    pod_spec["volumes"] = [
        *(pod_spec.get("volumes") or []),
        {
            "name": "kubetune-parameters",
            "downwardAPI": {
                "items": [
                    {
                        "path": "parameters.json",
                        "fieldRef": {"fieldPath": f"metadata.annotations['{names.ANNOTATION_PARAMETERS}']"},
                    }
                ]
            },
        },
    ]
    # A Job the TTL controller deletes before the operator read its end would be a lost trial, or
    # one run twice: kubetune removes finished trials' Jobs itself, with their Trial or task.
    spec.pop("ttlSecondsAfterFinished", None)
    timeout = task.spec.budget.trial_timeout
    if timeout is not None:
        limit = max(1, math.ceil(timeout.total_seconds()))
        spec["activeDeadlineSeconds"] = min(spec.get("activeDeadlineSeconds") or limit, limit)
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": labels,
            "annotations": {**template.metadata.annotations, names.ANNOTATION_PARAMETERS: json.dumps(params)},
            "ownerReferences": [owner_reference(names.API_VERSION, names.TRIAL_KIND, name, trial_uid)],
        },
        "spec": spec,
    }


def _with_env(container: dict[str, Any], env: Mapping[str, str]) -> dict[str, Any]:
    own = [e for e in container.get("env") or [] if e.get("name") not in env]
    mounts = [m for m in container.get("volumeMounts") or [] if m.get("name") != "kubetune-parameters"]
    return {
        **container,
        "env": [*own, *({"name": k, "value": v} for k, v in env.items())],
        "volumeMounts": [*mounts, {"name": "kubetune-parameters", "mountPath": PARAMS_MOUNT, "readOnly": True}],
    }
