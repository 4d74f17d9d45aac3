"""One reconcile step: (task spec, trials, clock) -> decisions. Pure."""
