"""A simulated scheduler + kubelet and a batch/v1 Job controller, running on the emulator's loop.

What a pod "does" is decided by a test-supplied behaviour: `behaviour(pod) -> PodScript`, a list of steps
(sleep, log a line, set an annotation) and an exit code. Sleeps are real, so tests use fractions of a second.
"""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import datetime
import functools
import itertools
import logging
import math
import os
import pathlib
import shutil
import signal
import sys
import tempfile
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from tests.kube import errors
from tests.kube import resources as r
from tests.kube.controllers import cancel_and_wait
from tests.kube.errors import ApiError
from tests.kube.store import Change, Obj, Store, now, parse_timestamp, timestamp

logger = logging.getLogger(__name__)


# --- what a pod does ---


@dataclasses.dataclass(frozen=True)
class Sleep:
    seconds: float


@dataclasses.dataclass(frozen=True)
class Log:
    line: str
    container: str | None = None  # the pod's first container when None


@dataclasses.dataclass(frozen=True)
class Annotate:
    key: str
    value: str | None  # None removes the annotation


@dataclasses.dataclass(frozen=True)
class WriteFile:
    """Write (replace) a file in the pod's first container; its terminationMessagePath becomes its
    termination message when the container ends, truncated to 4096 bytes as the kubelet does."""

    path: str
    text: str


@dataclasses.dataclass(frozen=True)
class AppendFile:
    """Append to a file on this machine: the emulated pods share its filesystem (volumes are not
    emulated), so a native sidecar that the kubelet runs as a real process reads what is appended."""

    path: str
    text: str


@dataclasses.dataclass(frozen=True)
class Call:
    """Run a function as the pod's process would (a library writing its files, e.g. TensorBoard's writer)."""

    action: Callable[[], None]


Step = Sleep | Log | Annotate | WriteFile | AppendFile | Call

TERMINATION_MESSAGE_LIMIT = 4096


@dataclasses.dataclass(frozen=True)
class PodScript:
    """What one run of a pod's containers does, then the exit code they all end with."""

    steps: Sequence[Step] = ()
    exit_code: int = 0


Behaviour = Callable[[Obj], PodScript]


def succeed(pod: Obj) -> PodScript:
    """The default behaviour: exit 0 at once."""
    return PodScript()


def container_of(pod: Mapping[str, Any], name: str | None = None) -> Mapping[str, Any]:
    containers = pod["spec"]["containers"]
    return next(c for c in containers if c["name"] == name) if name else containers[0]


def expand(text: str, variables: Mapping[str, str]) -> str:
    """Kubernetes' ``$(VAR)`` expansion, as the kubelet applies it to command, args and env values.

    ``$$`` is one literal ``$``; ``$(NAME)`` becomes NAME's value when the container declares NAME,
    and stays as written otherwise; a ``$`` before any other character, at the end, or opening a
    ``$(`` that never closes stays as it is (k8s.io/kubernetes third_party/forked/golang/expansion).
    """
    out: list[str] = []
    i = 0
    while i < len(text):
        if text[i] != "$" or i + 1 == len(text):
            out.append(text[i])
            i += 1
        elif text[i + 1] == "$":
            out.append("$")
            i += 2
        elif text[i + 1] == "(" and (close := text.find(")", i + 2)) >= 0:
            out.append(variables.get(text[i + 2 : close], text[i : close + 1]))
            i = close + 1
        else:  # "$x", or a "$(" that never closes: kept, and scanning goes on after those two characters
            out.append(text[i : i + 2])
            i += 2
    return "".join(out)


def pod_args(pod: Mapping[str, Any], container: str | None = None) -> list[str]:
    """command + args of a container, as its process sees its argv (``$(VAR)`` expanded from its env)."""
    c = container_of(pod, container)
    env = pod_env(pod, container)
    return [expand(str(item), env) for item in (*(c.get("command") or ()), *(c.get("args") or ()))]


def pod_env(pod: Mapping[str, Any], container: str | None = None) -> dict[str, str]:
    """A container's environment as its process sees it (valueFrom references are not resolved).

    Each value may refer to the variables declared before it, as on a real kubelet.
    """
    env: dict[str, str] = {}
    for item in container_of(pod, container).get("env") or ():
        env[item["name"]] = expand(item.get("value", ""), env)
    return env


# --- the kubelet ---


@dataclasses.dataclass(frozen=True)
class LogLine:
    time: datetime.datetime
    container: str
    attempt: int  # the container's restartCount when the line was written
    text: str


@dataclasses.dataclass
class _PodLogs:
    lines: list[LogLine] = dataclasses.field(default_factory=list)
    changed: asyncio.Event = dataclasses.field(default_factory=asyncio.Event)


