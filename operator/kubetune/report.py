"""Trial tables and progress displays for people: ``kubetune trials``, ``best`` and ``run``'s display."""

from __future__ import annotations

import csv
import io
import json
import sys
from collections.abc import Sequence
from datetime import datetime
from typing import Any, TextIO

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from . import engine
from .api import Direction, HPOTask, HPOTaskStatus, Trial, TrialPhase
from .metrics import aggregate


def _sort_key(task: HPOTask, trial: Trial) -> tuple[int, float, int]:
    status = trial.status
    value = status.objective if status and status.phase is TrialPhase.SUCCEEDED else None
    if value is None:
        return 1, 0.0, trial.spec.index
    return 0, value if task.spec.objective.direction is Direction.MINIMIZE else -value, trial.spec.index


def trial_rows(
    task: HPOTask,
    trials: Sequence[Trial],
    *,
    include_failed: bool = False,
    top: int | None = None,
    offset: int = 0,
    limit: int | None = None,
) -> tuple[list[str], list[list[Any]], int]:
    """The header, the rows sorted best first, and how many rows matched before paging."""
    spec = task.spec
    params = [p.name for p in spec.parameters] or sorted({k for t in trials for k in t.spec.parameters})
    extra = [m for m in spec.objective.additional_metrics if m != spec.objective.metric]
    header = ["trial", "phase", spec.objective.metric, *params, *extra, "seconds", "reason"]
    chosen = [t for t in trials if include_failed or (t.status is not None and t.status.phase is TrialPhase.SUCCEEDED)]
    chosen.sort(key=lambda t: _sort_key(task, t))
    if top is not None:
        chosen = chosen[:top]
    total = len(chosen)
    page = chosen[offset : None if limit is None else offset + limit]
    rows = []
    for trial in page:
        status = trial.status
        series = {s.name: s for s in status.metrics} if status else {}
        metrics = [aggregate(series[m], spec.objective.aggregation_of(m)) if m in series else None for m in extra]
        seconds = None
        if status and status.start_time and status.completion_time:
            seconds = round((status.completion_time - status.start_time).total_seconds(), 1)
        rows.append(
            [
                trial.metadata.name,
                status.phase.value if status else TrialPhase.PENDING.value,
                status.objective if status else None,
                *[trial.spec.parameters.get(p) for p in params],
                *metrics,
                seconds,
                (status.reason or "") if status else "",
            ]
        )
    return header, rows, total


def write_trials(
    fmt: str, header: list[str], rows: list[list[Any]], total: int, offset: int, limit: int | None, out: TextIO
) -> None:
    """Print the trials as a table, JSON (header + rows, with paging figures) or CSV."""
    if fmt == "json":
        document = {
            "total": total,
            "count": len(rows),
            "offset": offset,
            "limit": limit,
            "header": header,
            "rows": rows,
        }
        out.write(json.dumps(document, indent=2) + "\n")
    elif fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(header)
        writer.writerows([["" if v is None else v for v in row] for row in rows])
        out.write(buffer.getvalue())
    else:
        table = Table(*header, title=f"{len(rows)} of {total} trials")
        for row in rows:
            table.add_row(*[_cell(v) for v in row])
        Console(file=out, width=200 if not out.isatty() else None).print(table)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def best_document(status: HPOTaskStatus | None) -> dict[str, Any] | None:
    """What ``kubetune best`` prints: the best trial's name, objective, parameters and metrics."""
    if status is None or status.best_trial is None:
        return None
    return status.best_trial.to_manifest()


class PlainReporter:
    """One line per event, for logs and pipes."""

    def __init__(self, out: TextIO | None = None) -> None:
        self.out = out or sys.stdout
        self._last = ""

    def event(self, event: engine.Event) -> None:
        """Print the event as a line."""
        self.out.write(f"{datetime.now():%H:%M:%S} {event.message}\n")
        self.out.flush()

    def progress(self, status: HPOTaskStatus, trials: Sequence[Trial]) -> None:
        """Print a line when the counts or the best value change."""
        best = status.best_trial
        line = f"{status.phase}: {status.progress} finished, {status.trials.running} running" + (
            f", best {best.objective:.6g} ({best.name})" if best else ""
        )
        if line != self._last:
            self._last = line
            self.out.write(f"{datetime.now():%H:%M:%S} {line}\n")
            self.out.flush()


class LiveReporter:
    """A rich progress bar with the best value so far; events scroll above it."""

    def __init__(self, task: HPOTask, console: Console | None = None) -> None:
        self.task = task
        self.progress_bar = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[running]} running"),
            TextColumn("best {task.fields[best]}"),
            TimeElapsedColumn(),
            console=console,
        )
        self._id = self.progress_bar.add_task(
            task.metadata.name or "task", total=task.spec.budget.max_trials, running=0, best="-"
        )

    def __enter__(self) -> LiveReporter:
        self.progress_bar.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.progress_bar.stop()

    def event(self, event: engine.Event) -> None:
        """Print the event above the bar."""
        style = "yellow" if event.type == "Warning" else "dim"
        self.progress_bar.console.print(f"[{style}]{event.message}[/]", highlight=False)

    def progress(self, status: HPOTaskStatus, trials: Sequence[Trial]) -> None:
        """Move the bar."""
        counts = status.trials
        best = status.best_trial
        self.progress_bar.update(
            self._id,
            completed=counts.total - counts.pending - counts.running,
            running=counts.running + counts.pending,
            best=f"{best.objective:.6g}" if best else "-",
        )
