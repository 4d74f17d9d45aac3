"""Trial tables and progress displays for people: ``kubetune trials``, ``best`` and ``run``'s display."""

from __future__ import annotations

import csv
import io
import json
import sys
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, TextIO

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table
from rich.text import Text

from . import engine
from .api import Aggregation, HPOTask, HPOTaskStatus, MetricSeries, ParamValue, Trial, TrialPhase
from .engine import ranking
from .errors import UsageError
from .metrics import aggregate

MAX_OTHER_COLUMNS = 8
"""Columns given to metrics the task did not declare (the most often printed first)."""


def printable(text: str, *, keep: str = "") -> str:
    """``text`` safe to write to a terminal: control characters (ESC, CR, BEL...), and the invisible
    ones that reorder or hide text, are written as escapes (``\\x1b``); the characters in ``keep``
    (a newline in a table cell) stay. Metric names and trial output come from trainers, and a raw
    ``ESC]0;`` or ``ESC[2J`` would retitle or clear the terminal of whoever reads the table."""
    if text.isprintable() and not keep:
        return text
    return "".join(c if c.isprintable() or c in keep else c.encode("unicode_escape").decode("ascii") for c in text)


def best_first(task: HPOTask, trial: Trial) -> tuple[int, float, int]:
    """Sort key: trials with an objective, best first, then the others by index."""
    return ranking.sort_key(task.spec, trial)


def _series(trial: Trial) -> dict[str, MetricSeries]:
    return {s.name: s for s in trial.status.metrics} if trial.status else {}


def metric_columns(task: HPOTask, trials: Sequence[Trial]) -> list[str]:
    """The metrics listed beside the objective: the declared ones, then the most printed others."""
    objective = task.spec.objective
    named = objective.names[1:] + [c.metric for c in objective.constraints] + objective.additional_metrics
    declared = list(dict.fromkeys(m for m in named if m != objective.primary))
    printed = Counter(name for t in trials for name in _series(t) if name != objective.primary and name not in declared)
    others = sorted(printed, key=lambda name: (-printed[name], name))[:MAX_OTHER_COLUMNS]
    return declared + others


def sort_key(task: HPOTask, trials: Sequence[Trial], by: str | None) -> Callable[[Trial], tuple[Any, ...]]:
    """The sort key ``--sort-by`` names: the objective (best first), a metric, a parameter or ``start``."""
    spec = task.spec
    if by is None or by == spec.objective.primary:
        return lambda t: best_first(task, t)
    params = {p.name for p in spec.parameters} | {k for t in trials for k in t.spec.parameters}
    if by == "start":
        return lambda t: _present(t.status.start_time if t.status else None, t)
    if by in params:
        # Categorical values may mix strings and numbers: numbers first, each kind in its own order.
        return lambda t: _present(_comparable(t.spec.parameters.get(by)), t)
    if by in metric_columns(task, trials) or any(by in _series(t) for t in trials):
        return lambda t: _present(_aggregate(_series(t).get(by), spec.objective.aggregation_of(by)), t)
    choices = [spec.objective.primary, *metric_columns(task, trials), *sorted(params), "start"]
    raise UsageError(f"--sort-by {by}: no such metric or parameter; choose from {', '.join(choices)}")


def _present(value: Any, trial: Trial) -> tuple[Any, ...]:
    return (1, 0, trial.spec.index) if value is None else (0, value, trial.spec.index)


def _comparable(value: ParamValue | None) -> tuple[int, Any] | None:
    if value is None:
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return 0, float(value)
    return 1, str(value)


def _aggregate(series: MetricSeries | None, how: Aggregation) -> float | None:
    return aggregate(series, how) if series is not None else None


def best_intermediate(task: HPOTask, trial: Trial) -> float | None:
    """The best value the trial reported for the objective at any step."""
    series = _series(trial).get(task.spec.objective.primary)
    if series is None:
        return None
    extremes = [v for v in (series.min, series.max) if v is not None]
    return task.spec.objective.primary_direction.best(extremes) if extremes else None


def last_step(task: HPOTask, trial: Trial) -> int | None:
    """The step of the trial's last reported objective value."""
    series = _series(trial).get(task.spec.objective.primary)
    return series.points[-1].step if series is not None and series.points else None


