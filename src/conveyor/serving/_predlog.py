"""The prediction log: what the server predicted, written in batches to Parquet files under the
artifact store for monitoring (drift of the inputs, accuracy against feedback labels).

``PredictionLog.add`` runs on the event loop after every prediction, so it only appends the
entry to a bounded buffer; a thread of its own turns buffered entries into Arrow tables (see
``_predlog_arrow``) and writes a file (see ``_predlog_files``) every ``flush_seconds``, or
sooner once the buffer holds enough rows for a good file. Rows being written still count
against ``max_rows``, so a failed write can put them back without exceeding the bound: the
next attempt, after ``flush_seconds``, writes them with whatever arrived meanwhile. Beyond the
bound new rows are dropped and counted, never raised into a request. ``close`` writes what is
left at shutdown.

The log also remembers which model answered each recent request id, so feedback that names
only a request id can be filed under its model.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from prometheus_client import Counter

from conveyor.data._predlog_files import PREDICTIONS, LogFolder
from conveyor.serving._metrics import ServingMetrics
from conveyor.serving._predlog_arrow import KnownTypes, group, prediction_table

log = logging.getLogger("conveyor.serving")

FILE_ROWS: Final = 5_000  # rows that make a file worth writing before flush_seconds is up
REMEMBERED: Final = 100_000  # request ids whose model is remembered for feedback
_CLOSE_WAIT_S: Final = 120.0
_MIN_FLUSH_S: Final = 0.01


@dataclass(frozen=True, slots=True)
class LoggedPrediction:
    model: str
    version: int
    request_id: str
    protocol: str
    received_at: datetime
    latency_ms: float
    columns: tuple[str, ...] | None
    rows: list[list[Any]]
    outputs: list[Any]
    scores: list[float] | None = None  # a binary classifier's probability of scored_class
    scored_class: Any = None


class PredictionLog:
    def __init__(
        self,
        root: str,
        *,
        max_rows: int,
        flush_seconds: float,
        metrics: ServingMetrics,
        enabled: bool = True,
    ) -> None:
        self.root = root
        self.enabled = enabled
        self.max_rows = max(1, max_rows)
        self.flush_seconds = max(flush_seconds, _MIN_FLUSH_S)
        self.metrics = metrics
        self.write_failures = Counter(
            "conveyor_prediction_log_write_failures",
            "Attempts to write a file of the prediction log that failed (the rows are kept).",
            registry=metrics.registry,
        )
        self.feedback_rows = Counter(
            "conveyor_feedback_rows",
            "Feedback labels written, by model.",
            ["model"],
            registry=metrics.registry,
        )
        self._file_rows = min(FILE_ROWS, max(1, self.max_rows // 2))
        self._lock = threading.Lock()
        self._buffer: list[LoggedPrediction] = []
        self._held = 0  # rows buffered or being written: what the bound applies to
        self._queued = 0  # rows buffered, not being written: what makes a file worth writing
        self._wake = threading.Event()
        self._closing = threading.Event()
        self._closed = False
        self._thread: threading.Thread | None = None
        self._dropping = False
        self._failing = False
        self._known: KnownTypes = {}
        self._folder: LogFolder | None = None
        self._recent: OrderedDict[str, str] = OrderedDict()

    # -- life cycle -------------------------------------------------------------------------

    def start(self) -> None:
        if not self.enabled or self._thread is not None or self._closed:
            return
        self._thread = threading.Thread(target=self._run, name="prediction-log", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Writes every buffered row and stops the writer; later calls do nothing."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        if not self.enabled:
            return
        self._closing.set()
        self._wake.set()
        thread = self._thread
        if thread is None:
            self._flush(final=True)
            return
        thread.join(_CLOSE_WAIT_S)
        if thread.is_alive():
            log.error(
                "the prediction log is still writing after %.0f s; %d buffered rows may be lost",
                _CLOSE_WAIT_S,
                self._held,
            )

    @property
    def buffered_rows(self) -> int:
        """Rows not written yet (buffered, or in a write under way)."""
        return self._held

    # -- the request path -------------------------------------------------------------------

    def add(self, entry: LoggedPrediction) -> None:
        """Buffers ``entry`` for the writer; never blocks on I/O and never raises."""
        if not self.enabled:
            return
        try:
            self._remember(entry.request_id, entry.model)
            n = len(entry.rows)
            full = False
            with self._lock:
                accepted = not self._closed and self._held + n <= self.max_rows
                if accepted:
                    self._buffer.append(entry)
                    self._held += n
                    self._queued += n
                    full = self._queued >= self._file_rows
            if not accepted:
                self._dropped(entry.model, n)
            elif full and not self._wake.is_set():
                self._wake.set()
        except Exception:  # a bug here must not fail the prediction it logs
            log.exception("could not log a prediction of %s", entry.model)

    def model_of(self, request_id: str) -> str | None:
        """The model that answered ``request_id``, if this process still remembers it."""
        return self._recent.get(request_id)

    def folder(self) -> LogFolder:
        """The log's files under the artifact store (opened on first use)."""
        if self._folder is None:
            self._folder = LogFolder(self.root)
        return self._folder

    def _remember(self, request_id: str, model: str) -> None:
        recent = self._recent
        recent[request_id] = model
        if len(recent) > REMEMBERED:
            recent.popitem(last=False)

    def _dropped(self, model: str, rows: int) -> None:
        self.metrics.log_dropped.labels(model).inc(rows)
        if not self._dropping:
            self._dropping = True  # one warning per spell of a full buffer
            log.warning(
                "the prediction log's buffer is full (%d rows); dropping new predictions until "
                "it is written (see conveyor_prediction_log_dropped)",
                self.max_rows,
            )

    # -- the writer thread ------------------------------------------------------------------

    def _run(self) -> None:
        while not self._closing.is_set():
            self._wake.wait(self.flush_seconds)
            self._wake.clear()
            if self._closing.is_set():
                break
            if not self._flush():
                self._closing.wait(self.flush_seconds)  # do not hammer a failing store
        self._flush(final=True)

    def _flush(self, *, final: bool = False) -> bool:
        """Writes what is buffered; True unless a write failed (its rows are buffered again,
        or, on the final flush, reported lost)."""
        with self._lock:
            entries, self._buffer = self._buffer, []
            self._queued = 0
        if not entries:
            return True
        kept = self._write(entries)
        kept_rows = sum(len(e.rows) for e in kept)
        with self._lock:
            if kept and not final:
                self._buffer[:0] = kept
                self._queued += kept_rows
                self._held -= sum(len(e.rows) for e in entries) - kept_rows
            else:
                self._held -= sum(len(e.rows) for e in entries)
            if not kept:
                self._dropping = False
        if kept and final:
            for entry in kept:
                self.metrics.log_dropped.labels(entry.model).inc(len(entry.rows))
            log.error("the prediction log could not write its last %d rows; lost", kept_rows)
        return not kept

    def _write(self, entries: list[LoggedPrediction]) -> list[LoggedPrediction]:
        """Writes one file per group of entries; the entries that could not be written."""
        groups = group(entries)
        for i, g in enumerate(groups):
            try:
                table = prediction_table(g, self._known)
            except Exception:  # the same values would fail again: drop them, loudly
                log.exception("cannot convert %d logged rows of %s; dropped", g.rows, g.model)
                self.metrics.log_dropped.labels(g.model).inc(g.rows)
                continue
            try:
                self.folder().write(PREDICTIONS, g.model, g.day, table)
            except Exception as exc:  # disk full, store unreachable, bad URL: try again later
                self.write_failures.inc()
                later = [e for rest in groups[i:] for e in rest.entries]
                log.warning(
                    "cannot write the prediction log to %s (%s: %s); keeping %d rows for the "
                    "next attempt",
                    self.root,
                    type(exc).__name__,
                    exc,
                    sum(len(e.rows) for e in later),
                    exc_info=not self._failing,
                )
                self._failing = True
                return later
            self.metrics.log_rows.labels(g.model).inc(table.num_rows)
        if self._failing:
            self._failing = False
            log.info("the prediction log writes to %s again", self.root)
        return []
