"""A finished local task written through the state directory, as ``kubetune run`` leaves it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from kubetune.api import (
    BestTrial,
    HPOTask,
    HPOTaskStatus,
    MetricPoint,
    MetricSeries,
    TaskPhase,
    Trial,
    TrialCounts,
    TrialPhase,
    TrialSpec,
    TrialStatus,
)
from kubetune.executors.state import StateDir

START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)

TASK = {
    "apiVersion": "kubetune.io/v1alpha1",
    "kind": "HPOTask",
    "metadata": {"name": "toy"},
    "spec": {
        "objective": {"metric": "loss", "direction": "minimize", "additionalMetrics": ["accuracy"]},
        "algorithm": {"name": "random", "seed": 1},
        "parameters": [
            {"name": "lr", "type": "double", "min": 0.0001, "max": 0.1, "scale": "log"},
            {"name": "layers", "type": "int", "min": 1, "max": 8},
            {"name": "act", "type": "categorical", "values": ["relu", "tanh"]},
        ],
        "budget": {"maxTrials": 16, "parallelTrials": 2},
        "trialTemplate": {
            "spec": {"template": {"spec": {"containers": [{"name": "t", "image": "t", "command": ["true"]}]}}}
        },
    },
}

PHASES = [TrialPhase.SUCCEEDED] * 10 + [TrialPhase.EARLY_STOPPED] * 2 + [TrialPhase.FAILED, TrialPhase.RUNNING]


def series(name: str, values: list[float]) -> MetricSeries:
    """A metric series with its summary figures, as the scanner records it."""
    return MetricSeries(
        name=name,
        points=[MetricPoint(step=i + 1, value=v) for i, v in enumerate(values)],
        count=len(values),
        last=values[-1],
        min=min(values),
        max=max(values),
        mean=sum(values) / len(values),
    )


def toy_trial(index: int, phase: TrialPhase) -> Trial:
    """Trial ``index`` of the toy task: loss falls per epoch towards (lr, layers)'s final value."""
    lr = 10 ** (-4 + 3 * ((index * 7) % 16) / 15)
    layers = 1 + (index * 5) % 8
    act = "relu" if index % 3 else "tanh"
    final = (layers - 4) ** 2 / 10 + abs(lr - 0.01) * 10 + (0.05 if act == "tanh" else 0.0)
    epochs = 3 if phase is TrialPhase.EARLY_STOPPED else 6
    if phase is TrialPhase.EARLY_STOPPED:
        final += 2.0
    losses = [final + 1 / e for e in range(1, epochs + 1)]
    start = START + timedelta(minutes=index)
    status = TrialStatus(phase=phase, start_time=start)
    if phase is not TrialPhase.FAILED:
        metrics = [series("loss", losses), series("accuracy", [1 - v / 10 for v in losses])]
        status = status.model_copy(update={"metrics": metrics, "objective": losses[-1]})
    if phase.finished:
        status = status.model_copy(update={"completion_time": start + timedelta(seconds=30 + index)})
    if phase is TrialPhase.FAILED:
        status = status.model_copy(update={"reason": "ExitCode", "message": "Exited with code 1."})
    if phase is TrialPhase.EARLY_STOPPED:
        status = status.model_copy(update={"reason": "MedianStop"})
    return Trial(
        metadata={"name": f"toy-{index}"},
        spec=TrialSpec(task="toy", index=index, parameters={"lr": lr, "layers": layers, "act": act}),
        status=status,
    )


def write_state(root: Path, trials: list[Trial], phase: TaskPhase = TaskPhase.RUNNING) -> StateDir:
    """A state directory holding the toy task, ``trials`` and a status naming the best one."""
    state = StateDir(root)
    state.adopt(HPOTask.model_validate(TASK))
    for trial in trials:
        state.save_trial(trial)
    done = [t for t in trials if t.status and t.status.phase is TrialPhase.SUCCEEDED]
    best = min(done, key=lambda t: t.status.objective or 0.0) if done else None
    phases = [t.status.phase if t.status else TrialPhase.PENDING for t in trials]
    counts = TrialCounts(
        total=len(trials),
        pending=phases.count(TrialPhase.PENDING),
        running=phases.count(TrialPhase.RUNNING),
        succeeded=phases.count(TrialPhase.SUCCEEDED),
        failed=phases.count(TrialPhase.FAILED),
        early_stopped=phases.count(TrialPhase.EARLY_STOPPED),
        stopped=phases.count(TrialPhase.STOPPED),
    )
    status = HPOTaskStatus(phase=phase, start_time=START, trials=counts)
    if best is not None and best.status is not None and best.status.objective is not None:
        status = status.model_copy(
            update={
                "best_trial": BestTrial(
                    name=best.metadata.name or "", parameters=best.spec.parameters, objective=best.status.objective
                )
            }
        )
    state.save_status(status)
    return state


@pytest.fixture
def toy_state(tmp_path: Path) -> StateDir:
    """The toy task with 10 succeeded, 2 early-stopped, 1 failed and 1 running trial."""
    return write_state(tmp_path / ".kubetune" / "toy", [toy_trial(i, p) for i, p in enumerate(PHASES)])


CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
"""Screenshots of the browser tests land here (gitignored), for a person to look at."""


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """Debian's headless Chromium, driven by Playwright (which downloads no browser of its own here).

    Playwright gives each launch a fresh, temporary profile directory.
    """
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing: .ci/run installs Debian's chromium package")
        pytest.skip(f"{CHROMIUM} is missing: apt-get install chromium")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_FLAGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh page, 1280 pixels wide."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    yield context.new_page()
    context.close()


def screenshot(page: Page, name: str) -> Path:
    """Save a full-page screenshot under test-artifacts/ and return its path."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
