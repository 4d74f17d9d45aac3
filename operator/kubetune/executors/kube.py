"""Trials as Kubernetes Jobs: the only module that talks to the Kubernetes API.

It reads (tasks, trials, Jobs, pods, logs), turns what it sees into facts for the engine, and
writes what the engine decided (new Trials and Jobs, stopped Jobs, statuses). It decides nothing.
"""

from __future__ import annotations

import copy
import json
import logging
import math
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from .. import engine, names
from ..api import (
    HPOTask,
    HPOTaskStatus,
    MetricsSource,
    Trial,
    TrialStatus,
    parse_trial,
)
from ..engine.templating import parameter_env, parameters_json, render_container
from ..errors import InvalidSpec
from ..metrics import LogScanner, MetricsReading, read_annotation, wanted_metrics

log = logging.getLogger(__name__)

PARAMS_MOUNT = "/etc/kubetune"
PARAMS_FILE = f"{PARAMS_MOUNT}/parameters.json"
LOG_CHUNK_BYTES = 4 * 1024 * 1024
"""Most bytes of a pod's log read in one request; longer logs are read in several."""
LOG_MAX_CHUNK_BYTES = 64 * 1024 * 1024
"""Largest request, for a trial that prints more than a chunk within one second."""
LOG_TAIL_LINES = 1000
"""Lines read from the end of a finished trial's log when the rest was past LOG_MAX_BYTES."""
LOG_MAX_BYTES = 256 * 1024 * 1024
"""Most new bytes of one trial's log read: a runaway trial cannot make the operator read forever."""
LOG_READ_INTERVAL = 5.0
"""Seconds between two reads of a running trial's log (only while early stopping needs them)."""
FIELD_MANAGER = "kubetune"
_FRACTION = re.compile(r"(\.\d+)")
_JOBS = ("batch", "v1", "jobs")
"""Jobs are read and written as plain JSON through the generic object API: the template is the
user's, and the typed client's models would reject what the API server accepts (``nvidia.com/gpu: 1``)."""


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass
class _LogCursor:
    """How far a trial's log has been read: kept in memory, rebuilt by re-reading after a restart."""

    scanner: LogScanner
    last_stamp: str = ""
    """Timestamp of the last line read (RFC 3339 with nanoseconds, as the kubelet writes it)."""
    seen_at_stamp: int = 0
    """Lines read that carry exactly ``last_stamp``: a re-read from that second skips them."""
    read_bytes: int = 0
    last_read: float = 0.0
    pod_uid: str = ""


@dataclass
class Cluster:
    """What the cluster holds for one task, read in one go with label selectors."""

    trials: list[Trial]
    trial_uids: dict[str, str]
    jobs: dict[str, dict[str, Any]]
    pods: dict[str, dict[str, Any]]
    """The newest pod of each trial's Job, by trial name."""


