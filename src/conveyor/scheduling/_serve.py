"""Running the scheduler as a process: poll until told to stop, then wind down cleanly.

SIGTERM or SIGINT (Ctrl-C) stops it from starting anything new; it then waits up to
``stop_timeout`` seconds for the runs it started, records how each ended, releases the lease
and returns. A second signal stops the waiting: the runs are terminated and recorded as such.
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections.abc import Callable, Iterator
from types import FrameType

from conveyor.core import Settings
from conveyor.core._errors import ConveyorError, SchedulerError
from conveyor.scheduling._launch import SubprocessLauncher
from conveyor.scheduling._monitors import evaluate_in_process
from conveyor.scheduling._scheduler import Scheduler, utc_now
from conveyor.store import open_metadata_store

_WAIT_STEP = 0.2  # seconds between looks at the running pipelines while winding down


def run_scheduler(
    settings: Settings,
    *,
    poll: float = 5.0,
    once: bool = False,
    stop_timeout: float = 60.0,
    log: Callable[[str], None] = print,
) -> None:
    """Run the schedules and monitors of the store in ``settings`` until SIGTERM or SIGINT
    (or, with ``once``, for one pass and the runs it starts).

    Raises:
        SchedulerError: another scheduler holds the store's lease, or took it over.
    """
    store = open_metadata_store(settings.db_url, token=settings.token)
    try:
        scheduler = Scheduler(
            store,
            SubprocessLauncher(settings),
            evaluate_monitor=evaluate_in_process(settings, utc_now),
            poll=poll,
            log=log,
        )
        stop, hurry = threading.Event(), threading.Event()
        with _signals_set(stop, hurry, log, stop_timeout):
            serve(scheduler, stop, once=once, stop_timeout=stop_timeout, hurry=hurry)
    finally:
        store.close()


def serve(
    scheduler: Scheduler,
    stop: threading.Event,
    *,
    once: bool = False,
    stop_timeout: float = 60.0,
    hurry: threading.Event | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Tick every poll until ``stop`` is set (or once), then wind down. Only a lost lease
    ends it early: SchedulerError, after the pipelines it started are recorded."""
    scheduler.start()
    lost: SchedulerError | None = None
    try:
        while True:
            try:
                scheduler.tick()
            except SchedulerError as exc:  # another scheduler took the lease over
                lost = exc
                break
            except ConveyorError as exc:  # the store is out of reach: try again next poll
                scheduler.log(f"error: {exc}")
            if once or stop.wait(scheduler.poll):
                break
    finally:
        # A --once pass waits for what it started, however long, unless told to stop.
        wind_down(
            scheduler,
            None if once and not stop.is_set() else stop_timeout,
            stop=stop,
            stop_timeout=stop_timeout,
            hurry=hurry or threading.Event(),
            sleep=sleep,
        )
        scheduler.close()
    if lost is not None:
        raise lost


def wind_down(
    scheduler: Scheduler,
    timeout: float | None,
    *,
    stop: threading.Event,
    stop_timeout: float,
    hurry: threading.Event,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Wait for the running pipelines and evaluations, recording each as it ends, for up to
    ``timeout`` seconds (None: until they end, or ``stop_timeout`` after ``stop`` is set);
    then, or as soon as ``hurry`` is set, terminate the pipelines that are left."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while scheduler.has_work():
        try:
            scheduler.reap()
        except ConveyorError as exc:  # the store is out of reach: keep waiting, bounded
            scheduler.log(f"error: {exc}")
        if not scheduler.has_work():
            return
        if deadline is None and stop.is_set():
            deadline = time.monotonic() + stop_timeout
        if hurry.is_set() or (deadline is not None and time.monotonic() >= deadline):
            scheduler.terminate(sleep)
            return
        sleep(_WAIT_STEP)


@contextlib.contextmanager
def _signals_set(
    stop: threading.Event, hurry: threading.Event, log: Callable[[str], None], timeout: float
) -> Iterator[None]:
    """SIGTERM and SIGINT set ``stop``, a second one ``hurry``; the old handlers come back
    afterwards. Signal handlers can only be set from the main thread: elsewhere nothing is."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handle(signum: int, _frame: FrameType | None) -> None:
        if stop.is_set():
            hurry.set()
            log("stopping now: terminating the runs still going")
            return
        stop.set()
        log(
            f"stopping ({signal.Signals(signum).name}): no new runs; waiting up to "
            f"{timeout:g}s for running ones (signal again to stop them now)"
        )

    previous = {sig: signal.signal(sig, handle) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
