"""Writes a run's records to the metadata store from one background thread, in batches.

Steps finish faster than a transaction commits, so finished steps queue here and are written
several per transaction; the run's heartbeat (which tells a crashed run from a live one) is
sent from the same thread. What steps log (metrics, params, tags, artifacts) takes the same
queue, so it is stored no later than the record of the step that logged it. ``close()`` drains
the queue and re-raises a write failure.
"""

from __future__ import annotations

import functools
import queue
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

from conveyor.engine._tracking import merge
from conveyor.store import ArtifactRecord, MetadataStore, StepRunRecord, WriteBatch
from conveyor.store._tracking_records import TrackingBatch

HEARTBEAT_SECONDS = 5.0
# After the first queued write, wait this long for more, so one transaction carries many steps.
# A crash loses at most this window of records; those steps simply run again on resume.
LINGER_SECONDS = 0.05

_STOP = object()


class Recorder:
    def __init__(
        self,
        store: MetadataStore,
        run_id: str,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._store = store
        self._run_id = run_id
        self._clock = clock
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._error: BaseException | None = None
        self._closed = False
        self._thread = threading.Thread(target=self._loop, name="conveyor-recorder", daemon=True)
        self._thread.start()

    def record(self, step_run: StepRunRecord, artifacts: tuple[ArtifactRecord, ...] = ()) -> None:
        self._queue.put(WriteBatch(artifacts=artifacts, step_runs=(step_run,)))

    def track(
        self,
        batch: TrackingBatch,
        artifacts: tuple[ArtifactRecord, ...] = (),
        written: threading.Event | None = None,
    ) -> None:
        """Queue what a step logged; ``written`` is set once it (and all before it) is stored.

        After ``close`` (an attempt that outlived its run's timeout) nothing is stored."""
        if self._closed:
            if written is not None:
                written.set()
            return
        self._queue.put(WriteBatch(artifacts=artifacts))
        self._queue.put(batch)
        if written is not None:
            self._queue.put(written)

    def close(self) -> None:
        """Write everything queued, stop the thread, and raise if a write failed."""
        self._closed = True
        self._queue.put(_STOP)
        self._thread.join()
        if self._error is not None:
            raise self._error

    def _loop(self) -> None:
        last_beat = self._clock()
        while True:
            try:
                first = self._queue.get(timeout=HEARTBEAT_SECONDS)
            except queue.Empty:
                first = None
            items = [] if first is None else [first]
            deadline = time.monotonic() + LINGER_SECONDS
            while first is not None and first is not _STOP and items[-1] is not _STOP:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                try:
                    items.append(self._queue.get(timeout=remaining))
                except queue.Empty:
                    break
            while True:  # and whatever else is already waiting
                try:
                    items.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            stop = any(item is _STOP for item in items)
            batches = [item for item in items if isinstance(item, WriteBatch)]
            tracked = [item for item in items if isinstance(item, TrackingBatch)]
            if (batches or tracked) and self._error is None:
                self._write(batches, tracked)
            for item in items:
                if isinstance(item, threading.Event):
                    item.set()  # after the write, failed or not: a waiting step must go on
            now = self._clock()
            if (now - last_beat).total_seconds() >= HEARTBEAT_SECONDS and self._error is None:
                self._safely(functools.partial(self._store.heartbeat, self._run_id, now))
                last_beat = now
            if stop:
                return

    def _write(self, batches: list[WriteBatch], tracked: list[TrackingBatch]) -> None:
        artifacts: dict[str, ArtifactRecord] = {}
        step_runs: list[StepRunRecord] = []
        for batch in batches:
            for artifact in batch.artifacts:
                artifacts.setdefault(artifact.id, artifact)
            step_runs.extend(batch.step_runs)
        if tracked:  # logged artifacts must be in the store before the rows that name them
            if artifacts:
                logged = WriteBatch(artifacts=tuple(artifacts.values()))
                self._safely(lambda: self._store.commit(logged))
            for logged_batch in merge(tracked):
                self._safely(functools.partial(self._store.log_batch, logged_batch))
            artifacts = {}
        if artifacts or step_runs:
            merged = WriteBatch(artifacts=tuple(artifacts.values()), step_runs=tuple(step_runs))
            self._safely(lambda: self._store.commit(merged))

    def _safely(self, write: Callable[[], None]) -> None:
        try:
            write()
        except BaseException as exc:  # kept and re-raised by close(), on the run's thread
            self._error = exc
