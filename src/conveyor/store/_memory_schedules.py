"""The ScheduleStore part of the in-memory metadata store (a base of MemoryMetadataStore)."""

from __future__ import annotations

import copy
import dataclasses
import threading
from collections.abc import Collection
from datetime import datetime
from typing import TypeVar

from conveyor.core._errors import StoreError
from conveyor.store import _checks, _schedule_checks
from conveyor.store._schedule_records import (
    FireStatus,
    LeaseRecord,
    ScheduleFire,
    ScheduleRecord,
)

_R = TypeVar("_R")


class MemorySchedules:
    """Schedules, fires, seen files and leases in dicts and lists, behind one lock; records are
    copied on the way out."""

    def __init__(self) -> None:
        self._schedule_lock = threading.Lock()
        self._schedules: dict[str, ScheduleRecord] = {}  # by id, in insertion order
        self._seen: dict[str, set[str]] = {}
        self._fires: list[ScheduleFire] = []  # id is the position + 1
        self._leases: dict[str, LeaseRecord] = {}

    def add_schedule(
        self, record: ScheduleRecord, seen_files: Collection[str] = ()
    ) -> ScheduleRecord:
        record = _schedule_checks.schedule(record)
        seen = _schedule_checks.paths(seen_files)
        with self._schedule_lock:
            if record.id in self._schedules:
                raise StoreError(f"schedule {record.id} already exists", schedule_id=record.id)
            if record.name is not None and any(
                r.name == record.name for r in self._schedules.values()
            ):
                raise _schedule_checks.duplicate_name(record.name)
            self._schedules[record.id] = record
            self._seen[record.id] = set(seen)
        return _copied(record)

    def get_schedule(self, ref: str) -> ScheduleRecord:
        with self._schedule_lock:
            return _copied(self._find(ref))

    def list_schedules(self) -> list[ScheduleRecord]:
        with self._schedule_lock:
            found = list(self._schedules.values())
        return [_copied(r) for r in sorted(found, key=lambda r: (r.created_at, r.id))]

    def delete_schedule(self, ref: str) -> ScheduleRecord:
        with self._schedule_lock:
            found = self._find(ref)
            del self._schedules[found.id]
            self._seen.pop(found.id, None)
        return _copied(found)

    def seen_files(self, schedule_id: str) -> set[str]:
        with self._schedule_lock:
            return set(self._seen.get(schedule_id, ()))

    def record_fire(
        self,
        fire: ScheduleFire,
        *,
        handled_until: datetime | None = None,
        seen_files: Collection[str] = (),
    ) -> ScheduleFire:
        fire = _schedule_checks.fire(fire)
        until = _checks.utc_or_none(handled_until, "handled_until")
        seen = _schedule_checks.paths(seen_files)
        with self._schedule_lock:
            schedule = self._schedules.get(fire.schedule_id)
            if schedule is None:
                raise _schedule_checks.schedule_not_found(
                    fire.schedule_id, self._schedules.values()
                )
            fire = dataclasses.replace(fire, id=len(self._fires) + 1)
            self._fires.append(fire)
            if until is not None:
                self._schedules[schedule.id] = dataclasses.replace(schedule, handled_until=until)
            self._seen[schedule.id].update(seen)
        return _copied(fire)

    def update_fire(self, fire: ScheduleFire) -> ScheduleFire:
        fire = _schedule_checks.fire(fire)
        with self._schedule_lock:
            if not 0 < fire.id <= len(self._fires):
                raise StoreError(f"no schedule fire with id {fire.id}", fire_id=fire.id)
            stored = self._fires[fire.id - 1]
            updated = dataclasses.replace(
                stored,
                status=fire.status,
                finished_at=fire.finished_at,
                run_id=fire.run_id,
                reason=fire.reason,
                host=fire.host,
                pid=fire.pid,
            )
            self._fires[fire.id - 1] = updated
        return _copied(updated)

    def fires(
        self, schedule_id: str | None = None, *, status: FireStatus | None = None, limit: int = 100
    ) -> list[ScheduleFire]:
        _checks.limit(limit)
        _schedule_checks.fire_status(status)
        with self._schedule_lock:
            found = [
                f
                for f in reversed(self._fires)
                if schedule_id in (None, f.schedule_id) and status in (None, f.status)
            ][:limit]
        return [_copied(f) for f in found]

    def acquire_lease(
        self, lease: LeaseRecord, now: datetime, *, replacing: str | None = None
    ) -> LeaseRecord:
        lease = _schedule_checks.lease(lease)
        now = _checks.utc(now, "now")
        with self._schedule_lock:
            held = self._leases.get(lease.name)
            if held is None or held.expires_at <= now or held.holder in (lease.holder, replacing):
                self._leases[lease.name] = lease
                return _copied(lease)
            return _copied(held)

    def renew_lease(self, name: str, holder: str, expires_at: datetime) -> bool:
        expires_at = _checks.utc(expires_at, "expires_at")
        with self._schedule_lock:
            held = self._leases.get(name)
            if held is None or held.holder != holder:
                return False
            self._leases[name] = dataclasses.replace(held, expires_at=expires_at)
            return True

    def release_lease(self, name: str, holder: str) -> None:
        with self._schedule_lock:
            held = self._leases.get(name)
            if held is not None and held.holder == holder:
                del self._leases[name]

    def get_lease(self, name: str) -> LeaseRecord | None:
        with self._schedule_lock:
            held = self._leases.get(name)
        return None if held is None else _copied(held)

    def _find(self, ref: str) -> ScheduleRecord:
        found = self._by_ref(ref)
        if found is None:
            raise _schedule_checks.schedule_not_found(ref, self._schedules.values())
        return found

    def _by_ref(self, ref: str) -> ScheduleRecord | None:
        by_id = self._schedules.get(ref)
        if by_id is not None:
            return by_id
        return next((r for r in self._schedules.values() if r.name == ref), None)


def _copied(record: _R) -> _R:
    return copy.deepcopy(record)
