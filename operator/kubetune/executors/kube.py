"""Trials as Kubernetes workloads: the only module that calls the Kubernetes API.

:class:`Kube` reads and writes the objects of kubetune's tasks (tasks, Trials, workloads, pods,
logs); :class:`KubeExecutor` is one task's ``engine.Executor`` on top of it. Neither decides:
the step loop in ``engine.driver`` does. What a workload's status means, how it is rendered and
how a pod's log is followed live in ``workload``, ``facts``, ``rendering`` and ``pod_logs``.
"""

from __future__ import annotations

import json
import logging
import math
import os
import threading
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any

import urllib3
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt, wait_exponential_jitter

from .. import engine, names
from ..api import (
    HPOTask,
    HPOTaskStatus,
    MetricsCollector,
    MetricsSource,
    Stop,
    Trial,
    TrialPhase,
    TrialStatus,
    kinds,
    parse_task,
    parse_trial,
)
from ..errors import InvalidSpec, KindUnavailable, Problem, StateError
from ..metrics import LogScanner, MetricsReading, read_annotation, read_log, wanted_metrics
from . import clock
from .cache import CachedTrial, Expectations, Snapshot, strip_pod, strip_workload
from .facts import parse_time, pod_attempt, pod_running
from .pod_logs import LogFollower
from .rendering import owner_reference
from .workload import JOB, REGISTRY, Workload, workload_for

log = logging.getLogger(__name__)

PAGE_SIZE = 500
"""Trials per list request when a command reads a whole task (``limit``)."""
LOG_READ_INTERVAL = 5.0
"""Seconds between two reads of a running trial's log (only while early stopping needs them)."""
POD_LAG_SECONDS = 10.0
"""How long a finished Job waits for its pod's end to show in the cache before it is taken without it."""
LOG_READERS = 2
"""Pod logs read at the same time: each holds up to one chunk (8 MiB) several times over while it is
decoded and scanned; with 4, four trials flooding their logs took the operator past 300 MiB."""
WRITERS = 16
"""Requests one operator has in flight at most (the client's connection pool holds as many)."""
STATUS_INTERVAL = 1.0
"""Seconds a task status whose only changes are counts (progress, active trials, best) may wait: at
most one such write per interval, however many trials end in it. Phase and condition changes are
written at once."""
FIELD_MANAGER = "kubetune"
RETRIED_STATUSES = frozenset({409, 429, 500, 502, 503, 504})
"""Answers that a later attempt of the same request may not get: a conflict, throttling, a server error."""
TAIL_READ_LINES = 20
"""Lines read from the end of a failed trial's log, for its message (which keeps the last few)."""
TAIL_READ_BYTES = 16 * 1024
"""Most bytes of that read: a trial's last line may be of any length."""
PATCH_ATTEMPTS = 5
"""Attempts of one status patch (client-go's retry.DefaultRetry makes as many)."""
PATCH_RETRY_SECONDS = 0.05
"""First wait before repeating a status patch; it doubles with each attempt, plus up to as much jitter."""
# Workloads are read and written as plain JSON through the generic object API: the template is the
# user's, and the typed client's models would reject what the API server accepts (``nvidia.com/gpu: 1``).


def _ignore_retry(code: str, seconds: float) -> None:
    """The default retry hook: nothing to count."""


@dataclass
class Cluster:
    """What the cache holds for one task, with the operator's own unseen writes laid over it."""

    trials: list[Trial]
    trial_uids: dict[str, str]
    workloads: dict[str, Mapping[str, Any]]
    """Each trial's workload, by trial name (those being deleted left out)."""
    pods: dict[str, Mapping[str, Any]]
    """The newest pod of each trial's workload, by trial name."""
    starting: set[str]
    """Trials whose workload this operator created and the watch has not shown yet."""


def view(snapshot: Snapshot, expectations: Expectations, task_uid: str, workload: Workload = JOB) -> Cluster:
    """One task's trials, workloads and primary pods from the cache: no request to the API server.

    Selected by owner: a task deleted and created again under the same name must not adopt the
    old task's objects while the garbage collector removes them.
    """
    cached, starting, deleted = expectations.overlay(snapshot)
    trials, uids = [], {}
    for entry in cached:
        if task_uid in entry.owners:
            trials.append(entry.trial)
            uids[entry.trial.metadata.name or ""] = entry.uid
    trial_uids = set(uids.values())
    workloads: dict[str, Mapping[str, Any]] = {
        w["metadata"]["name"]: w
        for w in snapshot.workloads
        if _owned_by(w, trial_uids)
        and not w["metadata"].get("deletionTimestamp")
        and w["metadata"]["name"] not in deleted
    }
    pods = primary_pods(workload, snapshot.pods, workloads)
    return Cluster(sorted(trials, key=lambda t: t.spec.index), uids, workloads, pods, starting - set(workloads))


