"""Leave nothing a trial started running: the runner as a child subreaper, and the strays it adopts.

A trial runs in its own process group, so one signal reaches its children. A child that calls
``setsid`` (a daemon, a double fork) leaves the group, and when its parent exits it would be
re-parented to init and outlive the run. With ``PR_SET_CHILD_SUBREAPER`` the kernel re-parents
such orphans to the runner instead, where :func:`strays` finds them: children of the runner that
it did not start, whose environment carries the run's mark. The mark keeps the runner's own
unrelated children (another library's, a test's) out of reach. Linux only; elsewhere the runner
is not a subreaper and :func:`strays` finds nothing.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
import time
from collections.abc import Callable, Collection, Iterator
from pathlib import Path

PR_SET_CHILD_SUBREAPER = 36
PR_GET_CHILD_SUBREAPER = 37
MARK = "KUBETUNE_RUNNER"
"""The environment variable whose value ties a process to the runner and trial that started it."""


def _prctl() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl: Callable[..., int] = ctypes.CDLL(None, use_errno=True).prctl  # the libc already loaded
    except (OSError, AttributeError):
        return None
    return prctl


@contextlib.contextmanager
def child_subreaper() -> Iterator[bool]:
    """Make this process a child subreaper for the block (restoring the earlier setting); yield whether it is."""
    prctl = _prctl()
    if prctl is None:
        yield False  # not Linux: orphans go to init, as without a subreaper
        return
    before = ctypes.c_int(0)
    prctl(PR_GET_CHILD_SUBREAPER, ctypes.byref(before), 0, 0, 0)
    if prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        yield False
        return
    try:
        yield True
    finally:
        prctl(PR_SET_CHILD_SUBREAPER, before.value, 0, 0, 0)


def _children(parent: int) -> Iterator[tuple[int, int]]:
    """The pids whose parent is ``parent``, each with its session id (kept by a zombie too), from /proc."""
    proc = Path("/proc")
    if not proc.is_dir():
        return
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # it exited meanwhile
        fields = stat.rsplit(")", 1)[1].split()  # the name before ")" may hold spaces
        if int(fields[1]) == parent:
            yield int(entry.name), int(fields[3])


def _mark_of(pid: int) -> str | None:
    try:
        environ = Path(f"/proc/{pid}/environ").read_bytes()  # empty for a zombie
    except OSError:
        return None
    prefix = f"{MARK}=".encode()
    for item in environ.split(b"\0"):
        if item.startswith(prefix):
            return item[len(prefix) :].decode(errors="replace")
    return None


def strays(marks: Collection[str], sessions: Collection[int], started: Collection[int]) -> list[int]:
    """Children of this process, other than the ``started`` ones, that a trial left behind.

    A trial's process is found by its session (a trial is started as a session leader, so its
    pid names the session of everything that did not leave it, dead or alive) or, for one that
    called ``setsid``, by the mark in its environment.
    """
    return [
        pid
        for pid, session in _children(os.getpid())
        if pid not in started and (session in sessions or _mark_of(pid) in marks)
    ]


def marked_children(marks: Collection[str], started: Collection[int]) -> dict[int, str]:
    """Children of this process, other than the ``started`` ones, with their mark, if it is one of ``marks``."""
    found = {pid: _mark_of(pid) for pid, _ in _children(os.getpid()) if pid not in started}
    return {pid: mark for pid, mark in found.items() if mark is not None and mark in marks}


def kill_and_reap(pids: Collection[int], timeout: float = 2.0) -> None:
    """SIGKILL each of this process's children ``pids`` and collect its exit, so that no zombie remains."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    waiting, deadline = set(pids), time.monotonic() + timeout
    while waiting and time.monotonic() < deadline:
        for pid in list(waiting):
            try:
                done, _ = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                done = pid  # not (or no longer) our child: nothing to collect
            if done:
                waiting.discard(pid)
        if waiting:
            time.sleep(0.01)
