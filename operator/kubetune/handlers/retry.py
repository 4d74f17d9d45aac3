"""Retrying a reconcile that failed: exponential backoff with jitter, and saying so on the task.

Level-based: each attempt starts from the task and the cache as they are then, so any failure
can be retried. A transient one (``executors.client.transient``) is only logged at first; another
shows on the task's status and in a Warning Event at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable
from functools import partial
from typing import Any

import kopf
import urllib3
from kubernetes.client.exceptions import ApiException
from tenacity import AsyncRetrying, RetryCallState, wait_exponential_jitter

from ..executors.cache import Expectations, Snapshot
from ..executors.client import transient
from . import telemetry
from .reconcile import Outcome, reconcile, record_error
from .runtime import Runtime

log = logging.getLogger(__name__)

RETRY_SECONDS = 0.5
"""First wait after a failed reconcile; each failure in a row doubles it (plus up to as much jitter)."""
MAX_RETRY_SECONDS = 60.0
"""Longest wait between two attempts of a reconcile that keeps failing."""
QUIET_ATTEMPTS = 3
"""Transient failures (a conflict, an unavailable API server) are only logged until this many in a row."""
MESSAGE_CHARS = 300
"""Longest failure description in a condition or an Event."""


async def reconcile_until_done(
    runtime: Runtime,
    namespace: str,
    name: str,
    body: kopf.Body,
    stopped: kopf.DaemonStopped,
    state: Callable[[], tuple[dict[str, Any], Snapshot]],
    expectations: Expectations,
) -> Outcome | None:
    """One reconcile, retried with exponential backoff and jitter until it succeeds.

    Level-based: each attempt starts from the task and the cache as they are then, so any failure
    (an API error, a bug, a plugin that misbehaves) can be retried. None when the daemon stops or
    the replica stops leading first.
    """

    async def attempt() -> Outcome:
        task, snapshot = state()
        work = partial(reconcile, runtime.kube, task, snapshot, expectations)
        return await asyncio.get_running_loop().run_in_executor(runtime.reconcilers, work)

    async def pause(seconds: float) -> None:
        await stopped.wait(seconds)  # not woken by pokes: the backoff holds whatever changes

    def given_up() -> bool:
        return bool(stopped) or not runtime.leader.is_set()

    retrying = AsyncRetrying(
        wait=wait_exponential_jitter(multiplier=RETRY_SECONDS, max=MAX_RETRY_SECONDS, jitter=RETRY_SECONDS),
        stop=lambda _: given_up(),
        sleep=pause,
        before_sleep=partial(_report_failure, runtime, namespace, name, body),
        reraise=True,
    )
    try:
        return await retrying(attempt)
    except Exception:
        if given_up():
            return None
        raise


async def _report_failure(runtime: Runtime, namespace: str, name: str, body: kopf.Body, state: RetryCallState) -> None:
    """Log a failed reconcile; unless it looks transient, show it on the task and in a Warning Event."""
    error = state.outcome.exception() if state.outcome is not None else None
    if error is None:
        return
    seconds = state.next_action.sleep if state.next_action is not None else 0.0
    telemetry.reconcile_failed(namespace, name, seconds)
    what = describe_error(error)
    if transient(error) and state.attempt_number < QUIET_ATTEMPTS:
        log.info("reconcile of %s/%s failed (%s), retrying in %.1f s", namespace, name, what, seconds)
        return
    exc_info = None if transient(error) else error  # a bug: its traceback goes to the log
    log.warning("reconcile of %s/%s failed (%s), retrying in %.1f s", namespace, name, what, seconds, exc_info=exc_info)
    message = f"Reconcile failed ({state.attempt_number} in a row): {what}. Retrying in {seconds:.0f} s."
    kopf.event(body, type="Warning", reason="ReconcileError", message=message)
    try:
        await asyncio.to_thread(record_error, runtime.kube, namespace, name, message)
    except Exception as failure:  # the API server may be what fails: the log and the Event must do
        log.warning("cannot record the failure on %s/%s: %s", namespace, name, describe_error(failure))


def describe_error(error: BaseException) -> str:
    """One line about a failure, for a condition and an Event."""
    if isinstance(error, ApiException):
        detail = error.reason or ""
        with contextlib.suppress(ValueError, AttributeError):  # a body that is not a Status
            detail = json.loads(error.body or "{}").get("message") or detail
        text = f"the API server answered {error.status}: {detail}"
    elif isinstance(error, urllib3.exceptions.HTTPError):
        text = f"the API server could not be reached: {error}"
    else:
        text = f"{type(error).__name__}: {error}"
    line = " ".join(text.split())
    return line if len(line) <= MESSAGE_CHARS else line[: MESSAGE_CHARS - 1] + "…"
