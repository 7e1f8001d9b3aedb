"""Identifiers: sortable by creation time, unique across processes and hosts."""

from __future__ import annotations

import os
import random
import time

# One generator per process, seeded from the OS: os.urandom per id is a system call that costs
# hundreds of microseconds on some virtual machines. Reseeded in a forked child so parent and
# child never share a sequence.
_random = random.Random(os.urandom(16))


def _reseed() -> None:
    _random.seed(os.urandom(16))


os.register_at_fork(after_in_child=_reseed)


def new_id(prefix: str) -> str:
    """``<prefix>-<12 hex of ms time><8 hex random>``: sorts by creation, never collides."""
    return f"{prefix}-{time.time_ns() // 1_000_000:012x}{_random.getrandbits(32):08x}"
