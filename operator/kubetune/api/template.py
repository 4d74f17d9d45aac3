"""The trial template (``spec.trialTemplate``): the workload each trial runs as, its checks, and
where kubetune substitutes ``${params.NAME}`` in it.

The workload's kind is described in ``api.kinds``; how many GPUs it requests in ``api.gpus``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Annotated, Any

from pydantic import Field, model_validator

from . import cel, gpus, kinds
from .base import ApiModel, Loc, raise_problems

PLACEHOLDER = re.compile(r"\$\{params\.([^}]*)\}")
"""``${params.NAME}`` in a command, argument or environment value of the trial template."""
FOREIGN_PLACEHOLDER = re.compile(r"\$\{(?!params\.)[A-Za-z_][A-Za-z0-9_]*\.[^}]*\}")
"""A dotted ``${a.b}`` reference that kubetune does not replace, such as Katib's
``${trialParameters.lr}``: never a shell expansion (``${HOME}``, ``${N:-1}``), whose names hold
no dot, so it is a leftover that the trainer would get as literal text."""


class TemplateMeta(ApiModel):
    """Labels and annotations put on each trial's workload."""

    labels: dict[str, str] = {}
    """Labels added to the workload (for example a Kueue ``kueue.x-k8s.io/queue-name``)."""

    annotations: dict[str, str] = {}
    """Annotations added to the workload."""


CEL_VARIABLE = "object"
"""The name the success and failure conditions give the workload object."""


