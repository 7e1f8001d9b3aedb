"""The run context: the one piece of ambient state, a ContextVar set by the engine around a step.

``cv.current_run()`` and the ``log_*`` facade read it; internals take explicit objects.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from conveyor.core._errors import NoActiveRunWarning


@dataclass(frozen=True, slots=True)
class RunContext:
    run_id: str
    pipeline: str
    step: str
    attempt: int


_run: ContextVar[RunContext | None] = ContextVar("conveyor_run", default=None)


@contextmanager
def activate(ctx: RunContext) -> Iterator[RunContext]:
    """Make ``ctx`` current while a step body runs (engine only)."""
    token = _run.set(ctx)
    try:
        yield ctx
    finally:
        _run.reset(token)


def current_run() -> RunContext | None:
    """The run and step being executed, or None (with a warning) outside a run."""
    ctx = _run.get()
    if ctx is None:
        warnings.warn("current_run() outside a run returns None", NoActiveRunWarning, stacklevel=2)
    return ctx
