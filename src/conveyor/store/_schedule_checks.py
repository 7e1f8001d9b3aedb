"""Checks of schedule records before either adapter stores them, and the not-found error."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Mapping

from conveyor.core._errors import ConveyorError, ScheduleNotFound, StoreError
from conveyor.store import _checks
from conveyor.store._schedule_records import (
    FIRE_STATUSES,
    MISSED_POLICIES,
    TRIGGER_KINDS,
    LeaseRecord,
    ScheduleFire,
    ScheduleRecord,
)

ID_MAX = 64  # the SQL columns' width, as for run ids
TIMEZONE_MAX = 64
LEASE_NAME_MAX = 100
_NAME = re.compile(r"[A-Za-z0-9_.-]+")
_LOOKS_LIKE_ID = re.compile(r"sch-[0-9a-f]+")
_INT32 = 2**31 - 1


def schedule(record: ScheduleRecord) -> ScheduleRecord:
    if record.trigger not in TRIGGER_KINDS:
        raise StoreError(
            f"unknown trigger {record.trigger!r}; one of {', '.join(TRIGGER_KINDS)}",
            trigger=record.trigger,
        )
    if record.missed not in MISSED_POLICIES:
        raise StoreError(
            f"unknown missed-run policy {record.missed!r}; one of {', '.join(MISSED_POLICIES)}",
            missed=record.missed,
        )
    checked = dataclasses.replace(
        record,
        id=_bounded(record.id, "a schedule's id", ID_MAX),
        name=None if record.name is None else schedule_name(record.name),
        target=_bounded(record.target, "a schedule's target", None),
        pipeline=_bounded(record.pipeline, "a schedule's pipeline", _checks.NAME_MAX),
        params=_params(record.params),
        spec=_bounded(record.spec, "a schedule's trigger", None),
        timezone=_bounded(record.timezone, "a schedule's timezone", TIMEZONE_MAX),
        workdir=_text(record.workdir, "a schedule's workdir"),
        created_at=_checks.utc(record.created_at, "created_at"),
        handled_until=_checks.utc_or_none(record.handled_until, "handled_until"),
    )
    return _checks.fields(checked)


def schedule_name(name: str) -> str:
    """``name`` if it can name a schedule: 1-200 letters, digits, ``_``, ``.`` or ``-``, and
    not shaped like a schedule id, so that ``ID_OR_NAME`` is never ambiguous."""
    if (
        not isinstance(name, str)
        or len(name) > _checks.DATASET_NAME_MAX
        or _NAME.fullmatch(name) is None
    ):
        raise ConveyorError(
            f"{name!r} cannot name a schedule: use 1 to {_checks.DATASET_NAME_MAX} letters, "
            "digits, '_', '.' or '-'",
            name=repr(name),
        )
    if _LOOKS_LIKE_ID.fullmatch(name):
        raise ConveyorError(
            f"{name!r} cannot name a schedule: it looks like a schedule id", name=name
        )
    return name


def fire(record: ScheduleFire) -> ScheduleFire:
    if record.status not in FIRE_STATUSES:
        raise StoreError(
            f"unknown fire status {record.status!r}; one of {', '.join(FIRE_STATUSES)}",
            status=record.status,
        )
    if record.pid is not None and (
        isinstance(record.pid, bool) or not isinstance(record.pid, int) or not record.pid >= 0
    ):
        raise StoreError(f"a process id is a whole number >= 0, got {record.pid!r}")
    if record.pid is not None and record.pid > _INT32:
        raise StoreError(f"a process id is at most {_INT32}, got {record.pid!r}")
    checked = dataclasses.replace(
        record,
        schedule_id=_bounded(record.schedule_id, "a fire's schedule id", ID_MAX),
        due_at=_checks.utc(record.due_at, "due_at"),
        started_at=_checks.utc(record.started_at, "started_at"),
        finished_at=_checks.utc_or_none(record.finished_at, "finished_at"),
        run_id=None if record.run_id is None else _bounded(record.run_id, "a run id", ID_MAX),
        reason=_text(record.reason, "a fire's reason"),
        host=_bounded(record.host, "a host name", _checks.NAME_MAX, empty=True),
    )
    return _checks.fields(checked)


def lease(record: LeaseRecord) -> LeaseRecord:
    if isinstance(record.pid, bool) or not isinstance(record.pid, int) or record.pid < 0:
        raise StoreError(f"a process id is a whole number >= 0, got {record.pid!r}")
    checked = dataclasses.replace(
        record,
        name=_bounded(record.name, "a lease's name", LEASE_NAME_MAX),
        holder=_bounded(record.holder, "a lease's holder", _checks.NAME_MAX),
        host=_bounded(record.host, "a host name", _checks.NAME_MAX, empty=True),
        acquired_at=_checks.utc(record.acquired_at, "acquired_at"),
        expires_at=_checks.utc(record.expires_at, "expires_at"),
    )
    return _checks.fields(checked)


def paths(values: Iterable[str]) -> list[str]:
    """The distinct paths, sorted; each a non-empty string."""
    found = set()
    for value in values:
        if not isinstance(value, str) or not value or "\x00" in value:
            raise StoreError(f"a seen file is a non-empty path, got {value!r}")
        found.add(value)
    return sorted(found)


def fire_status(status: str | None) -> str | None:
    if status is not None and status not in FIRE_STATUSES:
        raise StoreError(
            f"unknown fire status {status!r}; one of {', '.join(FIRE_STATUSES)}", status=status
        )
    return status


def schedule_not_found(ref: str, existing: Iterable[ScheduleRecord]) -> ScheduleNotFound:
    names = sorted(r.name or r.id for r in existing)
    return ScheduleNotFound(
        f"no schedule with id or name {ref!r}; schedules: {_checks.listing(names)} "
        "(`conveyor schedule list`)",
        ref=ref,
        schedules=names,
    )


def duplicate_name(name: str) -> StoreError:
    return StoreError(
        f"a schedule named {name!r} exists already; choose another --name or remove it first",
        name=name,
    )


def _params(params: Mapping[str, str]) -> dict[str, str]:
    if not isinstance(params, Mapping):
        raise StoreError(f"a schedule's params must be a mapping, got {type(params).__name__}")
    checked: dict[str, str] = {}
    for key, value in params.items():
        if not isinstance(key, str) or not key or not isinstance(value, str):
            raise StoreError(
                f"a schedule's params are KEY=VALUE text, got {key!r}={value!r}", key=repr(key)
            )
        checked[key] = value
    return checked


def _bounded(value: str, what: str, most: int | None, *, empty: bool = False) -> str:
    if (
        not isinstance(value, str)
        or (not value and not empty)
        or (most is not None and len(value) > most)
    ):
        least = 0 if empty else 1
        size = f"{least} to {most}" if most is not None else f"at least {least}"
        raise StoreError(f"{what} is {size} characters, got {value!r}", field=what)
    return value


def _text(value: str, what: str) -> str:
    if not isinstance(value, str):
        raise StoreError(f"{what} must be a string, got {value!r}")
    return value
