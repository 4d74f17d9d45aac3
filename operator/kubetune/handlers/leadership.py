"""Leader election: with several replicas, only the one that holds the Lease reconciles."""

from __future__ import annotations

import logging
import threading
from typing import Any

from .options import Options
from .runtime import Runtime

log = logging.getLogger(__name__)


def elect(runtime: Runtime, options: Options, stop: threading.Event) -> None:
    """Hold the Lease while this replica leads; only the leader reconciles (runs in a thread)."""
    from kubernetes.leaderelection import electionconfig, leaderelection  # noqa: PLC0415
    from kubernetes.leaderelection.resourcelock.leaselock import LeaseLock  # noqa: PLC0415

    class CheckedLease(LeaseLock):
        """The client's Lease lock, which logs read failures at INFO and retries forever: say it loudly."""

        def get(self, name: str, namespace: str) -> tuple[bool, Any]:
            found, record = super().get(name, namespace)
            status = getattr(record, "status", None)
            if found or status == 404:  # absent: it is created next
                runtime.lease_problem = None
            else:
                problem = f"cannot read the Lease {namespace}/{name}: {status} {getattr(record, 'reason', record)}"
                if runtime.lease_problem != problem:
                    log.error("%s; this replica cannot lead (see --lease-namespace and the RBAC)", problem)
                runtime.lease_problem = problem
            return found, record

    lock = CheckedLease(options.lease_name, options.lease_namespace, options.identity)
    election = electionconfig.Config(
        lock,
        lease_duration=15,
        renew_deadline=10,
        retry_period=2,
        onstarted_leading=runtime.leader.set,
        onstopped_leading=runtime.leader.clear,
    )
    while not stop.is_set():  # after losing the lease, stand as a candidate again
        try:
            leaderelection.LeaderElection(election).run()
            log.warning("lost the lease %s/%s", options.lease_namespace, options.lease_name)
        except Exception as error:  # the API server is unreachable: follow, and try again
            runtime.leader.clear()
            log.warning("leader election failed, retrying: %s", error)
            stop.wait(2)
