"""``conveyor schedule`` (add, list, show, remove schedules) and ``conveyor scheduler`` (run them).

The commands parse, call ``conveyor.scheduling`` and print. The library is imported inside the
commands, so ``conveyor --help`` stays light; errors reach ``_app``'s one handler, which prints
them on one line and exits 2.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click

from conveyor.cli._options import params_option

if TYPE_CHECKING:
    from rich.table import Table

    from conveyor.core import Settings
    from conveyor.scheduling import Schedule
    from conveyor.store import ScheduleFire

NOTHING = "—"
_REASON_SHOWN = 60


@click.group("schedule")
def schedule_group() -> None:
    """Run pipelines on a schedule: cron expressions, intervals, or new files arriving.

    Schedules are stored in the project's store; `conveyor scheduler` runs them. ID_OR_NAME is
    a schedule's id (sch-…) or the name given with --name.
    """


@schedule_group.command("add", short_help="Schedule a pipeline.")
@click.argument("ref", metavar="FILE[:PIPELINE]")
@click.option("--cron", metavar="EXPRESSION", help="A cron expression, e.g. '0 2 * * *'.")
@click.option("--every", metavar="INTERVAL", help="An interval: 30s, 10m, 1h30m, 1d.")
@click.option(
    "--on-new-files",
    metavar="GLOB",
    help="Run when files matching GLOB appear that were not seen before, e.g. "
    "'data/incoming/*.csv' (** matches any depth).",
)
@params_option
@click.option("--name", default=None, help="A name to refer to the schedule by.")
@click.option(
    "--missed",
    type=click.Choice(["skip", "catch-up"]),
    default=None,
    help="Due times missed while no scheduler ran: skip them (default), or run once to catch up.",
)
@click.option(
    "--timezone",
    default=None,
    metavar="ZONE",
    help="The time zone a cron expression is read in, e.g. Europe/Berlin (default UTC).",
)
@click.option(
    "--include-existing",
    is_flag=True,
    help="With --on-new-files: files already there count as new, so the first poll runs.",
)
def schedule_add(
    ref: str,
    cron: str | None,
    every: str | None,
    on_new_files: str | None,
    params: tuple[str, ...],
    name: str | None,
    missed: str | None,
    timezone: str | None,
    include_existing: bool,
) -> None:
    """Schedule the pipeline in FILE (by name if the file has several).

    Give one trigger: --cron, --every or --on-new-files. The file is imported and the
    parameters checked now. Runs start in the current folder, so relative paths in parameters
    and globs mean what they mean here.
    """
    from conveyor.cli._commands import parse_params
    from conveyor.scheduling import add_schedule

    added = add_schedule(
        ref,
        cron=cron,
        every=every,
        on_new_files=on_new_files,
        params=parse_params(params),
        name=name,
        missed=missed,
        timezone=timezone,
        include_existing=include_existing,
        settings=_settings(),
    )
    record = added.record
    named = f"{record.name} ({record.id})" if record.name else record.id
    click.echo(f"added schedule {named}: {record.target}, {added.trigger}")
    click.echo(f"next due: {_next(added)}")
    click.echo("schedules run while `conveyor scheduler` is running")


@schedule_group.command("list", short_help="List schedules.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def schedule_list(as_json: bool) -> None:
    """Every schedule: its target, trigger, parameters, when it is next due, and its last fire
    with how it went."""
    from conveyor.scheduling import list_schedules

    found = list_schedules(settings=_settings())
    if as_json:
        click.echo(json.dumps([_schedule_json(s) for s in found], indent=2))
        return
    if not found:
        click.echo("no schedules: `conveyor schedule add FILE[:PIPELINE] --cron …` adds one")
        return
    table = _table("schedule", "id", "target", "trigger", "params", "next due", "last fire")
    for schedule in found:
        record = schedule.record
        table.add_row(
            record.name or NOTHING,
            record.id,
            _escape(_target(record.target)),
            _escape(schedule.trigger),
            _escape(_params(record.params)) or NOTHING,
            _next(schedule),
            _fire_summary(schedule.last_fire),
        )
    _print(table)


@schedule_group.command("show", short_help="Show a schedule and its fires.")
@click.argument("ref", metavar="ID_OR_NAME")
@click.option("-n", "--limit", type=click.IntRange(min=1), default=20, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of tables.")
def schedule_show(ref: str, limit: int, as_json: bool) -> None:
    """A schedule and its newest fires: when each was due, started and ended, its status,
    its run and why."""
    from conveyor.scheduling import get_schedule, schedule_fires

    settings = _settings()
    schedule = get_schedule(ref, settings=settings)
    fires = schedule_fires(schedule.record.id, limit=limit, settings=settings)
    if as_json:
        body = _schedule_json(schedule) | {"fires": [_fire_json(f) for f in fires]}
        click.echo(json.dumps(body, indent=2))
        return
    record = schedule.record
    click.echo(f"schedule {schedule.label} ({record.id})")
    click.echo(f"  target:   {record.target}")
    click.echo(f"  trigger:  {schedule.trigger}")
    click.echo(f"  params:   {_params(record.params) or NOTHING}")
    click.echo(f"  missed:   {record.missed}")
    click.echo(f"  workdir:  {record.workdir}")
    click.echo(f"  next due: {_next(schedule)}")
    if not fires:
        click.echo("no fires yet")
        return
    table = _table("fire", "due", "started", "ended", "status", "run", "reason")
    for fire in fires:
        table.add_row(
            str(fire.id),
            _when(fire.due_at),
            _when(fire.started_at),
            _when(fire.finished_at),
            _status(fire.status),
            fire.run_id or NOTHING,
            _escape(fire.reason) or NOTHING,
        )
    _print(table)


@schedule_group.command("remove", short_help="Remove a schedule.")
@click.argument("ref", metavar="ID_OR_NAME")
def schedule_remove(ref: str) -> None:
    """Remove a schedule. Its fires stay on record; a run it started that is still going
    finishes."""
    from conveyor.scheduling import remove_schedule

    removed = remove_schedule(ref, settings=_settings())
    named = f"{removed.name} ({removed.id})" if removed.name else removed.id
    click.echo(f"removed schedule {named}")


@click.command("scheduler")
@click.option(
    "--poll",
    type=click.FloatRange(min=0.1),
    default=5.0,
    show_default=True,
    metavar="SECONDS",
    help="How often to look for due schedules, new files and due monitors.",
)
@click.option("--once", is_flag=True, help="One pass: start what is due, wait for it, exit.")
@click.option(
    "--stop-timeout",
    type=click.FloatRange(min=0),
    default=60.0,
    show_default=True,
    metavar="SECONDS",
    help="On SIGTERM or Ctrl-C, how long to wait for running pipelines before stopping them.",
)
def scheduler_command(poll: float, once: bool, stop_timeout: float) -> None:
    """Run the schedules and monitors of this project's store, until SIGTERM or Ctrl-C.

    One scheduler runs per store: a second one, on this machine or another sharing the
    database, refuses to start. Each pipeline runs in a process of its own; every fire is
    recorded (`conveyor schedule show`). Each monitor is evaluated on its own
    interval (its `every`).
    """
    from conveyor.scheduling import run_scheduler

    run_scheduler(_settings(), poll=poll, once=once, stop_timeout=stop_timeout, log=_log)


# -- formatting ------------------------------------------------------------------------------


def _settings() -> Settings:
    from conveyor.cli._commands import settings

    return settings()


def _log(line: str) -> None:
    click.echo(f"{datetime.now(UTC):%Y-%m-%d %H:%M:%S} {line}")


def _when(moment: datetime | None) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if moment else NOTHING


def _next(schedule: Schedule) -> str:
    if schedule.record.trigger == "files":
        return "when new files arrive"
    return _when(schedule.next_due)


def _params(params: Mapping[str, str]) -> str:
    return " ".join(f"{k}={v}" for k, v in params.items())


def _target(target: str) -> str:
    """The file relative to the current folder when it is inside it."""
    file, _, pipeline = target.rpartition(":")
    try:
        shown = str(Path(file).relative_to(Path.cwd()))
    except ValueError:
        shown = file
    return f"{shown}:{pipeline}"


def _fire_summary(fire: ScheduleFire | None) -> str:
    if fire is None:
        return NOTHING
    text = f"{_when(fire.due_at)} {_status(fire.status)}"
    if fire.reason:
        reason = fire.reason
        cut = reason if len(reason) <= _REASON_SHOWN else reason[: _REASON_SHOWN - 1] + "…"
        text += f": {_escape(cut)}"
    return text


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


def _status(status: str) -> str:
    from conveyor.cli._render import _status as shown

    return shown(status)


def _schedule_json(schedule: Schedule) -> dict[str, object]:
    record = schedule.record
    return {
        "id": record.id,
        "name": record.name,
        "target": record.target,
        "pipeline": record.pipeline,
        "trigger": record.trigger,
        "spec": record.spec,
        "timezone": record.timezone,
        "missed": record.missed,
        "params": dict(record.params),
        "workdir": record.workdir,
        "created_at": record.created_at.isoformat(),
        "next_due": schedule.next_due.isoformat() if schedule.next_due else None,
        "last_fire": _fire_json(schedule.last_fire) if schedule.last_fire else None,
    }


def _fire_json(fire: ScheduleFire) -> dict[str, object]:
    return {
        "id": fire.id,
        "due_at": fire.due_at.isoformat(),
        "status": fire.status,
        "started_at": fire.started_at.isoformat(),
        "finished_at": fire.finished_at.isoformat() if fire.finished_at else None,
        "run_id": fire.run_id,
        "reason": fire.reason,
        "host": fire.host,
        "pid": fire.pid,
    }


def _table(*columns: str) -> Table:
    from conveyor.cli._render import table

    return table(*columns, wrapped=("params", "last fire", "reason"))


def _print(table: Table) -> None:
    from conveyor.cli._render import _console

    _console.print(table)
