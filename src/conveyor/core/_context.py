"""The run context: the one piece of ambient state, a ContextVar set by the engine around a step.

``cv.current_run()`` and the ``log_*`` facade read it; internals take explicit objects. The
engine puts a ``TrackingSink`` in the context of each attempt; the facade (``tracking``, a
higher layer) hands logged values to it, so neither side imports the other.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Protocol

from conveyor.core._errors import NoActiveRunWarning
from conveyor.core._settings import Settings


class TrackingSink(Protocol):
    """Where a running step's logged values go. Calls only buffer: they must be cheap enough for
    a tight loop (a few microseconds); the engine writes the buffer off the step's thread and
    makes it durable before the step counts as finished."""

    def metric(self, key: str, value: float, step: int | None) -> None: ...

    def metrics(self, values: Mapping[str, float], step: int | None) -> None: ...

    def params(self, values: Mapping[str, object]) -> None: ...

    def tags(self, values: Mapping[str, object]) -> None: ...

    def artifact(self, value: object, name: str | None) -> str:
        """Store a file (a path) or an object as an artifact of the run; returns its name."""
        ...

    def flush(self) -> None:
        """Block until everything logged so far is durable."""
        ...


@dataclass(frozen=True, slots=True)
class RunContext:
    run_id: str
    pipeline: str
    step: str
    attempt: int
    tracker: TrackingSink | None = None  # set in the worker that runs the attempt
    settings: Settings | None = None  # the run's stores: where a step registers models
    inputs: tuple[tuple[str, str], ...] = ()  # (input name, artifact id): the step's lineage


_run: ContextVar[RunContext | None] = ContextVar("conveyor_run", default=None)


@contextmanager
def activate(ctx: RunContext) -> Iterator[RunContext]:
    """Make ``ctx`` current while a step body runs (engine only)."""
    token = _run.set(ctx)
    try:
        yield ctx
    finally:
        _run.reset(token)


def active_run() -> RunContext | None:
    """The current context, without a warning: for callers that handle None themselves."""
    return _run.get()


def current_run() -> RunContext | None:
    """The run and step being executed, or None (with a warning) outside a run."""
    ctx = _run.get()
    if ctx is None:
        warnings.warn("current_run() outside a run returns None", NoActiveRunWarning, stacklevel=2)
    return ctx
