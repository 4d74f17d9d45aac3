"""Shared pieces of the API models: the base class, durations, scalar values, problem reporting."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, NoReturn

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    PlainSerializer,
    ValidationError,
    ValidatorFunctionWrapHandler,
    WithJsonSchema,
    WrapValidator,
)
from pydantic.alias_generators import to_camel
from pydantic_core import InitErrorDetails, PydanticCustomError

Loc = tuple[str | int, ...]


class ApiModel(BaseModel):
    """Base of every manifest model: camelCase on the wire, unknown fields rejected, values frozen."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        frozen=True,
        use_attribute_docstrings=True,
        validate_default=False,
    )

    def to_manifest(self) -> dict[str, Any]:
        """The object as it is written in a manifest: camelCase, unset optional fields left out."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


def raise_problems(title: str, problems: Iterable[tuple[Loc, str]]) -> None:
    """Raise one pydantic ValidationError carrying every semantic problem at its exact location."""
    details = [
        InitErrorDetails(type=PydanticCustomError("semantic", message), loc=loc, input=None)
        for loc, message in problems
    ]
    if details:
        raise ValidationError.from_exception_data(title, details)


def fail(loc: Loc, message: str) -> NoReturn:
    """Raise a single semantic problem at ``loc``."""
    raise_problems("kubetune", [(loc, message)])
    raise AssertionError("unreachable")  # pragma: no cover


# --- durations ---------------------------------------------------------------------------------
# Kubernetes users write durations the Go way ("90s", "1h30m"); plain numbers are seconds.

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
DURATION_PATTERN = r"^([0-9]+(\.[0-9]+)?(ms|s|m|h|d))+$"
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
MAX_DURATION = timedelta(days=365)
"""The longest duration a task may state: far beyond any real budget, and far from the limits of
datetime arithmetic (``now + 999999999h`` overflows)."""


def parse_duration(value: object) -> timedelta:
    """Parse ``"1h30m"``, ``"45s"`` or a number of seconds into a timedelta."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, bool):
        raise ValueError("must be a duration such as 30m or 2h")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str) and re.fullmatch(DURATION_PATTERN, value.strip()):
        seconds = sum(float(n) * _UNIT_SECONDS[u] for n, u in _DURATION_PART.findall(value))
    else:
        raise ValueError(f"must be a duration such as 30m, 1h30m or 45s, got {value!r}")
    if not seconds > 0:  # NaN too
        raise ValueError("must be longer than zero")
    if seconds > MAX_DURATION.total_seconds():
        raise ValueError(f"must be at most {format_duration(MAX_DURATION)} (one year), got {value}")
    return timedelta(seconds=seconds)


def format_duration(value: timedelta) -> str:
    """Write a timedelta the way it would be typed: ``5400s`` -> ``1h30m``."""
    total = value.total_seconds()
    if total != int(total):
        return f"{total:g}s"
    rest, parts = int(total), []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if rest >= size:
            parts.append(f"{rest // size}{unit}")
            rest %= size
    return "".join(parts) or "0s"


Duration = Annotated[
    timedelta,
    BeforeValidator(parse_duration),
    PlainSerializer(format_duration, return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "pattern": DURATION_PATTERN}),
]
"""A duration written as in Kubernetes: ``30s``, ``15m``, ``1h30m``, ``2d``."""


def _assume_utc(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


Timestamp = Annotated[datetime, AfterValidator(_assume_utc)]
"""A point in time; one written without a zone (by hand, in a state file) is taken as UTC."""

# --- scalars ----------------------------------------------------------------------------------


def _one_scalar(value: object, handler: ValidatorFunctionWrapHandler) -> object:
    # The union reports one error per branch (".bool", ".int", ".float", ".str"): four lines for
    # one mistake. One line says what the value must be.
    try:
        return handler(value)
    except ValidationError:
        raise PydanticCustomError(
            "param_value", "must be a string, a number or a boolean, got {kind}", {"kind": _kind(value)}
        ) from None


def _kind(value: object) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    if value is None:
        return "null"
    return type(value).__name__


ParamValue = Annotated[bool | int | float | str, WrapValidator(_one_scalar)]
"""One parameter value as a user writes it: a number, a string or a boolean."""

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def control_character(text: str) -> str | None:
    """The first control character in ``text`` (NUL, newline, escape...), written as ``\\xNN``, or None.

    Parameter values reach a trainer's argv and environment, where a NUL byte cannot go at all
    (execve and Popen refuse it) and other control characters are a mistake nobody meant."""
    found = _CONTROL.search(text)
    return f"\\x{ord(found[0]):02x}" if found else None
