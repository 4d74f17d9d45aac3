"""The workload adapter's interface, and the defaults most kinds share."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from ... import engine, names
from ...api import HPOTask, Trial, kinds
from ...metrics import MetricsReading
from .. import facts, rendering


class Workload(Protocol):
    """One kind of trial workload: how it is rendered, which of its pods is the primary one, what its status says."""

    @property
    def kind(self) -> str:
        """The object's kind, as messages name it (``Job``)."""
        ...

    @property
    def api_version(self) -> str:
        """GROUP/VERSION of the object (``batch/v1``)."""
        ...

    @property
    def group(self) -> str:
        """The API group of the object (``batch``)."""
        ...

    @property
    def version(self) -> str:
        """The API version of the object (``v1``)."""
        ...

    @property
    def plural(self) -> str:
        """The resource name of the object (``jobs``)."""
        ...

    def render(self, task: HPOTask, namespace: str, trial: Trial, trial_uid: str) -> dict[str, Any]:
        """The object that runs ``trial``, owned by the Trial (uid ``trial_uid``)."""
        ...

    def finished(self, obj: Mapping[str, Any]) -> bool:
        """Whether the workload ended (succeeded or failed) as far as its own status says."""
        ...

    def queued(self, obj: Mapping[str, Any]) -> bool:
        """Whether the workload waits, suspended, for a queue (Kueue) to admit it."""
        ...

    @property
    def labelled_pods(self) -> bool:
        """Whether the primary pods carry kubetune's task and trial labels (so the operator's pod watch sees them)."""
        ...

    def pod_selector(self, task: str, workloads: Collection[str]) -> str:
        """A label selector for one list call that finds the primary pods of the task's ``workloads``."""
        ...

    def trial_of(self, pod: Mapping[str, Any]) -> str | None:
        """The trial (workload name) a listed pod belongs to."""
        ...

    def is_primary(self, pod: Mapping[str, Any], obj: Mapping[str, Any]) -> bool:
        """Whether ``pod`` is the primary pod of ``obj`` (whose log holds the trial's metrics)."""
        ...

    def log_container(self, task: HPOTask) -> str | None:
        """The primary pod's container whose output holds the metrics."""
        ...

    def fact(
        self, name: str, obj: Mapping[str, Any], pod: Mapping[str, Any] | None, reading: MetricsReading
    ) -> engine.RunFact:
        """The run fact of the workload and its primary pod, with the metrics read so far."""
        ...


def label(obj: Mapping[str, Any], key: str) -> str | None:
    """A label's value."""
    value = (obj.get("metadata") or {}).get("labels", {}).get(key)
    return value if isinstance(value, str) else None


def owned_by(pod: Mapping[str, Any], obj: Mapping[str, Any]) -> bool:
    """Whether ``obj`` is one of the pod's owners."""
    uid = obj["metadata"].get("uid")
    return any(ref.get("uid") == uid for ref in pod["metadata"].get("ownerReferences") or [])


def not_older(pod: Mapping[str, Any], obj: Mapping[str, Any]) -> bool:
    """Whether the pod was created no earlier than ``obj``: a pod left by a deleted workload of the same
    name (a task deleted and created again) is never taken for the new one's, where ownership is indirect."""
    return str(pod["metadata"].get("creationTimestamp", "")) >= str(obj["metadata"].get("creationTimestamp", ""))


@dataclass(frozen=True)
class ConditionWorkload:
    """A kind whose status has a success and a failure condition, and whose pods carry kubetune's labels."""

    shape: kinds.Kind

    @property
    def succeeded(self) -> str:
        """The condition type that says the workload succeeded (the kind's)."""
        return (self.shape.conditions or ("", ""))[0]

    @property
    def failed(self) -> str:
        """The condition type that says the workload failed (the kind's)."""
        return (self.shape.conditions or ("", ""))[1]

    @property
    def kind(self) -> str:
        """The object's kind."""
        return self.shape.kind

    @property
    def api_version(self) -> str:
        """GROUP/VERSION."""
        return self.shape.api_version

    @property
    def group(self) -> str:
        """The API group."""
        return self.shape.group

    @property
    def version(self) -> str:
        """The version."""
        return self.shape.version

    @property
    def plural(self) -> str:
        """The resource name."""
        return self.shape.plural

    def render(self, task: HPOTask, namespace: str, trial: Trial, trial_uid: str) -> dict[str, Any]:
        """The user's template with the trial's parameters in every replica."""
        return rendering.build_workload(task, namespace, trial, trial_uid)

    def finished(self, obj: Mapping[str, Any]) -> bool:
        """Whether the success or the failure condition is true."""
        return bool(facts.conditions(obj).keys() & {self.succeeded, self.failed})

    def queued(self, obj: Mapping[str, Any]) -> bool:
        """Suspended and not finished: waiting for Kueue to admit (or readmit) it."""
        path = self.shape.suspend
        return path is not None and kinds.at(obj.get("spec"), path) is True and not self.finished(obj)

    @property
    def labelled_pods(self) -> bool:
        """kubetune puts its labels on every pod template of the object."""
        return True

    def pod_selector(self, task: str, workloads: Collection[str]) -> str:
        """The pods of every replica carry the task's label (kubetune puts it on every pod template)."""
        return f"{names.LABEL_TASK}={task}"

    def trial_of(self, pod: Mapping[str, Any]) -> str | None:
        """From the trial label kubetune put on the pod template."""
        return label(pod, names.LABEL_TRIAL)

    def is_primary(self, pod: Mapping[str, Any], obj: Mapping[str, Any]) -> bool:
        """Each kind says; by default a pod the workload owns directly."""
        return owned_by(pod, obj)

    def log_container(self, task: HPOTask) -> str | None:
        """The template's primary container."""
        return task.spec.trial_template.primary().get("name")

    def fact(
        self, name: str, obj: Mapping[str, Any], pod: Mapping[str, Any] | None, reading: MetricsReading
    ) -> engine.RunFact:
        """What the conditions and the primary pod say."""
        return facts.condition_fact(
            name, obj, pod, reading, succeeded=self.succeeded, failed=self.failed, kind=self.kind
        )
