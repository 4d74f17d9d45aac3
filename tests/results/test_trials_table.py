"""``kubetune trials`` as a table that fits the terminal, and counts that say what it leaves out."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kubetune.api import Trial, TrialPhase
from kubetune.cli import main

from .conftest import PHASES, toy_trial, write_state

LONG = "digits-tuning-with-a-long-descriptive-name"


@pytest.fixture
def long_named(tmp_path: Path) -> Path:
    """The toy task's trials under names as long as real ones, with a long categorical value too."""
    trials = []
    for i, phase in enumerate(PHASES):
        document = toy_trial(i, phase).model_dump(mode="json", by_alias=True, exclude_none=True)
        document["metadata"]["name"] = f"{LONG}-{i}"
        document["spec"]["parameters"]["act"] = "leaky_relu_with_a_long_name"
        trials.append(Trial.model_validate(document))
    return write_state(tmp_path / "state", trials).root


def table(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, width: int, *argv: str) -> str:
    monkeypatch.setenv("COLUMNS", str(width))
    capsys.readouterr()
    assert main(["trials", *argv]) == 0
    return capsys.readouterr().out


@pytest.mark.parametrize("width", [80, 100])
def test_the_table_fits_the_terminal_and_never_cuts_the_name_or_the_objective(
    long_named: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, width: int
) -> None:
    out = table(capsys, monkeypatch, width, str(long_named))
    lines = out.splitlines()
    assert max(len(line) for line in lines) <= width, out
    page = json.loads(table(capsys, monkeypatch, width, str(long_named), "-o", "json"))
    for name, loss in [(row[0], row[page["header"].index("loss")]) for row in page["rows"]]:
        # The whole name and the objective, on one line of the table.
        assert any(name in line and f"{loss:.6g}" in line for line in lines), (name, out)
    assert "…" not in out
    # What did not fit is named, with the way to see it.
    assert "not shown:" in out and "message" in out and "--wide shows every column" in out


def test_wide_shows_every_column(
    long_named: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    out = table(capsys, monkeypatch, 80, str(long_named), "--wide")
    header = next(line for line in out.splitlines() if "trial" in line and "loss" in line)
    for column in ("phase", "lr", "layers", "act", "accuracy", "last_step", "duration", "reason", "message"):
        assert column in header
    assert "not shown" not in out


def test_the_counts_say_how_many_trials_exist_and_why_some_are_left_out(
    long_named: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    root = str(long_named)
    succeeded = PHASES.count(TrialPhase.SUCCEEDED)
    out = table(capsys, monkeypatch, 100, root)
    assert f"{succeeded} shown of {len(PHASES)} trials (2 early-stopped, 1 failed, 1 running: --all)" in out
    assert f"3 shown of {len(PHASES)} trials (the top 3; 2 early-stopped" in table(
        capsys, monkeypatch, 100, root, "--top", "3"
    )
    paged = table(capsys, monkeypatch, 100, root, "--limit", "3", "--offset", "3")
    assert f"3 shown of {len(PHASES)} trials (rows 4-6 of {succeeded}; 2 early-stopped" in paged
    assert f"{len(PHASES)} shown of {len(PHASES)} trials" in table(capsys, monkeypatch, 100, root, "--all")
    # JSON: total is what matched before paging, as before; the task's trials and those left out are said too.
    page = json.loads(table(capsys, monkeypatch, 100, root, "--limit", "3", "-o", "json"))
    assert (page["total"], page["count"], page["trials"]) == (succeeded, 3, len(PHASES))
    assert page["hidden"] == {"early-stopped": 2, "failed": 1, "running": 1}
