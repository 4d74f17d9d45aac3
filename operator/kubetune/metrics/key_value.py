"""The keyValue format: ``name=value`` pairs anywhere in a line (Katib's default).

``name: value`` is read too, because that is how Keras prints its progress
(``loss: 0.4123 - accuracy: 0.8712``), and a quote after the name is allowed so that a flat
JSON line also reads. A value is a decimal number (``3``, ``-0.5``, ``1e-3``, ``.5``) or a
spelled NaN/infinity, which is counted and dropped. A value glued to letters (``3s``,
``0x1f``) is not a number and is skipped. A scalar PyTorch tensor, as ``print`` shows it
(``loss=tensor(0.0712, device='cuda:0')``), reads as its number.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from ..api import MetricsCollector
from .base import NOTHING, ParsedLine, as_step, collect, step_keys

_NAME = r"[A-Za-z_][A-Za-z0-9_./-]*"
_NUMBER = r"[+-]?(?:(?:\d+(?:\.\d*)?|\.\d+)(?:e[+-]?\d+)?|nan|inf(?:inity)?)"
PAIR = re.compile(
    # The look-behind keeps ``loss`` from matching inside ``val_loss``; the look-ahead rejects
    # ``3s`` and ``0.3.4`` but accepts a sentence's final period (``loss=0.3.``).
    # A PyTorch tensor printed as is (``loss=tensor(0.0712, device='cuda:0')``) reads as its number.
    rf"(?<![A-Za-z0-9_./-])({_NAME})[\"']?[ \t]*[=:][ \t]*(?:tensor\([ \t]*)?({_NUMBER})(?![A-Za-z0-9_]|\.\d)",
    re.IGNORECASE,
)
"""One ``name=value`` pair: group 1 is the name, group 2 the value as written."""


def pairs(line: str) -> list[tuple[str, str]]:
    """Every ``(name, value)`` pair in ``line``, in order."""
    return PAIR.findall(line)


def find_step(found: Sequence[tuple[str, str]], keys: Sequence[str]) -> int | None:
    """The step given by the first of ``keys`` present among ``found`` pairs with a usable value."""
    for key in keys:
        for name, raw in found:
            if name == key and (step := as_step(raw)) is not None:
                return step
    return None


class KeyValueParser:
    """Reads ``name=value`` pairs; a step key on the same line gives the step of the others."""

    def __init__(self, collector: MetricsCollector, wanted: frozenset[str]) -> None:
        self._wanted = wanted
        self._step_keys = step_keys(collector)

    def parse(self, line: str) -> ParsedLine:
        """Return the wanted metrics ``line`` reports."""
        # Most lines of a training log hold no metric; skip them before the regular expression.
        if "=" not in line and ":" not in line:
            return NOTHING
        found = pairs(line)
        if not found:
            return NOTHING
        return collect(found, self._wanted, find_step(found, self._step_keys))
