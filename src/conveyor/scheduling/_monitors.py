"""Evaluating the stored monitors, each on its own interval (``spec["every"]``, e.g. ``10m``).

A monitor is due when its newest recorded evaluation (or the scheduler's last attempt, for an
evaluation that failed before recording anything) is that old. Evaluations run in worker
threads, at most one per monitor and ``WORKERS`` in all at a time; whatever one raises is
logged and the scheduler goes on.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta

from conveyor.core import Settings
from conveyor.core._durations import parse_duration
from conveyor.store import MetadataStore, MonitorRecord

DEFAULT_EVERY_SECONDS = 300.0
WORKERS = 2

Evaluate = Callable[[str], object]  # evaluates the named monitor, recording its own results


def evaluate_in_process(settings: Settings, clock: Callable[[], datetime]) -> Evaluate:
    """``conveyor.monitoring.evaluate`` on the scheduler's store, timed by its clock."""

    def evaluate(name: str) -> object:
        from conveyor.monitoring import evaluate as evaluate_monitor

        return evaluate_monitor(name, settings=settings, now=clock())

    return evaluate


def every(monitor: MonitorRecord) -> tuple[timedelta, str]:
    """How often the monitor is evaluated, and a complaint when its spec says it badly."""
    value = monitor.spec.get("every")
    if value is None:
        return timedelta(seconds=DEFAULT_EVERY_SECONDS), ""
    span = parse_duration(value) if isinstance(value, str) else None
    if span is None or span <= timedelta(0):
        return timedelta(seconds=DEFAULT_EVERY_SECONDS), (
            f"monitor {monitor.name}: every must be a duration such as 10m, got {value!r}; "
            f"evaluating it every {DEFAULT_EVERY_SECONDS:g} seconds"
        )
    return span, ""


class MonitorTicker:
    """Starts the evaluations that are due, on each tick."""

    def __init__(
        self, store: MetadataStore, evaluate: Evaluate, log: Callable[[str], None]
    ) -> None:
        self._store = store
        self._evaluate = evaluate
        self._log = log
        self._running: dict[str, threading.Thread] = {}
        self._attempted: dict[str, datetime] = {}
        self._complained: set[str] = set()
        self._lock = threading.Lock()

    def tick(self, now: datetime) -> list[str]:
        """Start the due evaluations (up to ``WORKERS`` running at once; the rest wait for a
        later tick); returns the names of the monitors started."""
        started = []
        for monitor in self._store.list_monitors():
            with self._lock:
                if monitor.name in self._running or len(self._running) >= WORKERS:
                    continue
            if not self._is_due(monitor, now):
                continue
            self._attempted[monitor.name] = now
            # Daemon threads: an evaluation that hangs must not keep the process from exiting.
            worker = threading.Thread(
                target=self._run, args=(monitor.name,), name="conveyor-monitor", daemon=True
            )
            with self._lock:
                self._running[monitor.name] = worker
            worker.start()
            started.append(monitor.name)
        return started

    def busy(self) -> bool:
        with self._lock:
            return bool(self._running)

    def wait(self, timeout: float | None) -> None:
        """Wait up to ``timeout`` seconds (None: as long as it takes) for running evaluations."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            with self._lock:
                workers = list(self._running.values())
            if not workers:
                return
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                return
            workers[0].join(left)

    def _is_due(self, monitor: MonitorRecord, now: datetime) -> bool:
        interval, complaint = every(monitor)
        if complaint and monitor.name not in self._complained:
            self._complained.add(monitor.name)
            self._log(complaint)
        last = self._attempted.get(monitor.name)
        recorded = self._store.evaluations(monitor.name, limit=1)
        if recorded and (last is None or recorded[0].evaluated_at > last):
            last = recorded[0].evaluated_at
        return last is None or now - last >= interval

    def _run(self, name: str) -> None:
        try:
            self._evaluate(name)
        except Exception as exc:  # an evaluation's failure must never stop the scheduler
            self._log(f"monitor {name}: evaluation failed: {type(exc).__name__}: {exc}")
        else:
            self._log(f"monitor {name}: evaluated")
        finally:
            with self._lock:
                self._running.pop(name, None)
