"""batch/v1 Job: conditions Complete and Failed; the primary pod is the Job's newest pod."""

from __future__ import annotations

from ...api import kinds
from .base import ConditionWorkload

JOB = ConditionWorkload(kinds.JOB)