@dataclass
class Kube:
    """Reads and writes the objects of kubetune's tasks through the official Kubernetes client.

    Shared by all tasks; in memory it keeps only the log followers of running trials.
    """

    api: client.ApiClient
    log_read_interval: float = LOG_READ_INTERVAL
    on_retry: Callable[[str, float], None] = _ignore_retry
    """Called before a request is retried, with the failure's status code and the wait in seconds."""
    workload_kinds: frozenset[str] | None = None
    """The workload kinds this operator may manage, as ``Kind.group`` (the chart's ``workloadKinds``);
    None: any kind (its RBAC decides)."""
    refused: dict[str, str] = field(default_factory=dict)
    """Workload kinds (``Kind.group``) listed but not granted to this operator, and why: their tasks wait."""
    unpatchable: set[str] = field(default_factory=set)
    """Workload kinds whose grace period (``retainWorkloads.keepFor``) the API server refused to set."""
    _followers: dict[tuple[str, str], tuple[tuple[str, int], LogFollower]] = field(default_factory=dict)
    _resources: dict[tuple[str, str], tuple[float, str | None]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.custom = client.CustomObjectsApi(self.api)
        self.core = client.CoreV1Api(self.api)
        self.pool = ThreadPoolExecutor(WRITERS, thread_name_prefix="kubetune-api")
        # A log chunk costs up to a few times its size while it is decoded and scanned: few at once.
        self._log_readers = threading.BoundedSemaphore(LOG_READERS)

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

    def list_trials(self, namespace: str, task: str, task_uid: str, page_size: int = PAGE_SIZE) -> list[Trial]:
        """Every Trial of a task in index order, read in pages of ``page_size`` (``limit``/``continue``),
        so that thousands of trials are a few bounded answers rather than one huge one."""
        trials, token = [], None
        while True:
            page = _obj(
                self.custom.list_namespaced_custom_object(
                    names.GROUP,
                    names.VERSION,
                    namespace,
                    names.TRIAL_PLURAL,
                    label_selector=f"{names.LABEL_TASK}={task}",
                    limit=page_size,
                    _continue=token,
                )
            )
            for item in page.get("items", []):
                if _owned_by(item, {task_uid}):
                    try:
                        trials.append(parse_trial(item))
                    except InvalidSpec as error:
                        log.warning("ignoring trial %s: %s", item.get("metadata", {}).get("name"), error)
            token = page.get("metadata", {}).get("continue")
            if not token:
                return sorted(trials, key=lambda t: t.spec.index)

    def list_workloads(self, workload: Workload, namespace: str, task: str) -> list[dict[str, Any]]:
        """A task's workloads of a kind the watch cache does not hold (stripped as the cache strips them).

        One list per reconcile: finished workloads are deleted once recorded (``retainWorkloads``),
        so it holds the active trials' and the few kept ones, not the task's history.
        """
        selector = f"{names.LABEL_TASK}={task}"
        listed = _obj(
            self.custom.list_namespaced_custom_object(
                workload.group, workload.version, namespace, workload.plural, label_selector=selector
            )
        )
        return [strip_workload(obj) for obj in listed.get("items", [])]

    def list_pods(
        self, workload: Workload, namespace: str, task: str, workloads: Collection[str]
    ) -> list[dict[str, Any]]:
        """The pods of ``workloads`` (names), for a kind whose pods do not carry kubetune's labels (not cached)."""
        if not workloads:
            return []
        selector = workload.pod_selector(task, workloads)
        # Raw JSON: the typed models reject values the API server accepts.
        response: Any = self.core.list_namespaced_pod(namespace, label_selector=selector, _preload_content=False)
        return [strip_pod(pod) for pod in _obj(json.loads(response.data)).get("items", [])]

    def read_tasks(self, namespace: str, tasks: Sequence[str]) -> list[engine.WarmSource]:
        """Earlier tasks of the namespace and their Trials, to seed a warm start."""
        sources = []
        for name in tasks:
            body = self.get_task(namespace, name)
            spec = None
            if body is not None:
                try:
                    spec = parse_task(body).spec
                except InvalidSpec as error:
                    log.warning("warm start: ignoring task %s: %s", name, error)
            if spec is None or body is None:
                sources.append(engine.WarmSource(name, None))
                continue
            uid = str(body.get("metadata", {}).get("uid", ""))
            sources.append(engine.WarmSource(name, spec, self.list_trials(namespace, name, uid)))
        return sources

    def workload(self, task: HPOTask) -> Workload:
        """The adapter of the task's workload kind, if the cluster serves that kind and this operator manages it.

        Raises InvalidSpec (one line, naming the kind) otherwise: the task is Valid=False, others carry
        on. A kind that is listed but not installed or not granted raises KindUnavailable: the task
        waits for it.
        """
        template = task.spec.trial_template
        name = qualified_kind(template.api_version, template.kind)
        if self.workload_kinds is not None and name not in self.workload_kinds:
            managed = ", ".join(sorted(self.workload_kinds)) or "none"
            why = (
                f"this operator does not manage {name} (it manages {managed}); "
                "add it to the chart's workloadKinds, which also grants the operator access to it"
            )
            raise InvalidSpec([Problem("spec.trialTemplate.kind", why)])
        if name in self.refused:
            raise KindUnavailable([Problem("spec.trialTemplate.kind", self.refused[name])])
        plural = self.plural(template.api_version, template.kind)
        if plural is None:
            why = (
                f"{template.kind} ({template.api_version}) is not installed in this cluster: the API server "
                "serves no such kind (install its CRD and operator: the task starts then)"
            )
            raise KindUnavailable([Problem("spec.trialTemplate.kind", why)])
        known = REGISTRY.get((template.api_version, template.kind))
        return known if known is not None else workload_for(task, plural)

    def plural(self, api_version: str, kind: str) -> str | None:
        """The resource name of a kind from the API server's discovery (cached: a minute, 5 s if absent)."""
        key = (api_version, kind)
        cached = self._resources.get(key)
        if cached is not None and time.monotonic() < cached[0]:
            return cached[1]
        group, _, version = api_version.rpartition("/")
        try:
            response: Any = (
                self.custom.get_api_resources(group, version, _preload_content=False)
                if group
                else self.core.get_api_resources(_preload_content=False)
            )
            found = json.loads(response.data)
        except ApiException as error:
            if error.status != 404:
                raise
            found = {}
        plural = next(
            (
                str(r["name"])
                for r in (found or {}).get("resources") or []
                if r.get("kind") == kind and "/" not in str(r.get("name", ""))
            ),
            None,
        )
        self._resources[key] = (time.monotonic() + (60.0 if plural else 5.0), plural)
        return plural

    def preferred(self, group: str, kind: str) -> tuple[str, str] | None:
        """The preferred version of a group, and the kind's resource name in it, if the API server serves them."""
        groups = client.ApisApi(self.api).get_api_versions().groups or []
        found = next((g for g in groups if g.name == group), None)
        version = found.preferred_version.version if found is not None and found.preferred_version else ""
        plural = self.plural(f"{group}/{version}", kind) if version else None
        return (version, plural) if plural else None

    def may_watch(self, group: str, plural: str, namespaces: Sequence[str | None]) -> str | None:
        """None if this operator may list and watch a resource in every one of ``namespaces`` (None: the
        whole cluster); else which of them it may not, as the authorizer answers it (a SelfSubjectAccessReview)."""
        refused = []
        for namespace in namespaces:
            verbs = []
            for verb in ("list", "watch"):
                attributes = client.V1ResourceAttributes(group=group, resource=plural, verb=verb, namespace=namespace)
                review = client.V1SelfSubjectAccessReview(
                    spec=client.V1SelfSubjectAccessReviewSpec(resource_attributes=attributes)
                )
                answer = client.AuthorizationV1Api(self.api).create_self_subject_access_review(review)
                if answer.status is None or not answer.status.allowed:
                    verbs.append(verb)
            if verbs:
                where = f'in the namespace "{namespace}"' if namespace else "at the cluster scope"
                refused.append(f"{' and '.join(verbs)} {where}")
        return "; ".join(refused) or None

    # --- metrics ----------------------------------------------------------------------------

    def metrics(
        self, task: HPOTask, trial: str, pod: Mapping[str, Any], *, final: bool, workload: Workload = JOB
    ) -> MetricsReading:
        """Metrics of a trial's pod: its annotation, or its primary container's log followed across reads."""
        spec = task.spec
        wanted = wanted_metrics(spec.objective)
        if spec.metrics_collector.source is MetricsSource.ANNOTATIONS:
            text = (pod["metadata"].get("annotations") or {}).get(spec.metrics_collector.annotation)
            return read_annotation(text, spec.metrics_collector, wanted)
        followed = spec.metrics_collector.follow  # the file source, printed by its sidecar: read as a log
        if spec.metrics_collector.source is MetricsSource.FILE and not followed:
            return _termination_message(pod, workload.log_container(task), spec.metrics_collector, wanted)
        meta = pod["metadata"]
        container = names.FOLLOWER_CONTAINER if followed else workload.log_container(task)
        key = (meta["namespace"], trial)
        attempt = pod_attempt(pod, container)
        known = self._followers.get(key)
        if known is None or known[0] != attempt:  # a new pod, or a restarted container: a fresh log
            reader = partial(self._read_log, meta["namespace"], meta["name"], container)
            known = attempt, LogFollower(LogScanner(spec.metrics_collector, wanted), reader, clock)
            self._followers[key] = known
        follower = known[1]
        if final:
            self._followers.pop(key, None)
            with self._log_readers:
                return follower.advance(final=True)
        if time.monotonic() - follower.last_read >= self.log_read_interval:
            with self._log_readers:
                return follower.advance(final=False)
        return follower.scanner.reading()

    def _read_log(
        self,
        namespace: str,
        pod: str,
        container: str | None,
        *,
        since_seconds: int | None,
        limit_bytes: int | None,
        tail_lines: int | None,
    ) -> bytes | None:
        """A container's log with kubelet timestamps, as raw bytes (a trial may print anything)."""
        try:
            response: Any = self.core.read_namespaced_pod_log(
                pod,
                namespace,
                container=container,
                timestamps=True,
                since_seconds=since_seconds,
                limit_bytes=limit_bytes,
                tail_lines=tail_lines,
                _preload_content=False,
            )
        except ApiException as error:
            log.warning("cannot read the log of pod %s: %s", pod, error.reason)
            return None
        return bytes(response.data)

    def log_tail(self, namespace: str, pod: str, container: str | None) -> str:
        """The last lines of a container's log (a bounded read), or "" when it cannot be read."""
        try:
            response: Any = self.core.read_namespaced_pod_log(
                pod,
                namespace,
                container=container,
                tail_lines=TAIL_READ_LINES,
                limit_bytes=TAIL_READ_BYTES,
                _preload_content=False,
            )
        except ApiException as error:
            log.warning("cannot read the log of pod %s: %s", pod, error.reason)
            return ""
        return bytes(response.data).decode("utf-8", errors="replace")

    def forget(self, namespace: str, trial: str) -> None:
        """Drop the in-memory log follower of a trial that needs no more reading."""
        self._followers.pop((namespace, trial), None)

    # --- writing ----------------------------------------------------------------------------

    def create_trial(self, task_body: Mapping[str, Any], trial: Trial) -> CachedTrial:
        """Create a Trial owned by its task; an existing one (a repeated step) is kept.

        Returns the Trial as stored, with its uid (its Job is built from what the Trial records)
        and the resourceVersion of the last write.
        """
        meta = task_body["metadata"]
        body = trial.to_manifest()
        # A new Trial's status says only Pending, which an absent status means too: it is not written
        # (the status subresource drops a status given on create), one request per trial saved.
        body.pop("status", None)
        body["metadata"] = {
            "name": trial.metadata.name,
            "namespace": meta["namespace"],
            "labels": {names.LABEL_TASK: meta["name"], names.LABEL_MANAGED_BY: names.MANAGER},
            "ownerReferences": [
                owner_reference(
                    task_body.get("apiVersion", names.API_VERSION),
                    task_body.get("kind", names.TASK_KIND),
                    meta["name"],
                    meta["uid"],
                )
            ],
        }
        owners = frozenset({str(meta["uid"])})
        try:
            created = _obj(
                self.custom.create_namespaced_custom_object(
                    names.GROUP, names.VERSION, meta["namespace"], names.TRIAL_PLURAL, body, field_manager=FIELD_MANAGER
                )
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
            em = existing["metadata"]
            return CachedTrial(parse_trial(existing), str(em["uid"]), owners, str(em.get("resourceVersion", "")))
        uid, version = str(created["metadata"]["uid"]), str(created["metadata"].get("resourceVersion", ""))
        return CachedTrial(trial, uid, owners, version)

    def create_workload(self, workload: Workload, task: HPOTask, namespace: str, trial: Trial, uid: str) -> None:
        """Create the trial's workload from the template; an existing one (a repeated step) is kept."""
        body = workload.render(task, namespace, trial, uid)
        try:
            self.custom.create_namespaced_custom_object(
                workload.group, workload.version, namespace, workload.plural, body, field_manager=FIELD_MANAGER
            )
        except ApiException as error:
            if error.status != 409:
                raise

    def patch_workload(self, workload: Workload, namespace: str, name: str, patch: Mapping[str, Any]) -> None:
        """Merge ``patch`` into a trial's workload; one that is gone already needs nothing.

        A refusal (RBAC without ``patch``, a webhook that keeps the field immutable) is logged once
        per kind and not tried again: the workload is then kept, as without ``keepFor``.
        """
        if workload.kind in self.unpatchable:
            return
        try:
            self.custom.patch_namespaced_custom_object(
                workload.group,
                workload.version,
                namespace,
                workload.plural,
                name,
                dict(patch),
                field_manager=FIELD_MANAGER,
            )
        except ApiException as error:
            if error.status in (400, 403, 422):
                self.unpatchable.add(workload.kind)
                log.warning(
                    "cannot set the grace period of %s %s (%s %s): kept",
                    workload.kind,
                    name,
                    error.status,
                    error.reason,
                )
            elif error.status != 404:
                raise

    def delete_workload(self, workload: Workload, namespace: str, name: str, *, finished: bool = False) -> None:
        """Delete a trial's workload: a running one with its pods first (foreground), a finished one at once."""
        self.forget(namespace, name)
        # Foreground: nothing of a stopped trial keeps running once its workload is gone. A finished
        # one runs nothing; its pods follow it in the background, in one request.
        policy = "Background" if finished else "Foreground"
        try:
            self.custom.delete_namespaced_custom_object(
                workload.group, workload.version, namespace, workload.plural, name, propagation_policy=policy
            )
        except ApiException as error:
            if error.status != 404:
                raise

    def patch_trial_status(self, namespace: str, name: str, status: TrialStatus) -> str:
        """Write a Trial's status through the status subresource; return the new resourceVersion."""
        return self._patch_status(
            names.TRIAL_PLURAL, namespace, name, status.model_dump(mode="json", by_alias=True, exclude_none=True)
        )

    def request_stop(self, namespace: str, name: str, stop: Stop) -> None:
        """Set the task's ``spec.stop`` (``kubetune stop``): the operator ends it at its next step."""
        body = {"spec": {"stop": stop.to_manifest()}}
        self.custom.patch_namespaced_custom_object(
            names.GROUP, names.VERSION, namespace, names.TASK_PLURAL, name, body, field_manager=FIELD_MANAGER
        )

    def patch_task_status(self, namespace: str, name: str, status: HPOTaskStatus) -> str:
        """Write the task's status (the only thing kubetune writes on it); return the new resourceVersion."""
        return self._patch_status(
            names.TASK_PLURAL, namespace, name, status.model_dump(mode="json", by_alias=True, exclude_none=True)
        )

    def _patch_status(self, plural: str, namespace: str, name: str, status: dict[str, Any]) -> str:
        """A status merge patch, retried at once (with jitter) on a conflict or a server error.

        The patch carries no resourceVersion and sets the whole status, so repeating it is safe;
        only when the retries run out does the whole step fail (and the operator backs off).
        """
        retrying = Retrying(
            retry=retry_if_exception(transient),
            wait=wait_exponential_jitter(multiplier=PATCH_RETRY_SECONDS, max=1.0, jitter=PATCH_RETRY_SECONDS),
            stop=stop_after_attempt(PATCH_ATTEMPTS),
            before_sleep=self._retried,
            reraise=True,
        )
        written: object = None
        for attempt in retrying:
            with attempt:
                written = self.custom.patch_namespaced_custom_object_status(
                    names.GROUP, names.VERSION, namespace, plural, name, {"status": status}, field_manager=FIELD_MANAGER
                )
        return str(_obj(written)["metadata"].get("resourceVersion", ""))

    def _retried(self, state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome is not None else None
        seconds = state.next_action.sleep if state.next_action is not None else 0.0
        code = str(error.status) if isinstance(error, ApiException) else "unreachable"
        log.info("status patch failed (%s), retrying in %.2f s", code, seconds)
        self.on_retry(code, seconds)


def transient(error: BaseException) -> bool:
    """Whether an error is one that a moment's wait usually cures, so that repeating the same
    request may succeed: a conflict, a busy or failing server, a server that cannot be reached."""
    if isinstance(error, ApiException):
        return error.status in RETRIED_STATUSES
    return isinstance(error, urllib3.exceptions.HTTPError)


SERVICE_ACCOUNT_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
"""Where a pod reads its own namespace (the kubelet mounts it with the service account's token)."""


def service_account_namespace() -> str | None:
    """The namespace of the pod this process runs in; None outside a pod."""
    try:
        return SERVICE_ACCOUNT_NAMESPACE.read_text().strip() or None
    except OSError:
        return None


def _kubeconfig() -> str | None:
    """KUBECONFIG, read now: the client reads it once, when it is imported (None: ~/.kube/config)."""
    return os.environ.get("KUBECONFIG") or None


def kubeconfig_namespace(context: str | None = None) -> str | None:
    """The namespace a kubeconfig context names (``context`` None: the current one); None if it names
    none. Raises ``config.ConfigException`` or ``OSError`` when there is no usable kubeconfig."""
    contexts, current = config.list_kube_config_contexts(config_file=_kubeconfig())
    chosen = next((c for c in contexts if c.get("name") == context), None) if context else current
    namespace = ((chosen or {}).get("context") or {}).get("namespace")
    return str(namespace) if namespace else None


def own_namespace() -> str | None:
    """The namespace the operator runs in: its service account's, else the kubeconfig context's."""
    found = service_account_namespace()
    if found is not None:
        return found
    try:
        return kubeconfig_namespace()
    except (config.ConfigException, OSError):
        return None


def operator_client() -> client.ApiClient:
    """A client for the cluster the operator runs in, else the current kubeconfig context."""
    try:
        config.load_incluster_config()
    except config.ConfigException:
        config.load_kube_config(config_file=_kubeconfig())
    configuration = client.Configuration.get_default_copy()
    configuration.connection_pool_maxsize = WRITERS + 4  # the reconcile's writers, and a few spare
    return client.ApiClient(configuration)


def user_client(context: str | None = None) -> tuple[client.ApiClient, str]:
    """A client as kubectl would make it (KUBECONFIG, else ~/.kube/config; in a pod, its service account)
    and the namespace that context names (else ``default``)."""
    try:
        api = config.new_client_from_config(config_file=_kubeconfig(), context=context)
        namespace = kubeconfig_namespace(context)
    except (config.ConfigException, OSError) as error:
        if context is None and os.environ.get("KUBERNETES_SERVICE_HOST"):
            config.load_incluster_config()
            return client.ApiClient(), service_account_namespace() or "default"
        raise StateError(f"cannot use the kubeconfig: {error}") from None
    return api, namespace or "default"


def primary_pods(
    workload: Workload, pods: Sequence[Mapping[str, Any]], workloads: Mapping[str, Mapping[str, Any]]
) -> dict[str, Mapping[str, Any]]:
    """The newest primary pod of each trial's workload, by trial name, as the kind's adapter picks it."""
    found: dict[str, Mapping[str, Any]] = {}
    for pod in pods:
        trial = workload.trial_of(pod) or ""
        obj = workloads.get(trial)
        if obj is None or not workload.is_primary(pod, obj):
            continue  # another replica's pod, or a pod of a workload that is gone
        known = found.get(trial)
        if known is None or pod["metadata"]["creationTimestamp"] > known["metadata"]["creationTimestamp"]:
            found[trial] = pod
    return found


def qualified_kind(api_version: str, kind: str) -> str:
    """A kind as the chart's ``workloadKinds`` names it: ``Kind.group`` (``Job.batch``); ``Kind`` in the core group."""
    group = api_version.rpartition("/")[0]
    return f"{kind}.{group}" if group else kind


def _termination_message(
    pod: Mapping[str, Any], container: str | None, collector: MetricsCollector, wanted: frozenset[str]
) -> MetricsReading:
    """The metrics file as the kubelet put it in the ended container's status (its termination message)."""
    for status in (pod.get("status") or {}).get("containerStatuses") or []:
        if status.get("name") != container:
            continue
        ended = (status.get("state") or {}).get("terminated") or (status.get("lastState") or {}).get("terminated")
        if not ended:
            return MetricsReading()  # still running: the file is read when the container ends
        message = ended.get("message")
        if not message:
            return MetricsReading(
                problem=f"the metrics file {collector.path} was empty or missing when {container} ended"
            )
        return read_log(message, collector, wanted)
    return MetricsReading()


def _pod_ended(pod: Mapping[str, Any] | None) -> bool:
    """Whether the cache shows the pod succeeded or failed."""
    return pod is not None and (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")


def _long_ago(workload: Mapping[str, Any]) -> bool:
    """Whether a finished workload ended more than POD_LAG_SECONDS ago (its pod may never be seen)."""
    status = workload.get("status") or {}
    # A Job's completionTime, a RayJob's endTime, an Argo Workflow's finishedAt, else the latest condition's change.
    ended = parse_time(status.get("completionTime") or status.get("endTime") or status.get("finishedAt")) or max(
        (t for c in status.get("conditions") or [] if (t := parse_time(c.get("lastTransitionTime")))), default=None
    )
    return ended is None or (clock() - ended).total_seconds() > POD_LAG_SECONDS


def _obj(value: object) -> dict[str, Any]:
    """A custom-object call's answer, which the client types as ``object``: a JSON object."""
    if not isinstance(value, dict):
        raise TypeError(f"expected a JSON object from the API, got {type(value).__name__}")
    return value


def _owned_by(obj: Mapping[str, Any], uids: set[str]) -> bool:
    """Whether one of ``obj``'s owners is among ``uids``."""
    return any(ref.get("uid") in uids for ref in obj.get("metadata", {}).get("ownerReferences") or [])


@dataclass
class KubeExecutor:
    """One task's executor on a cluster: trials are Trial objects, their runs workloads.

    It reads the task's objects from the watch cache (``snapshot``) and tells ``expectations``
    about every write, so that the next reconcile sees them before their watch events arrive.
    """

    kube: Kube
    task: HPOTask
    body: Mapping[str, Any]
    """The task object as stored: its Trials' owner references are built from it."""
    snapshot: Snapshot
    expectations: Expectations
    workload: Workload = JOB
    deferred: bool = False
    """The task's new status was held back (counts only): the next reconcile must come within STATUS_INTERVAL."""
    _uids: dict[str, str] = field(default_factory=dict)
    _ended: frozenset[str] = frozenset()
    _chains: dict[str, Future[None]] = field(default_factory=dict)

    @property
    def namespace(self) -> str:
        """The task's namespace."""
        return str(self.body["metadata"]["namespace"])

    def read(self) -> engine.World:
        """The task's trials, and the facts of the active ones' workloads and pods (from the cache)."""
        cluster = view(self._uncached(self.snapshot), self.expectations, self.task.metadata.uid or "", self.workload)
        self._uids = dict(cluster.trial_uids)
        follow = self.task.spec.early_stopping is not None
        facts: dict[str, engine.RunFact] = {}
        live: set[str] = set()
        ended: set[str] = set()
        observed: list[tuple[str, Mapping[str, Any], Mapping[str, Any] | None, bool]] = []
        recorded_status: dict[str, TrialStatus] = {}
        for trial in cluster.trials:
            trial_name = trial.metadata.name or ""
            obj = cluster.workloads.get(trial_name)
            done = obj is not None and self.workload.finished(obj)
            if obj is not None:
                (ended if done else live).add(trial_name)
            if not engine.is_active(trial):
                continue
            if obj is None:
                absent = self._without_workload(trial, trial_name in cluster.starting)
                if absent is not None:
                    facts[trial_name] = absent
                continue
            if self.workload.queued(obj):
                facts[trial_name] = engine.RunFact(engine.RunState.QUEUED, job_name=trial_name)
                continue
            pod = cluster.pods.get(trial_name)
            if done and not _pod_ended(pod) and not _long_ago(obj):
                # The Job's watch can run ahead of the pods': its end is taken when its pod's end is
                # seen too (the pod's event wakes the task), so that its log is read, never skipped.
                status = trial.status or TrialStatus()
                state = engine.RunState.RUNNING if status.phase is TrialPhase.RUNNING else engine.RunState.WAITING
                facts[trial_name] = engine.RunFact(state, started_at=status.start_time, job_name=status.job_name)
                continue
            observed.append((trial_name, obj, pod, done))
            if trial.status is not None:
                recorded_status[trial_name] = trial.status

        def fact(item: tuple[str, Mapping[str, Any], Mapping[str, Any] | None, bool]) -> engine.RunFact:
            trial_name, obj, pod, done = item
            reading = MetricsReading()
            if pod is not None and (done or (pod_running(pod) and follow)):
                reading = self.kube.metrics(self.task, trial_name, pod, final=done, workload=self.workload)
            found = self.workload.fact(trial_name, obj, pod, reading)
            if found.state is engine.RunState.FAILED and pod is not None:
                found = self._with_output(found, trial_name, pod)
            recorded = recorded_status.get(trial_name)
            if found.state is engine.RunState.WAITING and recorded is not None and recorded.phase is TrialPhase.RUNNING:
                # The pods' watch may lag behind the status recorded from it: a running trial stays running.
                found = engine.RunFact(
                    engine.RunState.RUNNING, started_at=recorded.start_time, job_name=recorded.job_name
                )
            return replace(found, gpus=gpus)

        gpus = self.task.spec.trial_template.requested_gpus()
        # The logs of the trials that ended are read side by side: each read waits on the API server.
        for item, found in zip(observed, self.kube.pool.map(fact, observed), strict=True):
            facts[item[0]] = found
        self._ended = frozenset(ended)
        self._expire(cluster)
        return engine.World(cluster.trials, facts, frozenset(live), warm=self._warm(), ended=self._ended)

    def _expire(self, cluster: Cluster) -> None:
        """Give the kept workloads of recorded trials their grace period (``retainWorkloads.keepFor``).

        Level-based: any finished trial whose workload lacks it gets it, however a step was
        interrupted; only once the trial's end is recorded, so that its result is never lost.
        """
        ttl = self._ttl()
        if ttl is None:
            return
        loc, patch = ttl
        for trial in cluster.trials:
            name = trial.metadata.name or ""
            obj = cluster.workloads.get(name)
            if engine.is_active(trial) or obj is None or not self.workload.finished(obj):
                continue
            if kinds.at(obj, loc) != kinds.at(patch, loc):
                self._then(name, partial(self.kube.patch_workload, self.workload, self.namespace, name, patch))

    def _ttl(self) -> tuple[tuple[str, ...], dict[str, Any]] | None:
        """Where the workload's TTL is and the merge patch that sets it to ``keepFor`` (None: no grace period)."""
        keep_for = self.task.spec.retain_workloads.keep_for
        known = self.task.spec.trial_template.known()
        if keep_for is None or known is None or known.ttl is None or self.workload.kind in self.kube.unpatchable:
            return None
        patch: dict[str, Any] = {known.ttl[-1]: max(0, math.ceil(keep_for.total_seconds()))}
        loc = ("spec", *known.ttl)
        for key in reversed(loc[:-1]):
            patch = {key: patch}
        return loc, patch

    def _without_workload(self, trial: Trial, starting: bool) -> engine.RunFact | None:
        """The fact of an active trial whose workload is not there; None: never created, so it is now."""
        status = trial.status
        if starting:  # created by this operator, not shown by the watch yet
            return engine.RunFact(engine.RunState.WAITING)
        if status is not None and (status.job_name is not None or status.start_time is not None):
            # It was seen, so someone deleted it: the trial stops rather than run again.
            kind, name = self.workload.kind, trial.metadata.name
            detail = f"The {kind} {name} was deleted before the trial finished; it is not run again."
            return engine.RunFact(engine.RunState.DELETED, detail=detail)
        return None  # never seen: not created yet (a step was interrupted)

    def _warm(self) -> list[engine.WarmSource] | None:
        """The tasks a warm start names, read from the API server (None once the task is finished)."""
        spec = self.task.spec
        if not spec.warm_start or not spec.warm_start.tasks:
            return []
        if self.task.status is not None and self.task.status.phase.finished:
            return None
        return self.kube.read_tasks(self.namespace, spec.warm_start.tasks)

    def _uncached(self, snapshot: Snapshot) -> Snapshot:
        """The snapshot, with what the watches do not hold for this task's kind read from the API server.

        Workloads of a kind with no watch (not listed in ``workloadKinds``, or not installed when
        the operator started) and pods that do not carry kubetune's labels (a TrainJob's come from
        its runtime, a RayJob's submitter from KubeRay) are listed, those of the live workloads only.
        """
        workloads = snapshot.workloads
        if snapshot.workloads_uncached:
            workloads = tuple(self.kube.list_workloads(self.workload, self.namespace, self.task.metadata.name or ""))
        pods = snapshot.pods
        if not self.workload.labelled_pods:
            active = {c.trial.metadata.name for c in snapshot.trials if engine.is_active(c.trial)}
            wanted = [w["metadata"]["name"] for w in workloads if w["metadata"]["name"] in active]
            pods = tuple(self.kube.list_pods(self.workload, self.namespace, self.task.metadata.name or "", wanted))
        return replace(snapshot, workloads=workloads, pods=pods, workloads_uncached=False)

    # Writes go to a pool of threads, one chain per trial: a trial's writes keep their order (its
    # record before its action, as engine.step orders them, and an action is dropped if its record
    # failed), while different trials' writes overlap. ``flush`` waits for them all and raises the
    # first failure; the task's status is written only after every trial write before it is done.

    def _then(self, name: str, work: Callable[[], None]) -> None:
        """Run ``work`` after the earlier writes of trial ``name`` succeeded."""
        before = self._chains.get(name)

        def run() -> None:
            if before is not None:
                before.result()  # submitted earlier, so already taken by a worker: no deadlock
            work()

        self._chains[name] = self.kube.pool.submit(run)

    def flush(self) -> None:
        """Wait for every write of this step; raise the first that failed."""
        chains, self._chains = list(self._chains.values()), {}
        errors = [f.exception() for f in chains]
        first = next((e for e in errors if e is not None), None)
        if first is not None:
            raise first

    def _with_output(self, fact: engine.RunFact, trial: str, pod: Mapping[str, Any]) -> engine.RunFact:
        """A failure's detail with the last lines of the trial's output, and the command that shows the rest."""
        container = self.workload.log_container(self.task)
        output = self.kube.log_tail(self.namespace, pod["metadata"]["name"], container)
        # A Job's log outlives its pods' names (kubectl picks the pod); other kinds name the pod.
        target = f"job/{trial}" if self.workload.kind == "Job" else pod["metadata"]["name"]
        where = f"full log: kubectl logs -n {self.namespace} {target}"
        if container:
            where += f" -c {container}"
        return replace(fact, detail=engine.with_last_output(fact.detail, output, where))

    def record_trial(self, trial: Trial) -> Trial:
        """Create a new Trial, or write the status of a known one."""
        name = trial.metadata.name or ""
        owners = frozenset({self.task.metadata.uid or ""})
        if name not in self._uids:
            self._uids[name] = ""  # known from now on; its uid comes with the answer

            def create() -> None:
                stored = self.kube.create_trial(self.body, trial)
                self._uids[name] = stored.uid
                self.expectations.wrote_trial(stored, created=True)

            self._then(name, create)
            return trial

        def patch() -> None:
            version = self.kube.patch_trial_status(self.namespace, name, trial.status or TrialStatus())
            self.expectations.wrote_trial(CachedTrial(trial, self._uids[name], owners, version))
            if trial.status is not None and trial.status.phase.finished:
                self.kube.forget(self.namespace, name)
                ttl = self._ttl()
                if ttl is not None:  # recorded: its workload may now go after the grace period
                    self.kube.patch_workload(self.workload, self.namespace, name, ttl[1])

        self._then(name, patch)
        return trial

    def start(self, trial: Trial) -> None:
        """Create the trial's workload."""
        name = trial.metadata.name or ""

        def create() -> None:
            self.kube.create_workload(self.workload, self.task, self.namespace, trial, self._uids[name])
            self.expectations.started_workload(name)

        self._then(name, create)

    def stop(self, trial: Trial) -> None:
        """Delete the trial's workload (a running one's pods first)."""
        name = trial.metadata.name or ""
        finished = name in self._ended

        def delete() -> None:
            self.kube.delete_workload(self.workload, self.namespace, name, finished=finished)
            self.expectations.deleted_workload(name)

        self._then(name, delete)

    def record_status(self, status: HPOTaskStatus) -> None:
        """Write the task's status; one whose only news are counts waits up to STATUS_INTERVAL (``deferred``)."""
        if self.expectations.may_defer(status, STATUS_INTERVAL):
            self.deferred = True
            return
        self.flush()
        version = self.kube.patch_task_status(self.namespace, self.task.metadata.name or "", status)
        self.expectations.wrote_status(version, status)