@dataclass
class KubeExecutor:
    """Reads and writes the objects of kubetune's tasks through the official Kubernetes client."""

    api: client.ApiClient
    log_read_interval: float = LOG_READ_INTERVAL
    _cursors: dict[tuple[str, str], _LogCursor] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.custom = client.CustomObjectsApi(self.api)
        self.core = client.CoreV1Api(self.api)

    # --- reading ----------------------------------------------------------------------------

    def get_task(self, namespace: str, name: str) -> dict[str, Any] | None:
        """The HPOTask object as stored, or None if it is gone."""
        try:
            body = self.custom.get_namespaced_custom_object(
                names.GROUP, names.VERSION, namespace, names.TASK_PLURAL, name
            )
        except ApiException as error:
            if error.status == 404:
                return None
            raise
        return _obj(body)

    def read(self, namespace: str, task: str, task_uid: str) -> Cluster:
        """The task's Trials, Jobs and pods (three list calls, whatever the number of trials).

        Selected by label, then by owner: a task deleted and created again under the same name
        must not adopt the old task's objects while the garbage collector removes them.
        """
        selector = f"{names.LABEL_TASK}={task}"
        listed = _obj(
            self.custom.list_namespaced_custom_object(
                names.GROUP, names.VERSION, namespace, names.TRIAL_PLURAL, label_selector=selector
            )
        )
        trials, uids = [], {}
        for item in listed.get("items", []):
            if not _owned_by(item, {task_uid}):
                continue
            try:
                trial = parse_trial(item)
            except InvalidSpec as error:  # someone wrote a broken Trial by hand: skip it, loudly
                log.warning("ignoring trial %s: %s", item.get("metadata", {}).get("name"), error)
                continue
            trials.append(trial)
            uids[trial.metadata.name or ""] = item["metadata"].get("uid", "")
        listed_jobs = _obj(
            self.custom.list_namespaced_custom_object(*_JOBS[:2], namespace, _JOBS[2], label_selector=selector)
        )
        trial_uids = set(uids.values())
        jobs = {job["metadata"]["name"]: job for job in listed_jobs.get("items", []) if _owned_by(job, trial_uids)}
        job_uids = {job["metadata"]["uid"] for job in jobs.values()}
        pods: dict[str, dict[str, Any]] = {}
        # Raw JSON: the typed models reject values the API server accepts (see _JOBS).
        response: Any = self.core.list_namespaced_pod(namespace, label_selector=selector, _preload_content=False)
        for pod in _obj(json.loads(response.data)).get("items", []):
            if not _owned_by(pod, job_uids):
                continue
            trial_name = pod["metadata"].get("labels", {}).get(names.LABEL_TRIAL, "")
            known = pods.get(trial_name)
            if known is None or pod["metadata"]["creationTimestamp"] > known["metadata"]["creationTimestamp"]:
                pods[trial_name] = pod
        return Cluster(sorted(trials, key=lambda t: t.spec.index), uids, jobs, pods)

    # --- facts ------------------------------------------------------------------------------

    def fact(self, task: HPOTask, trial: Trial, cluster: Cluster, *, follow: bool) -> engine.RunFact:
        """What the trial's Job and pod say, with metrics read from the pod (``follow``: also while running)."""
        name = trial.metadata.name or ""
        job = cluster.jobs.get(name)
        if job is None:
            if trial.status is not None and trial.status.start_time is not None:
                return engine.RunFact(engine.RunState.LOST, detail=f"The Job {name} was deleted while it ran.")
            return engine.RunFact(engine.RunState.WAITING)
        pod = cluster.pods.get(name)
        job_status = job.get("status") or {}
        conditions = {c.get("type"): c for c in job_status.get("conditions") or [] if c.get("status") == "True"}
        started = _time(job_status.get("startTime"))
        finished = _time(job_status.get("completionTime"))
        done = "Complete" in conditions or "Failed" in conditions
        running = pod is not None and (pod.get("status") or {}).get("phase") == "Running"
        reading = MetricsReading()
        if pod is not None and (done or (running and follow)):
            reading = self.metrics(task, name, pod, final=done)
        if "Complete" in conditions:
            return engine.RunFact(
                engine.RunState.SUCCEEDED,
                reading.series,
                started_at=started,
                finished_at=finished or _time(conditions["Complete"].get("lastTransitionTime")),
                metrics_note=reading.summary(),
                job_name=name,
            )
        if "Failed" in conditions:
            condition = conditions["Failed"]
            return engine.RunFact(
                engine.RunState.FAILED,
                reading.series,
                started_at=started,
                finished_at=_time(condition.get("lastTransitionTime")),
                reason=condition.get("reason") or "JobFailed",
                detail=_failure_detail(condition, pod),
                metrics_note=reading.summary(),
                job_name=name,
            )
        if running:
            assert pod is not None
            pod_start = _time((pod.get("status") or {}).get("startTime"))
            return engine.RunFact(
                engine.RunState.RUNNING, reading.series, started_at=pod_start or started, job_name=name
            )
        return engine.RunFact(engine.RunState.WAITING, job_name=name)

    def metrics(self, task: HPOTask, trial: str, pod: dict[str, Any], *, final: bool) -> MetricsReading:
        """Metrics of a trial's pod: its annotation, or its primary container's log read incrementally."""
        spec = task.spec
        wanted = wanted_metrics(spec.objective)
        if spec.metrics_collector.source is MetricsSource.ANNOTATIONS:
            text = (pod["metadata"].get("annotations") or {}).get(spec.metrics_collector.annotation)
            return read_annotation(text, spec.metrics_collector, wanted)
        namespace = pod["metadata"]["namespace"]
        key = (namespace, trial)
        cursor = self._cursors.get(key)
        uid = pod["metadata"].get("uid", "")
        if cursor is None or cursor.pod_uid != uid:  # a new pod (a retry) starts its log afresh
            cursor = _LogCursor(LogScanner(spec.metrics_collector, wanted), pod_uid=uid)
            self._cursors[key] = cursor
        if final or time.monotonic() - cursor.last_read >= self.log_read_interval:
            self._read_log(task, pod, cursor, final=final)
        if final:
            self._cursors.pop(key, None)
            return cursor.scanner.finish()
        return cursor.scanner.reading()

    def _read_log(self, task: HPOTask, pod: dict[str, Any], cursor: _LogCursor, *, final: bool) -> None:
        """Read what the log holds past the cursor, in bounded chunks; at the end, always its tail."""
        chunk = LOG_CHUNK_BYTES
        while cursor.read_bytes < LOG_MAX_BYTES:
            read = self._log_text(task, pod, cursor, limit_bytes=chunk)
            if read is None:
                return
            text, size = read
            fresh = self._fresh_lines(text, cursor)
            cursor.read_bytes += sum(len(line) for line in fresh)
            if fresh:
                cursor.scanner.feed("".join(fresh))
            if size < chunk:
                return  # read to the end
            if not fresh:
                # A whole chunk of lines already seen: more than a chunk shares the last second.
                if chunk >= LOG_MAX_CHUNK_BYTES:
                    break
                chunk *= 4
        if final:
            # Past the cap, still read the last lines: the final values decide the objective.
            tail = self._log_text(task, pod, cursor, tail_lines=LOG_TAIL_LINES)
            fresh = self._fresh_lines(tail[0], cursor) if tail is not None else []
            if fresh:
                cursor.scanner.feed("".join(fresh))

    def _log_text(
        self,
        task: HPOTask,
        pod: dict[str, Any],
        cursor: _LogCursor,
        *,
        limit_bytes: int | None = None,
        tail_lines: int | None = None,
    ) -> tuple[str, int] | None:
        """The primary container's log with kubelet timestamps, from a little before the cursor, and its size."""
        meta = pod["metadata"]
        since = None
        if cursor.last_stamp and tail_lines is None:
            # The API takes whole seconds: re-read from a little before the last line, skip what was seen.
            seconds = (_now() - (_time(cursor.last_stamp) or _now())).total_seconds()
            since = max(1, int(seconds) + 2)
        try:
            response: Any = self.core.read_namespaced_pod_log(
                meta["name"],
                meta["namespace"],
                container=task.spec.trial_template.primary().get("name"),
                timestamps=True,
                since_seconds=since,
                limit_bytes=limit_bytes,
                tail_lines=tail_lines,
                _preload_content=False,  # raw bytes: a trial may print anything, UTF-8 or not
            )
        except ApiException as error:
            log.warning("cannot read the log of pod %s: %s", meta["name"], error.reason)
            return None
        cursor.last_read = time.monotonic()
        data = bytes(response.data)
        return data.decode("utf-8", errors="replace"), len(data)

    @staticmethod
    def _fresh_lines(text: str, cursor: _LogCursor) -> list[str]:
        """Lines after the cursor, timestamps stripped; updates the cursor."""
        fresh = []
        seen_now = 0
        for line in text.splitlines(keepends=True):
            stamp, _, rest = line.partition(" ")
            if not line.endswith("\n"):
                break  # a chunk cut mid-line: the next read starts again from its timestamp
            if cursor.last_stamp and stamp < cursor.last_stamp:
                continue
            if stamp == cursor.last_stamp:
                seen_now += 1
                if seen_now <= cursor.seen_at_stamp:
                    continue
                cursor.seen_at_stamp = seen_now
            else:
                cursor.last_stamp, cursor.seen_at_stamp, seen_now = stamp, 1, 1
            fresh.append(rest)
        return fresh

    def forget(self, namespace: str, trial: str) -> None:
        """Drop the in-memory log cursor of a trial that needs no more reading."""
        self._cursors.pop((namespace, trial), None)

    # --- writing ----------------------------------------------------------------------------

    def create_trial(self, task_body: Mapping[str, Any], trial: Trial) -> tuple[Trial, str]:
        """Create a Trial owned by its task; an existing one (a repeated step) is kept.

        Returns the Trial as stored, and its uid: its Job is built from what the Trial records.
        """
        meta = task_body["metadata"]
        body = trial.to_manifest()
        status = body.pop("status", None)
        body["metadata"] = {
            "name": trial.metadata.name,
            "namespace": meta["namespace"],
            "labels": {names.LABEL_TASK: meta["name"], names.LABEL_MANAGED_BY: names.MANAGER},
            "ownerReferences": [_owner(task_body, controller=True)],
        }
        try:
            created = self.custom.create_namespaced_custom_object(
                names.GROUP, names.VERSION, meta["namespace"], names.TRIAL_PLURAL, body, field_manager=FIELD_MANAGER
            )
        except ApiException as error:
            if error.status != 409:
                raise
            existing = _obj(
                self.custom.get_namespaced_custom_object(
                    names.GROUP, names.VERSION, meta["namespace"], names.TRIAL_PLURAL, trial.metadata.name or ""
                )
            )
            if not _owned_by(existing, {meta["uid"]}):
                # A Trial of a deleted task of the same name, not yet garbage-collected: retry later.
                why = f"{trial.metadata.name} of a deleted task is still being deleted"
                raise ApiException(status=409, reason=why) from error
            return parse_trial(existing), str(existing["metadata"]["uid"])
        if status:
            self.patch_trial_status(meta["namespace"], trial.metadata.name or "", TrialStatus.model_validate(status))
        return trial, str(_obj(created)["metadata"]["uid"])

    def create_job(self, task: HPOTask, task_namespace: str, trial: Trial, trial_uid: str) -> None:
        """Create the trial's Job from the template; an existing one (a repeated step) is kept."""
        job = build_job(task, task_namespace, trial, trial_uid)
        try:
            self.custom.create_namespaced_custom_object(
                *_JOBS[:2], task_namespace, _JOBS[2], job, field_manager=FIELD_MANAGER
            )
        except ApiException as error:
            if error.status != 409:
                raise

    def delete_job(self, namespace: str, name: str) -> None:
        """Stop a trial: delete its Job and, first, its pods (foreground propagation)."""
        self.forget(namespace, name)
        try:
            self.custom.delete_namespaced_custom_object(
                *_JOBS[:2], namespace, _JOBS[2], name, propagation_policy="Foreground"
            )
        except ApiException as error:
            if error.status != 404:
                raise

    def patch_trial_status(self, namespace: str, name: str, status: TrialStatus) -> None:
        """Write a Trial's status through the status subresource."""
        body = {"status": status.model_dump(mode="json", by_alias=True, exclude_none=True)}
        self.custom.patch_namespaced_custom_object_status(
            names.GROUP, names.VERSION, namespace, names.TRIAL_PLURAL, name, body, field_manager=FIELD_MANAGER
        )

    def patch_task_status(self, namespace: str, name: str, status: HPOTaskStatus) -> None:
        """Write the task's status through the status subresource (the only thing kubetune writes on it)."""
        body = {"status": status.model_dump(mode="json", by_alias=True, exclude_none=True)}
        self.custom.patch_namespaced_custom_object_status(
            names.GROUP, names.VERSION, namespace, names.TASK_PLURAL, name, body, field_manager=FIELD_MANAGER
        )


