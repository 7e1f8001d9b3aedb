"""Adding, listing, showing and removing schedules.

A new schedule is checked in full before anything is stored: its trigger, its name, and its
pipeline, whose file is imported and whose parameters are converted exactly as ``conveyor run``
would, so a missing file, a misspelt pipeline or a bad ``-p`` is reported when the schedule is
added rather than when it first fires.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from conveyor.core import Settings, load_settings, new_id
from conveyor.core._errors import SchedulerError
from conveyor.engine import load_pipeline
from conveyor.scheduling import _files
from conveyor.scheduling._due import next_due
from conveyor.scheduling._scheduler import grace_for, utc_now
from conveyor.scheduling._triggers import (
    Cron,
    check_timezone,
    describe,
    parse_interval,
    time_trigger,
)
from conveyor.store import (
    MISSED_POLICIES,
    MetadataStore,
    MissedPolicy,
    ScheduleFire,
    ScheduleRecord,
    TriggerKind,
    check_schedule_name,
    open_metadata_store,
)

DEFAULT_POLL = 5.0  # what `conveyor scheduler` polls at unless told otherwise


@dataclass(frozen=True, slots=True)
class Schedule:
    """A schedule as a person reads it: its definition, when it next fires, how it last went."""

    record: ScheduleRecord
    next_due: datetime | None  # None: it waits for new files
    last_fire: ScheduleFire | None

    @property
    def label(self) -> str:
        return self.record.name or self.record.id

    @property
    def trigger(self) -> str:
        return describe(self.record)


def add_schedule(
    ref: str,
    *,
    cron: str | None = None,
    every: str | None = None,
    on_new_files: str | None = None,
    params: Mapping[str, str] | None = None,
    name: str | None = None,
    missed: str | None = None,
    timezone: str | None = None,
    include_existing: bool = False,
    workdir: str | os.PathLike[str] | None = None,
    settings: Settings | None = None,
    now: datetime | None = None,
) -> Schedule:
    """Store a schedule that runs the pipeline ``FILE[:PIPELINE]`` with ``params``.

    Args:
        cron: A cron expression, read in ``timezone`` (default UTC).
        every: An interval such as ``10m``, counted from now.
        on_new_files: A glob; a run starts when matching files appear that were not seen
            before. Files already there count as seen, unless ``include_existing``.
        params: ``-p KEY=VALUE`` text, converted to the pipeline's parameter types as a check.
        missed: ``skip`` (default) or ``catch-up``: what to do about due times that passed
            while no scheduler was running. ``catch-up`` runs once for all of them.
        workdir: Where runs start, and what relative paths and globs are read from
            (default: the current directory).

    Raises:
        SchedulerError: the trigger or options are wrong.
        PipelineDefinitionError: the file, the pipeline or a parameter is wrong.
    """
    trigger, spec = _one_trigger(cron, every, on_new_files)
    zone = _timezone(trigger, timezone)
    policy = _missed(trigger, missed)
    if include_existing and trigger != "files":
        raise SchedulerError("--include-existing goes with --on-new-files only")
    if name is not None:
        check_schedule_name(name)
    folder = os.path.abspath(workdir if workdir is not None else os.getcwd())
    if trigger == "cron":
        Cron(spec, zone)
    elif trigger == "every":
        parse_interval(spec)
    else:
        _files.check_pattern(spec)
    target, pipeline = _checked_target(ref, folder, params or {})
    created = (now or utc_now()).replace(microsecond=0)
    record = ScheduleRecord(
        id=new_id("sch"),
        name=name,
        target=target,
        pipeline=pipeline,
        params=dict(params or {}),
        trigger=trigger,
        spec=spec,
        created_at=created,
        timezone=zone,
        missed=policy,
        workdir=folder,
    )
    seen = (
        _files.matching_files(spec, folder) if trigger == "files" and not include_existing else ()
    )
    with _opened(settings) as store:
        stored = store.add_schedule(record, seen)
        return _view(store, stored, created)


def list_schedules(
    *, settings: Settings | None = None, now: datetime | None = None
) -> list[Schedule]:
    """Every schedule, oldest first, with its next due time and its last fire."""
    with _opened(settings) as store:
        moment = now or utc_now()
        return [_view(store, record, moment) for record in store.list_schedules()]


def get_schedule(
    ref: str, *, settings: Settings | None = None, now: datetime | None = None
) -> Schedule:
    """The schedule with this id or name (ScheduleNotFound naming the ones there are)."""
    with _opened(settings) as store:
        return _view(store, store.get_schedule(ref), now or utc_now())


def schedule_fires(
    ref: str, *, limit: int = 20, settings: Settings | None = None
) -> list[ScheduleFire]:
    """The schedule's newest fires first: due time, start, end, status, run and reason."""
    with _opened(settings) as store:
        return store.fires(store.get_schedule(ref).id, limit=limit)


