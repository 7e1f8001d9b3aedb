"""One attempt of one step, as run by a worker (a thread here, or another process).

Loads inputs, calls the function under the run context with capture and resource figures, and
materializes the outputs into the artifact store. Returns an ``Outcome``; never raises for a
step's own error. Planning, caching and recording happen in the runner, not here.
"""

from __future__ import annotations

import dataclasses
import os
import resource
import socket
import sys
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from conveyor.core import Resources, RunContext, activate
from conveyor.engine import _capture
from conveyor.engine._tracking import AttemptTracker
from conveyor.engine._values import ValueStore, open_value_store
from conveyor.store import ArtifactRecord
from conveyor.store._tracking_records import TrackingBatch


@dataclass(frozen=True, slots=True)
class Stored:
    """An input to load from the stores."""

    record: ArtifactRecord


@dataclass(frozen=True, slots=True)
class Loaded:
    """An input already in memory (threads share the runner's values)."""

    value: object


@dataclass(frozen=True, slots=True)
class GatherInput:
    items: tuple[Stored | Loaded, ...]
    as_tuple: bool


ArgValue = Stored | Loaded | GatherInput


@dataclass(frozen=True, slots=True)
class Task:
    step: str
    fn: Callable[..., object]
    args: tuple[ArgValue, ...]
    kwargs: tuple[tuple[str, ArgValue], ...]
    n_outputs: int | None
    context: RunContext
    artifacts_url: str  # where a worker in another process writes outputs
    inline_limit: int
    keep_values: bool  # in-process workers hand values back to avoid reloading them
    # outputs go to the artifact store however small, to be read back by address alone (the
    # parts of a map) without a copy by the runner
    as_files: bool = False
    resources: Resources | None = None  # what the worker must offer (the step's cv.Resources)


@dataclass(frozen=True, slots=True)
class Outcome:
    step: str
    ok: bool
    outputs: tuple[ArtifactRecord, ...] = ()
    values: tuple[object, ...] | None = None
    error: str | None = None
    traceback: str | None = None
    logs: str = ""
    wall: float = 0.0
    cpu: float = 0.0
    peak_rss: int | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)
    # what the step logged, when it ran where the run's recorder could not take it directly
    tracked: tuple[TrackingBatch, tuple[ArtifactRecord, ...]] | None = None
    worker: str = ""  # where it ran: host:pid, or the executor's name for the worker
    retryable: bool = True  # False: another attempt would fail the same way (no worker fits)
    lost: bool = False  # the worker died or left while running it


_HOST = socket.gethostname()


def worker_name() -> str:
    """This process as the worker of an attempt: host:pid."""
    return f"{_HOST}:{os.getpid()}"


def execute(task: Task, values: ValueStore | None = None) -> Outcome:
    """Run one attempt. ``values`` is the runner's store when in-process, else opened here."""
    _capture.install()
    # the run's settings carry its encryption keys to a worker in another process
    store = values or open_value_store(task.artifacts_url, task.inline_limit, task.context.settings)
    started = time.perf_counter()
    cpu_clock = time.thread_time if task.keep_values else time.process_time
    cpu_started = cpu_clock()
    tracker = AttemptTracker(task.context.run_id, task.context.step, store.save)
    context = dataclasses.replace(task.context, tracker=tracker)
    tracked: tuple[TrackingBatch, tuple[ArtifactRecord, ...]] | None = None
    with _capture.captured() as log:
        try:
            args = [_resolve(a, store) for a in task.args]
            kwargs = {k: _resolve(v, store) for k, v in task.kwargs}
            try:
                with activate(context):
                    result = task.fn(*args, **kwargs)
            finally:
                tracked = tracker.finish()  # what was logged before an error counts too
            del args, kwargs  # let the inputs go before the outputs are written
            parts = _split_outputs(task, result)
            records = tuple(store.save(part, as_file=task.as_files) for part in parts)
        except BaseException as exc:  # a step's error, whatever it is, fails only that step
            if isinstance(exc, KeyboardInterrupt | SystemExit) and task.keep_values:
                raise
            return Outcome(
                step=task.step,
                ok=False,
                error=_capture.storable(f"{type(exc).__name__}: {exc}"),
                traceback=_capture.storable(traceback.format_exc()),
                logs=_capture.tail(log.getvalue()),
                wall=time.perf_counter() - started,
                cpu=cpu_clock() - cpu_started,
                peak_rss=_peak_rss(),
                tracked=tracked,
                worker=worker_name(),
            )
    return Outcome(
        step=task.step,
        ok=True,
        outputs=records,
        values=tuple(parts) if task.keep_values else None,
        logs=_capture.tail(log.getvalue()),
        wall=time.perf_counter() - started,
        cpu=cpu_clock() - cpu_started,
        peak_rss=_peak_rss(),
        tracked=tracked,
        worker=worker_name(),
    )


class OutputShapeError(Exception):
    """The step returned something other than the outputs it declares."""


def _split_outputs(task: Task, result: object) -> list[object]:
    if task.n_outputs is None:
        return [result]
    if not isinstance(result, tuple) or len(result) != task.n_outputs:
        got = f"a tuple of {len(result)}" if isinstance(result, tuple) else type(result).__name__
        raise OutputShapeError(
            f"step {task.step!r} declares {task.n_outputs} outputs (tuple[...] return type) "
            f"but returned {got}"
        )
    return list(result)


def _resolve(arg: ArgValue, store: ValueStore) -> object:
    if isinstance(arg, Loaded):
        return arg.value
    if isinstance(arg, Stored):
        return store.load(arg.record)
    items = [_resolve(i, store) for i in arg.items]
    return tuple(items) if arg.as_tuple else items


def _peak_rss() -> int:
    """The process's peak resident memory so far, in bytes (kilobytes on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak) if sys.platform == "darwin" else int(peak) * 1024
