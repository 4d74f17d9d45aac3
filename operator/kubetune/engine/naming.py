"""Deterministic names and seeds: a repeated reconcile must never invent a second trial."""

from __future__ import annotations

import hashlib
import zlib

from ..api import HPOTask

MAX_NAME = 63
"""Job names become pod labels, which hold at most 63 characters."""


def trial_name(task_name: str, index: int) -> str:
    """``digits-demo`` and 3 -> ``digits-demo-3``; long task names are shortened with a hash."""
    suffix = f"-{index}"
    if len(task_name) + len(suffix) <= MAX_NAME:
        return task_name + suffix
    digest = hashlib.sha256(task_name.encode()).hexdigest()[:6]
    keep = MAX_NAME - len(suffix) - len(digest) - 1
    return f"{task_name[:keep].rstrip('-.')}-{digest}{suffix}"


def task_seed(task: HPOTask) -> int:
    """The algorithm's seed: the user's, else one derived from the task's name (stable across restarts)."""
    if task.spec.algorithm.seed is not None:
        return task.spec.algorithm.seed
    return zlib.crc32((task.metadata.name or "").encode())