class Kubelet:
    """Binds every pod to one node, runs its behaviour, reports its status, and keeps its logs."""

    def __init__(
        self, store: Store, *, behaviour: Behaviour = succeed, start_delay: float = 0.02, restart_delay: float = 0.05
    ) -> None:
        self.store = store
        self.behaviour = behaviour
        self.node_name = "emulated-node"
        self.start_delay = start_delay
        self.restart_delay = restart_delay
        self._ips = itertools.count(2)
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._logs: dict[str, _PodLogs] = {}
        store.listeners.append(self._on_change)

    def _on_change(self, change: Change) -> None:
        if change.rt.storage_key != r.PODS.storage_key:
            return
        meta = change.obj["metadata"]
        uid = meta["uid"]
        if change.type == "DELETED":
            task = self._tasks.pop(uid, None)
            if task is not None:
                task.cancel()
            self._logs.pop(uid, None)
            return
        phase = (change.obj.get("status") or {}).get("phase")
        if meta.get("deletionTimestamp"):
            task = self._tasks.get(uid)
            if task is not None and not task.done():
                task.cancel()  # the task reports the kill and removes the pod
            elif phase in ("Succeeded", "Failed") or task is None:
                asyncio.get_running_loop().call_soon(self._remove, meta.get("namespace"), meta["name"], uid)
        elif uid not in self._tasks and phase not in ("Succeeded", "Failed"):
            self._logs[uid] = _PodLogs()
            self._tasks[uid] = asyncio.create_task(
                self._run(meta.get("namespace"), meta["name"], uid), name=f"pod {meta['name']}"
            )

    def _remove(self, namespace: str | None, name: str, uid: str) -> None:
        pod = self.store.peek(r.PODS, namespace, name)
        if pod is not None and pod["metadata"]["uid"] == uid:
            try:
                self.store.delete(r.PODS, namespace, name, grace_period=0, preconditions={"uid": uid})
            except ApiError as e:
                if e.code not in (404, 409):
                    raise

    async def stop(self) -> None:
        for task in list(self._tasks.values()):
            await cancel_and_wait(task)

    # The pod's lifetime: bind, start, run the script (restarting as the policy says), report the end.
    async def _run(self, namespace: str | None, name: str, uid: str) -> None:
        attempt, last_state = 0, None
        sidecars: list[tuple[asyncio.subprocess.Process, str, asyncio.Task[None]]] = []
        try:
            self._write(namespace, name, uid, self._bind, None)
            self._write(namespace, name, uid, self._scheduled)
            await asyncio.sleep(self.start_delay)
            pod = self.store.peek(r.PODS, namespace, name)
            if pod is not None:
                _fresh_empty_dirs(pod)
                sidecars = await self._start_sidecars(pod)
                self._write(namespace, name, uid, functools.partial(_sidecars_state, state={"running": {}}))
            while True:
                pod = self.store.peek(r.PODS, namespace, name)
                if pod is None or pod["metadata"]["uid"] != uid:
                    return
                try:
                    script = self.behaviour(copy.deepcopy(pod))
                except Exception as e:
                    logger.exception("pod behaviour failed for %s", name)
                    script = PodScript([Log(f"emulator: the pod behaviour raised {e!r}")], exit_code=1)
                started = timestamp()
                files: dict[str, str] = {}  # what the run wrote (WriteFile), by path
                self._write(
                    namespace,
                    name,
                    uid,
                    functools.partial(self._running, attempt=attempt, last_state=last_state, started=started),
                )
                for step in script.steps:
                    match step:
                        case Sleep(seconds):
                            await asyncio.sleep(seconds)
                        case Log(line, container):
                            self._log(uid, container or pod["spec"]["containers"][0]["name"], attempt, line)
                        case Annotate(key, value):
                            self._write(namespace, name, uid, functools.partial(_annotate, key=key, value=value), None)
                        case WriteFile(path, text):
                            files[path] = text
                        case Call(action):
                            action()
                        case AppendFile(path, text):
                            target = pathlib.Path(path)
                            target.parent.mkdir(parents=True, exist_ok=True)
                            with target.open("a") as out:
                                out.write(text)
                code = script.exit_code
                terminated = {
                    "exitCode": code,
                    "reason": "Completed" if code == 0 else "Error",
                    "startedAt": started,
                    "finishedAt": timestamp(),
                }
                message_path = pod["spec"]["containers"][0].get("terminationMessagePath", "/dev/termination-log")
                if files.get(message_path):
                    message = files[message_path].encode()[:TERMINATION_MESSAGE_LIMIT]
                    terminated["message"] = message.decode(errors="ignore")
                policy = pod["spec"].get("restartPolicy", "Always")
                if policy == "Never" or (policy == "OnFailure" and code == 0):
                    # The main containers ended: the kubelet stops the sidecars, then the pod ends.
                    for sidecar_code in await self._stop_sidecars(sidecars):
                        ended = {
                            "terminated": {
                                "exitCode": sidecar_code,
                                "reason": "Completed" if sidecar_code == 0 else "Error",
                            }
                        }
                        self._write(namespace, name, uid, functools.partial(_sidecars_state, state=ended))
                    self._write(
                        namespace,
                        name,
                        uid,
                        functools.partial(_finish, terminated=terminated, attempt=attempt, last_state=last_state),
                    )
                    return
                # Restart in place, with the growing back-off of CrashLoopBackOff (scaled down for tests).
                self._write(namespace, name, uid, functools.partial(_waiting, terminated=terminated, attempt=attempt))
                last_state, attempt = terminated, attempt + 1
                await asyncio.sleep(self.restart_delay * 2 ** min(attempt - 1, 4))
        except Exception:
            logger.exception("emulated kubelet failed on pod %s", name)
        except asyncio.CancelledError:
            await self._stop_sidecars(sidecars)
            # Deleted while running: the containers are killed (SIGTERM -> 143), then the pod object goes.
            killed = {"exitCode": 143, "reason": "Error", "startedAt": timestamp(), "finishedAt": timestamp()}
            pod = self.store.peek(r.PODS, namespace, name)
            if pod is not None and pod["metadata"]["uid"] == uid:
                self._write(
                    namespace,
                    name,
                    uid,
                    functools.partial(_finish, terminated=killed, attempt=attempt, last_state=last_state),
                )
                self._remove(namespace, name, uid)
            raise
        finally:
            for process, _, _ in sidecars:
                if process.returncode is None:
                    process.kill()
            self._tasks.pop(uid, None)

    # Native sidecars (init containers with restartPolicy Always): one whose command is a program on
    # this machine (``kubetune follow-file``) runs as a real process, its output the container's log.
    async def _start_sidecars(self, pod: Obj) -> list[tuple[asyncio.subprocess.Process, str, asyncio.Task[None]]]:
        started = []
        uid = pod["metadata"]["uid"]
        search = os.pathsep.join([str(pathlib.Path(sys.executable).parent), os.environ.get("PATH", "")])
        for container in pod["spec"].get("initContainers") or ():
            argv = [*(container.get("command") or ()), *(container.get("args") or ())]
            program = (
                shutil.which(argv[0], path=search) if argv and container.get("restartPolicy") == "Always" else None
            )
            if program is None:
                continue
            process = await asyncio.create_subprocess_exec(
                program, *argv[1:], stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
            )
            reader = asyncio.create_task(self._pump(process, uid, container["name"]))
            started.append((process, container["name"], reader))
            # The kubelet starts the next container (and the main ones) only once a sidecar's startup
            # probe has passed; an exec probe runs its command (a program on this machine) in the container.
            await self._started(container, process, search)
        return started

    async def _started(self, container: Obj, process: asyncio.subprocess.Process, search: str) -> None:
        """Wait until ``container``'s exec startup probe passes (at once without one), as the kubelet does."""
        probe = container.get("startupProbe") or {}
        argv = list((probe.get("exec") or {}).get("command") or ())
        program = shutil.which(argv[0], path=search) if argv else None
        if program is None:
            return
        period, timeout = probe.get("periodSeconds", 10), probe.get("timeoutSeconds", 1)
        await asyncio.sleep(probe.get("initialDelaySeconds", 0))
        while process.returncode is None:
            check = await asyncio.create_subprocess_exec(
                program, *argv[1:], stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL
            )
            try:
                if await asyncio.wait_for(check.wait(), timeout) == 0:
                    return
            except TimeoutError:  # a probe that times out has failed
                check.kill()
                await check.wait()
            await asyncio.sleep(period)

    async def _pump(self, process: asyncio.subprocess.Process, uid: str, container: str) -> None:
        assert process.stdout is not None
        async for line in process.stdout:
            self._log(uid, container, 0, line.decode(errors="replace").rstrip("\n"))

    async def _stop_sidecars(
        self, sidecars: list[tuple[asyncio.subprocess.Process, str, asyncio.Task[None]]]
    ) -> list[int]:
        codes = []
        for process, _, reader in sidecars:
            if process.returncode is None:
                process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), 10)
            except TimeoutError:
                process.kill()
                await process.wait()
            await reader
            codes.append(process.returncode if process.returncode is not None else 137)
        return codes

    def _write(
        self,
        namespace: str | None,
        name: str,
        uid: str,
        mutate: Callable[[Obj], None],
        subresource: str | None = "status",
    ) -> None:
        """Write as the kubelet does: status through pods/status, anything else (binding, annotations) to the pod."""
        pod = self.store.peek(r.PODS, namespace, name)
        if pod is None or pod["metadata"]["uid"] != uid:
            raise asyncio.CancelledError  # the pod is gone: nothing left to run
        self.store.update(r.PODS, namespace, name, mutate, subresource, system=True)

    def _bind(self, pod: Obj) -> None:
        pod["spec"]["nodeName"] = self.node_name

    def _scheduled(self, pod: Obj) -> None:
        status = pod.setdefault("status", {})
        status["conditions"] = [_condition("PodScheduled", "True")]
        status["containerStatuses"] = [
            {"name": c["name"], "image": c["image"], "imageID": "", "ready": False, "restartCount": 0, "started": False,
             "state": {"waiting": {"reason": "ContainerCreating"}}}
            for c in pod["spec"]["containers"]
        ]  # fmt: skip

    def _running(self, pod: Obj, attempt: int, last_state: dict[str, Any] | None, started: str) -> None:
        status = pod["status"]
        status.update(phase="Running", hostIP="192.168.0.1", podIP=status.get("podIP") or f"10.244.0.{next(self._ips)}")
        status.setdefault("startTime", started)
        status["conditions"] = [
            _condition(t, "True") for t in ("PodScheduled", "Initialized", "ContainersReady", "Ready")
        ]
        for cs in status["containerStatuses"]:
            cs.update(ready=True, started=True, restartCount=attempt, state={"running": {"startedAt": started}},
                      containerID=f"emulated://{pod['metadata']['uid']}/{cs['name']}/{attempt}")  # fmt: skip
            if last_state:
                cs["lastState"] = {"terminated": last_state}

    def _log(self, uid: str, container: str, attempt: int, text: str) -> None:
        logs = self._logs.get(uid)
        if logs is not None:
            logs.lines.append(LogLine(now(), container, attempt, text))
            logs.changed.set()
            logs.changed = asyncio.Event()

    # --- the log endpoint: GET /api/v1/namespaces/NS/pods/NAME/log ---

    def _log_container(self, pod: Obj, container: str | None, previous: bool) -> tuple[str, int]:
        name = pod["metadata"]["name"]
        names = [c["name"] for c in pod["spec"]["containers"]]
        inits = [c["name"] for c in pod["spec"].get("initContainers") or ()]
        if container is not None and container in inits:
            names.append(container)
        if container is None:
            if len(names) > 1:
                raise errors.bad_request(
                    f"a container name must be specified for pod {name}, choose one of: [{' '.join(names)}]"
                )
            container = names[0]
        if container not in names:
            raise errors.bad_request(f"container {container} is not valid for pod {name}")
        status = pod.get("status") or {}
        statuses = {
            cs["name"]: cs
            for cs in [*(status.get("containerStatuses") or ()), *(status.get("initContainerStatuses") or ())]
        }
        cs = statuses.get(container)
        restarts = cs["restartCount"] if cs else 0
        if previous:
            if not cs or restarts == 0:
                raise errors.bad_request(f'previous terminated container "{container}" in pod "{name}" not found')
            return container, restarts - 1
        if not cs or ("waiting" in cs["state"] and restarts == 0):
            reason = (cs or {}).get("state", {}).get("waiting", {}).get("reason", "ContainerCreating")
            raise errors.bad_request(f'container "{container}" in pod "{name}" is waiting to start: {reason}')
        return container, restarts

    def log_lines(
        self, pod: Obj, container: str | None, *, previous: bool = False, since: datetime.datetime | None = None
    ) -> tuple[list[LogLine], str, int]:
        container, attempt = self._log_container(pod, container, previous)
        lines = self._logs.get(pod["metadata"]["uid"], _PodLogs()).lines
        selected = [
            ln
            for ln in lines
            if ln.container == container and ln.attempt == attempt and (since is None or ln.time >= since)
        ]
        return selected, container, attempt

    def log_changed(self, pod: Obj) -> asyncio.Event | None:
        logs = self._logs.get(pod["metadata"]["uid"])
        return logs.changed if logs else None

    def is_running(self, pod: Obj, container: str, attempt: int) -> bool:
        current = self.store.by_uid(pod["metadata"]["uid"])
        for cs in ((current or {}).get("status") or {}).get("containerStatuses") or ():
            if cs["name"] == container:
                return cs.get("restartCount") == attempt and "running" in cs["state"]
        return False


