"""A fake node for the real-API-server tier: a Node with GPUs whose pods run as local processes.

It does a kubelet's part of what kubetune relies on, against a real API server:
- registers a Node with CPUs, memory and ``nvidia.com/gpu`` in its capacity, keeps its Lease renewed
  and its Ready condition fresh, so the real scheduler binds pods to it;
- runs each pod bound to it: init containers one after the other, native sidecars (init containers
  with ``restartPolicy: Always``) kept running beside the main containers and held to their exec
  ``startupProbe``, then the main containers, restarting failed ones under ``OnFailure``/``Always``;
- runs a container's ``command`` and ``args`` (``$(VAR)`` expanded as the kubelet does) with its
  ``env`` (values, the downward API's ``fieldRef`` and ``resourceFieldRef``, ConfigMap and Secret
  keys, ``envFrom``) as a local process, ignoring the image; or, when the node's ``script`` says
  so for a container, replays scripted output and an exit code instead (for images nothing here
  can run);
- reports pod phases and container states as a kubelet does: waiting, running, terminated with
  exit code, reason (Completed, Error, StartError) and ``FallbackToLogsOnError`` messages, restart
  counts, ``Initialized``/``ContainersReady``/``Ready`` conditions;
- on deletion, stops the processes (SIGTERM, the pod's grace period, SIGKILL), records the final
  state and removes the pod, as the kubelet's status manager does;
- serves the kubelet API's ``/containerLogs`` over TLS (``follow``, ``timestamps``, ``tailLines``,
  ``limitBytes``, ``sinceSeconds``, ``sinceTime``, ``previous``), so ``pods/log`` goes through the
  real API server.

What it does not emulate: images (the host's programs run, with the host's filesystem; ``python``
is the interpreter running the tests), volumes of any kind (a path in the pod spec is a path on
this machine, so the termination-message file is not read: ``terminationMessagePath`` is
ignored and only ``FallbackToLogsOnError`` gives a message), networking (every pod's IP is
127.0.0.1), resource limits and cgroups, liveness and readiness probes (a running container is
ready), ephemeral containers, exec/attach/port-forward, image pulls, and eviction. It is test code,
for this tier only.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import http.server
import json
import logging
import os
import re
import signal
import ssl
import subprocess
import sys
import threading
import time
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubernetes import client, config, watch
from kubernetes.client.exceptions import ApiException

log = logging.getLogger(__name__)

LEASE_SECONDS = 40
RENEW_SECONDS = 5.0
FALLBACK_LINES = 80
"""``FallbackToLogsOnError``: the last lines of the log (and at most 2048 bytes), as the kubelet takes."""
FALLBACK_BYTES = 2048


@dataclass(frozen=True)
class Script:
    """Scripted output for a container nothing here can run: lines, a pause between them, an exit code."""

    lines: tuple[str, ...] = ()
    interval: float = 0.05
    exit_code: int = 0


ScriptFor = Callable[[Mapping[str, Any], Mapping[str, Any]], Script | None]
"""Given a pod and one of its containers, a Script to replay, or None to run its command."""


def now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def stamp() -> str:
    """The kubelet's log timestamp (RFC 3339 with nanoseconds)."""
    t = time.time_ns()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t // 10**9)) + f".{t % 10**9:09d}Z"


# --- $(VAR) expansion: the kubelet's rules (third_party/forked/golang/expansion) ------------------

_REFERENCE = re.compile(r"\$(\$|\(([^)]*)\))")


def expand(text: str, env: Mapping[str, str]) -> str:
    """``$(NAME)`` becomes the variable's value when it is defined, else stays as written; ``$$`` is ``$``."""

    def one(match: re.Match[str]) -> str:
        if match.group(1) == "$":
            return "$"
        name = match.group(2)
        return env[name] if name in env else match.group(0)

    return _REFERENCE.sub(one, text)


# --- logs --------------------------------------------------------------------------------------


