"""Where the pods of each workload kind are written in its spec: the shapes validation and local mode need.

A trial's template carries any kind's spec. Every PodSpec in it (any object with a ``containers``
list) is a replica kubetune fills in: placeholders, parameter env, parameters file, labels. What
differs by kind is which replica is the primary one (whose log holds the trial's metrics), how
many pods each replica makes (for GPU accounting), where ``suspend`` lives (Kueue), and the odd
kind whose trainer is not a PodSpec at all (TrainJob's ``trainer``, RayJob's ``entrypoint``).
How each kind's *status* reads is the executor's business (executors/workloads/).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from .base import Loc

PodSpecs = list[tuple[Loc, dict[str, Any]]]
"""PodSpecs with their place in the workload's spec."""


def pod_specs(node: object, loc: Loc = ()) -> PodSpecs:
    """Every PodSpec (an object with a ``containers`` list) in ``node``, with its place."""
    found: PodSpecs = []
    if isinstance(node, dict):
        if isinstance(node.get("containers"), list):
            return [(loc, node)]
        for key, value in node.items():
            found += pod_specs(value, (*loc, str(key)))
    elif isinstance(node, list):
        for i, item in enumerate(node):
            found += pod_specs(item, (*loc, i))
    return found


def container_objects(node: object, loc: Loc = ()) -> PodSpecs:
    """For a kind kubetune does not know: every container outside a PodSpec, i.e. a mapping with a
    string ``image`` and something to run (``command``, ``args``, or a ``script``/``source`` text): an
    Argo Workflow template's ``container`` and ``script``, a Tekton task's ``steps``, with its place.
    Their controller makes pods of them. A spec that merely names an image is not one."""
    found: PodSpecs = []
    if isinstance(node, dict):
        if isinstance(node.get("containers"), list):
            return []  # a PodSpec: pod_specs() has it
        if isinstance(node.get("image"), str) and node.keys() & {"command", "args", "script", "source"}:
            return [(loc, node)]
        for key, value in node.items():
            found += container_objects(value, (*loc, str(key)))
    elif isinstance(node, list):
        for i, item in enumerate(node):
            found += container_objects(item, (*loc, i))
    return found


POD_METADATA: dict[tuple[str, str], Loc] = {("argoproj.io/v1alpha1", "Workflow"): ("podMetadata",)}
"""Kinds kubetune does not know whose spec has one place for the labels and annotations of all their
pods (Argo's ``spec.podMetadata``), where the trial's labels go. A Tekton PipelineRun needs none: Tekton
copies a PipelineRun's own labels to its TaskRuns and their pods."""


def _at(node: object, loc: Loc) -> object:
    for key in loc:
        if isinstance(node, dict) and isinstance(key, str):
            node = node.get(key)
        elif isinstance(node, list) and isinstance(key, int) and key < len(node):
            node = node[key]
        else:
            return None
    return node


def _count(value: object, default: int = 1) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else default


