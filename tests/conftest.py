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
from pathlib import Path

import pytest

_status: list[int] = []

REAL_TIER = Path(__file__).resolve().parent / "realcluster"


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    """One line on the real-API-server tier when the run covers it: which releases it ran against, or
    why it could not run. Written here rather than in the tier's conftest: in a parallel run this
    process collects nothing, so it never loads that one."""
    paths = [Path(str(arg).split("::", 1)[0]).resolve() for arg in config.args]
    if not any(REAL_TIER.is_relative_to(path) or path.is_relative_to(REAL_TIER) for path in paths):
        return
    from tests.realcluster import controlplane  # noqa: PLC0415 - only for a run that covers the tier

    if reason := controlplane.missing():
        terminalreporter.write_line(f"real-API-server tier (tests/realcluster) not run: {reason}", yellow=True)
    else:
        terminalreporter.write_line(f"real-API-server tier ran against {', '.join(controlplane.versions())}")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    _status.append(int(exitstatus))


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    if _status and not hasattr(config, "workerinput"):
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(_status[-1])
