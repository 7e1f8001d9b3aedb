"""This process' environment, as the cluster libraries change it and conveyor puts it back.

A Dask nanny writes its workers' variables (thread limits, a hash seed) into the environment
of the process that starts it, and ``ray.init`` its own; every process started from here
afterwards would inherit them: local worker processes limited to one thread, say.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator, Mapping

# Changed for a moment by whoever holds it: the environment is shared by every thread.
environ_lock = threading.Lock()

# Each variable changed: its value before (None: unset) and after.
Changes = dict[str, tuple[str | None, str | None]]


@contextlib.contextmanager
def changes_noted() -> Iterator[Changes]:
    """Yields, once the block is done, the variables it changed. A block that raises has
    started nothing that needs them: they are put back at once."""
    changes: Changes = {}
    with environ_lock:
        before = dict(os.environ)
        try:
            yield changes
        except BaseException:
            _note(before, changes)
            _put_back(changes)
            raise
        _note(before, changes)


def restore(changes: Mapping[str, tuple[str | None, str | None]]) -> None:
    """Put back each variable as it was before ``changes``, unless it has been changed again
    since by someone else."""
    with environ_lock:
        _put_back(changes)


def _note(before: Mapping[str, str], changes: Changes) -> None:
    after = dict(os.environ)
    for name in before.keys() | after.keys():
        if before.get(name) != after.get(name):
            changes[name] = (before.get(name), after.get(name))


def _put_back(changes: Mapping[str, tuple[str | None, str | None]]) -> None:
    for name, (before, after) in changes.items():
        if os.environ.get(name) != after:
            continue
        if before is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = before
