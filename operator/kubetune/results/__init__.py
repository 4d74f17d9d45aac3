"""What a person looks at after (or during) a search: trial sources, the Optuna view, the report, the dashboard.

Everything here reads a task and its trials through a :class:`~kubetune.results.source.TrialSource`
(a local state directory today; a cluster task later) and never changes them.
"""