def format_log(lines: Sequence[LogLine], *, timestamps: bool, tail: int | None, limit_bytes: int | None) -> bytes:
    """The log as the kubelet serves it: what it stored, bytes that are not UTF-8 included (surrogate escapes).

    Built no further than ``limit_bytes``, so that a bounded read of a huge log costs what it returns.
    """
    if tail is not None:
        lines = lines[len(lines) - tail :] if tail > 0 else []
    out = bytearray()
    budget = limit_bytes
    for ln in lines:
        prefix = f"{ln.time.strftime('%Y-%m-%dT%H:%M:%S.%f')}000Z " if timestamps else ""
        text = ln.text if budget is None else ln.text[:budget]  # no more characters than bytes wanted
        data = f"{prefix}{text}\n".encode(errors="surrogateescape")
        if budget is not None:
            data = data[:budget]
            budget -= len(data)
        out += data
        if budget is not None and budget <= 0:
            break
    return bytes(out)


def _condition(kind: str, status: str, reason: str | None = None, message: str | None = None) -> dict[str, Any]:
    condition: dict[str, Any] = {
        "type": kind,
        "status": status,
        "lastProbeTime": None,
        "lastTransitionTime": timestamp(),
    }
    if reason:
        condition.update(reason=reason, message=message or "")
    return condition


