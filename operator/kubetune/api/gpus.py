"""How many GPUs a trial requests: the one rule, for ``maxGPUHours``, a trial's status and the
operator's metrics.

It is what a quota system counts (a ResourceQuota's ``requests.nvidia.com/gpu``, a Kueue
ClusterQueue's quota): each pod's effective request, times the pods the workload runs at once.

- A container requests its ``resources.requests``, else its ``limits`` (Kubernetes defaults an
  extended resource's request to its limit, and the two must be equal).
- A GPU is any resource named ``VENDOR/gpu`` (``nvidia.com/gpu``, ``amd.com/gpu``); they add up.
- A pod's effective request is Kubernetes' rule (the scheduler's and the quota's): the larger of
  its containers' sum and its largest init container. A sidecar (an init container with
  ``restartPolicy: Always``) keeps running, so it adds to the containers and to the init
  containers that start after it.
- The pods: each replica of the kind (``api.kinds``); a Job runs ``parallelism`` pods, never more
  than ``completions`` (as Kueue counts a Job's pod set).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from . import kinds


def requested(kind: kinds.Kind | None, spec: Mapping[str, Any]) -> int:
    """GPUs a workload's spec requests, summed over its replicas' pods (``kind`` None: a kind
    kubetune does not know, whose every pod template counts once)."""
    replicas = kind.replicas(spec) if kind is not None else list(kinds.custom_replicas(spec))
    total = 0
    for loc, count in replicas:
        node = kinds.at(spec, loc)
        if kind is not None and loc in kind.extra_containers:  # TrainJob: resourcesPerNode of each node
            total += count * (container({"resources": node.get("resourcesPerNode")}) if isinstance(node, dict) else 0)
        elif isinstance(node, Mapping):
            total += count * pod(node)
    return total


def pod(spec: Mapping[str, Any]) -> int:
    """A pod's effective GPU request (Kubernetes' rule, see the module's docstring)."""
    containers = sum(container(c) for c in _list(spec.get("containers")))
    sidecars = 0
    largest_init = 0
    for init in _list(spec.get("initContainers")):
        if init.get("restartPolicy") == "Always":
            sidecars += container(init)
            largest_init = max(largest_init, sidecars)
        else:
            largest_init = max(largest_init, container(init) + sidecars)
    return max(containers + sidecars, largest_init)


def container(spec: Mapping[str, Any]) -> int:
    """GPUs one container requests: its requests, else its limits, of every ``VENDOR/gpu`` resource."""
    resources = spec.get("resources")
    if not isinstance(resources, Mapping):
        return 0
    for key in ("requests", "limits"):
        amounts = resources.get(key)
        found = [v for k, v in amounts.items() if str(k).endswith("/gpu")] if isinstance(amounts, Mapping) else []
        if found:
            return sum(_whole(v) for v in found)
    return 0


def _whole(value: object) -> int:
    """A quantity of GPUs; not a whole number (the API server refuses it for an extended resource): 0."""
    text = str(value)
    return int(text) if text.isdigit() else 0


def _list(value: object) -> list[Mapping[str, Any]]:
    return [c for c in value if isinstance(c, Mapping)] if isinstance(value, list) else []
