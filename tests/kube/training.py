"""Emulated controllers of the distributed training workloads, and a Kueue-like admission step.

Each behaves as its project's controller does in what an HPO operator relies on, as read from the
sources (the kubetune modules in operator/kubetune/executors/workload/ cite the files):
- JobSet (kubernetes-sigs/jobset): child Jobs ``<jobset>-<rjob>-<i>`` labelled and annotated with
  jobset-name, jobset-uid, replicatedjob-name, job-index; ``Completed`` (AllJobsCompleted) when every
  Job completed, ``Failed`` (FailedJobs) as soon as one failed; ``suspend`` suspends the Jobs.
- Training Operator v1 kinds (kubeflow/training-operator v1.9.0): pods ``<job>-<type>-<i>`` owned by
  the job, labelled job-name, operator-name, replica-type (lowercased), replica-index, job-role=master
  for the master role; PyTorchJob env MASTER_ADDR/MASTER_PORT/WORLD_SIZE/RANK; conditions Created,
  Running, Succeeded (the master's pod succeeded, else every worker), Failed (a replica failed with
  restartPolicy Never); ``runPolicy.suspend`` deletes the pods and sets Suspended.
- TrainJob (kubeflow/trainer): a JobSet of the same name with one replicated Job ``node`` (Indexed,
  numNodes pods, container ``node``), its Completed/Failed copied as Complete/Failed.
- RayJob (ray-project/kuberay, K8sJobMode): a RayCluster with a head pod and worker pods, and a
  submitter Job named as the RayJob (container ``ray-job-submitter``) whose end decides
  jobDeploymentStatus Complete/SUCCEEDED or Failed/FAILED (reason AppFailed).
- Argo Workflow (argoproj/argo-workflows), simplified: one pod per template with a ``container`` or
  ``script``, all at once (no steps, DAG or ``{{...}}`` outputs), its container named ``main``, labelled
  ``workflows.argoproj.io/workflow`` and with ``spec.podMetadata`` and the template's ``metadata``;
  ``status.phase`` Running, then Succeeded, or Failed when a pod failed.
- Tekton PipelineRun (tektoncd/pipeline), simplified: one pod per task of ``pipelineSpec``, a container
  ``step-NAME`` per step, carrying the PipelineRun's labels (Tekton propagates them) and
  ``tekton.dev/pipelineTask``; condition ``Succeeded`` Unknown, then True or False.
- Kueue (kubernetes-sigs/kueue, once ``install_kueue`` is called): its webhooks create workloads
  labelled ``kueue.x-k8s.io/queue-name`` suspended; they are admitted (unsuspended) in creation order
  while the queue's quota of admitted workloads allows; ``preempt`` suspends one again, as an
  eviction does.
"""

from __future__ import annotations

import asyncio
import copy
import logging
from collections.abc import Mapping
from typing import Any

from tests.kube import resources as r
from tests.kube.errors import ApiError
from tests.kube.store import Change, Obj, Store, timestamp

logger = logging.getLogger(__name__)

QUEUE_LABEL = "kueue.x-k8s.io/queue-name"
JOBSET = ("jobset.x-k8s.io", "jobsets")
TRAINJOB = ("trainer.kubeflow.org", "trainjobs")
RAYJOB = ("ray.io", "rayjobs")
RAYCLUSTER = ("ray.io", "rayclusters")
SWEEP = ("example.com", "sweeps")
WORKFLOW = ("argoproj.io", "workflows")
PIPELINERUN = ("tekton.dev", "pipelineruns")
"""A made-up kind, for kinds kubetune knows only through CEL: spec.workers[i] = {role, template}."""
TRAINING_OPERATOR = {
    "pytorchjobs": ("PyTorchJob", "pytorchReplicaSpecs", ("Master",)),
    "tfjobs": ("TFJob", "tfReplicaSpecs", ("Chief", "Master")),
    "mpijobs": ("MPIJob", "mpiReplicaSpecs", ("Launcher",)),
    "xgboostjobs": ("XGBoostJob", "xgbReplicaSpecs", ("Master",)),
}
MANAGED = {
    JOBSET,
    TRAINJOB,
    RAYJOB,
    SWEEP,
    WORKFLOW,
    PIPELINERUN,
    *(("kubeflow.org", plural) for plural in TRAINING_OPERATOR),
}
SUSPEND_PATHS: dict[tuple[str, str], tuple[str, ...]] = {
    ("batch", "jobs"): ("suspend",),
    JOBSET: ("suspend",),
    TRAINJOB: ("suspend",),
    RAYJOB: ("suspend",),
    **{("kubeflow.org", plural): ("runPolicy", "suspend") for plural in TRAINING_OPERATOR},
}


