"""The whole suite: how its process ends.

Operator tests run Kopf in threads of this process, and an operator stopped without its cleanup
leaves its leader-election thread (a daemon, as in the real operator) waiting on an API server
that is gone. When the interpreter then finalizes, with torch loaded by the optuna-gp tests, such a
thread being ended mid-wait made the process abort (SIGABRT, exit 134) after every test had
passed, in about every other full run. The suite's result is known once pytest has reported it:
the process ends there, with pytest's exit status, without finalizing the interpreter.
"""

from __future__ import annotations

import os
import sys

import pytest

_status: list[int] = []


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    _status.append(int(exitstatus))


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    if _status and not hasattr(config, "workerinput"):
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(_status[-1])
