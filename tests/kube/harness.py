"""Test-side handles: the emulator in its own thread, helpers to read and wait, and Kopf runs against it.

The emulator gets a thread and an event loop of its own, so nothing a test does can starve it: the
synchronous `kubernetes` client, blocking waits in a sync test, Kopf's thread, and the test's own loop in an
async test all talk to it over HTTP (or through `Kube.call`) while it keeps serving.
"""

from __future__ import annotations

import asyncio
import builtins
import concurrent.futures
import contextlib
import importlib
import json
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any, TypeVar

import kopf
import kubernetes
import yaml
from kopf.testing import KopfRunner

from tests.kube.emulator import KubeEmulator
from tests.kube.resources import ResourceType
from tests.kube.selectors import FieldSelector, matcher, parse_label_selector
from tests.kube.store import MERGE_PATCH, Obj
from tests.kube.workloads import Behaviour
from tests.waiting import DEFAULT_TIMEOUT, await_for, wait_for

T = TypeVar("T")


def load_crd(source: str | Path | Mapping[str, Any]) -> dict[str, Any]:
    """A CRD manifest from a dict or a YAML file (the first CustomResourceDefinition document)."""
    if isinstance(source, Mapping):
        return dict(source)
    for document in yaml.safe_load_all(Path(source).read_text()):
        if document and document.get("kind") == "CustomResourceDefinition":
            return dict(document)
    raise ValueError(f"no CustomResourceDefinition in {source}")