def _obj(value: object) -> dict[str, Any]:
    """A custom-object call's answer, which the client types as ``object``: a JSON object."""
    if not isinstance(value, dict):
        raise TypeError(f"expected a JSON object from the API, got {type(value).__name__}")
    return value


def _owned_by(obj: Mapping[str, Any], uids: set[str]) -> bool:
    """Whether one of ``obj``'s owners is among ``uids``."""
    return any(ref.get("uid") in uids for ref in obj.get("metadata", {}).get("ownerReferences") or [])


def _owner(body: Mapping[str, Any], *, controller: bool) -> dict[str, Any]:
    return {
        "apiVersion": body.get("apiVersion", names.API_VERSION),
        "kind": body.get("kind", names.TASK_KIND),
        "name": body["metadata"]["name"],
        "uid": body["metadata"]["uid"],
        "controller": controller,
        "blockOwnerDeletion": True,
    }


def _time(value: object) -> datetime | None:
    """A Kubernetes timestamp (seconds, or the kubelet's nanoseconds) as an aware datetime."""
    if not isinstance(value, str) or not value:
        return None
    # Python reads at most microseconds: cut the fraction to 6 digits, keep the zone.
    text = _FRACTION.sub(lambda m: m[1][:7], value.replace("Z", "+00:00"))
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _failure_detail(condition: Mapping[str, Any], pod: Mapping[str, Any] | None) -> str:
    message = str(condition.get("message") or "The Job failed.")
    for status in ((pod or {}).get("status") or {}).get("containerStatuses") or []:
        terminated = (status.get("state") or {}).get("terminated") or {}
        if terminated.get("exitCode"):
            return f"{message} Container {status.get('name')} exited with code {terminated['exitCode']}."
    return message


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
    env = parameter_env(params, trial.spec.task, name, trial.spec.resource)
    env[names.ENV_PARAMS_FILE] = PARAMS_FILE
    for key in ("initContainers", "containers"):
        pod_spec[key] = [_with_env(render_container(c, params), env) for c in pod_spec.get(key) or []]
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
            "ownerReferences": [
                {
                    "apiVersion": names.API_VERSION,
                    "kind": names.TRIAL_KIND,
                    "name": name,
                    "uid": trial_uid,
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
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