class TrialTemplate(ApiModel):
    """How one trial runs: a workload (a batch/v1 Job unless ``kind`` says otherwise) with
    ``${params.NAME}`` placeholders."""

    api_version: Annotated[str, Field(max_length=253)] = "batch/v1"
    """The API version of the trial's workload: batch/v1 (Job), jobset.x-k8s.io/v1alpha2 (JobSet),
    kubeflow.org/v1 (PyTorchJob, TFJob, MPIJob, XGBoostJob), trainer.kubeflow.org/v1alpha1
    (TrainJob), ray.io/v1 (RayJob), or any other kind's, with successCondition and failureCondition."""

    kind: Annotated[str, Field(max_length=63, pattern=r"^[A-Z][A-Za-z0-9]*$")] = "Job"
    """The kind of the trial's workload (default Job)."""

    metadata: TemplateMeta = TemplateMeta()
    """Labels and annotations for each trial's workload."""

    spec: Annotated[dict[str, Any], Field(json_schema_extra={"x-kubernetes-preserve-unknown-fields": True})]
    """The workload's spec (for a Job, a batch/v1 JobSpec). Every pod template in it needs at least
    one container; ``${params.NAME}`` in command, args and env values of every container of every
    replica is replaced by the trial's value (never through a shell)."""

    primary_container: Annotated[str | None, Field(max_length=63)] = None
    """The container that runs training and prints metrics. Default: the first of the primary
    replica (for a RayJob, the submitter, which prints the driver's output)."""

    success_condition: Annotated[str | None, Field(max_length=4096)] = None
    """For a kind kubetune does not know: a CEL expression over ``object`` (the workload) that is
    true once it succeeded, e.g. ``object.status.phase == 'Succeeded'``."""

    failure_condition: Annotated[str | None, Field(max_length=4096)] = None
    """For a kind kubetune does not know: a CEL expression over ``object`` that is true once it failed."""

    primary_pod_labels: dict[str, str] | None = None
    """For a kind kubetune does not know: labels of the pod whose log holds the trial's metrics
    (among the pods carrying the trial's ``kubetune.io/trial`` label), e.g.
    ``{training.kubeflow.org/job-role: master}``."""

    def known(self) -> kinds.Kind | None:
        """Built-in knowledge of the workload's kind, if kubetune has it."""
        return kinds.builtin(self.api_version, self.kind)

    def pod_specs(self) -> kinds.PodSpecs:
        """Every PodSpec of the workload (every replica's), with its place in ``spec``."""
        return kinds.pod_specs(self.spec)

    def primary_pod_spec(self) -> dict[str, Any] | None:
        """The primary replica's PodSpec as written: its first (or primaryContainer) container trains."""
        known = self.known()
        if known is not None:
            loc = known.primary(self.spec)
            found = kinds.at(self.spec, loc) if loc is not None else None
            return found if isinstance(found, dict) else None
        specs = self.pod_specs()
        return specs[0][1] if specs else None

    def containers(self) -> list[dict[str, Any]]:
        """The primary replica's containers as written in the template (TrainJob: its trainer)."""
        known = self.known()
        if known is not None and known.extra_containers:
            trainer = kinds.at(self.spec, known.extra_containers[0])
            return [{"name": "node", **trainer}] if isinstance(trainer, dict) else []
        pod = self.primary_pod_spec()
        containers = pod.get("containers") if pod is not None else None
        return [c for c in containers if isinstance(c, dict)] if isinstance(containers, list) else []

    def requested_gpus(self) -> int:
        """GPUs one trial requests, as a quota counts them (the rule is ``api.gpus``'s)."""
        return gpus.requested(self.known(), self.spec)

    def container_objects(self) -> kinds.PodSpecs:
        """For a kind kubetune does not know, its containers outside any PodSpec (``kinds.container_objects``)."""
        return kinds.container_objects(self.spec) if self.known() is None else []

    def primary(self) -> dict[str, Any]:
        """The container that trains: ``primaryContainer``, else the primary replica's first. For a kind
        without pod templates (Argo, Tekton), only its name is known: the controller names the pod's containers."""
        containers = self.containers()
        for container in containers:
            if container.get("name") == self.primary_container:
                return container
        return containers[0] if containers else {"name": self.primary_container}

    @model_validator(mode="after")
    def _check(self) -> TrialTemplate:
        raise_problems("TrialTemplate", self._problems())
        return self

    def _problems(self) -> Iterator[tuple[Loc, str]]:
        known = self.known()
        yield from self._kind_problems(known)
        specs = self.pod_specs()
        if {"apiVersion", "kind", "spec"} <= self.spec.keys():
            # A Katib trialSpec (a whole object) where kubetune wants the object's spec itself.
            yield (
                ("spec",),
                f"must be the workload's spec, not a whole {self.spec['kind']} object: move its apiVersion and "
                "kind to trialTemplate.apiVersion and trialTemplate.kind, its spec up to trialTemplate.spec and its "
                "labels and annotations to trialTemplate.metadata (`kubetune convert` does this for a Katib "
                "Experiment)",
            )
            return
        if known is not None and known.extra_containers:
            if not isinstance(kinds.at(self.spec, known.extra_containers[0]), dict):
                yield ("spec", *known.extra_containers[0]), f"is required for a {self.kind}: the trainer to run"
        elif not specs and (objects := self.container_objects()):
            for place, container in objects:
                yield from _container_problems(container, ("spec", *place), named=False)
            if self.primary_container is None:
                yield (
                    ("primaryContainer",),
                    f"is required for a {self.kind} without pod templates: the name its controller gives the "
                    "container that prints the metrics, in the primary pod (Argo: main; Tekton: step-NAME)",
                )
            return
        elif not specs:
            if known is kinds.JOB:
                yield ("spec", "template", "spec", "containers"), "must list at least one container"
            else:
                yield ("spec",), f"holds no pod template with containers: a {self.kind} needs at least one"
            return
        elif known is not None and self.primary_pod_spec() is None:
            yield ("spec",), f"names no primary replica of the {self.kind} (see docs/workloads.md)"
        for pod_loc, pod in specs:
            containers = pod["containers"]
            if not containers:
                yield ("spec", *pod_loc, "containers"), "must list at least one container"
            for i, container in enumerate(containers):
                loc: Loc = ("spec", *pod_loc, "containers", i)
                if not isinstance(container, dict):
                    yield loc, "must be a container"
                    continue
                yield from _container_problems(container, loc, named=True)
        names = [c.get("name") for c in self.containers()]
        if self.primary_container is not None and self.primary_container not in names:
            yield ("primaryContainer",), f"names no container of the primary replica: {self.primary_container!r}"

    def _kind_problems(self, known: kinds.Kind | None) -> Iterator[tuple[Loc, str]]:
        if "/" not in self.api_version and self.api_version != "v1":
            yield ("apiVersion",), f"must be GROUP/VERSION, got {self.api_version!r}"
        custom = {
            "successCondition": self.success_condition,
            "failureCondition": self.failure_condition,
            "primaryPodLabels": self.primary_pod_labels,
        }
        if known is None:
            for key, value in custom.items():
                if value is None:
                    yield (
                        (key,),
                        f"is required for a {self.kind} ({self.api_version}), a kind kubetune has no built-in "
                        "knowledge of (see docs/workloads.md)",
                    )
        for key in ("successCondition", "failureCondition"):
            text = custom[key]
            if isinstance(text, str) and (problem := cel.compile_problem(text)):
                yield (key,), problem

    def stray_placeholders(self) -> Iterator[tuple[Loc, str]]:
        """Every ``${...}`` kubetune would leave as literal text, with its place and the reason."""
        substituted: set[Loc] = set()
        known = self.known()
        bases: list[Loc] = []
        for pod_loc, pod in self.pod_specs():
            for group in ("initContainers", "containers"):
                listed = pod.get(group)
                bases += [("spec", *pod_loc, group, i) for i in range(len(listed) if isinstance(listed, list) else 0)]
        if known is not None:
            bases += [("spec", *loc) for loc in known.extra_containers]
            substituted |= {("spec", *loc) for loc in known.extra_strings}
        bases += [("spec", *loc) for loc, _ in self.container_objects()]
        for base in bases:
            container = kinds.at({"spec": self.spec}, base)
            env = container.get("env") if isinstance(container, dict) else None
            substituted |= {(*base, key) for key in ("command", "args")}
            substituted |= {(*base, "env", j, "value") for j in range(len(env) if isinstance(env, list) else 0)}
        meta = {"labels": self.metadata.labels, "annotations": self.metadata.annotations}
        for loc, text in [*_strings(meta, ("metadata",)), *_strings(self.spec, ("spec",))]:
            for match in FOREIGN_PLACEHOLDER.finditer(text):
                yield (
                    ("trialTemplate", *loc),
                    f"{match[0]} is not a kubetune placeholder and would reach the trainer as literal text; "
                    "write ${params.NAME} for a parameter (the trial's name and namespace come from the "
                    "downward API: fieldRef metadata.labels['kubetune.io/trial'] and metadata.namespace)",
                )
            in_place = loc in substituted or loc[:-1] in substituted
            if not in_place and (found := PLACEHOLDER.search(text)):
                yield (
                    ("trialTemplate", *loc),
                    f"{found[0]} is only replaced in a container's command, args and env values, not here",
                )

    def placeholders(self) -> Iterator[tuple[Loc, str]]:
        """Every ``${params.NAME}`` where kubetune substitutes it, with its place."""
        for loc, text in _strings(self.spec, ("trialTemplate", "spec")):
            for name in PLACEHOLDER.findall(text):
                yield loc, name