class Kube:
    """A running emulator as seen from a test's thread: synchronous helpers, plus an official client."""

    def __init__(self, emulator: KubeEmulator, loop: asyncio.AbstractEventLoop) -> None:
        self.emulator = emulator
        self.loop = loop
        self.url = emulator.url
        self._api_client: kubernetes.client.ApiClient | None = None

    # --- crossing into the emulator's loop ---

    def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run fn(*args, **kwargs) on the emulator's loop and return its result (or raise its exception)."""

        async def run() -> T:
            return fn(*args, **kwargs)

        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(timeout=10)

    def run(self, coro: Awaitable[T]) -> T:
        async def run() -> T:
            return await coro

        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(timeout=30)

    # --- clients ---

    def configuration(self) -> kubernetes.client.Configuration:
        config = kubernetes.client.Configuration()
        config.host = self.url
        return config

    @property
    def api_client(self) -> kubernetes.client.ApiClient:
        """An official (sync) client for the emulator; closed when the emulator stops."""
        if self._api_client is None:
            self._api_client = kubernetes.client.ApiClient(self.configuration())
        return self._api_client

    @property
    def core(self) -> kubernetes.client.CoreV1Api:
        return kubernetes.client.CoreV1Api(self.api_client)

    @property
    def batch(self) -> kubernetes.client.BatchV1Api:
        return kubernetes.client.BatchV1Api(self.api_client)

    @property
    def custom(self) -> kubernetes.client.CustomObjectsApi:
        return kubernetes.client.CustomObjectsApi(self.api_client)

    def close(self) -> None:
        if self._api_client is not None:
            self._api_client.close()  # type: ignore[no-untyped-call]
            self._api_client = None

    # --- state, read and written directly (no HTTP), addressed by loose names: "pods", "Job", "hpotasks" ---

    def resource(self, name: str) -> ResourceType:
        return self.call(self.emulator.store.find_type, name)

    def get(self, kind: str, name: str, namespace: str | None = "default") -> Obj:
        """The object, or an ApiError(404)."""
        return self.call(self.emulator.store.get, self.resource(kind), namespace, name)

    def find(self, kind: str, name: str, namespace: str | None = "default") -> Obj | None:
        """The object, or None (in one step on the emulator's loop, so it cannot race with a deletion)."""
        store, rt = self.emulator.store, self.resource(kind)
        return self.call(lambda: store.get(rt, namespace, name) if store.peek(rt, namespace, name) else None)

    def list(self, kind: str, namespace: str | None = "default", *, labels: str | None = None) -> list[Obj]:
        """Objects of a kind in a namespace (None: all), optionally by a label selector string."""

        rt = self.resource(kind)
        match = matcher(parse_label_selector(labels), FieldSelector())
        return self.call(self.emulator.store.list, rt, namespace, match)[0]

    def create(self, obj: Mapping[str, Any], namespace: str | None = None) -> Obj:
        """Create an object from a manifest dict (its apiVersion and kind pick the resource)."""
        rt = self.call(self.emulator.store.type_for, obj["apiVersion"], obj["kind"])
        if rt is None:
            raise KeyError(f"{obj['apiVersion']} {obj['kind']} is not served")
        namespace = namespace or obj.get("metadata", {}).get("namespace") or ("default" if rt.namespaced else None)
        return self.call(self.emulator.store.create, rt, namespace, obj)

    def patch(
        self,
        kind: str,
        name: str,
        patch: Mapping[str, Any],
        namespace: str | None = "default",
        *,
        subresource: str | None = None,
    ) -> Obj:
        """A JSON merge patch, as a client would send it (conflicts if it carries a stale resourceVersion)."""

        rt = self.resource(kind)
        return self.call(
            self.emulator.store.patch, rt, namespace, name, json.dumps(patch).encode(), MERGE_PATCH, subresource
        )

    def delete(self, kind: str, name: str, namespace: str | None = "default", *, propagation: str | None = None) -> Obj:
        rt = self.resource(kind)
        return self.call(self.emulator.store.delete, rt, namespace, name, propagation=propagation)[0]

    def logs(self, pod: str, namespace: str = "default", container: str | None = None) -> str:
        """A pod's log as `kubectl logs` shows it (via the official client, so through the real endpoint)."""
        return str(self.core.read_namespaced_pod_log(pod, namespace, container=container))

    def install_crd(self, crd: str | Path | Mapping[str, Any]) -> Obj:
        return self.call(self.emulator.install_crd, load_crd(crd))

    def remove_crd(self, name: str) -> None:
        """Delete a CRD: its objects go, and its resource is no longer served (its watches end a moment later)."""
        self.delete("customresourcedefinitions", name, None)

    def refuse(self, resource: str, verbs: Iterable[str] = ("list", "watch")) -> None:
        """Refuse these verbs on a resource ("plural.group") everywhere, with RBAC's 403, as a ClusterRole
        that does not grant them would; SelfSubjectAccessReviews agree."""
        plural, _, group = resource.partition(".")

        def arm() -> None:
            refused = self.emulator.server.refusals.get((group, plural), frozenset())
            self.emulator.server.refusals[(group, plural)] = refused | frozenset(verbs)

        self.call(arm)

    def requests(self, verb: str, resource: str) -> int:
        """How many requests of a verb ("list", "watch") on a resource (its plural) the emulator answered."""
        return self.call(lambda: self.emulator.server.requests[(verb, resource)])

    def fail(self, method: str, path_fragment: str, times: int, code: int = 500) -> None:
        """Answer the next ``times`` requests of ``method`` whose path contains ``path_fragment`` with ``code``."""

        def arm() -> None:
            self.emulator.server.faults[(method, path_fragment)] = times
            self.emulator.server.fault_codes[(method, path_fragment)] = code

        self.call(arm)

    def compact(self) -> None:
        self.call(self.emulator.compact)

    @property
    def behaviour(self) -> Behaviour:
        return self.emulator.behaviour

    @behaviour.setter
    def behaviour(self, value: Behaviour) -> None:
        self.call(setattr, self.emulator, "behaviour", value)

    def watches(self, user_agent: str = "") -> builtins.list[tuple[str, str | None]]:
        """Open watch streams as (resource "plural.group", namespace or None), by a user-agent substring."""
        entries: builtins.list[tuple[ResourceType, str | None, str]] = self.call(
            lambda: [*self.emulator.server.watches]
        )
        return [(rt.qualified, ns) for rt, ns, agent in entries if user_agent in agent]

    def events(self, namespace: str = "default", *, involved: str | None = None) -> builtins.list[Obj]:
        """core/v1 Events in a namespace, optionally only those about the object of that name."""
        events = self.list("events", namespace)
        return [e for e in events if involved is None or e.get("involvedObject", {}).get("name") == involved]

    # --- waiting ---

    def wait_for(self, predicate: Callable[[], T | None], *, timeout: float = DEFAULT_TIMEOUT, message: str = "") -> T:
        return wait_for(predicate, timeout=timeout, message=message)

    async def await_for(
        self, predicate: Callable[[], T | None], *, timeout: float = DEFAULT_TIMEOUT, message: str = ""
    ) -> T:
        return await await_for(predicate, timeout=timeout, message=message)

    def wait_gone(
        self, kind: str, name: str, namespace: str | None = "default", *, timeout: float = DEFAULT_TIMEOUT
    ) -> None:
        wait_for(lambda: self.find(kind, name, namespace) is None, timeout=timeout, message=f"{kind} {name} to be gone")

    def wait_condition(
        self,
        kind: str,
        name: str,
        condition: str,
        namespace: str | None = "default",
        *,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> Obj:
        """Wait for status.conditions[type=condition].status == "True"; returns that condition."""

        def check() -> Obj | None:
            obj = self.find(kind, name, namespace) or {}
            conditions = (obj.get("status") or {}).get("conditions") or []
            return next((c for c in conditions if c["type"] == condition and c["status"] == "True"), None)

        return wait_for(check, timeout=timeout, message=f"{kind} {name} to be {condition}")


@contextlib.contextmanager
def start_emulator(**options: Any) -> Iterator[Kube]:
    """Run a KubeEmulator in a thread of its own for the duration of the block (options: see KubeEmulator)."""
    loop = asyncio.new_event_loop()
    emulator = KubeEmulator(**options)
    started: concurrent.futures.Future[None] = concurrent.futures.Future()

    def serve() -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(emulator.start())
        except BaseException as e:
            started.set_exception(e)
            return
        started.set_result(None)
        loop.run_forever()

    thread = threading.Thread(target=serve, name="kube-emulator", daemon=True)
    thread.start()
    try:
        started.result(timeout=10)
        kube = Kube(emulator, loop)
        try:
            yield kube
        finally:
            kube.close()
            asyncio.run_coroutine_threadsafe(emulator.stop(), loop).result(timeout=10)
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        pending = asyncio.all_tasks(loop)
        for task in pending:
            task.cancel()
        if pending:
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()


# --- Kopf ---

Settings = Callable[[kopf.OperatorSettings], None]


def kopf_test_settings(settings: kopf.OperatorSettings) -> None:
    """Kopf settings for fast, quiet test runs against the emulator."""
    settings.background.cancellation_polling = 0.1  # a daemon's object is released in 0.1 s, not 60 s
    settings.watching.reconnect_backoff = 0.05
    settings.watching.inactivity_timeout = 10.0  # the emulator sends bookmarks every second
    settings.queueing.exit_timeout = 0.5
    settings.networking.request_timeout = 10.0


def _copy_registry(source: kopf.OperatorRegistry) -> kopf.OperatorRegistry:
    """A fresh registry with the source's handlers, minus its login handlers (the emulator's login replaces them).

    Copying keeps the source (often Kopf's global default registry) free of per-test login handlers.
    """
    target = kopf.OperatorRegistry()
    for name in ("_activities", "_indexing", "_watching", "_spawning", "_changing", "_webhooks"):
        for handler in getattr(source, name).get_all_handlers():
            # (Kopf does not export its Activity enum; it is a StrEnum, so compare by value.)
            if name == "_activities" and handler.activity == "authentication":
                continue
            getattr(target, name).append(handler)
    return target


def _watched_resources(kube: Kube, registry: kopf.OperatorRegistry) -> set[str]:
    """Which served resources the registry's resource handlers select: what Kopf must be watching to be ready."""
    types = kube.call(lambda: list(kube.emulator.store.types))
    candidates = {
        kopf.Resource(
            group=rt.group, version=rt.version, plural=rt.plural, kind=rt.kind, singular=rt.singular,
            shortcuts=frozenset(rt.short_names), categories=frozenset(rt.categories), namespaced=rt.namespaced,
            subresources=frozenset(rt.subresources), preferred=True,
            verbs=frozenset(("list", "watch", "patch", "get")),
        ): rt
        for rt in types
    }  # fmt: skip
    selected = set()
    for name in ("_indexing", "_watching", "_spawning", "_changing"):
        for handler in getattr(registry, name).get_all_handlers():
            if handler.selector.fn is not None:
                continue  # a selector the operator decides as it starts (kubetune's workload kinds)
            for resource in handler.selector.select(candidates):
                selected.add(candidates[resource].qualified)
    return selected


@contextlib.contextmanager
def run_kopf(
    kube: Kube,
    registry: kopf.OperatorRegistry | None = None,
    *,
    modules: Sequence[str | ModuleType] = (),
    namespaces: Iterable[str] | None = ("default",),
    settings: Settings | None = None,
    ready: Iterable[str] | None = None,
    timeout: float = 10.0,
) -> Iterator[KopfRunner]:
    """Run the real Kopf operator (standalone) in a thread against the emulator, until the block ends.

    registry: the handlers to run; by default Kopf's default registry, after importing `modules`.
    namespaces: the namespaces to serve; None serves the whole cluster (--all-namespaces).
    settings: applied after the test defaults, at startup after the operator's own startup handlers.
    ready: resources ("plural.group") that Kopf must be watching before the block starts; by default the
        ones its handlers select. The operator's errors are re-raised when the block ends.
    """
    # Kopf's `run` makes the registry it runs the process-wide default; it is put back when the block
    # ends, or the next operator in this process (another test, on the same xdist worker) would run
    # this one's handlers too, for resources its emulator does not serve.
    default = kopf.get_default_registry()
    for module in modules:
        if isinstance(module, str):
            importlib.import_module(module)
    run_registry = _copy_registry(registry if registry is not None else default)
    url = kube.url

    def login(**_: Any) -> kopf.ConnectionInfo:
        return kopf.ConnectionInfo(server=url, default_namespace="default")

    def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
        kopf_test_settings(settings)
        if overrides is not None:
            overrides(settings)

    overrides = settings
    kopf.on.login(registry=run_registry, id="kube-emulator-login")(login)
    kopf.on.startup(registry=run_registry, id="kube-emulator-settings")(configure)
    initial = kopf.OperatorSettings()
    configure(initial)

    scope = ["--all-namespaces"] if namespaces is None else [arg for ns in namespaces for arg in ("--namespace", ns)]
    expected = set(ready) if ready is not None else _watched_resources(kube, run_registry)
    runner = KopfRunner(["run", "--standalone", *scope], registry=run_registry, settings=initial, timeout=timeout)
    try:
        with runner:

            def watching() -> bool:
                if runner.future.done():
                    return True  # crashed at startup: leave the block and let the runner re-raise
                return expected <= {name for name, _ in kube.watches("kopf")}

            wait_for(watching, timeout=timeout, message=f"Kopf to watch {sorted(expected)}")
            yield runner
    finally:
        kopf.set_default_registry(default)


@contextlib.asynccontextmanager
async def run_kopf_async(
    kube: Kube, registry: kopf.OperatorRegistry | None = None, **options: Any
) -> AsyncIterator[KopfRunner]:
    """run_kopf for async tests: starting and stopping happen in a worker thread, never blocking the loop."""
    manager = run_kopf(kube, registry, **options)
    runner = await asyncio.to_thread(manager.__enter__)
    try:
        yield runner
    except BaseException as e:
        if not await asyncio.to_thread(manager.__exit__, type(e), e, e.__traceback__):
            raise
    else:
        await asyncio.to_thread(manager.__exit__, None, None, None)
