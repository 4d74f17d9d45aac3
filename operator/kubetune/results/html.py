"""``kubetune report``: one self-contained HTML file of a task's search, readable offline.

The plots are Optuna's own (``optuna.visualization``, plotly figures) over the study that
:mod:`kubetune.results.study` builds; this module only picks them, marks the early-stopped
trials, and lays the figures out with plotly.js embedded once.
"""

from __future__ import annotations

import copy
import html
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import optuna
from optuna.importance import PedAnovaImportanceEvaluator, get_param_importances
from optuna.trial import FrozenTrial, TrialState

from ..api import HPOTask, Trial, TrialPhase
from ..display import trial_rows
from ..engine import objective_of
from ..errors import MissingDependency
from .study import PHASE_ATTR, early_stopped, objectives, plotly_text, quiet_optuna, to_study

MAX_CURVES = 200
"""Intermediate-value curves drawn at most (the best and the early-stopped first): more is a blur."""


@dataclass(frozen=True)
class Section:
    """One part of the report: an id (the figure's element id), a title, and a figure or a note."""

    id: str
    title: str
    figure: Any = None
    note: str = ""


def _quietly(build: Any, *args: Any, **kwargs: Any) -> Any:
    # Several of Optuna's plot functions are marked experimental; their output is what we want.
    with warnings.catch_warnings(), quiet_optuna():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return build(*args, **kwargs)


def importances(study: optuna.Study) -> dict[str, float]:
    """Parameter importances, computed as Optuna Dashboard computes them (PED-ANOVA), so that the
    report and the dashboard rank the parameters alike; empty when too few trials finished to say."""
    finished = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))]
    if len(finished) < 2 or len(study.directions) > 1:
        return {}
    try:
        ranked: dict[str, float] = _quietly(get_param_importances, study, evaluator=_evaluator())
    except (RuntimeError, ValueError):  # e.g. a single distinct value of every parameter
        return {}
    return ranked if any(v > 0 for v in ranked.values()) else {}


def _evaluator() -> PedAnovaImportanceEvaluator:
    # Optuna Dashboard's own choice (optuna_dashboard/_importance.py); it warns about few trials.
    return PedAnovaImportanceEvaluator()


def _values_of_stopped(task: HPOTask, trials: Sequence[Trial]) -> list[Trial]:
    """The trials as the plots take them when none ran to its end (a time limit stopped them all):
    those stopped or early-stopped after reporting the objective count as finished at that value."""
    counted = []
    for trial in trials:
        status = trial.status
        if status is None or status.phase not in (TrialPhase.STOPPED, TrialPhase.EARLY_STOPPED):
            continue
        value = objective_of(task.spec, {m.name: m for m in status.metrics})
        if value is not None:
            counted.append(
                trial.model_copy(
                    update={"status": status.model_copy(update={"phase": TrialPhase.SUCCEEDED, "objective": value})}
                )
            )
    return counted


def sections(task: HPOTask, trials: Sequence[Trial]) -> list[Section]:
    """The report's parts, in reading order."""
    vis = optuna.visualization
    study = to_study(task, trials)
    metrics = objectives(task)
    names = [str(plotly_text(m)) for m, _ in metrics]
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    parts: list[Section] = []
    of_stopped = "" if complete else " (of stopped trials: none ran to its end)"
    if not complete and (counted := _values_of_stopped(task, trials)):
        study = to_study(task, counted)  # the plots below show what the stopped trials reached
        complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if not complete:
        parts.append(Section("history", "Optimization history", note="No trial has finished with an objective yet."))
    elif len(metrics) == 1:
        history = _quietly(vis.plot_optimization_history, study)
        parts.append(Section("history", f"Optimization history{of_stopped}", history))
    else:
        parts.append(Section("pareto", "Pareto front", _quietly(vis.plot_pareto_front, study, target_names=names)))
    if complete and len(metrics) == 1:
        parallel = _quietly(vis.plot_parallel_coordinate, study)
        parts.append(Section("parallel", f"Parallel coordinates{of_stopped}", parallel))
        ranked = importances(study)
        if ranked:
            figure = _quietly(vis.plot_param_importances, study, evaluator=_evaluator(), target_name=names[0])
            title = "Parameter importance (PED-ANOVA, as Optuna Dashboard computes it)"
            parts.append(Section("importance", title, figure))
        top = list(ranked)[:2] or sorted(study.best_trial.params)[:2]
        if len(top) == 2 and len(complete) < 2:
            note = (
                f"A contour needs at least two finished trials with an objective; there is {len(complete)}, "
                "so there is nothing to draw between."
            )
            parts.append(Section("contour", f"Contour of {top[0]} and {top[1]}", note=note))
        elif len(top) == 2:
            parts.append(
                Section("contour", f"Contour of {top[0]} and {top[1]}", _quietly(vis.plot_contour, study, top))
            )
        if top:
            parts.append(Section("slice", f"Slice of {', '.join(top)}", _quietly(vis.plot_slice, study, top)))
    curves = _intermediate(to_study(task, trials))
    if curves is not None:
        parts.append(
            Section(
                "intermediate",
                "Intermediate values (early-stopped trials dashed, ending in x; stopped ones marked)",
                curves,
            )
        )
    return parts