@dataclass
class ContainerLog:
    """One run of a container's output: ``<RFC3339Nano> <line>`` per line, on disk."""

    path: Path
    done: threading.Event = field(default_factory=threading.Event)

    def append(self, line: bytes) -> None:
        with self.path.open("ab") as out:
            out.write(stamp().encode() + b" " + line + (b"" if line.endswith(b"\n") else b"\n"))

    def entries(self) -> list[tuple[str, bytes]]:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return []
        out = []
        for row in raw.splitlines(keepends=True):
            ts, _, line = row.partition(b" ")
            out.append((ts.decode(), line))
        return out

    def tail_text(self) -> str:
        lines = [line for _, line in self.entries()][-FALLBACK_LINES:]
        return b"".join(lines)[-FALLBACK_BYTES:].decode("utf-8", errors="replace")


def _select(entries: list[tuple[str, bytes]], query: Mapping[str, str]) -> list[tuple[str, bytes]]:
    since = query.get("sinceTime")
    if "sinceSeconds" in query:
        limit = time.time() - int(query["sinceSeconds"])
        since = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(limit))
    if since:
        cutoff = since.rstrip("Z")
        entries = [e for e in entries if e[0][:19] >= cutoff[:19]]
    if "tailLines" in query:
        n = int(query["tailLines"])
        entries = entries[-n:] if n > 0 else []
    return entries


def _render(entries: list[tuple[str, bytes]], timestamps: bool) -> bytes:
    return b"".join((ts.encode() + b" " + line) if timestamps else line for ts, line in entries)


# --- one pod -----------------------------------------------------------------------------------


@dataclass
class Running:
    """A container's current run."""

    name: str
    log: ContainerLog
    process: subprocess.Popen[bytes] | None = None
    exit_code: int | None = None
    started_at: str = ""
    finished_at: str = ""
    reason: str = ""
    message: str = ""
    stopping: threading.Event = field(default_factory=threading.Event)

    def wait(self) -> int:
        if self.process is not None:
            self.exit_code = self.process.wait()
        else:
            self.log.done.wait()
        assert self.exit_code is not None
        return self.exit_code


