"""Schedules, their fires and seen files, and the scheduler's lease, in SQL.

``SqlMetadataStore`` delegates its ScheduleStore methods here. A fire, the move of its
schedule's ``handled_until`` and the files it consumed are written in one transaction, and the
lease is taken with one conditional UPDATE (or an INSERT that yields on conflict), so two
schedulers on two hosts cannot both hold it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, delete, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from conveyor.core._errors import StoreError
from conveyor.store import _checks, _schedule_checks
from conveyor.store._schedule_records import (
    FireStatus,
    LeaseRecord,
    ScheduleFire,
    ScheduleRecord,
)
from conveyor.store.sql._engine import dialect_insert, write_transaction
from conveyor.store.sql._numbering import Run
from conveyor.store.sql._tables import (
    schedule_fires,
    schedule_seen_files,
    scheduler_leases,
    schedules,
)

_SCHEDULE = [schedules.c[f.name] for f in dataclasses.fields(ScheduleRecord)]
_FIRE = [schedule_fires.c[f.name] for f in dataclasses.fields(ScheduleFire)]
_LEASE = [scheduler_leases.c[f.name] for f in dataclasses.fields(LeaseRecord)]
_UPDATABLE = ("status", "finished_at", "run_id", "reason", "host", "pid")
_s = schedules.c
_f = schedule_fires.c
_l = scheduler_leases.c


class SqlSchedules:
    """The schedule statements of one store."""

    def __init__(self, engine: Engine, reader: Engine, run: Run) -> None:
        self._engine = engine
        self._reader = reader
        self._run = run
        insert_for_dialect: Any = dialect_insert(engine.dialect.name)
        self._insert_seen = insert_for_dialect(schedule_seen_files).on_conflict_do_nothing(
            index_elements=["schedule_id", "path"]
        )
        self._insert_lease = insert_for_dialect(scheduler_leases).on_conflict_do_nothing(
            index_elements=["name"]
        )

    # -- definitions ----------------------------------------------------------------------

    def add(self, record: ScheduleRecord, seen_files: Collection[str]) -> ScheduleRecord:
        record = _schedule_checks.schedule(record)
        seen = _schedule_checks.paths(seen_files)
        row = {f.name: getattr(record, f.name) for f in dataclasses.fields(record)}

        def action() -> None:
            with write_transaction(self._engine) as connection:
                _refuse_clash(connection, record)
                connection.execute(insert(schedules), row)
                if seen:
                    connection.execute(
                        self._insert_seen, [{"schedule_id": record.id, "path": p} for p in seen]
                    )

        try:
            self._run(action, "add a schedule")
        except StoreError as exc:
            # Another process added the same id or name between the check and the insert.
            if isinstance(exc.__cause__, IntegrityError):

                def explain() -> None:
                    with self._reader.connect() as connection:
                        _refuse_clash(connection, record)

                self._run(explain, "add a schedule")
            raise
        return record

    def get(self, ref: str) -> ScheduleRecord:
        def action() -> ScheduleRecord:
            with self._reader.connect() as connection:
                return _find(connection, ref)

        result: ScheduleRecord = self._run(action, "read a schedule")
        return result

    def all(self) -> list[ScheduleRecord]:
        def action() -> list[ScheduleRecord]:
            with self._reader.connect() as connection:
                return _all(connection)

        result: list[ScheduleRecord] = self._run(action, "list schedules")
        return result

    def delete(self, ref: str) -> ScheduleRecord:
        def action() -> ScheduleRecord:
            with write_transaction(self._engine) as connection:
                found = _find(connection, ref)
                connection.execute(
                    delete(schedule_seen_files).where(schedule_seen_files.c.schedule_id == found.id)
                )
                connection.execute(delete(schedules).where(_s.id == found.id))
            return found

        result: ScheduleRecord = self._run(action, "remove a schedule")
        return result

    def seen(self, schedule_id: str) -> set[str]:
        query = select(schedule_seen_files.c.path).where(
            schedule_seen_files.c.schedule_id == schedule_id
        )

        def action() -> set[str]:
            with self._reader.connect() as connection:
                return set(connection.execute(query).scalars())

        result: set[str] = self._run(action, "read a schedule's seen files")
        return result

    # -- fires ----------------------------------------------------------------------------

    def record_fire(
        self, fire: ScheduleFire, handled_until: datetime | None, seen_files: Collection[str]
    ) -> ScheduleFire:
        fire = _schedule_checks.fire(fire)
        until = _checks.utc_or_none(handled_until, "handled_until")
        seen = _schedule_checks.paths(seen_files)
        row = _row(fire)

        def action() -> int:
            with write_transaction(self._engine) as connection:
                exists = connection.execute(select(_s.id).where(_s.id == fire.schedule_id))
                if exists.first() is None:
                    raise _schedule_checks.schedule_not_found(fire.schedule_id, _all(connection))
                done = connection.execute(insert(schedule_fires), row)
                if until is not None:
                    connection.execute(
                        update(schedules)
                        .where(_s.id == fire.schedule_id)
                        .values(handled_until=until)
                    )
                if seen:
                    connection.execute(
                        self._insert_seen,
                        [{"schedule_id": fire.schedule_id, "path": p} for p in seen],
                    )
                return int(done.inserted_primary_key[0])  # type: ignore[index]

        fire_id: int = self._run(action, "record a schedule fire")
        return dataclasses.replace(fire, id=fire_id)

    def update_fire(self, fire: ScheduleFire) -> ScheduleFire:
        fire = _schedule_checks.fire(fire)
        values = {name: getattr(fire, name) for name in _UPDATABLE}

        def action() -> ScheduleFire:
            with write_transaction(self._engine) as connection:
                done = connection.execute(
                    update(schedule_fires).where(_f.id == fire.id).values(values)
                )
                if not done.rowcount:
                    raise StoreError(f"no schedule fire with id {fire.id}", fire_id=fire.id)
                return ScheduleFire(
                    *connection.execute(select(*_FIRE).where(_f.id == fire.id)).one()
                )

        result: ScheduleFire = self._run(action, "update a schedule fire")
        return result

    def fires(
        self, schedule_id: str | None, status: FireStatus | None, limit: int
    ) -> list[ScheduleFire]:
        query = select(*_FIRE).order_by(_f.id.desc()).limit(_checks.limit(limit))
        if schedule_id is not None:
            query = query.where(_f.schedule_id == schedule_id)
        if _schedule_checks.fire_status(status) is not None:
            query = query.where(_f.status == status)

        def action() -> list[ScheduleFire]:
            with self._reader.connect() as connection:
                return [ScheduleFire(*row) for row in connection.execute(query)]

        result: list[ScheduleFire] = self._run(action, "read schedule fires")
        return result

    # -- the lease ------------------------------------------------------------------------

    def acquire_lease(
        self, lease: LeaseRecord, now: datetime, replacing: str | None
    ) -> LeaseRecord:
        lease = _schedule_checks.lease(lease)
        now = _checks.utc(now, "now")
        row = {f.name: getattr(lease, f.name) for f in dataclasses.fields(lease)}
        holders = [lease.holder] if replacing is None else [lease.holder, replacing]
        take = (
            update(scheduler_leases)
            .where(_l.name == lease.name, or_(_l.expires_at <= now, _l.holder.in_(holders)))
            .values(row)
        )
        current = select(*_LEASE).where(_l.name == lease.name)

        def action() -> LeaseRecord:
            with write_transaction(self._engine) as connection:
                if connection.execute(take).rowcount:
                    return lease
                # Not a row we may take over: insert one unless there is one. Drivers differ in
                # the row count they report for a skipped INSERT, so read back who holds it;
                # on PostgreSQL a concurrent taker's INSERT has committed by then (ours waited
                # for it), so this read sees the winner.
                connection.execute(self._insert_lease, row)
                return LeaseRecord(*connection.execute(current).one())

        result: LeaseRecord = self._run(action, "take the scheduler lease")
        return result

    def renew_lease(self, name: str, holder: str, expires_at: datetime) -> bool:
        statement = (
            update(scheduler_leases)
            .where(_l.name == name, _l.holder == holder)
            .values(expires_at=_checks.utc(expires_at, "expires_at"))
        )

        def action() -> bool:
            with write_transaction(self._engine) as connection:
                return bool(connection.execute(statement).rowcount)

        result: bool = self._run(action, "renew the scheduler lease")
        return result

    def release_lease(self, name: str, holder: str) -> None:
        statement = delete(scheduler_leases).where(_l.name == name, _l.holder == holder)

        def action() -> None:
            with write_transaction(self._engine) as connection:
                connection.execute(statement)

        self._run(action, "release the scheduler lease")

    def get_lease(self, name: str) -> LeaseRecord | None:
        query = select(*_LEASE).where(_l.name == name)

        def action() -> LeaseRecord | None:
            with self._reader.connect() as connection:
                found = connection.execute(query).first()
            return None if found is None else LeaseRecord(*found)

        result: LeaseRecord | None = self._run(action, "read the scheduler lease")
        return result


def _refuse_clash(connection: Connection, record: ScheduleRecord) -> None:
    if connection.execute(select(_s.id).where(_s.id == record.id)).first() is not None:
        raise StoreError(f"schedule {record.id} already exists", schedule_id=record.id)
    if (
        record.name is not None
        and connection.execute(select(_s.id).where(_s.name == record.name)).first() is not None
    ):
        raise _schedule_checks.duplicate_name(record.name)


def _find(connection: Connection, ref: str) -> ScheduleRecord:
    found = connection.execute(select(*_SCHEDULE).where(_s.id == ref)).first()
    if found is None:
        found = connection.execute(select(*_SCHEDULE).where(_s.name == ref)).first()
    if found is None:
        raise _schedule_checks.schedule_not_found(ref, _all(connection))
    return _schedule(found)


def _all(connection: Connection) -> list[ScheduleRecord]:
    rows = connection.execute(select(*_SCHEDULE).order_by(_s.created_at, _s.id))
    return [_schedule(row) for row in rows]


def _schedule(row: Sequence[Any]) -> ScheduleRecord:
    return ScheduleRecord(*row)


def _row(record: ScheduleFire) -> dict[str, Any]:
    row = {f.name: getattr(record, f.name) for f in dataclasses.fields(record)}
    del row["id"]  # assigned by the database
    return row