@dataclass(frozen=True)
class Kind:
    """What kubetune knows of one workload kind's spec."""

    api_version: str
    kind: str
    plural: str
    primary: Callable[[Mapping[str, Any]], Loc | None]
    """The place of the primary replica's PodSpec in the spec (None: the kind has none)."""
    replicas: Callable[[Mapping[str, Any]], list[tuple[Loc, int]]]
    """Each PodSpec's place and how many pods run from it at once."""
    conditions: tuple[str, str] | None = None
    """The status condition types that say it succeeded and that it failed (true when so); None for a
    kind whose status says it otherwise (RayJob's ``jobDeploymentStatus``)."""
    suspend: tuple[str, ...] | None = ("suspend",)
    """Where the spec's ``suspend`` flag lives (Kueue admits a workload by clearing it)."""
    deadline: tuple[str, ...] | None = ("activeDeadlineSeconds",)
    """Where the spec's active deadline lives: ``trialTimeout`` is written there too."""
    ttl: tuple[str, ...] | None = ("ttlSecondsAfterFinished",)
    """Where the spec's time-to-live after finishing lives: kubetune removes it (and deletes the
    workload itself once the trial is recorded), or a trial's end could be lost."""
    pods_of_jobs: bool = False
    """Whether its pods belong to batch/v1 Jobs, whose pods need ``restartPolicy`` Never or OnFailure."""
    extra_containers: tuple[Loc, ...] = field(default=())
    """Container-like objects outside any PodSpec (TrainJob's ``trainer``)."""
    extra_strings: tuple[Loc, ...] = field(default=())
    """Strings whose placeholders are substituted (RayJob's ``entrypoint``)."""
    one_node_env: Mapping[str, str] = field(default_factory=dict)
    """``kubetune run`` runs the primary replica as one process: the environment its controller would
    give a one-node job, so the trainer's distributed setup (``torch.distributed``) sees a world of one."""
    pod_templates: tuple[str, ...] = ()
    """Every place in the spec where the kind's schema holds a PodSpec that the author writes, as a
    path (:func:`template_path`). The chart's admission policy checks each one (the ServiceAccount the
    pods run as, host access): deploy/render.py writes them into charts/kubetune/files/pod-specs.yaml."""

    @property
    def group(self) -> str:
        """The API group ("" for the core group)."""
        return self.api_version.rpartition("/")[0]

    @property
    def version(self) -> str:
        """The API version without the group."""
        return self.api_version.rpartition("/")[2]


# --- batch/v1 Job ---


def job_pods(spec: Mapping[str, Any]) -> int:
    """The pods a Job's spec runs at once: ``parallelism``, never more than ``completions`` (Kueue's count)."""
    pods = _count(spec.get("parallelism"))
    completions = spec.get("completions")
    return min(pods, _count(completions)) if completions is not None else pods


def _job_replicas(spec: Mapping[str, Any]) -> list[tuple[Loc, int]]:
    return [(("template", "spec"), job_pods(spec))]


JOB = Kind(
    "batch/v1",
    "Job",
    "jobs",
    lambda spec: ("template", "spec"),
    _job_replicas,
    conditions=("Complete", "Failed"),
    pods_of_jobs=True,
    pod_templates=("template.spec",),
)

# --- JobSet (jobset.x-k8s.io): replicatedJobs[i].replicas Jobs of template.spec.parallelism pods each ---


def _jobset_replicas(spec: Mapping[str, Any]) -> list[tuple[Loc, int]]:
    out: list[tuple[Loc, int]] = []
    for i, rjob in enumerate(spec.get("replicatedJobs") or []):
        job_spec = _at(rjob, ("template", "spec"))
        parallelism = job_pods(job_spec) if isinstance(job_spec, dict) else 1
        out.append(
            (("replicatedJobs", i, "template", "spec", "template", "spec"), _count(rjob.get("replicas")) * parallelism)
        )
    return out


JOBSET = Kind(
    "jobset.x-k8s.io/v1alpha2",
    "JobSet",
    "jobsets",
    lambda spec: ("replicatedJobs", 0, "template", "spec", "template", "spec") if spec.get("replicatedJobs") else None,
    _jobset_replicas,
    conditions=("Completed", "Failed"),
    deadline=None,  # a JobSet has none of its own; trialTimeout still stops it
    pods_of_jobs=True,
    one_node_env={"JOB_COMPLETION_INDEX": "0"},  # an Indexed Job's pod 0
    pod_templates=("replicatedJobs[*].template.spec.template.spec",),
)

# --- Kubeflow Training Operator v1 (kubeflow.org/v1): {framework}ReplicaSpecs.{Type}.template ---


