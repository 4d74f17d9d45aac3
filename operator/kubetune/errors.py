"""The few exceptions kubetune's domain raises; the CLI and the operator translate them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


class KubetuneError(Exception):
    """Base of every error kubetune raises on purpose."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input, at a dotted path such as ``spec.parameters[1].min``."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class InvalidSpec(KubetuneError):
    """A manifest or setting that can never work as written."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = tuple(problems)
        super().__init__("; ".join(str(p) for p in self.problems))


class KindUnavailable(InvalidSpec):
    """A workload kind the operator cannot use now: not installed, or its watch not granted.

    Unlike another invalid spec, the task waits rather than fails: installing the kind's CRD, or
    granting it in the chart, lets it start without an edit.
    """


class SearchError(KubetuneError):
    """A search algorithm could not produce suggestions."""


class StateError(KubetuneError):
    """A local state directory is unreadable or belongs to another task."""


class UsageError(KubetuneError):
    """A command-line value that names nothing the task has (a sort key, a trial)."""


class MissingDependency(KubetuneError):
    """An optional dependency of a command is not installed (the message says which extra has it)."""
