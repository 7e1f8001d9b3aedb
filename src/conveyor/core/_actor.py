"""Who is acting: the name the audit log records for every change, a ContextVar like the run.

A server sets it per request with ``acting_as(user.name)``; everything else (the CLI, scripts,
the scheduler) acts as ``local:<OS user name>``. The store reads ``current_actor()`` when it
writes an audit entry; nothing here decides what an actor may do (``conveyor.store`` holds roles
and tokens).
"""

from __future__ import annotations

import getpass
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from conveyor.core._errors import ConveyorError

LOCAL_PREFIX = "local:"  # user names cannot hold ':', so a local actor never passes for a user

_actor: ContextVar[str | None] = ContextVar("conveyor_actor", default=None)


def current_actor() -> str:
    """The actor set by the innermost ``acting_as``, else ``local:<OS user name>``."""
    named = _actor.get()
    return named if named is not None else LOCAL_PREFIX + _os_user()


@contextmanager
def acting_as(name: str) -> Iterator[str]:
    """Record changes made inside the block as made by ``name``.

    Args:
        name: A user name, or any non-empty label (``monitor:churn-drift``).
    """
    if not isinstance(name, str) or not name.strip():
        raise ConveyorError(f"an actor is a non-empty name, got {name!r}", actor=repr(name))
    token = _actor.set(name)
    try:
        yield name
    finally:
        _actor.reset(token)


def _os_user() -> str:
    try:
        return getpass.getuser() or "unknown"
    except (KeyError, OSError):  # no passwd entry and no USER variable, as in some containers
        return "unknown"