def trial_rows(
    task: HPOTask,
    trials: Sequence[Trial],
    *,
    include_failed: bool = False,
    top: int | None = None,
    offset: int = 0,
    limit: int | None = None,
    sort_by: str | None = None,
    reverse: bool = False,
) -> tuple[list[str], list[list[Any]], int]:
    """The header, the rows sorted (best first by default), and how many rows matched before paging."""
    spec = task.spec
    params = [p.name for p in spec.parameters] or sorted({k for t in trials for k in t.spec.parameters})
    chosen = [t for t in trials if include_failed or (t.status is not None and t.status.phase is TrialPhase.SUCCEEDED)]
    extra = metric_columns(task, chosen)
    multi = spec.objective.multi
    front = engine.front_names(spec, trials) if multi else set()
    fixed = {"trial", "front", "phase", "last_step", "best_intermediate", "seconds", "reason", "message", *params}
    header = [
        "trial",
        *(["front"] if multi else []),
        "phase",
        spec.objective.primary,
        *params,
        # A metric named like another column (a trainer printing ``seconds=``) is told apart from it.
        *(f"metric:{m}" if m in fixed else m for m in extra),
        "last_step",
        "best_intermediate",
        "seconds",
        "reason",
        "message",
    ]
    key = sort_key(task, chosen, sort_by)
    chosen.sort(key=key)
    if reverse:  # reversed, but trials lacking the value still come last
        missing = [t for t in chosen if key(t)[0]]
        chosen = [t for t in chosen if not key(t)[0]][::-1] + missing
    if top is not None:
        chosen = chosen[:top]
    total = len(chosen)
    page = chosen[offset : None if limit is None else offset + limit]
    rows = []
    for trial in page:
        status = trial.status
        series = _series(trial)
        metrics = [_aggregate(series.get(m), spec.objective.aggregation_of(m)) for m in extra]
        seconds = None
        if status and status.start_time and status.completion_time:
            seconds = round((status.completion_time - status.start_time).total_seconds(), 1)
        rows.append(
            [
                trial.metadata.name,
                *(["*" if trial.metadata.name in front else ""] if multi else []),
                status.phase.value if status else TrialPhase.PENDING.value,
                status.objective if status else None,
                *[trial.spec.parameters.get(p) for p in params],
                *metrics,
                last_step(task, trial),
                best_intermediate(task, trial),
                seconds,
                (status.reason or "") if status else "",
                status.message if status else None,  # a failed trial's exit code, last output and log's path
            ]
        )
    return header, rows, total


def series_rows(trial: Trial) -> tuple[list[str], list[list[Any]]]:
    """Every value a trial reported (as kept: at most 100 points per metric), one row per metric and step."""
    header = ["metric", "step", "value"]
    rows: list[list[Any]] = [
        [series.name, point.step, point.value]
        for series in (trial.status.metrics if trial.status else [])
        for point in series.points
    ]
    return header, rows


