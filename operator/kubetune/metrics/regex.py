"""The regex format: one user-given regular expression per metric; its capture group is the value.

The step comes from a ``name=value`` step key on the same line, as in the keyValue format.
"""

from __future__ import annotations

from ..api import MetricsCollector, regexp
from ..errors import InvalidSpec, Problem
from .base import NOTHING, ParsedLine, collect, step_keys
from .key_value import find_step, pairs


class RegexParser:
    """Reads each wanted metric with its pattern; every match on a line is one value."""

    def __init__(self, collector: MetricsCollector, wanted: frozenset[str]) -> None:
        self._wanted = wanted
        self._step_keys = step_keys(collector)
        self._patterns: list[tuple[str, regexp.Pattern]] = []
        problems: list[Problem] = []
        for i, pattern in enumerate(collector.patterns):
            path = f"spec.metricsCollector.patterns[{i}].regex"
            if problem := regexp.problem(pattern.regex):
                problems.append(Problem(path, problem))
                continue
            compiled = regexp.compile_pattern(pattern.regex)
            if compiled.groups != 1:
                problems.append(Problem(path, f"must have exactly one capture group, has {compiled.groups}"))
            else:  # every pattern runs: those of metrics the task did not ask for are shown to people
                self._patterns.append((pattern.metric, compiled))
        if problems:
            raise InvalidSpec(problems)

    def parse(self, line: str) -> ParsedLine:
        """Return the values the patterns find in ``line``."""
        found: list[tuple[str, object]] = [
            (metric, match.group(1))
            for metric, pattern in self._patterns
            for match in pattern.finditer(line)
            if match.group(1) is not None  # an optional group that took no part in the match
        ]
        if not found:
            return NOTHING
        return collect(found, self._wanted, find_step(pairs(line), self._step_keys))
