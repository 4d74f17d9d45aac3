"""What the operator's handlers share in Kopf's memo (client, pokes, leadership flag), and the budget
of Events each task may post."""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from .. import engine
from ..executors.cache import Expectations
from ..executors.client import Kube

RECONCILERS = 32
"""Reconciles running at once (threads): most of a reconcile waits on the API server, and asyncio's
default pool (CPUs + 4 threads) made ten busy tasks queue behind each other."""
EVENT_BURST = 25
"""Normal Events about trials a task posts at once before the budget below applies."""
EVENT_REFILL_SECONDS = 5.0
"""After a burst, one more Normal Event about trials per this many seconds (the rest are dropped)."""


@dataclass
class EventBudget:
    """How many Normal Events about trials a task may still post: a burst, then a slow refill.

    Kubernetes' own event recorder (client-go's spam filter) limits each object's Events the same
    way. Without it a 2,000-trial task posted two Events per trial (created, succeeded), a quarter
    of its API requests. Warnings and the Events about the task itself (finished, invalid, stopped
    by the user) are always posted; every trial's outcome stays in its Trial object.
    """

    tokens: float = EVENT_BURST
    at: float = field(default_factory=time.monotonic)

    def allows(self, event: engine.Event) -> bool:
        if event.type == "Warning" or (event.trial is None and event.reason != "TrialsCreated"):
            return True
        now = time.monotonic()
        self.tokens = min(float(EVENT_BURST), self.tokens + (now - self.at) / EVENT_REFILL_SECONDS)
        self.at = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


@dataclass
class Runtime:
    """What the handlers share, kept in Kopf's memo."""

    kube: Kube
    leader: threading.Event
    follow_seconds: float
    stop: threading.Event = field(default_factory=threading.Event)
    pokes: dict[tuple[str, str], asyncio.Event] = field(default_factory=dict)
    lease_problem: str | None = None
    """Why the Lease cannot be read, while it cannot: /healthz fails meanwhile."""
    expectations: dict[tuple[str, str], Expectations] = field(default_factory=dict)
    watched: frozenset[str] = frozenset()
    """The workload kinds (``Kind.group``) whose watch fills the cache: those listed, granted and served
    when the operator started. Another kind's workloads are listed at each reconcile instead."""
    reconcilers: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(RECONCILERS, thread_name_prefix="kubetune-reconcile")
    )

    def poke(self, namespace: str, name: str) -> asyncio.Event:
        """The event that wakes one task's daemon."""
        return self.pokes.setdefault((namespace, name), asyncio.Event())
