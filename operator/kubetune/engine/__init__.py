"""One reconcile step: (task spec, trials, clock) -> decisions. Pure: no Kubernetes, no processes."""

from .driver import Executor, Finished, Step, World, step
from .events import Event
from .history import WarmSource, front_names
from .naming import task_seed, trial_name
from .observe import (
    LAST_OUTPUT_BYTES,
    Reason,
    RunFact,
    RunState,
    finished_event,
    last_output,
    objective_of,
    observe,
    other_metrics,
    recorded_metrics,
    with_last_output,
)
from .planner import Plan, best_trial, invalid_status, new_trial, plan, reconcile_error_status, unavailable_status
from .stopping import Verdict, is_active, phase_of, stopped_status

__all__ = [
    "LAST_OUTPUT_BYTES",
    "Event",
    "Executor",
    "Finished",
    "Plan",
    "Reason",
    "RunFact",
    "RunState",
    "Step",
    "Verdict",
    "WarmSource",
    "World",
    "best_trial",
    "finished_event",
    "front_names",
    "invalid_status",
    "is_active",
    "last_output",
    "new_trial",
    "objective_of",
    "observe",
    "other_metrics",
    "phase_of",
    "plan",
    "reconcile_error_status",
    "recorded_metrics",
    "step",
    "stopped_status",
    "task_seed",
    "trial_name",
    "unavailable_status",
    "with_last_output",
]