def _strings(node: object, loc: Loc) -> Iterator[tuple[Loc, str]]:
    """Every string in a parsed manifest (keys included), with its place."""
    if isinstance(node, str):
        yield loc, node
    elif isinstance(node, dict):
        for key, value in node.items():
            yield from _strings(key, (*loc, str(key)))
            yield from _strings(value, (*loc, str(key)))
    elif isinstance(node, list):
        for i, item in enumerate(node):
            yield from _strings(item, (*loc, i))


def _container_problems(container: dict[str, Any], loc: Loc, *, named: bool) -> Iterator[tuple[Loc, str]]:
    """A container's name (in a PodSpec), image, and argv that a process can be started with."""
    if named and (not isinstance(container.get("name"), str) or not container["name"]):
        yield (*loc, "name"), "is required"
    if not isinstance(container.get("image"), str) or not container["image"]:
        yield (*loc, "image"), "is required"
    for key in ("command", "args"):
        value = container.get(key)
        if value is not None and not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
            yield (*loc, key), "must be a list of strings"
    yield from _nul_problems(container, loc)


def _nul_problems(container: dict[str, Any], loc: Loc) -> Iterator[tuple[Loc, str]]:
    """A NUL byte in argv or env: no process can be started with it (Popen raises, execve refuses)."""
    for key in ("command", "args"):
        for j, item in enumerate(container.get(key) or []):
            if isinstance(item, str) and "\x00" in item:
                yield (*loc, key, j), "must not contain a NUL byte (\\x00)"
    for j, env in enumerate(container.get("env") or []):
        for field in ("name", "value"):
            if isinstance(env, dict) and isinstance(env.get(field), str) and "\x00" in env[field]:
                yield (*loc, "env", j, field), "must not contain a NUL byte (\\x00)"