def _owner(obj: Mapping[str, Any], uid: str, api_version: str, kind: str, name: str) -> None:
    obj.setdefault("metadata", {})["ownerReferences"] = [
        {
            "apiVersion": api_version,
            "kind": kind,
            "name": name,
            "uid": uid,
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]


def _condition(status: dict[str, Any], kind: str, value: str, reason: str, message: str) -> None:
    conditions = status.setdefault("conditions", [])
    for c in conditions:
        if c["type"] == kind:
            if c["status"] != value:
                c["lastTransitionTime"] = timestamp()
            c.update(status=value, reason=reason, message=message)
            return
    conditions.append(
        {"type": kind, "status": value, "reason": reason, "message": message, "lastTransitionTime": timestamp()}
    )


def _true(obj: Mapping[str, Any], kind: str) -> bool:
    return any(c["type"] == kind and c["status"] == "True" for c in (obj.get("status") or {}).get("conditions") or ())


def _get(node: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        node = node.get(key) if isinstance(node, dict) else None
    return node


class TrainingControllers:
    """JobSet, Training Operator, TrainJob and RayJob controllers, and Kueue admission, on the emulator's loop."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.kueue = False
        """Whether Kueue is installed (``install_kueue``): without it, labelled workloads run as they are."""
        self.queue_quota: int | None = None
        """Workloads a queue admits at once; None: unlimited."""
        self._queue: asyncio.Queue[tuple[str, str, str, str]] = asyncio.Queue()
        self._pending: set[tuple[str, str, str, str]] = set()
        self.admitted: list[str] = []
        """Names of workloads Kueue admitted, in order (a requeued one appears again)."""
        store.listeners.append(self._on_change)

    def _type(self, group: str, plural: str) -> r.ResourceType | None:
        return next((rt for rt in self.store.types if rt.group == group and rt.plural == plural), None)

    def _on_change(self, change: Change) -> None:
        key = change.rt.storage_key
        meta = change.obj["metadata"]
        if self.kueue and key in SUSPEND_PATHS and QUEUE_LABEL in (meta.get("labels") or {}):
            self.enqueue("kueue", "", meta["namespace"], "")
        if key in MANAGED and change.type != "DELETED":
            self.enqueue(key[0], key[1], meta["namespace"], meta["name"])
        # A child changed: its managing owner (up the controller chain) has work to do.
        owner = self._managed_owner(change.obj)
        if owner is not None:
            self.enqueue(*owner)

    def _managed_owner(self, obj: Mapping[str, Any]) -> tuple[str, str, str, str] | None:
        for _ in range(4):
            ref = next((x for x in obj["metadata"].get("ownerReferences") or () if x.get("controller")), None)
            if ref is None:
                return None
            parent = self.store.by_uid(ref["uid"])
            if parent is None:
                return None
            rt = self.store.type_for(parent["apiVersion"], parent["kind"])
            if rt is not None and rt.storage_key in MANAGED:
                return (rt.group, rt.plural, parent["metadata"]["namespace"], parent["metadata"]["name"])
            obj = parent
        return None

    def enqueue(self, group: str, plural: str, namespace: str, name: str) -> None:
        key = (group, plural, namespace, name)
        if key not in self._pending:
            self._pending.add(key)
            self._queue.put_nowait(key)

    async def run(self) -> None:
        while True:
            key = await self._queue.get()
            self._pending.discard(key)
            try:
                self.sync(*key)
            except ApiError as e:
                if e.code not in (404, 409):
                    logger.exception("emulated training controller failed on %s", key)
            except Exception:
                logger.exception("emulated training controller failed on %s", key)

    def sync(self, group: str, plural: str, namespace: str, name: str) -> None:
        if group == "kueue":
            self._admit(namespace)
            return
        rt = self._type(group, plural)
        obj = self.store.peek(rt, namespace, name) if rt is not None else None
        if rt is None or obj is None or obj["metadata"].get("deletionTimestamp"):
            return
        if (group, plural) == JOBSET:
            self._jobset(rt, obj)
        elif (group, plural) == TRAINJOB:
            self._trainjob(rt, obj)
        elif (group, plural) == RAYJOB:
            self._rayjob(rt, obj)
        elif (group, plural) == SWEEP:
            self._sweep(rt, obj)
        elif (group, plural) == WORKFLOW:
            self._workflow(rt, obj)
        elif (group, plural) == PIPELINERUN:
            self._pipelinerun(rt, obj)
        else:
            self._training_operator(rt, obj, *TRAINING_OPERATOR[plural])

    # --- helpers ---

    def _children(self, rt: r.ResourceType, owner: Obj) -> list[Obj]:
        uid = owner["metadata"]["uid"]
        return [
            o
            for o in self.store.iter_objects(rt, owner["metadata"]["namespace"])
            if any(ref.get("uid") == uid for ref in o["metadata"].get("ownerReferences") or ())
        ]

    def _status(self, rt: r.ResourceType, obj: Obj, status: dict[str, Any]) -> None:
        if status != (obj.get("status") or {}):
            meta = obj["metadata"]
            self.store.update(
                rt, meta["namespace"], meta["name"], lambda o: o.update(status=status), "status", system=True
            )

    def _create(self, rt: r.ResourceType, namespace: str, body: dict[str, Any]) -> None:
        try:
            self.store.create(rt, namespace, body)
        except ApiError as e:
            if e.code != 409:
                raise

    def _delete(self, rt: r.ResourceType, obj: Obj) -> None:
        try:
            self.store.delete(rt, obj["metadata"]["namespace"], obj["metadata"]["name"], propagation="Background")
        except ApiError as e:
            if e.code != 404:
                raise

    def _set_suspend(self, rt: r.ResourceType, obj: Obj, path: tuple[str, ...], value: bool) -> None:
        def mutate(o: Obj) -> None:
            node = o.setdefault("spec", {})
            for key in path[:-1]:
                node = node.setdefault(key, {})
            node[path[-1]] = value

        if bool(_get(obj.get("spec"), path)) != value:
            self.store.update(rt, obj["metadata"]["namespace"], obj["metadata"]["name"], mutate, system=True)

    # --- JobSet ---

    def _jobset(self, rt: r.ResourceType, js: Obj) -> None:
        meta, spec = js["metadata"], js["spec"]
        status: dict[str, Any] = copy.deepcopy(js.get("status") or {})
        if status.get("terminalState"):
            return
        suspended = bool(spec.get("suspend"))
        jobs = {j["metadata"]["name"]: j for j in self._children(r.JOBS, js)}
        wanted = 0
        for rjob in spec.get("replicatedJobs") or []:
            for index in range(rjob.get("replicas", 1)):
                wanted += 1
                name = f"{meta['name']}-{rjob['name']}-{index}"
                if name in jobs:
                    if bool(jobs[name]["spec"].get("suspend")) != suspended:
                        self._set_suspend(r.JOBS, jobs[name], ("suspend",), suspended)
                    continue
                tags = {
                    "jobset.sigs.k8s.io/jobset-name": meta["name"],
                    "jobset.sigs.k8s.io/jobset-uid": meta["uid"],
                    "jobset.sigs.k8s.io/replicatedjob-name": rjob["name"],
                    "jobset.sigs.k8s.io/job-index": str(index),
                }
                template = copy.deepcopy(rjob["template"])
                job_meta = template.get("metadata") or {}
                pod_meta = template["spec"]["template"].setdefault("metadata", {})
                pod_meta["labels"] = {**(pod_meta.get("labels") or {}), **tags}
                pod_meta["annotations"] = {**(pod_meta.get("annotations") or {}), **tags}
                job = {
                    "apiVersion": "batch/v1",
                    "kind": "Job",
                    "metadata": {
                        "name": name,
                        "labels": {**(job_meta.get("labels") or {}), **tags},
                        "annotations": {**(job_meta.get("annotations") or {}), **tags},
                    },
                    "spec": {**template["spec"], "suspend": suspended},
                }
                _owner(job, meta["uid"], js["apiVersion"], "JobSet", meta["name"])
                self._create(r.JOBS, meta["namespace"], job)
        if suspended:
            _condition(status, "Suspended", "True", "SuspendedJobs", "jobset is suspended")
        elif _true(js, "Suspended"):
            _condition(status, "Suspended", "False", "ResumeJobs", "jobset is resumed")
        if any(_true(j, "Failed") for j in jobs.values()):
            _condition(status, "Failed", "True", "FailedJobs", "jobset failed due to one or more job failures")
            status["terminalState"] = "Failed"
            for job in jobs.values():
                if not _true(job, "Complete") and not _true(job, "Failed"):
                    self._delete(r.JOBS, job)
        elif wanted and len(jobs) == wanted and all(_true(j, "Complete") for j in jobs.values()):
            _condition(status, "Completed", "True", "AllJobsCompleted", "jobset completed successfully")
            status["terminalState"] = "Completed"
        status["restarts"] = status.get("restarts", 0)
        self._status(rt, js, status)

    # --- Training Operator v1 ---

    def _training_operator(self, rt: r.ResourceType, job: Obj, kind: str, key: str, roles: tuple[str, ...]) -> None:
        meta, spec = job["metadata"], job["spec"]
        status: dict[str, Any] = copy.deepcopy(job.get("status") or {})
        if _true(job, "Succeeded") or _true(job, "Failed"):
            return
        replicas: dict[str, Any] = spec.get(key) or {}
        master = next((role for role in roles if role in replicas), None)
        pods = {p["metadata"]["name"]: p for p in self._children(r.PODS, job)}
        if not status.get("conditions"):
            _condition(status, "Created", "True", f"{kind}Created", f"{kind} {meta['name']} is created.")
        if _get(spec, ("runPolicy", "suspend")):
            for pod in pods.values():
                self._delete(r.PODS, pod)
            _condition(status, "Suspended", "True", f"{kind}Suspended", f"{kind} {meta['name']} is suspended.")
            _condition(status, "Running", "False", f"{kind}Suspended", f"{kind} {meta['name']} is suspended.")
            status.pop("startTime", None)
            self._status(rt, job, status)
            return
        if _true(job, "Suspended"):
            _condition(status, "Suspended", "False", f"{kind}Resumed", f"{kind} {meta['name']} is resumed.")
        status.setdefault("startTime", timestamp())
        total = sum(int(s.get("replicas", 1)) for s in replicas.values())
        phases: dict[str, list[str]] = {}
        for rtype, rspec in replicas.items():
            for index in range(int(rspec.get("replicas", 1))):
                name = f"{meta['name']}-{rtype.lower()}-{index}"
                pod = pods.get(name)
                if pod is None:
                    self._create(
                        r.PODS, meta["namespace"], self._replica_pod(job, kind, rtype, rspec, index, master, total)
                    )
                    phases.setdefault(rtype, []).append("Pending")
                else:
                    phases.setdefault(rtype, []).append((pod.get("status") or {}).get("phase", "Pending"))
        status["replicaStatuses"] = {
            rtype: {k: n for k, n in (("active", p.count("Running")), ("succeeded", p.count("Succeeded")),
                                       ("failed", p.count("Failed"))) if n}
            for rtype, p in phases.items()
        }  # fmt: skip
        done_role = master or "Worker"
        if done_role in phases and (
            phases[done_role].count("Succeeded") == len(phases[done_role])
            if master is None
            else "Succeeded" in phases[done_role]
        ):
            message = f"{kind} {meta['namespace']}/{meta['name']} successfully completed."
            _condition(status, "Running", "False", f"{kind}Succeeded", message)
            _condition(status, "Succeeded", "True", f"{kind}Succeeded", message)
            status["completionTime"] = timestamp()
            for pod in pods.values():  # the default cleanPodPolicy (None) keeps finished pods; running ones go
                if (pod.get("status") or {}).get("phase") == "Running":
                    self._delete(r.PODS, pod)
        elif failed := [t for t, p in phases.items() if "Failed" in p]:
            message = f"{kind} {meta['name']} is failed because 1 {failed[0]} replica(s) failed."
            _condition(status, "Running", "False", f"{kind}Failed", message)
            _condition(status, "Failed", "True", f"{kind}Failed", message)
            status["completionTime"] = timestamp()
            for pod in pods.values():
                if (pod.get("status") or {}).get("phase") == "Running":
                    self._delete(r.PODS, pod)
        elif any("Running" in p for p in phases.values()):
            _condition(status, "Running", "True", f"{kind}Running", f"{kind} {meta['name']} is running.")
        self._status(rt, job, status)

    def _replica_pod(
        self, job: Obj, kind: str, rtype: str, rspec: Mapping[str, Any], index: int, master: str | None, total: int
    ) -> dict[str, Any]:
        meta = job["metadata"]
        template = copy.deepcopy(rspec["template"])
        labels = {
            **(template.get("metadata") or {}).get("labels", {}),
            "training.kubeflow.org/operator-name": f"{kind.lower()}-controller",
            "training.kubeflow.org/job-name": meta["name"],
            "training.kubeflow.org/replica-type": rtype.lower(),
            "training.kubeflow.org/replica-index": str(index),
        }
        if rtype == master or (master is None and rtype == "Worker" and index == 0):
            labels["training.kubeflow.org/job-role"] = "master"
        pod_spec = template["spec"]
        pod_spec["restartPolicy"] = rspec.get("restartPolicy", "Never")
        if kind == "PyTorchJob" and master is not None:
            rank = index + (1 if rtype == "Worker" else 0)
            extra = {"PYTHONUNBUFFERED": "1", "MASTER_PORT": "23456", "MASTER_ADDR": f"{meta['name']}-master-0",
                     "WORLD_SIZE": str(total), "RANK": str(rank)}  # fmt: skip
            for container in pod_spec["containers"]:
                container["env"] = [*(container.get("env") or []), *({"name": k, "value": v} for k, v in extra.items())]
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": f"{meta['name']}-{rtype.lower()}-{index}",
                "labels": labels,
                "annotations": (template.get("metadata") or {}).get("annotations", {}),
            },
            "spec": pod_spec,
        }
        _owner(pod, meta["uid"], job["apiVersion"], kind, meta["name"])
        return pod

    # --- TrainJob ---

    def _trainjob(self, rt: r.ResourceType, tj: Obj) -> None:
        meta, spec = tj["metadata"], tj["spec"]
        js_rt = self._type(*JOBSET)
        if js_rt is None:
            return
        status: dict[str, Any] = copy.deepcopy(tj.get("status") or {})
        suspended = bool(spec.get("suspend"))
        jobset = self.store.peek(js_rt, meta["namespace"], meta["name"])
        if jobset is None:
            trainer = spec.get("trainer") or {}
            nodes = int(trainer.get("numNodes", 1))
            container: dict[str, Any] = {"name": "node", "image": trainer.get("image", "runtime/torch:default")}
            for field in ("command", "args", "env"):
                if field in trainer:
                    container[field] = trainer[field]
            if "resourcesPerNode" in trainer:
                container["resources"] = trainer["resourcesPerNode"]
            body = {
                "apiVersion": "jobset.x-k8s.io/v1alpha2",
                "kind": "JobSet",
                "metadata": {"name": meta["name"]},
                "spec": {
                    "suspend": suspended,
                    "replicatedJobs": [
                        {
                            "name": "node",
                            "replicas": 1,
                            "template": {
                                "metadata": {"labels": {"trainer.kubeflow.org/trainjob-ancestor-step": "trainer"}},
                                "spec": {
                                    "parallelism": nodes,
                                    "completions": nodes,
                                    "completionMode": "Indexed",
                                    "backoffLimit": 0,
                                    "template": {"spec": {"restartPolicy": "Never", "containers": [container]}},
                                },
                            },
                        }
                    ],
                },
            }
            _owner(body, meta["uid"], tj["apiVersion"], "TrainJob", meta["name"])
            self._create(js_rt, meta["namespace"], body)
            return
        self._set_suspend(js_rt, jobset, ("suspend",), suspended)
        for source, target in (("Completed", "Complete"), ("Failed", "Failed"), ("Suspended", "Suspended")):
            condition = next(
                (c for c in (jobset.get("status") or {}).get("conditions") or () if c["type"] == source), None
            )
            if condition is not None:
                _condition(status, target, condition["status"], condition["reason"], condition["message"])
        self._status(rt, tj, status)

    # --- RayJob ---

    def _rayjob(self, rt: r.ResourceType, rj: Obj) -> None:
        meta, spec = rj["metadata"], rj["spec"]
        status: dict[str, Any] = copy.deepcopy(rj.get("status") or {})
        if status.get("jobDeploymentStatus") in ("Complete", "Failed"):
            return
        cluster_rt = self._type(*RAYCLUSTER)
        clusters = self._children(cluster_rt, rj) if cluster_rt is not None else []
        submitters = [j for j in self._children(r.JOBS, rj) if j["metadata"]["name"] == meta["name"]]
        if spec.get("suspend"):
            for obj in [*submitters]:
                self._delete(r.JOBS, obj)
            for obj in clusters:
                if cluster_rt is not None:
                    self._delete(cluster_rt, obj)
            status.update(jobDeploymentStatus="Suspended", jobStatus="")
            self._status(rt, rj, status)
            return
        cluster_name = f"{meta['name']}-raycluster"
        status.setdefault("startTime", timestamp())
        status["rayClusterName"] = cluster_name
        if not clusters and cluster_rt is not None:
            body = {"apiVersion": "ray.io/v1", "kind": "RayCluster", "metadata": {"name": cluster_name},
                    "spec": copy.deepcopy(spec.get("rayClusterSpec") or {})}  # fmt: skip
            _owner(body, meta["uid"], rj["apiVersion"], "RayJob", meta["name"])
            self._create(cluster_rt, meta["namespace"], body)
            status.update(jobDeploymentStatus="Initializing")
            self._status(rt, rj, status)
            return
        for cluster in clusters:
            self._raycluster_pods(cluster)
        if not submitters:
            head = (spec.get("rayClusterSpec") or {}).get("headGroupSpec", {}).get("template", {}).get("spec", {})
            image = (head.get("containers") or [{}])[0].get("image", "rayproject/ray")
            template = copy.deepcopy(spec.get("submitterPodTemplate")) or {
                "spec": {"restartPolicy": "Never", "containers": [{"name": "ray-job-submitter", "image": image}]}
            }
            for container in template["spec"]["containers"]:
                if not container.get("command"):
                    container["command"] = ["ray", "job", "submit", "--address", f"http://{cluster_name}-head-svc:8265",
                                            "--", *str(spec.get("entrypoint", "")).split()]  # fmt: skip
            body = {"apiVersion": "batch/v1", "kind": "Job",
                    "metadata": {"name": meta["name"], "labels": {"ray.io/originated-from-cr-name": meta["name"],
                                                                  "ray.io/originated-from-crd": "RayJob"}},
                    "spec": {"backoffLimit": 0, "template": template}}  # fmt: skip
            _owner(body, meta["uid"], rj["apiVersion"], "RayJob", meta["name"])
            self._create(r.JOBS, meta["namespace"], body)
            status.update(jobDeploymentStatus="Running", jobStatus="PENDING", jobId=f"{meta['name']}-job")
        else:
            submitter = submitters[0]
            if _true(submitter, "Complete"):
                status.update(jobDeploymentStatus="Complete", jobStatus="SUCCEEDED", endTime=timestamp(), succeeded=1)
            elif _true(submitter, "Failed"):
                status.update(jobDeploymentStatus="Failed", jobStatus="FAILED", endTime=timestamp(), failed=1,
                              reason="AppFailed", message="Ray job failed.")  # fmt: skip
            elif (submitter.get("status") or {}).get("active"):
                status.update(jobDeploymentStatus="Running", jobStatus="RUNNING")
            if status.get("jobDeploymentStatus") in ("Complete", "Failed") and spec.get("shutdownAfterJobFinishes"):
                for cluster in clusters:
                    if cluster_rt is not None:
                        self._delete(cluster_rt, cluster)
        self._status(rt, rj, status)

    def _raycluster_pods(self, cluster: Obj) -> None:
        meta, spec = cluster["metadata"], cluster["spec"]
        have = {p["metadata"]["name"] for p in self._children(r.PODS, cluster)}
        groups = [("head", "headgroup", spec.get("headGroupSpec") or {}, 1)]
        groups += [("worker", g.get("groupName", "workers"), g, int(g.get("replicas", g.get("minReplicas", 0))))
                   for g in spec.get("workerGroupSpecs") or []]  # fmt: skip
        for node_type, group, gspec, count in groups:
            for i in range(count):
                name = f"{meta['name']}-{node_type}" if node_type == "head" else f"{meta['name']}-{group}-worker-{i}"
                if name in have:
                    continue
                template = copy.deepcopy(gspec.get("template") or {})
                labels = {**(template.get("metadata") or {}).get("labels", {}), "ray.io/cluster": meta["name"],
                          "ray.io/node-type": node_type, "ray.io/group": group}  # fmt: skip
                # Ray's nodes run until the cluster goes; the emulated kubelet runs them like any pod.
                pod_spec = {**template.get("spec", {}), "restartPolicy": "Never"}
                pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": labels},
                       "spec": pod_spec}  # fmt: skip
                _owner(pod, meta["uid"], cluster["apiVersion"], "RayCluster", meta["name"])
                self._create(r.PODS, meta["namespace"], pod)

    # --- the made-up Sweep: one pod per worker, status.phase Running, Succeeded or Failed ---

    def _sweep(self, rt: r.ResourceType, sweep: Obj) -> None:
        meta = sweep["metadata"]
        status: dict[str, Any] = copy.deepcopy(sweep.get("status") or {})
        if status.get("phase") in ("Succeeded", "Failed"):
            return
        pods = {p["metadata"]["name"]: p for p in self._children(r.PODS, sweep)}
        phases = []
        for i, worker in enumerate(sweep["spec"].get("workers") or []):
            name = f"{meta['name']}-{worker['role']}-{i}"
            if name not in pods:
                template = copy.deepcopy(worker["template"])
                labels = {**(template.get("metadata") or {}).get("labels", {}), "example.com/role": worker["role"]}
                pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": labels},
                       "spec": {**template["spec"], "restartPolicy": "Never"}}  # fmt: skip
                _owner(pod, meta["uid"], sweep["apiVersion"], "Sweep", meta["name"])
                self._create(r.PODS, meta["namespace"], pod)
                phases.append("Pending")
            else:
                phases.append((pods[name].get("status") or {}).get("phase", "Pending"))
        if "Failed" in phases:
            status["phase"] = "Failed"
        elif phases and all(p == "Succeeded" for p in phases):
            status["phase"] = "Succeeded"
        elif "Running" in phases:
            status["phase"] = "Running"
        self._status(rt, sweep, status)

    # --- Argo Workflow and Tekton PipelineRun, simplified (see the module's docstring) ---

    def _pod_phases(self, owner: Obj, pods: list[tuple[str, dict[str, Any], dict[str, Any]]]) -> list[str]:
        """Create the missing pods (name, labels, spec) owned by ``owner``; the phases of those that exist."""
        meta = owner["metadata"]
        existing = {p["metadata"]["name"]: p for p in self._children(r.PODS, owner)}
        phases = []
        for name, labels, spec in pods:
            if name in existing:
                phases.append((existing[name].get("status") or {}).get("phase", "Pending"))
                continue
            pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": labels},
                   "spec": {**spec, "restartPolicy": "Never"}}  # fmt: skip
            _owner(pod, meta["uid"], owner["apiVersion"], owner["kind"], meta["name"])
            self._create(r.PODS, meta["namespace"], pod)
            phases.append("Pending")
        return phases

    def _workflow(self, rt: r.ResourceType, wf: Obj) -> None:
        meta, spec = wf["metadata"], wf["spec"]
        status: dict[str, Any] = copy.deepcopy(wf.get("status") or {})
        if status.get("phase") in ("Succeeded", "Failed", "Error"):
            return
        common = {
            **((spec.get("podMetadata") or {}).get("labels") or {}),
            "workflows.argoproj.io/workflow": meta["name"],
        }
        pods = []
        for template in spec.get("templates") or []:
            container = template.get("container") or template.get("script")
            if container is None:
                continue
            labels = {**common, **((template.get("metadata") or {}).get("labels") or {})}
            main = {k: container[k] for k in ("image", "command", "args", "env") if k in container}
            pods.append((f"{meta['name']}-{template['name']}", labels, {"containers": [{"name": "main", **main}]}))
        phases = self._pod_phases(wf, pods)
        if "Failed" in phases:
            status["phase"] = "Failed"
        elif phases and all(p == "Succeeded" for p in phases):
            status["phase"] = "Succeeded"
        else:
            status["phase"] = "Running"
        if status["phase"] != "Running":
            status["finishedAt"] = timestamp()  # as Argo stamps the end (with startedAt, not emulated)
        self._status(rt, wf, status)

    def _pipelinerun(self, rt: r.ResourceType, run: Obj) -> None:
        meta, spec = run["metadata"], run["spec"]
        status: dict[str, Any] = copy.deepcopy(run.get("status") or {})
        if any(c.get("type") == "Succeeded" and c.get("status") != "Unknown" for c in status.get("conditions") or []):
            return
        pods = []
        for task in (spec.get("pipelineSpec") or {}).get("tasks") or []:
            labels = {**(meta.get("labels") or {}), "tekton.dev/pipelineTask": task["name"]}
            steps = (task.get("taskSpec") or {}).get("steps") or []
            containers = [
                {"name": f"step-{s['name']}", **{k: s[k] for k in ("image", "command", "args", "env") if k in s}}
                for s in steps
            ]
            pods.append((f"{meta['name']}-{task['name']}-pod", labels, {"containers": containers}))
        phases = self._pod_phases(run, pods)
        if "Failed" in phases:
            value = "False"
        elif phases and all(p == "Succeeded" for p in phases):
            value = "True"
        else:
            value = "Unknown"
        condition = {"type": "Succeeded", "status": value, "reason": {"True": "Succeeded"}.get(value, "Running")}
        old = next((c for c in status.get("conditions") or [] if c.get("type") == "Succeeded"), {})
        changed = old.get("status") != value
        condition["lastTransitionTime"] = timestamp() if changed else old.get("lastTransitionTime", timestamp())
        status["conditions"] = [condition]
        if value != "Unknown":
            status["completionTime"] = timestamp()
        self._status(rt, run, status)

    # --- Kueue ---

    def install_kueue(self, quota: int | None = None) -> None:
        """Emulate Kueue: its webhook creates labelled workloads suspended, its controller admits them."""
        self.kueue, self.queue_quota = True, quota
        self.store.admission.append(self._suspend_on_create)

    def _suspend_on_create(self, rt: r.ResourceType, obj: Obj) -> None:
        """Kueue's job webhooks: a workload with a queue name is created suspended (it runs once admitted)."""
        path = SUSPEND_PATHS.get(rt.storage_key)
        if path is None or QUEUE_LABEL not in (obj.get("metadata", {}).get("labels") or {}):
            return
        node = obj.setdefault("spec", {})
        for key in path[:-1]:
            node = node.setdefault(key, {})
        node[path[-1]] = True

    def _queued_workloads(self, namespace: str) -> list[tuple[r.ResourceType, Obj, tuple[str, ...]]]:
        found = []
        for key, path in SUSPEND_PATHS.items():
            rt = self._type(*key)
            if rt is None:
                continue
            for obj in self.store.iter_objects(rt, namespace):
                if QUEUE_LABEL in (obj["metadata"].get("labels") or {}) and not obj["metadata"].get(
                    "deletionTimestamp"
                ):
                    found.append((rt, obj, path))
        return sorted(found, key=lambda f: (f[1]["metadata"]["creationTimestamp"], f[1]["metadata"]["name"]))

    def _finished(self, obj: Obj) -> bool:
        status = obj.get("status") or {}
        return any(_true(obj, t) for t in ("Complete", "Completed", "Succeeded", "Failed")) or status.get(
            "jobDeploymentStatus"
        ) in ("Complete", "Failed")

    def _admit(self, namespace: str) -> None:
        """Admit suspended queued workloads in creation order while the quota allows."""
        workloads = [w for w in self._queued_workloads(namespace) if not self._finished(w[1])]
        running = sum(1 for _, obj, path in workloads if not _get(obj.get("spec"), path))
        for rt, obj, path in workloads:
            if not _get(obj.get("spec"), path):
                continue
            if obj["metadata"].get("annotations", {}).get("emulator/evicted"):
                continue  # preempted: waits until the test lets it back in
            if self.queue_quota is not None and running >= self.queue_quota:
                return
            self._set_suspend(rt, obj, path, False)
            self.admitted.append(obj["metadata"]["name"])
            running += 1

    def preempt(self, api_version: str, kind: str, namespace: str, name: str, *, hold: bool = False) -> None:
        """Evict an admitted workload as Kueue's preemption does: suspend it again (``hold``: and keep it out)."""
        rt = self.store.type_for(api_version, kind)
        assert rt is not None
        obj = self.store.get(rt, namespace, name)
        path = SUSPEND_PATHS[rt.storage_key]

        def evict(o: Obj) -> None:
            node = o.setdefault("spec", {})
            for key in path[:-1]:
                node = node.setdefault(key, {})
            node[path[-1]] = True
            if hold:
                o["metadata"].setdefault("annotations", {})["emulator/evicted"] = "true"

        self.store.update(rt, namespace, obj["metadata"]["name"], evict, system=True)

    def release(self, api_version: str, kind: str, namespace: str, name: str) -> None:
        """Let a held workload be admitted again."""
        rt = self.store.type_for(api_version, kind)
        assert rt is not None

        def unhold(o: Obj) -> None:
            o["metadata"].get("annotations", {}).pop("emulator/evicted", None)

        self.store.update(rt, namespace, name, unhold, system=True)
