"""Where trials run: local processes, or Kubernetes workloads. Each is an ``engine.Executor``."""

from datetime import UTC, datetime


def clock() -> datetime:
    """The wall clock: the one place kubetune reads it (the pure layers are given the time)."""
    return datetime.now(UTC)
