"""Rendering a trial's workload from the task's template, and the owner references kubetune writes.

Whatever the kind, every PodSpec in the template (every replica's) gets the trial's placeholders
substituted, kubetune's environment variables, the parameters file and the trial's labels, so that
each process of a distributed trial knows the same parameters and every pod can be found.
"""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Mapping
from typing import Any

from .. import names
from ..api import HPOTask, MetricsCollector, MetricsSource, Trial, kinds
from ..api.base import Loc
from .follower import add_follower
from .templating import literal, parameter_env, parameters_json, render_container, substitute

PARAMS_MOUNT = "/etc/kubetune"
PARAMS_FILE = f"{PARAMS_MOUNT}/parameters.json"
PARAMS_VOLUME = "kubetune-parameters"
QUEUE_LABEL = "kueue.x-k8s.io/queue-name"
"""The label that hands a workload to a Kueue LocalQueue."""


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


def trial_labels(task: HPOTask, trial: Trial) -> dict[str, str]:
    """The labels of a trial's workload and of every pod template in it."""
    return {
        **task.spec.trial_template.metadata.labels,
        names.LABEL_TASK: trial.spec.task,
        names.LABEL_TRIAL: trial.metadata.name or "",
        names.LABEL_MANAGED_BY: names.MANAGER,
    }


def build_workload(task: HPOTask, namespace: str, trial: Trial, trial_uid: str) -> dict[str, Any]:
    """The workload of a trial, of the template's kind: the user's spec with the trial's parameters in it."""
    template = task.spec.trial_template
    known = template.known()
    name = trial.metadata.name or ""
    params = trial.spec.parameters
    # What placeholders become: the trial's (active) parameters, and when.default for inactive ones.
    shown = task.spec.placeholder_values(dict(params))
    labels = trial_labels(task, trial)
    # Values kubetune inserts reach the trainer as they are, as they do locally: never expanded.
    env = {k: literal(v) for k, v in parameter_env(params, trial.spec.task, name, trial.spec.resource).items()}
    collector = task.spec.metrics_collector
    if collector.source is MetricsSource.FILE and collector.path is not None:
        env[names.ENV_METRICS_FILE] = literal(collector.path)
    spec = copy.deepcopy(template.spec)
    for loc, pod_spec in kinds.pod_specs(spec):
        pod_template = kinds.at(spec, loc[:-1]) if loc and loc[-1] == "spec" else None
        if isinstance(pod_template, dict):
            pod_meta = pod_template.setdefault("metadata", {})
            pod_meta["labels"] = {**(pod_meta.get("labels") or {}), **labels}
            pod_meta["annotations"] = {
                **(pod_meta.get("annotations") or {}),
                names.ANNOTATION_PARAMETERS: parameters_json(params),
            }
        if known is not None and known.pods_of_jobs:
            pod_spec.setdefault("restartPolicy", "Never")
        _fill_pod(pod_spec, shown, {**env, names.ENV_PARAMS_FILE: PARAMS_FILE})
    if known is None:
        _fill_controller_containers(spec, template.api_version, template.kind, labels, shown, env, params)
    if collector.source is MetricsSource.FILE and collector.path is not None:
        _collect_file(spec, template.primary_container or template.primary().get("name"), known, collector)
    if known is not None:
        for loc in known.extra_containers:
            container = kinds.at(spec, loc)
            if isinstance(container, dict):
                rendered = render_container(container, shown, literal)
                rendered["env"] = _merged_env(rendered.get("env") or [], env)
                _put(spec, loc, rendered)
        for loc in known.extra_strings:
            text = kinds.at(spec, loc)
            if isinstance(text, str):
                _put(spec, loc, substitute(text, shown, literal))
        _limit(spec, task, known)
        # A workload with QUEUE_LABEL is left as written: Kueue's webhook creates it suspended and
        # Kueue resumes it on admission. Suspending it here would hold it forever where Kueue is not.
    api_version, kind = template.api_version, template.kind
    return {
        "apiVersion": api_version,
        "kind": kind,
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": labels,
            "annotations": {**template.metadata.annotations, names.ANNOTATION_PARAMETERS: json.dumps(params)},
            "ownerReferences": [owner_reference(names.API_VERSION, names.TRIAL_KIND, name, trial_uid)],
        },
        "spec": spec,
    }


