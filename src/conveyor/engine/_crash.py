"""Telling a crashed run from a live one.

A run is "running" in the store until its process finishes it. If that process was killed,
nothing finishes it, so readers reconcile: on this host a run whose process is gone has crashed;
on any host a run whose heartbeat is older than ``STALE_SECONDS`` has crashed.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterable
from datetime import datetime

from conveyor.engine._recorder import HEARTBEAT_SECONDS
from conveyor.store import MetadataStore, RunRecord

STALE_SECONDS = 12 * HEARTBEAT_SECONDS


def is_crashed(run: RunRecord, now: datetime, host: str | None = None) -> bool:
    if run.status != "running":
        return False
    if run.host == (host or socket.gethostname()) and run.pid and not _alive(run.pid):
        return True
    beat = run.heartbeat_at or run.started_at
    return (now - beat).total_seconds() > STALE_SECONDS


def reconcile(store: MetadataStore, runs: Iterable[RunRecord], now: datetime) -> list[RunRecord]:
    """Mark crashed runs as such in the store; return the runs with their true status."""
    result = []
    for run in runs:
        if is_crashed(run, now):
            store.finish_run(run.id, "crashed", now, "the process running it stopped unexpectedly")
            result.append(store.get_run(run.id))
        else:
            result.append(run)
    return result


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return _not_zombie(pid)


def _not_zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True