def _annotate(pod: Obj, key: str, value: str | None) -> None:
    annotations = pod["metadata"].setdefault("annotations", {})
    if value is None:
        annotations.pop(key, None)
    else:
        annotations[key] = value


def _finish(pod: Obj, terminated: dict[str, Any], attempt: int, last_state: dict[str, Any] | None) -> None:
    status = pod.setdefault("status", {})
    status["phase"] = "Succeeded" if terminated["exitCode"] == 0 else "Failed"
    status["conditions"] = [
        _condition("PodScheduled", "True"),
        _condition("Initialized", "True"),
        _condition("ContainersReady", "False", "PodCompleted"),
        _condition("Ready", "False", "PodCompleted"),
    ]
    for cs in status.get("containerStatuses") or ():
        cs.update(ready=False, started=False, restartCount=attempt, state={"terminated": dict(terminated)})
        if last_state:
            cs["lastState"] = {"terminated": last_state}


def _fresh_empty_dirs(pod: Obj) -> None:
    """An emptyDir starts empty for each pod. The emulated pods share this machine's filesystem, so a
    directory mounted from an emptyDir is emptied, when it is under the temporary directory (tests')."""
    empty = {v["name"] for v in pod["spec"].get("volumes") or () if "emptyDir" in v}
    scratch = pathlib.Path(tempfile.gettempdir()).resolve()
    for container in [*pod["spec"]["containers"], *(pod["spec"].get("initContainers") or ())]:
        for mount in container.get("volumeMounts") or ():
            where = pathlib.Path(mount["mountPath"]).resolve()
            if mount["name"] in empty and where.is_relative_to(scratch) and where != scratch:
                shutil.rmtree(where, ignore_errors=True)
                where.mkdir(parents=True)