class PodRunner:
    """Runs one pod bound to the node and reports its status."""

    def __init__(self, node: FakeNode, pod: Mapping[str, Any]) -> None:
        self.node = node
        self.namespace = pod["metadata"]["namespace"]
        self.name = pod["metadata"]["name"]
        self.uid = pod["metadata"]["uid"]
        self.pod = pod
        self.spec = pod["spec"]
        self.folder = node.folder / f"{self.namespace}_{self.name}_{self.uid}"
        self.folder.mkdir(parents=True, exist_ok=True)
        self.runs: dict[str, Running] = {}
        self.previous: dict[str, Running] = {}
        self.restarts: dict[str, int] = {}
        self.deleted = threading.Event()
        self.thread = threading.Thread(target=self._run, name=f"pod-{self.name}", daemon=True)
        self.lock = threading.Lock()
        self.phase = "Pending"

    # -- status --

    def _state(self, container: Mapping[str, Any], *, init: bool) -> dict[str, Any]:
        name = container["name"]
        run = self.runs.get(name)
        status: dict[str, Any] = {
            "name": name,
            "image": container.get("image", ""),
            "imageID": "",
            "restartCount": self.restarts.get(name, 0),
            "ready": False,
            "started": False,
        }
        if run is None:
            status["state"] = {
                "waiting": {"reason": "PodInitializing" if not init or self.runs else "ContainerCreating"}
            }
        elif run.exit_code is None:
            status["state"] = {"running": {"startedAt": run.started_at}}
            status["ready"] = status["started"] = True
            status["containerID"] = f"fake://{self.uid}/{name}/{status['restartCount']}"
        else:
            status["state"] = {"terminated": self._terminated(run)}
            status["containerID"] = f"fake://{self.uid}/{name}/{status['restartCount']}"
        if name in self.previous:
            status["lastState"] = {"terminated": self._terminated(self.previous[name])}
        return status

    def _terminated(self, run: Running) -> dict[str, Any]:
        out: dict[str, Any] = {
            "exitCode": run.exit_code,
            "reason": run.reason or ("Completed" if run.exit_code == 0 else "Error"),
            "startedAt": run.started_at or run.finished_at,
            "finishedAt": run.finished_at,
        }
        if run.message:
            out["message"] = run.message
        return out

    def report(self) -> None:
        """Write the pod's status as the kubelet's status manager would."""
        with self.lock:
            inits = [self._state(c, init=True) for c in self.spec.get("initContainers") or []]
            mains = [self._state(c, init=False) for c in self.spec["containers"]]
            initialized = all(
                s["started"]
                if self._sidecar(c)
                else ("terminated" in s["state"] and s["state"]["terminated"]["exitCode"] == 0)
                for s, c in zip(inits, self.spec.get("initContainers") or [], strict=True)
            )
            ready = self.phase == "Running" and all(s["ready"] for s in mains)
            t = now()
            status: dict[str, Any] = {
                "phase": self.phase,
                "hostIP": "127.0.0.1",
                "hostIPs": [{"ip": "127.0.0.1"}],
                "podIP": "127.0.0.1",
                "podIPs": [{"ip": "127.0.0.1"}],
                "startTime": self.node.start_times.setdefault(self.uid, t),
                "containerStatuses": mains,
                "conditions": [
                    {"type": "Initialized", "status": str(initialized), "lastTransitionTime": t},
                    {"type": "ContainersReady", "status": str(ready), "lastTransitionTime": t},
                    {"type": "Ready", "status": str(ready), "lastTransitionTime": t},
                ],
            }
            if inits:
                status["initContainerStatuses"] = inits
        try:
            self.node.core.patch_namespaced_pod_status(self.name, self.namespace, {"status": status})
        except ApiException as error:
            if error.status != 404:
                log.warning("status of pod %s/%s: %s %s", self.namespace, self.name, error.status, error.body)

    @staticmethod
    def _sidecar(container: Mapping[str, Any]) -> bool:
        return container.get("restartPolicy") == "Always"

    # -- running --

    def _env(self, container: Mapping[str, Any]) -> dict[str, str]:
        env = {
            "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "/usr/bin:/bin")]),
            "HOME": str(self.folder),
            "HOSTNAME": self.name,
            "PYTHONUNBUFFERED": "1",
        }
        for source in container.get("envFrom") or []:
            prefix = source.get("prefix", "")
            if "configMapRef" in source:
                data = self.node.config_map(self.namespace, source["configMapRef"]["name"])
            elif "secretRef" in source:
                data = self.node.secret(self.namespace, source["secretRef"]["name"])
            else:
                continue
            env.update({prefix + k: v for k, v in data.items()})
        for var in container.get("env") or []:
            name = var["name"]
            if "value" in var:
                env[name] = expand(var["value"], env)
            elif "valueFrom" in var:
                value = self._value_from(var["valueFrom"], container)
                if value is not None:
                    env[name] = value
            else:
                env[name] = ""
        return env

    def _value_from(self, source: Mapping[str, Any], container: Mapping[str, Any]) -> str | None:
        meta = self.pod["metadata"]
        if "fieldRef" in source:
            path = source["fieldRef"]["fieldPath"]
            match = re.fullmatch(r"metadata\.(labels|annotations)\['(.+)'\]", path)
            if match:
                return str((meta.get(match.group(1)) or {}).get(match.group(2), ""))
            return {
                "metadata.name": self.name,
                "metadata.namespace": self.namespace,
                "metadata.uid": self.uid,
                "spec.nodeName": self.node.name,
                "spec.serviceAccountName": self.spec.get("serviceAccountName", "default"),
                "status.hostIP": "127.0.0.1",
                "status.podIP": "127.0.0.1",
            }.get(path, "")
        if "resourceFieldRef" in source:
            kind, _, resource = source["resourceFieldRef"]["resource"].partition(".")
            return str(((container.get("resources") or {}).get(kind) or {}).get(resource, "0"))
        if "configMapKeyRef" in source:
            ref = source["configMapKeyRef"]
            return self.node.config_map(self.namespace, ref["name"]).get(ref["key"])
        if "secretKeyRef" in source:
            ref = source["secretKeyRef"]
            return self.node.secret(self.namespace, ref["name"]).get(ref["key"])
        return None

    def _start(self, container: Mapping[str, Any]) -> Running:
        name = container["name"]
        attempt = self.restarts.get(name, 0)
        run = Running(name, ContainerLog(self.folder / f"{name}.{attempt}.log"), started_at=now())
        self.runs[name] = run
        script = self.node.script(self.pod, container) if self.node.script else None
        if script is not None:
            threading.Thread(target=self._replay, args=(run, script), daemon=True).start()
            return run
        env = self._env(container)
        argv = [expand(a, env) for a in [*(container.get("command") or []), *(container.get("args") or [])]]
        workdir = container.get("workingDir")
        cwd = workdir if workdir and Path(workdir).is_dir() else str(self.node.workdir)
        if not container.get("command"):
            return self._failed_start(
                run, "the fake node runs a container's command; this one has none (its image's entrypoint)"
            )
        try:
            run.process = subprocess.Popen(
                argv,
                env=env,
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        except OSError as error:
            return self._failed_start(run, f"failed to start {argv[0]!r}: {error}")
        threading.Thread(target=self._pump, args=(run,), daemon=True).start()
        return run

    def _failed_start(self, run: Running, message: str) -> Running:
        run.exit_code, run.reason, run.message, run.finished_at = 128, "StartError", message, now()
        run.log.done.set()
        return run

    @staticmethod
    def _pump(run: Running) -> None:
        assert run.process is not None and run.process.stdout is not None
        try:
            for line in iter(run.process.stdout.readline, b""):
                run.log.append(line)
        finally:
            run.process.stdout.close()
            run.log.done.set()

    def _replay(self, run: Running, script: Script) -> None:
        for line in script.lines:
            if run.stopping.wait(script.interval):
                run.exit_code = 137
                break
            run.log.append(line.encode() + b"\n")
        else:
            run.exit_code = script.exit_code
        run.log.done.set()

    def _finish(self, run: Running, container: Mapping[str, Any]) -> int:
        code = run.wait()
        run.log.done.wait(timeout=5)
        run.finished_at = now()
        if code != 0 and container.get("terminationMessagePolicy") == "FallbackToLogsOnError" and not run.message:
            run.message = run.log.tail_text()
        return code

    def _probe(self, container: Mapping[str, Any], run: Running) -> None:
        """An exec startupProbe: run it until it succeeds (the kubelet holds the next containers back)."""
        probe = container.get("startupProbe") or {}
        command = (probe.get("exec") or {}).get("command")
        if not command:
            return
        if run.stopping.wait(float(probe.get("initialDelaySeconds", 0))):
            return
        env = self._env(container)
        while not self.deleted.is_set() and run.exit_code is None:
            with contextlib.suppress(OSError, subprocess.TimeoutExpired):
                if (
                    subprocess.run(
                        [expand(c, env) for c in command],
                        env=env,
                        cwd=str(self.node.workdir),
                        capture_output=True,
                        check=False,
                        timeout=float(probe.get("timeoutSeconds", 1)),
                    ).returncode
                    == 0
                ):
                    return
            if run.stopping.wait(float(probe.get("periodSeconds", 10))):
                return

    def _stop(self, run: Running, grace: float) -> None:
        run.stopping.set()
        process = run.process
        if process is None or process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)

    def _run(self) -> None:
        try:
            self._lifecycle()
        except Exception:
            log.exception("pod %s/%s", self.namespace, self.name)

    def _lifecycle(self) -> None:
        policy = self.spec.get("restartPolicy", "Always")
        self.report()
        sidecars: list[Running] = []
        for container in self.spec.get("initContainers") or []:
            if self.deleted.is_set():
                return
            run = self._start(container)
            if self._sidecar(container):
                sidecars.append(run)
                self._probe(container, run)
                self.report()
                continue
            self.report()
            if self._finish(run, container) != 0:
                self.report()
                if policy == "Never":
                    self._end(sidecars, "Failed")
                    return
                # Under OnFailure/Always the kubelet restarts the init container; kept simple here:
                # one more attempt, then the pod fails.
                self.previous[container["name"]] = run
                self.restarts[container["name"]] = self.restarts.get(container["name"], 0) + 1
                if self._finish(self._start(container), container) != 0:
                    self._end(sidecars, "Failed")
                    return
            self.report()
        if self.deleted.is_set():
            return
        self.phase = "Running"
        mains = {c["name"]: c for c in self.spec["containers"]}
        for container in mains.values():
            self._start(container)
        self.report()
        codes: dict[str, int] = {}
        pending = set(mains)
        while pending and not self.deleted.is_set():
            for name in sorted(pending):
                run = self.runs[name]
                if (
                    run.exit_code is None
                    and (run.process is None or run.process.poll() is None)
                    and not run.log.done.is_set()
                ):
                    continue
                code = self._finish(run, mains[name])
                if self.deleted.is_set():
                    break
                if (code != 0 and policy in ("OnFailure", "Always")) or (code == 0 and policy == "Always"):
                    self.previous[name] = run
                    self.restarts[name] = self.restarts.get(name, 0) + 1
                    self.report()
                    time.sleep(min(10.0, 0.5 * 2 ** (self.restarts[name] - 1)))
                    if not self.deleted.is_set():
                        self._start(mains[name])
                        self.report()
                    continue
                codes[name] = code
                pending.discard(name)
                self.report()
            time.sleep(0.05)
        if self.deleted.is_set():
            return
        self._end(sidecars, "Succeeded" if all(c == 0 for c in codes.values()) else "Failed")

    def _end(self, sidecars: list[Running], phase: str) -> None:
        grace = float(self.spec.get("terminationGracePeriodSeconds", 30))
        for run in sidecars:
            self._stop(run, grace)
            run.wait()
            run.finished_at = now()
        self.phase = phase
        self.report()
        for run in self.runs.values():
            run.log.done.set()

    def delete(self, grace: float | None) -> None:
        """The pod is being deleted: stop its containers, record them, and remove it."""
        if self.deleted.is_set():
            return
        self.deleted.set()
        grace = float(self.spec.get("terminationGracePeriodSeconds", 30)) if grace is None else grace
        for run in list(self.runs.values()):
            self._stop(run, grace)
        for run in list(self.runs.values()):
            if run.exit_code is None:
                run.wait()
                run.finished_at = now()
            run.log.done.set()
        if self.phase not in ("Succeeded", "Failed"):
            policy = self.spec.get("restartPolicy", "Always")
            codes = [r.exit_code for r in self.runs.values()]
            self.phase = "Succeeded" if policy != "Always" and codes and all(c == 0 for c in codes) else "Failed"
            self.report()
        with contextlib.suppress(ApiException):
            self.node.core.delete_namespaced_pod(
                self.name,
                self.namespace,
                body=client.V1DeleteOptions(grace_period_seconds=0, preconditions={"uid": self.uid}),
            )

    def container_log(self, container: str, previous: bool) -> ContainerLog | None:
        run = (self.previous if previous else self.runs).get(container)
        return run.log if run else None


