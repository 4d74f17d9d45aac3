"""Trial tables and progress displays for people: ``kubetune trials``, ``best`` and ``run``'s display."""

from __future__ import annotations

import csv
import io
import json
import sys
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TextIO

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table
from rich.text import Text

from . import engine
from .api import (
    Aggregation,
    HPOTask,
    HPOTaskStatus,
    MetricSeries,
    ParamValue,
    TaskPhase,
    Trial,
    TrialPhase,
)
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


BUILT_IN_COLUMNS = ("trial", "front", "phase", "last_step", "best_intermediate", "duration", "reason", "message")
"""The trial table's own columns; a metric printed under one of these names is shown as ``metric:NAME``."""

PHASE_WORDS = {
    TrialPhase.EARLY_STOPPED: "early-stopped",
    TrialPhase.STOPPED: "stopped",
    TrialPhase.FAILED: "failed",
    TrialPhase.RUNNING: "running",
    TrialPhase.PENDING: "pending",
    TrialPhase.QUEUED: "queued",
}


@dataclass
class TrialTable:
    """``kubetune trials``: the header and rows of one page, and the figures that say what it shows."""

    header: list[str]
    rows: list[list[Any]]
    total: int
    """Rows that matched (the phase filter, then --top) before paging: the JSON ``total``."""
    trials: int
    """Every trial of the task."""
    hidden: dict[str, int]
    """Trials the phase filter left out, by phase."""
    keep: tuple[str, ...]
    """Columns never left out nor cut: the trial's name and the objective (the Pareto front mark, and
    the phase where trials of several phases are listed)."""
    drop_order: tuple[str, ...]
    """The other columns, the least important first: left out first when the terminal is narrow."""
    top: int | None = None
    offset: int = 0
    limit: int | None = None

    def title(self) -> str:
        """What the table shows of the task's trials, honestly counted: ``12 shown of 16 trials (...)``."""
        notes = []
        if self.top is not None:
            notes.append(f"the top {self.top}")
        if self.offset or (self.limit is not None and self.limit < self.total):
            first = min(self.offset + 1, self.total)
            notes.append(f"rows {first}-{self.offset + len(self.rows)} of {self.total}")
        if self.hidden:
            left_out = ", ".join(f"{n} {word}" for word, n in self.hidden.items())
            notes.append(f"{left_out}: --all")
        return f"{len(self.rows)} shown of {self.trials} trials" + (f" ({'; '.join(notes)})" if notes else "")


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
) -> TrialTable:
    """The header, the rows sorted (best first by default), and how many rows matched before paging."""
    spec = task.spec
    params = [p.name for p in spec.parameters] or sorted({k for t in trials for k in t.spec.parameters})
    chosen = [t for t in trials if include_failed or (t.status is not None and t.status.phase is TrialPhase.SUCCEEDED)]
    left_out = Counter(
        PHASE_WORDS.get(t.status.phase if t.status else TrialPhase.PENDING, "other")
        for t in trials
        if not include_failed and not (t.status is not None and t.status.phase is TrialPhase.SUCCEEDED)
    )
    extra = metric_columns(task, chosen)
    declared = set(metric_columns(task, []))
    multi = spec.objective.multi
    front = engine.front_names(spec, trials) if multi else set()
    fixed = {*BUILT_IN_COLUMNS, *params}
    shown_metrics = [f"metric:{m}" if m in fixed else m for m in extra]
    header = [
        "trial",
        *(["front"] if multi else []),
        "phase",
        spec.objective.primary,
        *params,
        # A metric named like another column (a trainer printing ``duration=``) is told apart from it.
        *shown_metrics,
        "last_step",
        "best_intermediate",
        "duration",
        "reason",
        "message",
    ]
    others = [c for m, c in zip(extra, shown_metrics, strict=True) if m not in declared]
    drop_order = (
        "message",
        "reason",
        "best_intermediate",
        "last_step",
        *others[::-1],
        "duration",
        *([] if include_failed else ["phase"]),  # by default every trial shown succeeded
        *[c for m, c in zip(extra, shown_metrics, strict=True) if m in declared][::-1],
        *params[::-1],
    )
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
        duration = None
        if status and status.start_time and status.completion_time:
            duration = round((status.completion_time - status.start_time).total_seconds(), 1)
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
                duration,
                (status.reason or "") if status else "",
                status.message if status else None,  # a failed trial's exit code, last output and log's path
            ]
        )
    keep = ("trial", *(["front"] if multi else []), *(["phase"] if include_failed else []), spec.objective.primary)
    return TrialTable(
        header, rows, total, len(trials), dict(left_out), keep, drop_order, top=top, offset=offset, limit=limit
    )


def series_rows(trial: Trial, metric: str | None = None) -> tuple[list[str], list[list[Any]]]:
    """Every value a trial reported (as kept: at most 100 points per metric), one row per metric and
    step; only ``metric``'s when given."""
    header = ["metric", "step", "value"]
    rows: list[list[Any]] = [
        [series.name, point.step, point.value]
        for series in (trial.status.metrics if trial.status else [])
        if metric is None or series.name == metric
        for point in series.points
    ]
    return header, rows


