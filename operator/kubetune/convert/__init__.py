"""Manifests of other HPO tools as HPOTasks: ``kubetune convert``."""

from .katib import TRIAL_KINDS, Conversion, Note, Refused, TrialKind, convert
from .output import render

__all__ = ["TRIAL_KINDS", "Conversion", "Note", "Refused", "TrialKind", "convert", "render"]
