"""The regular expressions users give kubetune (``metricsCollector.patterns``), compiled for RE2.

RE2 matches in time linear in the line, whatever the pattern: a pattern such as ``^(a+)+$`` that
backtracks for minutes in Python's ``re`` (holding the interpreter lock, so the whole operator
stops) costs RE2 microseconds. Its syntax is Go's, the one Katib's filters are written in; what
Python has and RE2 lacks (backreferences, lookaround, atomic groups, possessive repetition) is
refused with the construct named. google-re2 is imported only here.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Protocol

import re2

_OPTIONS = re2.Options()
_OPTIONS.log_errors = False  # a refused pattern is reported to the user as one line, not logged by RE2 to stderr


class Match(Protocol):
    """One match of a compiled pattern."""

    def group(self, index: int, /) -> str | None: ...


class Pattern(Protocol):
    """A compiled pattern: linear-time search over a line."""

    @property
    def groups(self) -> int: ...

    def finditer(self, text: str) -> Iterator[Match]: ...


# RE2's own message for a construct Python has and RE2 lacks, and what to tell the user instead.
_UNSUPPORTED = (
    ("(?=", "lookahead (?=...)"),
    ("(?!", "negative lookahead (?!...)"),
    ("(?<=", "lookbehind (?<=...)"),
    ("(?<!", "negative lookbehind (?<!...)"),
    ("(?>", "an atomic group (?>...)"),
    ("(?#", "a comment (?#...)"),
    ("(?P", "a named backreference (?P=name)"),  # RE2 takes (?P<name>...) and says only "(?P" of the rest
    ("(?x", "verbose mode (?x)"),
    ("(?a", "ASCII mode (?a)"),
    ("(?L", "locale mode (?L)"),
    ("(?(", "a conditional group (?(...)...)"),
)


def _construct(message: str) -> str:
    """The construct RE2's error message is about, in words a user knows."""
    for needle, words in _UNSUPPORTED:
        if needle in message:
            return words
    if message.startswith("invalid escape sequence: \\") and message[-1:].isdigit():
        return f"a backreference ({message.rsplit(': ', 1)[-1]})"
    if message.startswith("invalid escape sequence: \\Z"):
        return "\\Z (write \\z)"
    if message.startswith("bad repetition operator: ") and message.endswith("+"):
        return f"possessive repetition ({message.rsplit(': ', 1)[-1]})"
    if message.startswith("invalid repetition size"):
        return f"a repetition count over 1000 ({message.rsplit(': ', 1)[-1]})"
    return message


def problem(text: str) -> str | None:
    """Why ``text`` cannot be a metric pattern, in one line, or None.

    Python's own syntax check comes first, so a plain mistake reads as one; a pattern Python accepts
    and RE2 refuses names the unsupported construct.
    """
    try:
        re.compile(text)  # compiling is linear; only matching backtracks
    except re.error as error:
        return f"is not a valid regular expression: {error}"
    try:
        re2.compile(text, _OPTIONS)
    except re2.error as error:
        raw = error.args[0] if error.args else ""
        message = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
        return (
            f"uses {_construct(message)}, which RE2 does not support "
            "(kubetune matches patterns in linear time with RE2, Go's syntax)"
        )
    return None


def compile_pattern(text: str) -> Pattern:
    """``text`` compiled for linear-time matching; a pattern ``problem`` refuses raises ``ValueError``."""
    found = problem(text)
    if found is not None:
        raise ValueError(found)
    compiled: Pattern = re2.compile(text, _OPTIONS)
    return compiled
