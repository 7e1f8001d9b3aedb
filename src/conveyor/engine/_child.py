"""Runs started from inside a process rather than by a pipeline: a tuning trial, a model
evaluated outside a pipeline. Each is a run of its own, tracked like a step's attempt.
"""

from __future__ import annotations

import traceback
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime

from conveyor.core import RunContext, Settings, activate, new_id
from conveyor.engine import _environment, _tracking
from conveyor.engine._recorder import Recorder
from conveyor.engine._tracking import AttemptTracker
from conveyor.engine._workspace import Workspace


@contextmanager
def child_run(
    settings: Settings,
    pipeline: str,
    step: str,
    *,
    parent_id: str | None = None,
    params: Mapping[str, object] | None = None,
) -> Iterator[RunContext]:
    """A run of its own, current while the block runs: what it logs is stored with it.

    It succeeds when the block returns and fails (with the error) when it raises; what was
    logged before an error is kept. Safe to use from several threads at once.
    """
    workspace = Workspace.shared(settings)
    store = workspace.metadata
    run_id = new_id("run")
    parent = store.get_run(parent_id) if parent_id is not None else None
    store.create_run(_environment.new_run(run_id, pipeline, params or {}, parent=parent))
    recorder = Recorder(store, run_id)
    _tracking.connect(run_id, recorder.track)
    tracker = AttemptTracker(run_id, step, workspace.values.save)
    status, error = "failed", None
    try:
        with activate(RunContext(run_id, pipeline, step, 1, tracker, settings)) as context:
            yield context
        status = "succeeded"
    except BaseException as exc:
        error = f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=8)}"
        raise
    finally:
        try:
            tracker.finish()
        finally:
            _tracking.disconnect(run_id)
            recorder.close()
            store.finish_run(run_id, status, datetime.now(UTC), error)  # type: ignore[arg-type]