def _intermediate(study: optuna.Study) -> Any:
    with_values = [t for t in study.get_trials(deepcopy=False) if t.intermediate_values]
    if not with_values:
        return None
    stopped = {t.number for t in early_stopped(study)}
    if len(with_values) > MAX_CURVES:  # keep the curves a reader looks for: the stopped ones and the best
        sign = 1 if study.directions[0] is optuna.study.StudyDirection.MINIMIZE else -1
        with_values.sort(key=lambda t: (t.number not in stopped, sign * min(t.intermediate_values.values())))
        with_values = with_values[:MAX_CURVES]
    # plot_intermediate_values takes a study, so give it one holding only the chosen trials; that
    # study numbers them afresh, so traces are matched by position and renamed after the kubetune trial.
    with_values.sort(key=lambda t: t.number)
    # It draws no failed trial: a stopped one (by a person or a time limit) is one to Optuna. Its
    # values are as real as any, so it is handed over as pruned (ended early) and labelled stopped.
    halted = {t.number for t in with_values if t.user_attrs.get(PHASE_ATTR) == TrialPhase.STOPPED}
    with_values = [_as_pruned(t) if t.number in halted else t for t in with_values]
    with quiet_optuna():
        chosen = optuna.create_study(directions=study.directions)
    chosen.add_trials(with_values)
    figure = _quietly(optuna.visualization.plot_intermediate_values, chosen)
    by_name = {f"Trial{i}": trial for i, trial in enumerate(with_values)}
    for trace in figure.data:
        trial = by_name.get(trace.name)
        if trial is None:
            continue
        label = str(trial.user_attrs.get("kubetune_trial") or f"Trial{trial.number}")
        if trial.number in halted:
            trace.update(name=f"{label} (stopped)")
            continue
        if trial.number not in stopped:
            trace.update(name=label)
            continue
        points = len(trace.x)
        trace.update(
            line={"dash": "dash"},
            mode="lines+markers",
            marker={"symbol": ["circle"] * (points - 1) + ["x"], "size": [4] * (points - 1) + [12]},
            name=f"{label} (early-stopped)",
        )
    return figure


def _as_pruned(trial: FrozenTrial) -> FrozenTrial:
    copied = copy.copy(trial)
    copied.state = TrialState.PRUNED
    return copied


def _table(task: HPOTask, trials: Sequence[Trial]) -> str:
    table = trial_rows(task, trials, include_failed=True)
    head = "".join(f"<th>{html.escape(h)}</th>" for h in table.header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(_cell(v))}</td>" for v in row) + "</tr>" for row in table.rows)
    return f'<div class="table"><table id="trials"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    return f"{value:.6g}" if isinstance(value, float) else str(value)


_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
h1 { font-size: 1.6em; } h2 { font-size: 1.2em; margin-top: 2em; border-bottom: 1px solid #ddd; }
.summary { color: #444; } .note { color: #777; font-style: italic; }
.table { overflow-x: auto; } table { border-collapse: collapse; font-size: 0.85em; white-space: nowrap; }
td, th { padding: 2px 8px; border-bottom: 1px solid #eee; }
th { text-align: left; background: #f4f4f4; position: sticky; top: 0; }
td:nth-child(n+3) { font-variant-numeric: tabular-nums; }
"""


def render(task: HPOTask, trials: Sequence[Trial]) -> str:
    """The whole report as one HTML document, plotly.js included (no network needed to view it)."""
    try:
        import plotly  # noqa: F401, PLC0415 - only to say which extra is missing, before Optuna's longer message
    except ImportError:
        raise MissingDependency("the report needs plotly: pip install 'kubetune[report]'") from None
    name = task.metadata.name or "task"
    status = task.status
    summary = [f"{len(trials)} trials"]
    if status is not None:
        summary.insert(0, f"{status.phase}" + (f" ({status.reason})" if status.reason else ""))
        if status.best_trial is not None:
            best = status.best_trial
            summary.append(f"best {task.spec.objective.primary} {best.objective:.6g} ({html.escape(best.name)})")
    pieces = [
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>kubetune report: {html.escape(name)}</title>",
        f"<style>{_STYLE}</style></head><body>",
        f"<h1>{html.escape(name)}</h1><p class='summary'>{html.escape(' · '.join(summary))}</p>",
    ]
    plotly_embedded = False
    for part in sections(task, trials):
        pieces.append(f"<h2>{html.escape(part.title)}</h2>")
        if part.figure is None:
            pieces.append(f"<p class='note' id='{part.id}'>{html.escape(part.note)}</p>")
            continue
        part.figure.update_layout(title_text="", margin={"t": 30})  # the section heading says what it is
        pieces.append(
            part.figure.to_html(
                full_html=False,
                include_plotlyjs=not plotly_embedded,  # the first figure carries plotly.js for all
                include_mathjax=False,
                div_id=part.id,
                config={"displaylogo": False},
            )
        )
        plotly_embedded = True
    pieces.append(f"<h2>Trials</h2>{_table(task, trials)}</body></html>")
    return "\n".join(pieces)
