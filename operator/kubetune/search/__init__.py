"""Suggestion algorithms: the search space, the Suggester interface, one module per algorithm."""
