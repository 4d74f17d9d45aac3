"""A task on a cluster as a :class:`~kubetune.results.source.TrialSource`: its HPOTask and Trial objects.

Read with the user's kubeconfig (or a pod's service account), through ``executors.client``, the
one module that calls the Kubernetes API; the Trials are listed in pages.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..api import HPOTask, Stop, Trial, parse_task
from ..errors import InvalidSpec, StateError
from ..executors.client import PAGE_SIZE, Kube, user_client


@dataclass
class ClusterSource:
    """One HPOTask on a cluster."""

    kube: Kube
    namespace: str
    name: str
    page_size: int = PAGE_SIZE
    _uid: str | None = field(default=None, repr=False)

    @classmethod
    def connect(cls, name: str, namespace: str | None, context: str | None) -> ClusterSource:
        """The task ``name`` in ``namespace`` (default: the context's), through the user's kubeconfig."""
        api, default_namespace = user_client(context)
        return cls(Kube(api), namespace or default_namespace, name)

    @property
    def label(self) -> str:
        """``hpo/NAME in namespace NS``."""
        return f"hpo/{self.name} in namespace {self.namespace}"

    def load_task(self) -> HPOTask:
        """The HPOTask object, status included."""
        body = self.kube.get_task(self.namespace, self.name)
        if body is None:
            raise StateError(f"hpo/{self.name}: no such HPOTask in namespace {self.namespace}")
        try:
            task = parse_task(body)
        except InvalidSpec as error:
            raise StateError(f"hpo/{self.name}: its spec is invalid: {error}") from None
        self._uid = task.metadata.uid
        return task

    def load_trials(self) -> list[Trial]:
        """Its Trials (those it owns), listed ``page_size`` at a time."""
        # Callers read the task first; its uid tells its Trials from those of a deleted namesake.
        uid = self._uid or self.load_task().metadata.uid or ""
        return self.kube.list_trials(self.namespace, self.name, uid, self.page_size)

    def request_stop(self, stop: Stop) -> None:
        """Set the task's ``spec.stop``; the operator ends the task."""
        self.kube.request_stop(self.namespace, self.name, stop)