def remove_schedule(ref: str, *, settings: Settings | None = None) -> ScheduleRecord:
    """Remove the schedule with this id or name; its fires stay on record. A run it started
    that is still going finishes, and is recorded."""
    with _opened(settings) as store:
        return store.delete_schedule(ref)


def _one_trigger(
    cron: str | None, every: str | None, on_new_files: str | None
) -> tuple[TriggerKind, str]:
    options: list[tuple[TriggerKind, str | None]] = [
        ("cron", cron),
        ("every", every),
        ("files", on_new_files),
    ]
    given = [(kind, value) for kind, value in options if value is not None]
    if len(given) != 1:
        raise SchedulerError(
            "give exactly one trigger: --cron EXPRESSION, --every INTERVAL or --on-new-files GLOB",
            given=[kind for kind, _ in given],
        )
    kind, value = given[0]
    return kind, value.strip() if kind != "files" else value


def _timezone(trigger: TriggerKind, timezone: str | None) -> str:
    if timezone is None:
        return "UTC"
    if trigger != "cron":
        raise SchedulerError("--timezone goes with --cron only; intervals and files need none")
    return check_timezone(timezone)


def _missed(trigger: TriggerKind, missed: str | None) -> MissedPolicy:
    if missed is None:
        return "skip"
    if trigger == "files":
        raise SchedulerError(
            "--missed goes with --cron and --every; files that arrived while no scheduler ran "
            "are new when one starts"
        )
    if missed not in MISSED_POLICIES:
        raise SchedulerError(
            f"--missed is one of {', '.join(MISSED_POLICIES)}, got {missed!r}", missed=missed
        )
    return "catch-up" if missed == "catch-up" else "skip"


def _checked_target(ref: str, workdir: str, params: Mapping[str, str]) -> tuple[str, str]:
    """``FILE:PIPELINE`` with FILE absolute, and the pipeline's name; the file is imported
    and ``params`` converted, so any mistake in them is raised here."""
    file, chosen = _split(ref)
    path = Path(file) if os.path.isabs(file) else Path(workdir) / file
    pipe, found = load_pipeline(f"{path}:{chosen}" if chosen else str(path))
    pipe.params(pipe.convert(dict(params)))
    return f"{found.resolve()}:{chosen or pipe.name}", pipe.name


def _split(ref: str) -> tuple[str, str | None]:
    head, sep, tail = ref.rpartition(":")
    if sep and head and tail and not any(c in tail for c in "/\\"):
        return head, tail
    return ref, None


def _view(store: MetadataStore, record: ScheduleRecord, now: datetime) -> Schedule:
    last = store.fires(record.id, limit=1)
    upcoming = None
    if record.trigger != "files":
        try:
            upcoming = next_due(record, time_trigger(record), now, grace_for(DEFAULT_POLL))
        except SchedulerError:
            upcoming = None  # a stored trigger this version cannot read: shown as none
    return Schedule(record, upcoming, last[0] if last else None)


@contextlib.contextmanager
def _opened(settings: Settings | None) -> Iterator[MetadataStore]:
    current = settings or load_settings(os.environ, Path.cwd())
    store = open_metadata_store(current.db_url, token=current.token)
    try:
        yield store
    finally:
        store.close()