def _training_operator(
    kind: str, plural: str, key: str, roles: tuple[str, ...], env: Mapping[str, str] | None = None
) -> Kind:
    """A Training Operator v1 kind; ``roles`` are the replica types that are the master, in order,
    else the first worker (the operator's own IsMasterRole)."""

    def primary(spec: Mapping[str, Any]) -> Loc | None:
        replicas = spec.get(key) or {}
        for role in (*roles, "Worker"):
            if role in replicas:
                return (key, role, "template", "spec")
        return None

    def counts(spec: Mapping[str, Any]) -> list[tuple[Loc, int]]:
        replicas = spec.get(key) or {}
        return [
            ((key, role, "template", "spec"), _count(r.get("replicas")))
            for role, r in replicas.items()
            if isinstance(r, dict)
        ]

    env = env or {}
    return Kind(
        "kubeflow.org/v1",
        kind,
        plural,
        primary,
        counts,
        conditions=("Succeeded", "Failed"),  # pkg/apis/kubeflow.org/v1/common_types.go
        suspend=("runPolicy", "suspend"),
        deadline=("runPolicy", "activeDeadlineSeconds"),
        ttl=("runPolicy", "ttlSecondsAfterFinished"),
        one_node_env=env,
        pod_templates=(f"{key}.*.template.spec",),  # a map: replica type -> replica spec
    )


# What the Training Operator (v1.9.0) sets: pkg/controller.v1/pytorch/envvar.go and master.go
# (MASTER_PORT defaults to PyTorchJobDefaultPort, 23456), xgboost/xgboost.go, tensorflow's TF_CONFIG.
TORCH_ONE_NODE = {
    "MASTER_ADDR": "localhost",
    "MASTER_PORT": "23456",
    "WORLD_SIZE": "1",
    "RANK": "0",
    "NODE_RANK": "0",
    "LOCAL_RANK": "0",
    "PET_NNODES": "1",
    "PET_NODE_RANK": "0",
    "PYTHONUNBUFFERED": "1",
}
PYTORCHJOB = _training_operator("PyTorchJob", "pytorchjobs", "pytorchReplicaSpecs", ("Master",), TORCH_ONE_NODE)
TFJOB = _training_operator(
    "TFJob",
    "tfjobs",
    "tfReplicaSpecs",
    ("Chief", "Master"),
    {"TF_CONFIG": '{"cluster": {"worker": ["localhost:2222"]}, "task": {"type": "worker", "index": 0}}'},
)
MPIJOB = _training_operator("MPIJob", "mpijobs", "mpiReplicaSpecs", ("Launcher",))
XGBOOSTJOB = _training_operator(
    "XGBoostJob",
    "xgboostjobs",
    "xgbReplicaSpecs",
    ("Master",),
    {"MASTER_ADDR": "localhost", "MASTER_PORT": "9999", "WORLD_SIZE": "1", "RANK": "0", "PYTHONUNBUFFERED": "1"},
)

# --- Kubeflow Trainer v2 TrainJob (trainer.kubeflow.org): the runtime holds the pods; spec.trainer overrides ---


def _trainjob_replicas(spec: Mapping[str, Any]) -> list[tuple[Loc, int]]:
    trainer = spec.get("trainer") or {}
    return [(("trainer",), _count(trainer.get("numNodes")))]


TRAINJOB = Kind(
    "trainer.kubeflow.org/v1alpha1",
    "TrainJob",
    "trainjobs",
    lambda spec: None,
    _trainjob_replicas,
    conditions=("Complete", "Failed"),
    ttl=None,
    extra_containers=(("trainer",),),
    # The runtime (an admin's TrainingRuntime) holds the pods; a TrainJob may patch their pod specs
    # (ServiceAccount, volumes, securityContext: kubeflow/trainer's RuntimePatch).
    pod_templates=(
        "runtimePatches[*].trainingRuntimeSpec.template.spec.replicatedJobs[*].template.spec.template.spec",
    ),
    # The torch runtime's torchrun settings (kubeflow/trainer pkg/runtime/framework/plugins/torch).
    one_node_env={
        "PET_NNODES": "1",
        "PET_NPROC_PER_NODE": "1",
        "PET_NODE_RANK": "0",
        "PET_MASTER_ADDR": "localhost",
        "PET_MASTER_PORT": "29500",
        "JOB_COMPLETION_INDEX": "0",
    },
)

