"""The in-process Kubernetes API emulator: store + control plane + kubelet + Job controller, served over HTTP."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Mapping
from types import TracebackType
from typing import Any, Self

from aiohttp import web

from tests.kube import resources as r
from tests.kube.controllers import ControlPlane, cancel_and_wait
from tests.kube.server import ApiServer
from tests.kube.store import Obj, Store
from tests.kube.training import TrainingControllers
from tests.kube.workloads import Behaviour, JobController, Kubelet, succeed


class KubeEmulator:
    """An async context manager serving the Kubernetes API on 127.0.0.1 (a free port unless given).

    All state lives on the loop it was started in; from another thread, go through `EmulatorThread`.
    """

    def __init__(
        self,
        *,
        behaviour: Behaviour = succeed,
        namespaces: tuple[str, ...] = ("default", "kube-system"),
        bookmark_interval: float = 1.0,
        pod_start_delay: float = 0.02,
        job_backoff: float = 0.05,
        history_limit: int = 10_000,
    ) -> None:
        self._behaviour = behaviour
        self._pod_start_delay = pod_start_delay
        self._job_backoff = job_backoff
        self.namespaces = namespaces
        self.store = Store(history_limit=history_limit)
        self.bookmark_interval = bookmark_interval
        self._runner: web.AppRunner | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self.port = 0

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        # Controllers need the running loop (events, tasks), so they are built here rather than in __init__.
        self.control_plane = ControlPlane(self.store)
        self.kubelet = Kubelet(self.store, behaviour=self._behaviour, start_delay=self._pod_start_delay)
        self.jobs = JobController(self.store, backoff=self._job_backoff)
        self.training = TrainingControllers(self.store)
        self.server = ApiServer(self.store, self.kubelet, bookmark_interval=self.bookmark_interval)
        self._tasks = [
            asyncio.create_task(self.control_plane.run(), name="emulated control plane"),
            asyncio.create_task(self.jobs.run(), name="emulated job controller"),
            asyncio.create_task(self.training.run(), name="emulated training controllers"),
        ]
        for namespace in self.namespaces:
            self.store.create(r.NAMESPACES, None, {"metadata": {"name": namespace}})

        sock = socket.socket()
        sock.bind((host, port))
        self.port = sock.getsockname()[1]
        self._runner = web.AppRunner(self.server.app, handle_signals=False, shutdown_timeout=1.0, access_log=None)
        await self._runner.setup()
        await web.SockSite(self._runner, sock).start()
        self.url = f"http://{host}:{self.port}"

    async def stop(self) -> None:
        self.server.closing.set()  # watch streams and log follows end on their own
        await self.kubelet.stop()
        for task in self._tasks:
            await cancel_and_wait(task)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # --- conveniences on the emulator's own loop ---

    @property
    def behaviour(self) -> Behaviour:
        return self.kubelet.behaviour

    @behaviour.setter
    def behaviour(self, value: Behaviour) -> None:
        self.kubelet.behaviour = value

    def install_crd(self, crd: Mapping[str, Any]) -> Obj:
        """Serve a custom resource from a CRD manifest dict (apiextensions.k8s.io/v1), Established at once."""
        return self.store.install_crd(crd)

    def compact(self) -> None:
        """Drop the watch history: resuming a watch from an older resourceVersion then gets 410 Gone."""
        self.store.compact()

    async def settle(self, rounds: int = 3) -> None:
        """Let queued controller work run (a few loop turns); for tests that check "nothing else happens"."""
        for _ in range(rounds):
            await asyncio.sleep(0.01)