def all_series_rows(trials: Sequence[Trial], metric: str) -> tuple[list[str], list[list[Any]]]:
    """Every trial's values of one metric, step by step (``trials --series`` without ``--trial``),
    in trial order: what a plot of the learning curves of the whole task is drawn from."""
    header = ["trial", "step", metric]
    rows: list[list[Any]] = [
        [trial.metadata.name, point.step, point.value]
        for trial in sorted(trials, key=lambda t: t.spec.index)
        if (series := _series(trial).get(metric)) is not None
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
    extra: dict[str, Any] | None = None,
    keep: Sequence[str] = (),
    drop_order: Sequence[str] = (),
    wide: bool = False,
    width: int | None = None,
) -> None:
    """Print rows as a table, JSON (header + rows, with paging figures) or CSV.

    The table fits the terminal (``width``, else the terminal's or $COLUMNS, else 80): the columns
    in ``drop_order`` are left out, the first first, until the rest fit, and the caption names
    them; the ``keep`` columns are never cut. ``wide`` shows every column, however wide.
    """
    if fmt == "json":
        document = {
            "total": total,
            "count": len(rows),
            "offset": offset,
            "limit": limit,
            **(extra or {}),
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
        cells = [[printable(_cell(v), keep="\n") for v in row] for row in rows]
        names = [printable(h) for h in header]
        natural = [max([len(n), *(_line_width(row[i]) for row in cells)]) for i, n in enumerate(names)]
        console = Console(file=out, width=width)
        if wide:
            console = Console(file=out, width=max(console.width, sum(n + 3 for n in natural) + 1))
        shown = _fitting(header, natural, console.width, drop_order if not wide else ())
        left_out = [h for i, h in enumerate(header) if i not in shown]
        caption = f"not shown: {', '.join(left_out)} (--wide shows every column)" if left_out else None
        # Text, not str: rich would read [link=...] in a metric name as markup, a real hyperlink.
        table = Table(title=title, caption=caption)
        for i in shown:
            if header[i] in keep:
                table.add_column(Text(names[i]), no_wrap=True, min_width=natural[i])
            else:
                table.add_column(Text(names[i]), overflow="fold")
        for row in cells:
            table.add_row(*[Text(row[i]) for i in shown])
        console.print(table)


def _line_width(text: str) -> int:
    return max((len(line) for line in text.splitlines()), default=0)


def _fitting(header: Sequence[str], natural: Sequence[int], width: int, drop_order: Sequence[str]) -> list[int]:
    """The indices of the columns to show: all but the first of ``drop_order`` that must go for the
    table (each column padded and bordered: 3 characters, and one closing border) to fit ``width``."""
    shown = set(range(len(header)))
    needed = sum(n + 3 for n in natural) + 1
    for name in drop_order:
        if needed <= width:
            break
        if name in header:
            i = header.index(name)
            shown.discard(i)
            needed -= natural[i] + 3
    return sorted(shown)


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


def best_of_all(task: HPOTask, trials: Sequence[Trial], *, include_failed: bool = False) -> dict[str, Any] | None:
    """The best trial that reported the objective, early-stopped and stopped ones included (failed
    ones too with ``include_failed``: the values they reported before failing), with its phase."""
    phases = ranking.REPORTED | {TrialPhase.FAILED} if include_failed else ranking.REPORTED
    scored = []
    for trial in trials:
        if trial.status is None or trial.status.phase not in phases:
            continue
        value = trial.status.objective
        if value is None:  # a failed trial has no objective of record: the value its series gives
            value = engine.objective_of(task.spec, _series(trial))
        if value is not None:
            scored.append((task.spec.objective.loss(value), trial.spec.index, value, trial))
    if not scored:
        return None
    _, _, objective, best = min(scored, key=lambda s: (s[0], s[1]))
    assert best.status is not None
    metrics = engine.other_metrics(task.spec, best, [task.spec.objective.primary])
    return {
        "name": best.metadata.name,
        "phase": best.status.phase.value,
        "objective": objective,
        "parameters": best.spec.parameters,
        "metrics": metrics,
    }


def task_times(task: HPOTask, now: datetime) -> tuple[str, str, str]:
    """When the task started, how long it ran (so far, or until it ended), and what its time limit
    (maxDuration, deadline) leaves, as ``list`` and ``best`` show them; ``-`` where there is none."""
    status = task.status
    start = status.start_time if status else None
    if start is None:
        return "-", "-", "-"
    end = status.completion_time if status else None
    ran = _clock((end or now) - start)
    budget = task.spec.budget
    limits = [start + budget.max_duration] if budget.max_duration is not None else []
    limits += [budget.deadline] if budget.deadline is not None else []
    if not limits:
        left = "-"
    elif end is not None:
        left = "ended"
    else:
        left = _clock(max(min(limits) - now, timedelta(0)))
    return f"{start.astimezone(UTC):%Y-%m-%d %H:%M:%S}Z", ran, left


def task_rows(tasks: Sequence[tuple[HPOTask, str]], now: datetime | None = None) -> tuple[list[str], list[list[Any]]]:
    """``kubetune list``: one row per task (with its status and times) and where it is kept."""
    now = now or _utc_now()
    header = ["task", "phase", "trials", "running", "best", "best_trial", "started", "ran", "time_left", "state"]
    rows: list[list[Any]] = []
    for task, where in tasks:
        status = task.status
        counts = status.trials if status else None
        best = status.best_trial if status else None
        rows.append(
            [
                task.metadata.name,
                _phase_shown(status),
                f"{counts.total - counts.pending - counts.running if counts else 0}/{task.spec.budget.max_trials}",
                counts.running if counts else 0,
                best.objective if best else None,
                best.name if best else None,
                *task_times(task, now),
                where,
            ]
        )
    return header, rows


def _phase_shown(status: HPOTaskStatus | None) -> str:
    """The task's phase as ``list`` shows it: a task stopping gracefully is Stopping, not merely Running."""
    if status is None:
        return "Pending"
    return "Stopping" if status.phase is TaskPhase.RUNNING and status.reason == "Stopping" else status.phase.value


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
