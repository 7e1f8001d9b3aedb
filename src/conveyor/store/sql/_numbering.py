"""Numbering the versions of a name (datasets, models) safely under concurrent writers.

The next number is read and inserted in one transaction; the primary key (name, version)
refuses a number that another writer took in between, and the loser tries again with the
number after. On SQLite the write lock serialises registrations anyway; on PostgreSQL (read
committed) the retry is what keeps two registrations from sharing a number.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy.exc import IntegrityError

from conveyor.core._errors import StoreError

Run = Callable[[Callable[[], Any], str], Any]  # SqlMetadataStore._run: serialise, retry, translate

# Each lost race means another writer won, so this many concurrent registrations of one name
# always succeed; past it the caller gets the StoreError.
_ATTEMPTS = 64
MAX_VERSION = 2**31 - 1  # version columns are 32-bit INTEGERs on PostgreSQL


def insert_numbered(run: Run, action: Callable[[], int], what: str) -> int:
    """Run ``action`` (read the highest number, insert the next; returns it) until no other
    writer took that number first."""
    for attempt in range(_ATTEMPTS):
        try:
            number: int = run(action, what)
        except StoreError as exc:
            if not isinstance(exc.__cause__, IntegrityError) or attempt + 1 == _ATTEMPTS:
                raise
            time.sleep(random.uniform(0, 0.002 * (attempt + 1)))  # let the winner commit
            continue
        return number
    raise AssertionError("unreachable")  # the loop returns or raises