def write_trials(
    fmt: str,
    header: list[str],
    rows: list[list[Any]],
    total: int,
    offset: int,
    limit: int | None,
    out: TextIO,
    *,
    title: str = "trials",
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
        writer.writerow([printable(h) for h in header])
        writer.writerows([["" if v is None else _csv_cell(v) for v in row] for row in rows])
        out.write(buffer.getvalue())
    else:
        # Text, not str: rich would read [link=...] in a metric name as markup, a real hyperlink.
        table = Table(title=f"{len(rows)} of {total} {title}")
        for name in header:
            table.add_column(Text(printable(name)))
        for row in rows:
            table.add_row(*[Text(printable(_cell(v), keep="\n")) for v in row])
        Console(file=out, width=200 if not out.isatty() else None).print(table)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def _csv_cell(value: Any) -> Any:
    return printable(value, keep="\n\t") if isinstance(value, str) else value


def best_document(status: HPOTaskStatus | None) -> dict[str, Any] | None:
    """What ``kubetune best`` prints: the best trial's name, objective, parameters and metrics; with
    several objectives, the Pareto front (its size, and its members as the status keeps them)."""
    if status is not None and status.pareto_front:
        members = [m.to_manifest() for m in status.pareto_front]
        return {"frontSize": status.front_size, "paretoFront": members}
    if status is None or status.best_trial is None:
        return None
    return status.best_trial.to_manifest()


def best_of_all(task: HPOTask, trials: Sequence[Trial]) -> dict[str, Any] | None:
    """The best trial that reported the objective, early-stopped and stopped ones included, with its phase."""
    scored = ranking.ranked(task.spec, trials, ranking.REPORTED, feasible_only=False)
    if not scored:
        return None
    best = scored[0]
    assert best.status is not None
    metrics = engine.other_metrics(task.spec, best, [task.spec.objective.primary])
    return {
        "name": best.metadata.name,
        "phase": best.status.phase.value,
        "objective": best.status.objective,
        "parameters": best.spec.parameters,
        "metrics": metrics,
    }


def task_rows(tasks: Sequence[tuple[HPOTask, str]]) -> tuple[list[str], list[list[Any]]]:
    """``kubetune list``: one row per task (with its status) and where it is kept."""
    header = ["task", "phase", "trials", "running", "best", "best_trial", "state"]
    rows: list[list[Any]] = []
    for task, where in tasks:
        status = task.status
        counts = status.trials if status else None
        best = status.best_trial if status else None
        rows.append(
            [
                task.metadata.name,
                (status.phase.value if status else "Pending"),
                f"{counts.total - counts.pending - counts.running if counts else 0}/{task.spec.budget.max_trials}",
                counts.running if counts else 0,
                best.objective if best else None,
                best.name if best else None,
                where,
            ]
        )
    return header, rows


class PlainReporter:
    """One line per event, for logs and pipes."""

    def __init__(self, out: TextIO | None = None) -> None:
        self.out = out or sys.stdout
        self._last = ""

    def event(self, event: engine.Event) -> None:
        """Print the event as a line."""
        self.out.write(f"{datetime.now():%H:%M:%S} {printable(event.message)}\n")
        self.out.flush()

    def progress(self, status: HPOTaskStatus, trials: Sequence[Trial]) -> None:
        """Print a line when the counts or the best value change."""
        best = status.best_trial
        counts = status.trials
        line = f"{status.phase}: {status.progress} finished, {counts.running} running, {counts.pending} pending" + (
            f", best {best.objective:.6g} ({best.name})" if best else ""
        )
        if status.front_size:
            line += f", Pareto front of {status.front_size}"
        if line != self._last:
            self._last = line
            self.out.write(f"{datetime.now():%H:%M:%S} {line}\n")
            self.out.flush()


def _utc_now() -> datetime:
    return datetime.now(UTC)


class LiveReporter:
    """A rich progress bar with pending and running counts, the best value and the task's clock.

    Events scroll above it. The clock is the task's own (from its recorded start), so it goes on
    from where it was when a run is resumed; the bar is redrawn as soon as the counts change.
    """

    def __init__(self, task: HPOTask, console: Console | None = None, now: Callable[[], datetime] = _utc_now) -> None:
        self.task = task
        self.now = now
        self.progress_bar = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[running]} running, {task.fields[pending]} pending"),
            TextColumn("best {task.fields[best]}"),
            TextColumn("{task.fields[elapsed]}"),
            console=console,
        )
        self._id = self.progress_bar.add_task(
            task.metadata.name or "task",
            total=task.spec.budget.max_trials,
            running=0,
            pending=0,
            best="-",
            elapsed=_clock(None),
        )

    def __enter__(self) -> LiveReporter:
        self.progress_bar.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.progress_bar.stop()

    def event(self, event: engine.Event) -> None:
        """Print the event above the bar."""
        style = "yellow" if event.type == "Warning" else "dim"
        # Text: brackets in names are not markup
        self.progress_bar.console.print(Text(printable(event.message), style=style))

    def progress(self, status: HPOTaskStatus, trials: Sequence[Trial]) -> None:
        """Move the bar, and redraw it now rather than at the next tick."""
        counts = status.trials
        best = status.best_trial
        # A finished task's clock stopped at its completion, whenever the display is drawn.
        elapsed = (status.completion_time or self.now()) - status.start_time if status.start_time else None
        self.progress_bar.update(
            self._id,
            completed=counts.total - counts.pending - counts.running,
            running=counts.running,
            pending=counts.pending,
            best=f"{best.objective:.6g}" if best else (f"front of {status.front_size}" if status.front_size else "-"),
            elapsed=_clock(elapsed),
        )
        self.progress_bar.refresh()


def _clock(elapsed: timedelta | None) -> str:
    """``1:02:03`` (hours:minutes:seconds), as rich's elapsed column shows it."""
    seconds = max(int(elapsed.total_seconds()), 0) if elapsed is not None else 0
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"