# --- KubeRay RayJob (ray.io/v1): a RayCluster (head + worker groups) and a submitter running the entrypoint ---


def _rayjob_replicas(spec: Mapping[str, Any]) -> list[tuple[Loc, int]]:
    cluster = spec.get("rayClusterSpec") or {}
    out: list[tuple[Loc, int]] = [(("rayClusterSpec", "headGroupSpec", "template", "spec"), 1)]
    for i, group in enumerate(cluster.get("workerGroupSpecs") or []):
        pods = _count(group.get("replicas"), _count(group.get("minReplicas"), 0)) * _count(group.get("numOfHosts"))
        out.append((("rayClusterSpec", "workerGroupSpecs", i, "template", "spec"), pods))
    return out


RAYJOB = Kind(
    "ray.io/v1",
    "RayJob",
    "rayjobs",
    lambda spec: ("rayClusterSpec", "headGroupSpec", "template", "spec"),
    _rayjob_replicas,
    extra_strings=(("entrypoint",),),
    pod_templates=(
        "rayClusterSpec.headGroupSpec.template.spec",
        "rayClusterSpec.workerGroupSpecs[*].template.spec",
        "submitterPodTemplate.spec",  # the pod that runs `ray job submit`
    ),
)

BUILTIN: dict[tuple[str, str], Kind] = {
    (k.api_version, k.kind): k for k in (JOB, JOBSET, PYTORCHJOB, TFJOB, MPIJOB, XGBOOSTJOB, TRAINJOB, RAYJOB)
}
"""The kinds kubetune knows: their status, primary pod and replicas need no configuration."""


EACH_ITEM = "[*]"
EACH_VALUE = "*"


def template_path(path: str) -> tuple[str, ...]:
    """A pod-template path as steps: keys, ``[*]`` (each item of a list) and ``*`` (each value of a
    map). ``replicatedJobs[*].template.spec`` -> ``("replicatedJobs", "[*]", "template", "spec")``."""
    steps: list[str] = []
    for part in path.split("."):
        if part == EACH_VALUE:
            steps.append(EACH_VALUE)
        elif part.endswith(EACH_ITEM):
            steps += [part.removesuffix(EACH_ITEM), EACH_ITEM]
        else:
            steps.append(part)
    return tuple(steps)


def templates_at(spec: object, path: str) -> PodSpecs:
    """The objects at a pod-template path in ``spec``, with their places."""
    found: list[tuple[Loc, object]] = [((), spec)]
    for step in template_path(path):
        following: list[tuple[Loc, object]] = []
        for loc, node in found:
            if step == EACH_ITEM and isinstance(node, list):
                following += [((*loc, i), item) for i, item in enumerate(node)]
            elif step == EACH_VALUE and isinstance(node, dict):
                following += [((*loc, str(k)), v) for k, v in node.items()]
            elif step not in (EACH_ITEM, EACH_VALUE) and isinstance(node, dict) and step in node:
                following.append(((*loc, step), node[step]))
        found = following
    return [(loc, node) for loc, node in found if isinstance(node, dict)]


def builtin(api_version: str, kind: str) -> Kind | None:
    """The built-in knowledge of a kind, if any."""
    return BUILTIN.get((api_version, kind))


def at(node: object, loc: Loc) -> object:
    """The value at ``loc`` in a parsed manifest, or None."""
    return _at(node, loc)


def custom_replicas(spec: Mapping[str, Any]) -> Iterator[tuple[Loc, int]]:
    """A kind kubetune does not know: each PodSpec counts once (its replica count is the kind's own)."""
    for loc, _ in pod_specs(spec):
        yield loc, 1
