"""Events: what a person watching a task wants to know, in the words of a Kubernetes Event."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class Event:
    """Something a person watching the task wants to know, as a Kubernetes Event would say it."""

    reason: str
    message: str
    type: Literal["Normal", "Warning"] = "Normal"
    trial: str | None = None
    """The trial the event is about, if any."""