# --- the node ---------------------------------------------------------------------------------


class FakeNode:
    """A Node whose pods run as local processes; start() registers it, stop() ends its pods."""

    def __init__(
        self,
        kubeconfig: Path,
        folder: Path,
        *,
        name: str = "fake-gpu-node",
        gpus: int = 8,
        workdir: Path | None = None,
        script: ScriptFor | None = None,
        tls: tuple[Path, Path] | None = None,
    ) -> None:
        self.name = name
        self.gpus = gpus
        self.folder = folder
        self.workdir = workdir or Path.cwd()
        self.script = script
        self.tls = tls
        self.api = config.new_client_from_config(config_file=str(kubeconfig))
        self.core = client.CoreV1Api(self.api)
        self.pods: dict[str, PodRunner] = {}
        self.start_times: dict[str, str] = {}
        self.stopped = threading.Event()
        self.server: http.server.ThreadingHTTPServer | None = None
        self.threads: list[threading.Thread] = []

    # -- the kubelet API --

    def _serve(self) -> int:
        node = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                url = urllib.parse.urlsplit(self.path)
                query = {k: v[-1] for k, v in urllib.parse.parse_qs(url.query).items()}
                parts = url.path.strip("/").split("/")
                if len(parts) != 4 or parts[0] != "containerLogs":
                    self.send_error(404)
                    return
                _, namespace, pod, container = parts
                runner = next((r for r in node.pods.values() if r.namespace == namespace and r.name == pod), None)
                found = runner.container_log(container, query.get("previous") == "true") if runner else None
                if found is None:
                    self.send_error(404, f"container {container} of pod {namespace}/{pod} not found")
                    return
                self._logs(found, query)

            def _logs(self, found: ContainerLog, query: Mapping[str, str]) -> None:
                timestamps = query.get("timestamps") == "true"
                limit = int(query["limitBytes"]) if "limitBytes" in query else None
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                sent = 0

                def write(data: bytes) -> bool:
                    nonlocal sent
                    if limit is not None:
                        data = data[: max(0, limit - sent)]
                    if data:
                        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
                        self.wfile.flush()
                        sent += len(data)
                    return limit is None or sent < limit

                entries = _select(found.entries(), query)
                more = write(_render(entries, timestamps))
                if query.get("follow") == "true":
                    seen = len(found.entries())
                    while more and not node.stopped.is_set():
                        finished = found.done.is_set()
                        current = found.entries()
                        if len(current) > seen:
                            more = write(_render(current[seen:], timestamps))
                            seen = len(current)
                        elif finished:
                            break
                        else:
                            time.sleep(0.05)
                self.wfile.write(b"0\r\n\r\n")

        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        if self.tls is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(str(self.tls[0]), str(self.tls[1]))
            server.socket = context.wrap_socket(server.socket, server_side=True)
        self.server = server
        self._thread(server.serve_forever, "kubelet-api")
        return int(server.server_address[1])

    def _thread(self, target: Callable[[], None], name: str) -> None:
        thread = threading.Thread(target=target, name=f"{self.name}-{name}", daemon=True)
        thread.start()
        self.threads.append(thread)

    # -- registration and heartbeats --

    def _node(self, port: int) -> dict[str, Any]:
        capacity = {
            "cpu": "16",
            "memory": "64Gi",
            "pods": "110",
            "ephemeral-storage": "100Gi",
            "nvidia.com/gpu": str(self.gpus),
        }
        return {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {
                "name": self.name,
                "labels": {
                    "kubernetes.io/hostname": self.name,
                    "kubernetes.io/os": "linux",
                    "kubernetes.io/arch": "amd64",
                },
            },
            "status": {
                "capacity": capacity,
                "allocatable": capacity,
                "addresses": [
                    {"type": "InternalIP", "address": "127.0.0.1"},
                    {"type": "Hostname", "address": self.name},
                ],
                "daemonEndpoints": {"kubeletEndpoint": {"Port": port}},
                "nodeInfo": {
                    "architecture": "amd64",
                    "operatingSystem": "linux",
                    "kubeletVersion": "v0.0.0-fake",
                    "kubeProxyVersion": "",
                    "containerRuntimeVersion": "fake://0",
                    "kernelVersion": "",
                    "osImage": "fake",
                    "machineID": "",
                    "systemUUID": "",
                    "bootID": "",
                },
                "conditions": self._conditions(),
            },
        }

    @staticmethod
    def _conditions() -> list[dict[str, str]]:
        t = now()
        ready = {"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "fake node is ready"}
        others = [
            {"type": kind, "status": "False", "reason": f"KubeletHas{reason}", "message": ""}
            for kind, reason in (
                ("MemoryPressure", "SufficientMemory"),
                ("DiskPressure", "NoDiskPressure"),
                ("PIDPressure", "SufficientPID"),
            )
        ]
        return [{**c, "lastHeartbeatTime": t, "lastTransitionTime": t} for c in [*others, ready]]

    def _heartbeat(self) -> None:
        coordination = client.CoordinationV1Api(self.api)
        while not self.stopped.wait(RENEW_SECONDS):
            t = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            with contextlib.suppress(ApiException, OSError):
                coordination.patch_namespaced_lease(self.name, "kube-node-lease", {"spec": {"renewTime": t}})
                self.core.patch_node_status(self.name, {"status": {"conditions": self._conditions()}})

    def start(self) -> None:
        port = self._serve()
        body = self._node(port)
        try:
            self.core.create_node(body)
        except ApiException as error:
            if error.status != 409:
                raise
        self.core.patch_node_status(self.name, {"status": body["status"]})
        t = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        lease = {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": self.name, "namespace": "kube-node-lease"},
            "spec": {"holderIdentity": self.name, "leaseDurationSeconds": LEASE_SECONDS, "renewTime": t},
        }
        with contextlib.suppress(ApiException):
            client.CoordinationV1Api(self.api).create_namespaced_lease("kube-node-lease", lease)
        self._thread(self._heartbeat, "heartbeat")
        self._thread(self._watch, "pods")

    # -- pods --

    def config_map(self, namespace: str, name: str) -> dict[str, str]:
        return dict(self.core.read_namespaced_config_map(name, namespace).data or {})

    def secret(self, namespace: str, name: str) -> dict[str, str]:
        import base64  # noqa: PLC0415

        data = self.core.read_namespaced_secret(name, namespace).data or {}
        return {k: base64.b64decode(v).decode() for k, v in data.items()}

    def _watch(self) -> None:
        version = ""
        while not self.stopped.is_set():
            try:
                if not version:
                    listed = self.api.sanitize_for_serialization(
                        self.core.list_pod_for_all_namespaces(field_selector=f"spec.nodeName={self.name}")
                    )
                    version = listed["metadata"]["resourceVersion"]
                    for pod in listed["items"]:
                        self._seen("ADDED", pod)
                stream = watch.Watch().stream(
                    self.core.list_pod_for_all_namespaces,
                    field_selector=f"spec.nodeName={self.name}",
                    resource_version=version,
                    timeout_seconds=30,
                    allow_watch_bookmarks=True,
                    _preload_content=False,
                )
                for event in stream:
                    if self.stopped.is_set():
                        return
                    obj = event["raw_object"]
                    version = obj.get("metadata", {}).get("resourceVersion", version)
                    if event["type"] in ("ADDED", "MODIFIED", "DELETED"):
                        self._seen(event["type"], obj)
            except ApiException as error:
                if error.status == 410:
                    version = ""
                else:
                    time.sleep(0.5)
            except Exception:  # a dropped connection: list again
                if self.stopped.is_set():
                    return
                log.debug("pod watch of %s restarts", self.name, exc_info=True)
                version = ""
                time.sleep(0.5)

    def _seen(self, type: str, pod: dict[str, Any]) -> None:
        uid = pod["metadata"]["uid"]
        runner = self.pods.get(uid)
        if type == "DELETED":
            if runner is not None:
                threading.Thread(target=runner.delete, args=(0.0,), daemon=True).start()
            return
        if runner is None:
            if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed") and not pod["metadata"].get(
                "deletionTimestamp"
            ):
                return  # finished before this node (re)started
            runner = self.pods[uid] = PodRunner(self, pod)
            if pod["metadata"].get("deletionTimestamp"):
                runner.deleted.set()
                threading.Thread(target=runner.delete, args=(0.0,), daemon=True).start()
                return
            runner.thread.start()
            return
        if pod["metadata"].get("deletionTimestamp") and not runner.deleted.is_set():
            grace = pod["metadata"].get("deletionGracePeriodSeconds")
            threading.Thread(target=runner.delete, args=(None if grace is None else float(grace),), daemon=True).start()

    def stop(self) -> None:
        """Stop every pod's processes and the node's threads (the Node object stays)."""
        self.stopped.set()
        for runner in list(self.pods.values()):
            runner.deleted.set()
            for run in list(runner.runs.values()):
                runner._stop(run, 2.0)
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
        self.api.close()


def describe(pod: Mapping[str, Any]) -> str:
    """One line about a pod, for assertion messages."""
    return json.dumps({"name": pod["metadata"]["name"], "phase": (pod.get("status") or {}).get("phase")})
