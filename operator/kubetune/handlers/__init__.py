"""Kopf handlers: thin wiring from cluster events to the engine."""
