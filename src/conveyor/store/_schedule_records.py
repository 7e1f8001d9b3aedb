"""Records of schedules that cross the store seam: definitions, fires and the scheduler's lease.

Plain frozen data like ``_records``. The store keeps a trigger's text (a cron expression, an
interval, a glob) without interpreting it; ``conveyor.scheduling`` gives it meaning.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

TriggerKind = Literal["cron", "every", "files"]
TRIGGER_KINDS: tuple[str, ...] = ("cron", "every", "files")
MissedPolicy = Literal["skip", "catch-up"]
MISSED_POLICIES: tuple[str, ...] = ("skip", "catch-up")
FireStatus = Literal["running", "succeeded", "failed", "skipped"]
FIRE_STATUSES: tuple[str, ...] = ("running", "succeeded", "failed", "skipped")


@dataclass(frozen=True, slots=True)
class ScheduleRecord:
    """A pipeline to run whenever its trigger says, with the parameters to run it with."""

    id: str  # "sch-…", made by the caller with conveyor.core.new_id
    name: str | None  # optional; unique when given
    target: str  # "FILE:PIPELINE", FILE absolute
    pipeline: str  # the pipeline's name, as its runs are recorded
    params: Mapping[str, str]  # the text of each -p KEY=VALUE
    trigger: TriggerKind
    spec: str  # a cron expression, an interval ("10m") or a glob
    created_at: datetime
    timezone: str = "UTC"  # of a cron expression
    missed: MissedPolicy = "skip"
    workdir: str = ""  # the folder runs start in; relative globs and paths are read from it
    # The newest due time the scheduler has dealt with (run or skipped); moved by record_fire.
    handled_until: datetime | None = None


@dataclass(frozen=True, slots=True)
class ScheduleFire:
    """One due time of a schedule and what came of it."""

    schedule_id: str
    due_at: datetime
    status: FireStatus
    started_at: datetime  # when the scheduler acted on it (a skipped fire: when it decided)
    finished_at: datetime | None = None  # None while running
    run_id: str | None = None  # the run the pipeline's process recorded, when it got that far
    reason: str = ""
    host: str = ""  # where the pipeline's process runs
    pid: int | None = None  # the pipeline's process, once started
    id: int = 0  # assigned by the store


@dataclass(frozen=True, slots=True)
class LeaseRecord:
    """Who may run the scheduler on a store, until when. Expired leases may be taken over."""

    name: str  # what the lease guards; one scheduler per store: "scheduler"
    holder: str  # unique per holding process, so a restart with a reused pid is a new holder
    host: str
    pid: int
    acquired_at: datetime
    expires_at: datetime
