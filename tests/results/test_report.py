"""``kubetune report``: one HTML file that a real browser renders offline, showing the task's trials."""

from __future__ import annotations

import copy
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from playwright.sync_api import Page, Request

from kubetune.api import HPOTask, TrialPhase
from kubetune.cli import main
from kubetune.executors.state import StateDir
from kubetune.results.html import sections
from kubetune.results.study import to_study

from .conftest import PHASES, TASK, screenshot, series, toy_trial, write_state

PLOTS = ["history", "parallel", "importance", "contour", "slice", "intermediate"]


def plotted(page: Page, plot: str) -> list[dict[str, object]]:
    """The traces plotly drew in the figure ``plot``: name and number of points."""
    traces: list[dict[str, object]] = page.evaluate(
        """id => document.getElementById(id).data.map(t => ({name: t.name || '', points: (t.x || []).length}))""",
        plot,
    )
    return traces


def test_the_report_renders_offline_with_one_history_point_per_finished_trial(
    toy_state: StateDir, tmp_path: Path, page: Page, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "report.html"
    assert main(["report", str(toy_state.root), "-o", str(out)]) == 0
    assert f"wrote {out} (14 trials of toy)" in capsys.readouterr().out

    fetched: list[str] = []

    def record(request: Request) -> None:
        if not request.url.startswith("file:"):
            fetched.append(request.url)

    page.on("request", record)
    page.route("http*://**", lambda route: route.abort())  # offline: anything from the network would fail
    page.goto(out.as_uri())
    for plot in PLOTS:
        page.wait_for_selector(f"#{plot}.js-plotly-plot .main-svg", timeout=20_000)
    screenshot(page, "report")
    assert fetched == []

    succeeded = PHASES.count(TrialPhase.SUCCEEDED)
    history = {t["name"]: t["points"] for t in plotted(page, "history")}
    assert history["Objective Value"] == succeeded
    # The markers were drawn, not only handed to plotly: one SVG point per finished trial.
    assert page.locator("#history .scatterlayer .trace").first.locator(".points path").count() == succeeded

    curves = {t["name"]: t["points"] for t in plotted(page, "intermediate")}
    assert curves["toy-10 (early-stopped)"] == 3 and curves["toy-11 (early-stopped)"] == 3
    assert curves["toy-0"] == 6
    assert "toy-12" not in curves  # the failed trial reported nothing

    bars = page.locator("#importance .bars .point").count()
    assert bars == 3  # lr, layers, act
    rows = page.locator("#trials tbody tr")
    assert rows.count() == len(PHASES)
    assert rows.first.locator("td").first.inner_text() == "toy-7"  # best first, as `kubetune trials` lists


def test_the_report_command_prints_one_line_and_no_library_chatter(tmp_path: Path) -> None:
    one = write_state(tmp_path / "one", [toy_trial(0, TrialPhase.SUCCEEDED)])  # plots of one trial warn in Optuna
    result = subprocess.run(
        [sys.executable, "-m", "kubetune.cli", "report", str(one.root), "-o", str(tmp_path / "r.html")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0
    assert result.stdout == f"wrote {tmp_path / 'r.html'} (1 trials of toy)\n"
    assert result.stderr == ""


def test_without_the_report_extra_the_commands_say_what_to_install(
    toy_state: StateDir, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "plotly", None)  # as if plotly were not installed
    monkeypatch.setitem(sys.modules, "optuna_dashboard", None)
    assert main(["report", str(toy_state.root), "-o", str(tmp_path / "r.html")]) == 2
    assert capsys.readouterr().err == "kubetune: the report needs plotly: pip install 'kubetune[report]'\n"
    assert not (tmp_path / "r.html").exists()
    assert main(["dashboard", str(toy_state.root), "--port", "0"]) == 2
    assert capsys.readouterr().err == "kubetune: the dashboard needs optuna-dashboard: pip install 'kubetune[report]'\n"


def test_a_task_without_finished_trials_gets_a_report_that_says_so(tmp_path: Path) -> None:
    state = write_state(tmp_path / "state", [toy_trial(0, TrialPhase.RUNNING)])
    out = tmp_path / "r.html"
    assert main(["report", "--state-dir", str(state.root), "-o", str(out)]) == 0
    text = out.read_text()
    assert "No trial has finished with an objective yet." in text
    assert 'id="trials"' in text


def test_open_hands_the_report_to_the_users_browser(
    toy_state: StateDir, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened = tmp_path / "opened.txt"
    fake = tmp_path / "fake-browser"
    fake.write_text(f'#!/bin/sh\necho "$1" > {opened}\n')
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("BROWSER", str(fake))  # the webbrowser module's documented way to pick the browser
    monkeypatch.chdir(tmp_path)
    assert main(["report", "toy", "--open"]) == 0
    assert opened.read_text().strip() == (tmp_path / "toy-report.html").as_uri()


LINK = '<a href="https://evil.example/login">lr</a>'


def strings(node: object) -> list[str]:
    """Every string in a plotly figure's JSON."""
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [s for key, value in node.items() for s in (*strings(key), *strings(value))]
    if isinstance(node, list | tuple):
        return [s for item in node for s in strings(item)]
    return []


def test_names_and_values_from_trainers_are_plotly_text_not_markup() -> None:
    manifest = copy.deepcopy(TASK)
    manifest["spec"]["parameters"][2]["values"] = ["relu", LINK]
    task = HPOTask.model_validate(manifest)
    trials = []
    for i in range(8):
        trial = toy_trial(i, TrialPhase.SUCCEEDED)
        assert trial.status is not None
        parameters = {**trial.spec.parameters, "act": LINK if i % 2 else "relu"}
        metrics = [*trial.status.metrics, series(f"<a href='https://evil.example'>m{i % 2}</a>", [0.5])]
        trials.append(
            trial.model_copy(
                update={
                    "spec": trial.spec.model_copy(update={"parameters": parameters}),
                    "status": trial.status.model_copy(update={"metrics": metrics}),
                }
            )
        )
    shown = [
        s for part in sections(task, trials) if part.figure is not None for s in strings(part.figure.to_plotly_json())
    ]
    assert not [s for s in shown if "<a " in s.lower()]
    assert any("&lt;a href=" in s for s in shown)  # shown, as text
    # Optuna's hover texts and Optuna Dashboard show what the study holds: its every name and value too.
    study = to_study(task, trials)
    held = strings([[t.params, t.user_attrs, str(t.distributions)] for t in study.trials])
    assert not [s for s in held if "<a " in s.lower()]
    assert "&lt;a href='https://evil.example'&gt;m1&lt;/a&gt;" in study.trials[1].user_attrs


def test_a_time_limited_task_reports_what_its_stopped_trials_reached(tmp_path: Path) -> None:
    # maxDuration stopped every trial after it reported its losses: none ran to its end.
    trials = []
    for i in range(4):
        trial = toy_trial(i, TrialPhase.RUNNING)
        assert trial.status is not None
        status = trial.status.model_copy(update={"phase": TrialPhase.STOPPED, "reason": "TaskStopped"})
        trials.append(trial.model_copy(update={"status": status}))
    parts = {part.id: part for part in sections(HPOTask.model_validate(TASK), trials)}
    assert parts["history"].figure is not None and "of stopped trials" in parts["history"].title
    curves = {trace.name: len(trace.x) for trace in parts["intermediate"].figure.data}
    assert curves == {f"toy-{i} (stopped)": 6 for i in range(4)}


def test_a_contour_of_one_finished_trial_says_why_it_is_not_drawn() -> None:
    parts = {part.id: part for part in sections(HPOTask.model_validate(TASK), [toy_trial(0, TrialPhase.SUCCEEDED)])}
    assert parts["contour"].figure is None
    assert "needs at least two finished trials" in parts["contour"].note
