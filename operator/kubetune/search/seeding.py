"""Per-call randomness: a suggester is rebuilt for every request, so its seed comes from the request."""

from __future__ import annotations

import zlib

import numpy as np

from .base import SearchRequest


def call_seed(request: SearchRequest, salt: str) -> int:
    """A 32-bit seed that is the same for the same request and differs as the history grows.

    Seeding a library with the task's seed alone would replay its first draw on every call
    (it is rebuilt each time), so the history and pending counts are mixed in. The salt keeps
    two algorithms (e.g. auto and the one it delegates to) from drawing the same numbers.
    """
    entropy = [request.seed % 2**64, len(request.history), len(request.pending), zlib.crc32(salt.encode())]
    return int(np.random.SeedSequence(entropy).generate_state(1)[0])


def call_rng(request: SearchRequest, salt: str) -> np.random.Generator:
    """A generator seeded by :func:`call_seed`."""
    return np.random.default_rng(call_seed(request, salt))


def fixed_rng(seed: int, *path: int) -> np.random.Generator:
    """A generator for one named draw (e.g. hyperband bracket 2, config 7), independent of history."""
    return np.random.default_rng(np.random.SeedSequence([seed % 2**64, *path]))
