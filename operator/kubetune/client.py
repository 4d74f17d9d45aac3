"""``kubetune.Client``: HPOTasks on a cluster from Python, through the code the CLI uses.

Reads go through :class:`~kubetune.results.cluster.ClusterSource` (what ``kubetune trials hpo/NAME``
reads), writes through :class:`~kubetune.executors.kube.Kube` (the one module that calls the
Kubernetes API), with the user's kubeconfig as kubectl would use it.
"""

from __future__ import annotations

import builtins
import logging
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .api import HPOTask, Stop, SuspendPolicy, Trial, parse_task
from .display import best_document
from .errors import InvalidSpec, Problem
from .executors.client import Kube, user_client
from .results.cluster import ClusterSource
from .results.source import manifest_task

log = logging.getLogger(__name__)

SERVER_SET = frozenset(
    {"uid", "resourceVersion", "generation", "creationTimestamp", "deletionTimestamp", "managedFields", "selfLink"}
)
"""Metadata the API server writes: left out of a task to create, so that one read back can be created again."""

WAIT_INTERVAL = 2.0
"""Seconds between two reads of a task that :meth:`Client.wait` waits for."""


class Client:
    """The HPOTasks of one namespace: create, get, list, wait for, stop and delete them; read their trials.

    ``namespace`` defaults to the kubeconfig context's (else ``default``); ``context`` picks a
    kubeconfig context (default: the current one; in a pod, its service account).
    """

    def __init__(self, namespace: str | None = None, *, context: str | None = None) -> None:
        api, default_namespace = user_client(context)
        self.kube = Kube(api)
        self.namespace: str = namespace or default_namespace

    def _source(self, name: str) -> ClusterSource:
        return ClusterSource(self.kube, self.namespace, name)

    def create(self, task: HPOTask | Mapping[str, Any] | str | Path) -> HPOTask:
        """Create an HPOTask from a model, a manifest mapping, or a manifest file; checked here first,
        with the same model as ``kubetune validate``. Returns it as the API server stored it."""
        if isinstance(task, str | Path):
            task = manifest_task(Path(task))
        body = task.to_manifest() if isinstance(task, HPOTask) else dict(task)
        if not isinstance(task, HPOTask):
            parse_task(body)  # raises InvalidSpec naming each problem's field
        body.pop("status", None)
        # What the API server set on an object read back from it; it refuses a create that carries them.
        meta = {k: v for k, v in (body.get("metadata") or {}).items() if k not in SERVER_SET}
        if not meta.get("name"):
            raise InvalidSpec([Problem("metadata.name", "is required to create an HPOTask")])
        meta["namespace"] = self.namespace
        body["metadata"] = meta
        return parse_task(self.kube.create_task(self.namespace, body))

    def get(self, name: str) -> HPOTask:
        """The HPOTask ``name``, status included (a StateError if there is none)."""
        return self._source(name).load_task()

    def list(self) -> list[HPOTask]:
        """The namespace's HPOTasks, by name (one whose spec this kubetune cannot read is left out, with a warning)."""
        tasks = []
        for body in self.kube.list_tasks(self.namespace):
            try:
                tasks.append(parse_task(body))
            except InvalidSpec as error:
                log.warning("leaving out hpo/%s: %s", body.get("metadata", {}).get("name"), error)
        return sorted(tasks, key=lambda t: t.metadata.name or "")

    def trials(self, name: str) -> builtins.list[Trial]:
        """The task's trials, in index order, read in pages as ``kubetune trials hpo/NAME`` reads them."""
        return self._source(name).load_trials()

    def best(self, name: str) -> dict[str, Any] | None:
        """What ``kubetune best hpo/NAME`` prints: the best trial, or the Pareto front; None before any succeeded."""
        return best_document(self.get(name).status)

    def wait(self, name: str, *, timeout: float | None = None, interval: float = WAIT_INTERVAL) -> HPOTask:
        """Wait until the task has finished (Succeeded, Failed or Stopped) and return it.

        Raises TimeoutError after ``timeout`` seconds (None: no limit); the task goes on running.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            task = self.get(name)
            if task.status is not None and task.status.phase.finished:
                return task
            if deadline is not None and time.monotonic() >= deadline:
                phase = task.status.phase if task.status is not None else "not started"
                raise TimeoutError(f"hpo/{name} has not finished after {timeout:g} s (it is {phase})")
            time.sleep(interval if deadline is None else max(0.0, min(interval, deadline - time.monotonic())))

    def stop(self, name: str, *, force: bool = False) -> None:
        """Stop the task for good (``kubetune stop``): running trials finish, or with ``force`` are stopped now."""
        source = self._source(name)
        source.load_task()  # a missing task is a StateError, as for the CLI
        source.request_stop(Stop(policy=SuspendPolicy.FORCE if force else SuspendPolicy.GRACEFUL))

    def delete(self, name: str) -> bool:
        """Delete the task; its Trials and workloads go with it. False if there was no such task."""
        return self.kube.delete_task(self.namespace, name)
