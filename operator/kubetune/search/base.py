"""The interface every search algorithm implements, and the values that cross it.

Call order, once per reconcile step that has room for new trials::

    suggester = registry.create(spec.algorithm, space)       # cheap; rebuilt every time
    proposal = suggester.suggest(SearchRequest(space, history, pending, count, seed, ...))

A suggester keeps no state between calls: everything it knows comes from the request, so the
operator can rebuild it from the trial history after a restart and get the same answer.
Objective values in the request are *losses*: lower is better (the engine negates maximized
objectives before asking). A multi-objective task (``request.objectives > 1``) gives each finished
trial all its losses in ``values``; ``value`` is then the first. Constraint violations, where
the task has constraints, are in ``constraints`` (<= 0 is feasible); algorithms that cannot use
them may ignore them (the engine never reports an infeasible trial as the best).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Protocol

from ..api import ParamValue

if TYPE_CHECKING:
    from .space import SearchSpace

Assignment = Mapping[str, ParamValue]
"""Parameter name -> value, in user units and plain Python types."""


class TrialState(StrEnum):
    """How a finished trial ended, as far as a search algorithm cares."""

    COMPLETE = "complete"
    """Ran to the end and reported the objective: ``value`` is set."""
    FAILED = "failed"
    """Failed, timed out or reported no objective: ``value`` is None. Never a good result."""
    STOPPED = "stopped"
    """Stopped early (early-stopping rule, or the task was stopped); ``value`` is the last
    intermediate objective when one was reported."""


@dataclass(frozen=True)
class Observation:
    """A finished trial the algorithm may learn from."""

    index: int
    params: Assignment
    state: TrialState
    value: float | None = None
    resource: float | None = None
    tags: Mapping[str, ParamValue] = field(default_factory=dict)
    values: tuple[float | None, ...] = ()
    """Multi-objective: the loss of each objective (``value`` is the first)."""
    constraints: tuple[float, ...] = ()
    """The violation of each constraint (<= 0 when it holds); empty without constraints."""


@dataclass(frozen=True)
class Pending:
    """A trial that was assigned and has not finished yet."""

    index: int
    params: Assignment
    resource: float | None = None
    tags: Mapping[str, ParamValue] = field(default_factory=dict)


@dataclass(frozen=True)
class Suggestion:
    """One new trial: its assignment, and for multi-fidelity algorithms its budget and tags."""

    params: Assignment
    resource: float | None = None
    tags: Mapping[str, ParamValue] = field(default_factory=dict)


@dataclass(frozen=True)
class SearchRequest:
    """Everything a suggester may use: the space, what happened so far, and what is wanted."""

    space: SearchSpace
    history: Sequence[Observation]
    """Finished trials, in index order."""
    pending: Sequence[Pending]
    """Running or not yet started trials, in index order."""
    count: int
    """How many new suggestions are wanted (>= 1)."""
    seed: int
    """The task's seed; combine it with the history length to vary draws between calls."""
    max_trials: int | None = None
    """The task's trial budget, for algorithms that plan (auto, hyperband)."""
    objectives: int = 1
    """How many objectives the task has; above 1, observations carry ``values``."""


@dataclass(frozen=True)
class Proposal:
    """What a suggester answers: at most ``count`` suggestions."""

    suggestions: Sequence[Suggestion]
    exhausted: bool = False
    """True when no suggestion will ever come again for any history that extends this one
    (a grid or an experiment list fully assigned, hyperband's brackets all planned)."""
    reason: str = ""
    """A sentence saying why fewer than ``count`` suggestions came back, if they did; the task's
    status message shows it while trials wait for it."""
    ran: str = ""
    """Which algorithm made the suggestions, when the name alone does not say it: its backend
    (``bayesian (optuna-gp)``), or what ``auto`` chose (``auto: tpe``). Recorded in the task's status."""


class Suggester(Protocol):
    """A search algorithm. Implementations are pure and deterministic for the same request."""

    def suggest(self, request: SearchRequest) -> Proposal:
        """Return up to ``request.count`` new assignments, none equal to a pending one when avoidable."""
        ...


class SuggesterFactory(Protocol):
    """How plugins (entry-point group ``kubetune.algorithms``) build a suggester."""

    def __call__(self, space: SearchSpace, settings: Mapping[str, ParamValue]) -> Suggester: ...
