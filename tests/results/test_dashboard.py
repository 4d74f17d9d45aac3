"""``kubetune dashboard``: Optuna Dashboard in a real browser, over kubetune's trials, following them live."""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page

from kubetune.api import TrialPhase
from kubetune.executors.state import StateDir

from .conftest import PHASES, screenshot, toy_trial

FINISHED_WITH_OBJECTIVE = PHASES.count(TrialPhase.SUCCEEDED) + PHASES.count(TrialPhase.EARLY_STOPPED)


@pytest.fixture
def dashboard(toy_state: StateDir) -> Iterator[str]:
    """``kubetune dashboard`` serving the toy task on a free port; yields its URL."""
    process = subprocess.Popen(
        [sys.executable, "-m", "kubetune.cli", "dashboard", str(toy_state.root), "--port", "0", "--refresh", "0.2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    found = re.search(r"at (http://\S+/dashboard)", line)
    try:
        assert found, f"no URL in the first line: {line!r}"
        assert "Optuna Dashboard for toy" in line and "read-only" in line
        yield found.group(1).replace("localhost", "127.0.0.1")
    finally:
        process.terminate()
        process.wait(timeout=10)
        process.stdout.close()


def history_points(page: Page) -> int:
    """Points of the objective in the dashboard's history plot (Optuna Dashboard names the trace after it)."""
    points: int = page.evaluate(
        """() => {
            const plot = document.getElementById('plot-history');
            const trace = plot && plot.data ? plot.data.find(t => (t.name || '').startsWith('loss')) : null;
            return trace ? trace.x.length : -1;
        }"""
    )
    return points


def test_the_dashboard_shows_the_tasks_trials_and_follows_new_ones(
    dashboard: str, toy_state: StateDir, page: Page
) -> None:
    page.goto(f"{dashboard}/studies/0")
    page.wait_for_function(
        "expected => { const p = document.getElementById('plot-history');"
        " return p && p.data && p.data.some(t => (t.name || '').startsWith('loss')"
        " && t.x.length === expected); }",
        arg=FINISHED_WITH_OBJECTIVE,
        timeout=30_000,
    )
    page.wait_for_selector("#graph-intermediate-values .main-svg", timeout=30_000)
    screenshot(page, "dashboard")
    assert history_points(page) == FINISHED_WITH_OBJECTIVE
    assert page.get_by_text("Best Trial (number=7)").is_visible()
    assert "toy (id=0)" in page.inner_text("body")

    # The running trial finishes, as `kubetune run` would record it: the dashboard picks it up.
    toy_state.save_trial(toy_trial(13, TrialPhase.SUCCEEDED))
    for _ in range(30):
        page.wait_for_timeout(500)
        page.reload()
        page.wait_for_selector("#plot-history .main-svg", timeout=30_000)
        page.wait_for_timeout(300)
        if history_points(page) == FINISHED_WITH_OBJECTIVE + 1:
            break
    assert history_points(page) == FINISHED_WITH_OBJECTIVE + 1


def test_the_dashboard_refuses_changes(dashboard: str) -> None:
    base = dashboard.removesuffix("/dashboard")
    with urllib.request.urlopen(f"{base}/api/studies") as response:
        assert b'"study_name": "toy"' in response.read()
    request = urllib.request.Request(f"{base}/api/studies/0", method="DELETE")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request)
    assert refused.value.code == 405
    assert b"read-only" in refused.value.read()
    refused.value.close()
    with urllib.request.urlopen(f"{base}/api/studies") as response:  # still there
        assert b'"study_name": "toy"' in response.read()


def test_a_missing_task_gets_one_line(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "kubetune.cli", "dashboard", str(tmp_path / "nothing")],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
    )
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "no such manifest, state directory or local task" in result.stderr


def test_one_dashboard_shows_several_tasks_one_study_each(toy_state: StateDir, tmp_path: Path) -> None:
    other = tmp_path / "other"
    shutil.copytree(toy_state.root, other)
    (other / "task.yaml").write_text((other / "task.yaml").read_text().replace("name: toy", "name: toy-again"))
    process = subprocess.Popen(
        [sys.executable, "-m", "kubetune.cli", "dashboard", str(toy_state.root), str(other), "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    try:
        line = process.stdout.readline()
        assert "Optuna Dashboard for toy, toy-again at" in line
        url = line.split(" at ")[1].split()[0].replace("localhost", "127.0.0.1").removesuffix("/dashboard")
        with urllib.request.urlopen(f"{url}/api/studies") as response:
            studies = json.loads(response.read())["study_summaries"]
        assert [(s["study_id"], s["study_name"]) for s in studies] == [(0, "toy"), (1, "toy-again")]
    finally:
        process.terminate()
        process.wait(timeout=10)
        process.stdout.close()


def get(url: str, host: str) -> tuple[int, bytes]:
    """GET ``url`` with the given Host header; the status and body."""
    request = urllib.request.Request(url, headers={"Host": host})
    try:
        with urllib.request.urlopen(request) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.read()


def test_the_dashboard_answers_only_hosts_a_page_cannot_rebind(dashboard: str) -> None:
    api = dashboard.removesuffix("/dashboard") + "/api/studies"
    port = api.split(":")[2].split("/")[0]
    for host in ("localhost", f"localhost:{port}", f"127.0.0.1:{port}", "[::1]:9000", "10.1.2.3"):
        code, body = get(api, host)
        assert code == 200 and b'"study_name": "toy"' in body, host
    for host in (f"evil.example:{port}", "evil.example", "127.0.0.1.evil.example", "", "localhost.evil.example"):
        code, body = get(api, host)
        assert code == 403, host
        assert b"toy" not in body and b"--allow-host" in body


def test_a_name_given_with_allow_host_is_answered(toy_state: StateDir) -> None:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "kubetune.cli",
            "dashboard",
            str(toy_state.root),
            "--allow-host",
            "dash.ml.example",
            "--port",
            "0",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    try:
        url = process.stdout.readline().split(" at ")[1].split()[0].replace("localhost", "127.0.0.1")
        api = url.removesuffix("/dashboard") + "/api/studies"
        assert get(api, "dash.ml.example")[0] == 200
        assert get(api, "other.ml.example")[0] == 403
    finally:
        process.terminate()
        process.wait(timeout=10)
        process.stdout.close()


@pytest.mark.parametrize(
    ("option", "words"),
    [
        (["--port", "70000"], "must be a port from 0 to 65535"),
        (["--refresh", "0"], "must be at least 0.1 seconds"),
        (["--refresh", "nan"], "must be at least 0.1 seconds"),
    ],
)
def test_a_bad_port_or_refresh_is_one_line(toy_state: StateDir, option: list[str], words: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "kubetune.cli", "dashboard", str(toy_state.root), *option],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 2
    assert words in result.stderr and "Traceback" not in result.stderr


def test_a_port_in_use_is_one_line(toy_state: StateDir) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "kubetune.cli", "dashboard", str(toy_state.root), "--port", str(port)],
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
    assert result.returncode == 2
    assert result.stderr.strip() == f"kubetune: cannot listen on 127.0.0.1:{port}: Address already in use"
