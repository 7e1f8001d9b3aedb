"""The scheduler's lease: one row in the metadata store that lets one scheduler at a time run
a store's schedules, on any number of machines.

The holder renews it on every poll; a holder that dies stops renewing and its lease expires,
after which any scheduler may take over. On the holder's own machine a dead holder is seen at
once (its process is gone), so a restart after a crash does not wait for the expiry. Expiry
is judged by the clocks of the schedulers' machines, which are assumed to agree to within a
few seconds (NTP); the lease lasts several polls to leave room for that.
"""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Callable
from datetime import datetime, timedelta

from conveyor.core._errors import SchedulerError
from conveyor.store import LeaseRecord, ScheduleStore

LEASE_NAME = "scheduler"


class Lease:
    """Take, renew and give up the scheduler lease for this process."""

    def __init__(
        self,
        store: ScheduleStore,
        clock: Callable[[], datetime],
        seconds: float,
        *,
        host: str | None = None,
        pid: int | None = None,
        is_alive: Callable[[int], bool] | None = None,
    ) -> None:
        self._store = store
        self._clock = clock
        self._length = timedelta(seconds=seconds)
        self.host = host if host is not None else socket.gethostname()
        self.pid = pid if pid is not None else os.getpid()
        # Unique per process: a restarted scheduler that got the same pid (pid 1 in a
        # container) is a different holder.
        self.holder = f"{self.host}:{self.pid}:{secrets.token_hex(4)}"
        self._is_alive = is_alive or process_alive
        self.held = False

    def acquire(self) -> LeaseRecord:
        """Take the lease, or SchedulerError naming the scheduler that holds it."""
        now = self._clock()
        wanted = LeaseRecord(LEASE_NAME, self.holder, self.host, self.pid, now, now + self._length)
        current = self._store.acquire_lease(wanted, now)
        if current.holder != self.holder and self._is_gone(current):
            current = self._store.acquire_lease(wanted, now, replacing=current.holder)
        if current.holder != self.holder:
            raise SchedulerError(
                f"another scheduler is running on this store: pid {current.pid} on host "
                f"{current.host}, since {_when(current.acquired_at)}; stop it first. If it "
                f"died on another machine, its lease expires at {_when(current.expires_at)}.",
                holder=current.holder,
                host=current.host,
                pid=current.pid,
                expires_at=current.expires_at.isoformat(),
            )
        self.held = True
        return current

    def renew(self) -> None:
        """Extend the lease; SchedulerError if another scheduler has taken it over."""
        if self._store.renew_lease(LEASE_NAME, self.holder, self._clock() + self._length):
            return
        self.held = False
        current = self._store.get_lease(LEASE_NAME)
        who = "nobody" if current is None else f"pid {current.pid} on host {current.host}"
        raise SchedulerError(
            f"this scheduler lost its lease (now held by {who}); it was not renewed in time, "
            "so it stops starting runs",
            holder=None if current is None else current.holder,
        )

    def release(self) -> None:
        if self.held:
            self._store.release_lease(LEASE_NAME, self.holder)
            self.held = False

    def _is_gone(self, current: LeaseRecord) -> bool:
        """Whether the holder is known to be dead: only knowable on its own machine."""
        if current.host != self.host:
            return False
        return current.pid == self.pid or not self._is_alive(current.pid)


def process_alive(pid: int) -> bool:
    """Whether a process with this id exists on this machine."""
    if pid <= 0:
        return False
    if os.name == "nt":  # os.kill(pid, 0) would send Ctrl-C there; let the lease expire
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: it exists
        return True
    return True


def _when(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")
