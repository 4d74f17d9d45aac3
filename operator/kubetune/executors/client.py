"""The Kubernetes API client of kubetune: :class:`Kube` reads and writes the objects of kubetune's
tasks (HPOTasks, Trials, workloads, pods and their logs) through the official client; beside it,
how a client is made (in a pod, its service account; elsewhere, the kubeconfig) and which failures
are transient. It decides nothing: ``KubeExecutor`` (kube.py) and the engine do.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
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
    TrialStatus,
    parse_task,
    parse_trial,
)
from ..errors import InvalidSpec, KindUnavailable, Problem, StateError
from ..metrics import LogScanner, MetricsReading, read_annotation, read_log, wanted_metrics
from . import clock
from .cache import CachedTrial, strip_pod, strip_workload
from .facts import pod_attempt
from .pod_logs import LogFollower
from .rendering import owner_reference
from .workload import JOB, REGISTRY, Workload, workload_for

log = logging.getLogger(__name__)

PAGE_SIZE = 500
"""Trials per list request when a command reads a whole task (``limit``)."""
LOG_READ_INTERVAL = 5.0
"""Seconds between two reads of a running trial's log (only while early stopping needs them)."""
LOG_READERS = 2
"""Pod logs read at the same time: each holds up to one chunk (8 MiB) several times over while it is
decoded and scanned; with 4, four trials flooding their logs took the operator past 300 MiB."""
WRITERS = 16
"""Requests one operator has in flight at most (the client's connection pool holds as many)."""
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

    def list_tasks(self, namespace: str, page_size: int = PAGE_SIZE) -> list[dict[str, Any]]:
        """Every HPOTask of the namespace as stored, read in pages of ``page_size`` (``kubetune.Client.list``)."""
        tasks: list[dict[str, Any]] = []
        token = None
        while True:
            page = _obj(
                self.custom.list_namespaced_custom_object(
                    names.GROUP, names.VERSION, namespace, names.TASK_PLURAL, limit=page_size, _continue=token
                )
            )
            tasks += [_obj(item) for item in page.get("items", [])]
            token = page.get("metadata", {}).get("continue")
            if not token:
                return tasks

    def create_task(self, namespace: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """Create an HPOTask (``kubetune.Client.create``); the API server's answer, uid included.

        A refusal is one line: the name taken (409), or what the API server's validation said (422).
        """
        try:
            created = self.custom.create_namespaced_custom_object(
                names.GROUP, names.VERSION, namespace, names.TASK_PLURAL, dict(body), field_manager=FIELD_MANAGER
            )
        except ApiException as error:
            name = body.get("metadata", {}).get("name")
            if error.status == 409:
                raise StateError(f"hpo/{name} already exists in namespace {namespace}") from None
            if error.status in (400, 403, 404, 422):
                raise StateError(f"hpo/{name}: the API server refused it: {_reason(error)}") from None
            raise
        return _obj(created)

    def delete_task(self, namespace: str, name: str) -> bool:
        """Delete an HPOTask, its Trials and workloads going with it (garbage collection); False if it was gone."""
        try:
            self.custom.delete_namespaced_custom_object(
                names.GROUP, names.VERSION, namespace, names.TASK_PLURAL, name, propagation_policy="Background"
            )
        except ApiException as error:
            if error.status == 404:
                return False
            raise
        return True

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
                if owned_by_one_of(item, {task_uid}):
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
            if not owned_by_one_of(existing, {meta["uid"]}):
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


def _reason(error: ApiException) -> str:
    """The message of an API server's Status answer, else its HTTP reason."""
    try:
        message = json.loads(error.body or "{}").get("message")
    except (ValueError, AttributeError):
        message = None
    return str(message or error.reason or error.status)


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


def _obj(value: object) -> dict[str, Any]:
    """A custom-object call's answer, which the client types as ``object``: a JSON object."""
    if not isinstance(value, dict):
        raise TypeError(f"expected a JSON object from the API, got {type(value).__name__}")
    return value


def owned_by_one_of(obj: Mapping[str, Any], uids: set[str]) -> bool:
    """Whether one of ``obj``'s owners is among ``uids``."""
    return any(ref.get("uid") in uids for ref in obj.get("metadata", {}).get("ownerReferences") or [])