def _sidecars_state(pod: Obj, state: dict[str, Any]) -> None:
    """The native sidecars' statuses, all in ``state`` (running, or terminated)."""
    sidecars = [c for c in pod["spec"].get("initContainers") or () if c.get("restartPolicy") == "Always"]
    pod.setdefault("status", {})["initContainerStatuses"] = [
        {"name": c["name"], "image": c["image"], "imageID": "", "ready": "running" in state, "restartCount": 0,
         "started": "running" in state, "state": state}
        for c in sidecars
    ]  # fmt: skip


def _waiting(pod: Obj, terminated: dict[str, Any], attempt: int) -> None:
    for cs in pod["status"].get("containerStatuses") or ():
        reason = "CrashLoopBackOff" if terminated["exitCode"] else "Completed"
        cs.update(
            ready=False,
            started=False,
            state={"waiting": {"reason": reason}},
            lastState={"terminated": dict(terminated)},
        )
    pod["status"]["conditions"] = [_condition(t, "True") for t in ("PodScheduled", "Initialized")] + [
        _condition("ContainersReady", "False", "ContainersNotReady"),
        _condition("Ready", "False", "ContainersNotReady"),
    ]


# --- the Job controller ---

TRACKING_FINALIZER = "batch.kubernetes.io/job-tracking"
COMPLETION_INDEX = "batch.kubernetes.io/job-completion-index"