def _fill_controller_containers(
    spec: dict[str, Any],
    api_version: str,
    kind: str,
    labels: Mapping[str, str],
    shown: Mapping[str, Any],
    env: Mapping[str, str],
    params: Mapping[str, Any],
) -> None:
    """A kind kubetune does not know, whose controller makes pods of containers outside any PodSpec
    (Argo's templates, Tekton's steps): the trial's parameters and variables in each of them, and the
    trial's labels where the kind takes its pods' labels (no parameters file: no volume is known)."""
    for loc, container in kinds.container_objects(spec):
        rendered = render_container(container, shown, literal)
        rendered["env"] = _merged_env(rendered.get("env") or [], env)
        _put(spec, loc, rendered)
    meta_loc = kinds.POD_METADATA.get((api_version, kind))
    if meta_loc is not None:
        meta = kinds.at(spec, meta_loc)
        meta = meta if isinstance(meta, dict) else {}
        meta["labels"] = {**(meta.get("labels") or {}), **labels}
        meta["annotations"] = {**(meta.get("annotations") or {}), names.ANNOTATION_PARAMETERS: parameters_json(params)}
        _put(spec, meta_loc, meta)


def _collect_file(
    spec: dict[str, Any], container: object, known: kinds.Kind | None, collector: MetricsCollector
) -> None:
    """The primary container's termination message is the metrics file: the kubelet puts its content in
    the pod's status when the container ends, with no agent in the pod and nothing the trial waits on.
    Followed, the file's directory is shared with a native sidecar that prints its lines as they come."""
    loc = known.primary(spec) if known is not None else None
    if loc is None:
        found = kinds.pod_specs(spec)
        loc = found[0][0] if found else None
    pod = kinds.at(spec, loc) if loc is not None else None
    for item in (pod or {}).get("containers") or [] if isinstance(pod, dict) else []:
        if not isinstance(item, dict) or item.get("name") != container:
            continue
        if not collector.follow:
            item["terminationMessagePath"] = collector.path
            item["terminationMessagePolicy"] = "File"
        elif isinstance(pod, dict):
            add_follower(pod, item, collector)


def _limit(spec: dict[str, Any], task: HPOTask, known: kinds.Kind) -> None:
    # A workload the TTL controller deletes before the operator read its end would be a lost trial,
    # or one run twice: kubetune removes finished trials' workloads itself, with their Trial or task.
    if known.ttl is not None:
        parent = kinds.at(spec, known.ttl[:-1])
        if isinstance(parent, dict):
            parent.pop(known.ttl[-1], None)
    timeout = task.spec.budget.trial_timeout
    if timeout is not None and known.deadline is not None:
        limit = max(1, math.ceil(timeout.total_seconds()))
        given = kinds.at(spec, known.deadline)
        _put(spec, known.deadline, min(given, limit) if isinstance(given, int) and given > 0 else limit)


def _put(spec: dict[str, Any], loc: Loc, value: object) -> None:
    """Set ``value`` at ``loc``, making the objects on the way."""
    node: Any = spec
    for key in loc[:-1]:
        node = node.setdefault(key, {}) if isinstance(key, str) else node[key]
    node[loc[-1]] = value


def _fill_pod(pod_spec: dict[str, Any], params: Mapping[str, Any], env: Mapping[str, str]) -> None:
    for key in ("initContainers", "containers"):
        listed = [c for c in pod_spec.get(key) or [] if isinstance(c, dict)]
        pod_spec[key] = [_with_env(render_container(c, params, literal), env) for c in listed]
        if not pod_spec[key]:
            del pod_spec[key]
    pod_spec["volumes"] = [
        *(v for v in pod_spec.get("volumes") or [] if not (isinstance(v, dict) and v.get("name") == PARAMS_VOLUME)),
        {
            "name": PARAMS_VOLUME,
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


def _merged_env(own: list[Any], env: Mapping[str, str]) -> list[dict[str, Any]]:
    """kubetune's variables first, then the user's: a user's ``$(KUBETUNE_TRIAL)`` then expands, since
    Kubernetes expands ``$(VAR)`` only from variables defined earlier in the list."""
    mine = [{"name": k, "value": v} for k, v in env.items()]
    return [*mine, *(e for e in own if isinstance(e, dict) and e.get("name") not in env)]


def _with_env(container: dict[str, Any], env: Mapping[str, str]) -> dict[str, Any]:
    mounts = [m for m in container.get("volumeMounts") or [] if m.get("name") != PARAMS_VOLUME]
    return {
        **container,
        "env": _merged_env(container.get("env") or [], env),
        "volumeMounts": [*mounts, {"name": PARAMS_VOLUME, "mountPath": PARAMS_MOUNT, "readOnly": True}],
    }
