"""Numbering the versions of a name (datasets, models) safely under concurrent writers.

The next number is read and inserted in one transaction; the primary key (name, version)
refuses a number that another writer took in between, and the loser tries again with the
number after. On SQLite the write lock serialises registrations anyway; on PostgreSQL (read
committed) the retry is what keeps two registrations from sharing a number.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Connection, String, Table, bindparam, func, select
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


class NumberedQueries:
    """The look-ups of a table of numbered versions (``name``, ``version`` columns), built
    once: the highest number, a version by number or the newest, and every number."""

    def __init__(self, table: Table, columns: Sequence[Any]) -> None:
        c, name = table.c, bindparam("name", type_=String())
        self._latest_number = select(func.max(c.version)).where(c.name == name)
        self._latest = select(*columns).where(c.name == name).order_by(c.version.desc()).limit(1)
        self._exact = select(*columns).where(c.name == name, c.version == bindparam("version"))
        self._numbers = select(c.version).where(c.name == name).order_by(c.version)

    def next_number(self, connection: Connection, name: str) -> int:
        return int(connection.execute(self._latest_number, {"name": name}).scalar() or 0) + 1

    def find(
        self, connection: Connection, name: str, version: int | None
    ) -> tuple[Sequence[Any] | None, list[int]]:
        """The version's row (None: the newest), or None and the numbers there are."""
        row = None
        if version is None:
            row = connection.execute(self._latest, {"name": name}).first()
        elif 1 <= version <= MAX_VERSION:
            row = connection.execute(self._exact, {"name": name, "version": version}).first()
        if row is not None:
            return row, []
        return None, list(connection.execute(self._numbers, {"name": name}).scalars())