def _terminal(pod: Obj) -> bool:
    return (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")


def _job_ref(pod: Obj) -> dict[str, Any] | None:
    refs = pod["metadata"].get("ownerReferences") or ()
    return next(
        (ref for ref in refs if ref.get("controller") and ref["kind"] == "Job" and ref["apiVersion"] == "batch/v1"),
        None,
    )


@dataclasses.dataclass
class _JobState:
    counted: set[str] = dataclasses.field(default_factory=set)  # pod uids already in succeeded/failed
    restarts: dict[str, int] = dataclasses.field(default_factory=dict)  # OnFailure restarts already counted
    quiet: set[str] = dataclasses.field(default_factory=set)  # pods removed by suspension: not failures
    done_indexes: set[str] = dataclasses.field(default_factory=set)  # Indexed: completion indexes that succeeded
    last_failure: float = 0.0
    timers: list[asyncio.TimerHandle] = dataclasses.field(default_factory=list)


def _job_condition(status: dict[str, Any], kind: str, value: str, reason: str, message: str) -> None:
    conditions = status.setdefault("conditions", [])
    for condition in conditions:
        if condition["type"] == kind:
            if condition["status"] != value:
                condition["lastTransitionTime"] = timestamp()
            condition.update(status=value, reason=reason, message=message, lastProbeTime=timestamp())
            return
    conditions.append({"type": kind, "status": value, "reason": reason, "message": message,
                       "lastProbeTime": timestamp(), "lastTransitionTime": timestamp()})  # fmt: skip


def _has_condition(status: Mapping[str, Any], kind: str) -> dict[str, Any] | None:
    return next((c for c in status.get("conditions") or () if c["type"] == kind and c["status"] == "True"), None)


class JobController:
    """batch/v1 Jobs (NonIndexed): pods, retries, activeDeadlineSeconds, backoffLimit, suspend, TTL."""

    def __init__(self, store: Store, *, backoff: float = 0.05) -> None:
        self.store = store
        self.backoff = backoff  # the real controller waits 10 s, doubling; tests cannot
        self._queue: asyncio.Queue[tuple[str, str]] = asyncio.Queue()
        self._pending: set[tuple[str, str]] = set()
        self._states: dict[str, _JobState] = {}
        # Each Job's pods by the Job's uid, as the real controller finds them through its pod informer.
        self._pods: dict[str, dict[str, str]] = {}
        for pod in store.iter_objects(r.PODS):
            self._track(pod, deleted=False)
        store.listeners.append(self._on_change)

    def _track(self, pod: Obj, *, deleted: bool) -> None:
        owner = _job_ref(pod)
        if owner is None:
            return
        meta = pod["metadata"]
        pods = self._pods.setdefault(owner["uid"], {})
        if deleted:
            pods.pop(meta["uid"], None)
            if not pods:
                del self._pods[owner["uid"]]
        else:
            pods[meta["uid"]] = meta["name"]

    def _on_change(self, change: Change) -> None:
        meta = change.obj["metadata"]
        if change.rt.storage_key == r.PODS.storage_key:
            self._track(change.obj, deleted=change.type == "DELETED")
        if change.rt.storage_key == r.JOBS.storage_key:
            if change.type == "DELETED":
                for timer in self._states.pop(meta["uid"], _JobState()).timers:
                    timer.cancel()
            else:
                self.enqueue(meta["namespace"], meta["name"])
        elif change.rt.storage_key == r.PODS.storage_key and change.type != "DELETED":
            owner = _job_ref(change.obj)
            if owner is not None:
                self.enqueue(meta["namespace"], owner["name"])
            # Pods whose Job is gone (or that were orphaned) are released once they are finished or going.
            if (
                TRACKING_FINALIZER in (meta.get("finalizers") or ())
                and (owner is None or self.store.by_uid(owner["uid"]) is None)
                and (_terminal(change.obj) or meta.get("deletionTimestamp"))
            ):
                asyncio.get_running_loop().call_soon(self._release, change.obj)

    def _release(self, pod: Obj) -> None:
        """Remove the tracking finalizer: the pod's outcome is accounted for (or nobody needs it)."""
        meta = pod["metadata"]

        def drop(obj: Obj) -> None:
            obj["metadata"]["finalizers"] = [
                f for f in obj["metadata"].get("finalizers") or () if f != TRACKING_FINALIZER
            ]

        current = self.store.peek(r.PODS, meta["namespace"], meta["name"])
        if (
            current is not None
            and current["metadata"]["uid"] == meta["uid"]
            and TRACKING_FINALIZER in (current["metadata"].get("finalizers") or ())
        ):
            self.store.update(r.PODS, meta["namespace"], meta["name"], drop, system=True)

    def enqueue(self, namespace: str, name: str) -> None:
        if (namespace, name) not in self._pending:
            self._pending.add((namespace, name))
            self._queue.put_nowait((namespace, name))

    def _enqueue_later(self, state: _JobState, delay: float, namespace: str, name: str) -> None:
        state.timers = [t for t in state.timers if not t.cancelled() and t.when() > asyncio.get_running_loop().time()]
        state.timers.append(asyncio.get_running_loop().call_later(max(delay, 0.0), self.enqueue, namespace, name))

    async def run(self) -> None:
        while True:
            namespace, name = await self._queue.get()
            self._pending.discard((namespace, name))
            try:
                self.sync(namespace, name)
            except ApiError as e:
                if e.code in (404, 409):  # raced with a client; the resulting event brings us back
                    continue
                logger.exception("emulated job controller failed on %s/%s", namespace, name)
            except Exception:
                logger.exception("emulated job controller failed on %s/%s", namespace, name)

    def sync(self, namespace: str, name: str) -> None:
        job = self.store.peek(r.JOBS, namespace, name)
        if job is None:
            return
        uid, spec = job["metadata"]["uid"], job["spec"]
        pods = [
            p
            for pod_uid, pod_name in sorted(self._pods.get(uid, {}).items(), key=lambda item: item[1])
            if (p := self.store.peek(r.PODS, namespace, pod_name)) is not None and p["metadata"]["uid"] == pod_uid
        ]
        state = self._states.setdefault(uid, _JobState())
        status: dict[str, Any] = copy.deepcopy(job.get("status") or {})
        if (
            job["metadata"].get("deletionTimestamp")
            or _has_condition(status, "Complete")
            or _has_condition(status, "Failed")
        ):
            for pod in pods:
                if _terminal(pod) or pod["metadata"].get("deletionTimestamp"):
                    self._release(pod)
            self._schedule_ttl(job, status, state)
            return
        succeeded, failed = status.get("succeeded", 0), status.get("failed", 0)
        loop_time = asyncio.get_running_loop().time()
        for pod in pods:
            puid, phase = pod["metadata"]["uid"], (pod.get("status") or {}).get("phase")
            restarts = sum(cs.get("restartCount", 0) for cs in (pod.get("status") or {}).get("containerStatuses") or ())
            if restarts > state.restarts.get(puid, 0):  # OnFailure: every restart is a failure for backoffLimit
                failed += restarts - state.restarts.get(puid, 0)
                state.restarts[puid] = restarts
                state.last_failure = loop_time
            if puid in state.counted or phase not in ("Succeeded", "Failed"):
                continue
            state.counted.add(puid)
            if phase == "Succeeded":
                succeeded += 1
                index = (pod["metadata"].get("annotations") or {}).get(COMPLETION_INDEX)
                if index is not None:
                    state.done_indexes.add(index)
            elif puid not in state.quiet:
                failed += 1
                state.last_failure = loop_time
        active = [
            p
            for p in pods
            if (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed")
            and not p["metadata"].get("deletionTimestamp")
        ]
        terminating = [
            p
            for p in pods
            if (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed")
            and p["metadata"].get("deletionTimestamp")
        ]

        if spec.get("suspend"):
            for pod in active:
                state.quiet.add(pod["metadata"]["uid"])
                self._delete_pod(pod)
            active = []
            _job_condition(status, "Suspended", "True", "JobSuspended", "Job suspended")
        else:
            if _has_condition(status, "Suspended"):
                _job_condition(status, "Suspended", "False", "JobResumed", "Job resumed")
                status["startTime"] = timestamp()  # resuming restarts the activeDeadlineSeconds clock
            status.setdefault("startTime", timestamp())
            active = self._progress(job, status, state, active, terminating, succeeded, failed)

        status.update(succeeded=succeeded, failed=failed, active=len(active), terminating=len(terminating))
        status["ready"] = sum(_has_condition(p.get("status") or {}, "Ready") is not None for p in active)
        status["uncountedTerminatedPods"] = {}
        for counter in ("active", "succeeded", "failed"):  # omitempty, as the real API serializes them
            if not status[counter]:
                del status[counter]
        self.store.update(r.JOBS, namespace, name, lambda obj: obj.update(status=status), "status", system=True)
        # Only now that the counts are stored may finished pods go (the real controller's tracking finalizer).
        for pod in pods:
            if pod["metadata"]["uid"] in state.counted:
                self._release(pod)
        self._schedule_ttl(job, status, state)

    def _progress(
        self,
        job: Obj,
        status: dict[str, Any],
        state: _JobState,
        active: list[Obj],
        terminating: list[Obj],
        succeeded: int,
        failed: int,
    ) -> list[Obj]:
        spec, meta = job["spec"], job["metadata"]
        started = parse_timestamp(status["startTime"])
        deadline = spec.get("activeDeadlineSeconds")
        failure = _has_condition(status, "FailureTarget")
        if failure is None and failed > spec.get("backoffLimit", 6):
            _job_condition(
                status, "FailureTarget", "True", "BackoffLimitExceeded", "Job has reached the specified backoff limit"
            )
        elif failure is None and deadline is not None and (now() - started).total_seconds() >= deadline:
            _job_condition(
                status, "FailureTarget", "True", "DeadlineExceeded", "Job was active longer than specified deadline"
            )
        elif failure is None and deadline is not None:
            remaining = deadline - (now() - started).total_seconds()
            self._enqueue_later(state, remaining + 0.01, meta["namespace"], meta["name"])
        failure = _has_condition(status, "FailureTarget")
        if failure is not None:
            # Failed is declared once the pods are gone; the active ones are killed (and counted as failed).
            for pod in active:
                self._delete_pod(pod)
            if not active and not terminating:
                _job_condition(status, "Failed", "True", failure["reason"], failure["message"])
            return []

        completions = spec.get("completions")
        done = succeeded >= completions if completions is not None else succeeded > 0 and not active
        if done:
            _job_condition(
                status, "SuccessCriteriaMet", "True", "CompletionsReached", "Reached expected number of succeeded pods"
            )
            for pod in active:
                self._delete_pod(pod)
            if not active and not terminating:
                _job_condition(
                    status, "Complete", "True", "CompletionsReached", "Reached expected number of succeeded pods"
                )
                status["completionTime"] = timestamp()
            return []

        wanted = (
            min(spec.get("parallelism", 1), completions - succeeded)
            if completions is not None
            else spec.get("parallelism", 1)
        )
        missing = wanted - len(active)
        if missing > 0 and failed:
            delay = state.last_failure + self.backoff * 2 ** min(failed - 1, 6) - asyncio.get_running_loop().time()
            if delay > 0:
                self._enqueue_later(state, delay, meta["namespace"], meta["name"])
                return active
        if spec.get("completionMode") == "Indexed" and completions is not None:
            used = {(p["metadata"].get("annotations") or {}).get(COMPLETION_INDEX) for p in active} | state.done_indexes
            free = [str(i) for i in range(completions) if str(i) not in used]
            return active + [self._create_pod(job, index) for index in free[: max(missing, 0)]]
        return active + [self._create_pod(job) for _ in range(max(missing, 0))]

    def _create_pod(self, job: Obj, index: str | None = None) -> Obj:
        meta, template = job["metadata"], copy.deepcopy(job["spec"]["template"])
        # The labels the API server's Job defaulting puts on the pod template (and its selector).
        template.setdefault("metadata", {})["labels"] = {
            **(template["metadata"].get("labels") or {}),
            "batch.kubernetes.io/controller-uid": meta["uid"],
            "batch.kubernetes.io/job-name": meta["name"],
            "controller-uid": meta["uid"],
            "job-name": meta["name"],
        }
        if index is not None:  # Indexed: the completion index as annotation and label, in the pod's name too
            template["metadata"]["annotations"] = {
                **(template["metadata"].get("annotations") or {}),
                COMPLETION_INDEX: index,
            }
            template["metadata"]["labels"][COMPLETION_INDEX] = index
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                **template.get("metadata", {}),
                "generateName": f"{meta['name']}-{index}-" if index is not None else f"{meta['name']}-",
                "finalizers": [TRACKING_FINALIZER],
                "ownerReferences": [
                    {
                        "apiVersion": "batch/v1",
                        "kind": "Job",
                        "name": meta["name"],
                        "uid": meta["uid"],
                        "controller": True,
                        "blockOwnerDeletion": True,
                    }
                ],
            },
            "spec": template["spec"],
        }
        pod["metadata"].pop("name", None)
        return self.store.create(r.PODS, meta["namespace"], pod)

    def _delete_pod(self, pod: Obj) -> None:
        try:
            self.store.delete(r.PODS, pod["metadata"]["namespace"], pod["metadata"]["name"], propagation="Background")
        except ApiError as e:
            if e.code != 404:
                raise

    def _schedule_ttl(self, job: Obj, status: Mapping[str, Any], state: _JobState) -> None:
        ttl = job["spec"].get("ttlSecondsAfterFinished")
        finished = _has_condition(status, "Complete") or _has_condition(status, "Failed")
        if ttl is None or finished is None:
            return
        remaining = ttl - (now() - parse_timestamp(finished["lastTransitionTime"])).total_seconds()
        meta = job["metadata"]
        if remaining > 0:
            self._enqueue_later(state, math.ceil(remaining * 100) / 100, meta["namespace"], meta["name"])
        else:
            # The TTL controller deletes with foreground propagation, so the pods go first.
            self.store.delete(
                r.JOBS, meta["namespace"], meta["name"], propagation="Foreground", preconditions={"uid": meta["uid"]}
            )
