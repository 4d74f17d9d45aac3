"""The operator's options: from ``kubetune operator`` flags or the Deployment's environment, read once as it starts."""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass, field

from ..executors.client import own_namespace
from ..executors.workload import DEFAULT_KINDS

WORKLOAD_KINDS_ENV = "KUBETUNE_WORKLOAD_KINDS"
"""The workload kinds to manage (the chart's ``workloadKinds``), as ``Kind.group``, comma-separated."""


@dataclass
class Options:
    """How the operator runs; from ``kubetune operator`` flags or the environment."""

    leader_election: bool = True
    lease_name: str = "kubetune-operator"
    lease_namespace: str | None = None
    """Where the Lease is: the operator's own namespace (None: unknown, the operator refuses to start)."""
    follow_seconds: float = 5.0
    """While early stopping needs intermediate metrics: seconds between two reads of a running trial's log."""
    identity: str = field(default_factory=lambda: os.environ.get("POD_NAME") or f"kubetune-{uuid.uuid4().hex[:8]}")
    workload_kinds: frozenset[str] = DEFAULT_KINDS
    """The workload kinds to manage, as ``Kind.group`` (the chart's ``workloadKinds``)."""
    namespaces: tuple[str, ...] = ()
    """The namespaces the operator serves; empty: the whole cluster (or not told: then its access to a
    workload kind is checked cluster-wide)."""

    @classmethod
    def from_env(
        cls, *, leader_election: bool | None = None, lease_name: str | None = None, lease_namespace: str | None = None
    ) -> Options:
        """Options as the Deployment's environment gives them; a flag that was given wins over it.

        The Lease's namespace: the flag, else POD_NAMESPACE (the Deployment sets it), else the
        namespace of the pod's service account, else that of the kubeconfig's current context.
        Never ``default`` by guess: the chart's RBAC grants Leases in the operator's namespace only.
        """
        defaults = cls()
        if leader_election is None:
            leader_election = os.environ.get("KUBETUNE_LEADER_ELECTION", "true").lower() != "false"
        return cls(
            leader_election=leader_election,
            lease_name=lease_name or os.environ.get("KUBETUNE_LEASE_NAME", defaults.lease_name),
            lease_namespace=lease_namespace or os.environ.get("POD_NAMESPACE") or own_namespace(),
            follow_seconds=float(os.environ.get("KUBETUNE_FOLLOW_SECONDS", defaults.follow_seconds)),
            workload_kinds=_workload_kinds(),
        )


def _workload_kinds() -> frozenset[str]:
    """``KUBETUNE_WORKLOAD_KINDS``: comma-separated ``Kind.group`` names (``Job.batch,JobSet.jobset.x-k8s.io``);
    unset, the chart's default list (never "every kind kubetune knows": the chart grants only those)."""
    text = os.environ.get(WORKLOAD_KINDS_ENV)
    return DEFAULT_KINDS if text is None else frozenset(k.strip() for k in text.split(",") if k.strip())
