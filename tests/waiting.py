"""Waiting in tests: a bounded poll on a condition, never a fixed sleep.

A test waits for what it expects to see (a file, a phase, a line), not for a number of seconds: a
loaded machine makes things slower, never different. The timeout only bounds a wait that would
otherwise hang; it is generous, and nothing is asserted about how long the wait took.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

DEFAULT_TIMEOUT = 5.0


class WaitTimeout(AssertionError):
    """A wait_for that ran out of time; an AssertionError so that pytest shows it as a failed expectation."""


def wait_for(
    predicate: Callable[[], T | None], *, timeout: float = DEFAULT_TIMEOUT, interval: float = 0.02, message: str = ""
) -> T:
    """Poll until predicate() is truthy and return that value; exceptions from predicate propagate."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise WaitTimeout(f"timed out after {timeout}s waiting for {message or predicate}")
        time.sleep(interval)


async def await_for(
    predicate: Callable[[], T | None], *, timeout: float = DEFAULT_TIMEOUT, interval: float = 0.02, message: str = ""
) -> T:
    """wait_for for async tests: the predicate is called in a worker thread, as it may use a sync client."""
    deadline = time.monotonic() + timeout
    while True:
        value = await asyncio.to_thread(predicate)
        if value:
            return value
        if time.monotonic() > deadline:
            raise WaitTimeout(f"timed out after {timeout}s waiting for {message or predicate}")
        await asyncio.sleep(interval)
