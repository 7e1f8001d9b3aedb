"""Time triggers: parsing a cron expression or an interval, and the due times they give.

Pure: no I/O and no clock; every time is an argument, every result a UTC datetime. Deciding
what to do about due times (run, skip, catch up) is ``_due``; file triggers are ``_files``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError

from conveyor.core._durations import parse_duration
from conveyor.core._errors import SchedulerError
from conveyor.store import ScheduleRecord

_SECONDS = re.compile(r"\d+(?:\.\d+)?")
_MIN_INTERVAL = 1.0  # a run per second at most: anything faster is a loop, not a schedule
_ONE_SECOND = timedelta(seconds=1)
_MICRO = timedelta(microseconds=1)


@dataclass(frozen=True, slots=True)
class Cron:
    """A cron expression (5 fields, or 6 with seconds first) read in a time zone."""

    expression: str
    timezone: str = "UTC"

    def __post_init__(self) -> None:
        zone = _zone(self.timezone)
        try:
            CronSim(self.expression, datetime(2026, 1, 1, tzinfo=zone))
        except (CronSimError, ValueError, IndexError) as exc:
            raise SchedulerError(
                f"{self.expression!r} is not a cron expression ({exc}); expected 5 fields "
                "'MINUTE HOUR DAY MONTH WEEKDAY', e.g. '0 2 * * *' for 02:00 every day",
                cron=self.expression,
            ) from exc

    def after(self, moment: datetime) -> datetime:
        """The first due time strictly after ``moment``."""
        local = moment.astimezone(_zone(self.timezone))
        return next(iter(CronSim(self.expression, local))).astimezone(UTC)

    def latest(self, moment: datetime) -> datetime | None:
        """The last due time at or before ``moment``."""
        # Due times fall on whole seconds; CronSim's reverse search starts one second before
        # the time it is given.
        start = moment.replace(microsecond=0) + _ONE_SECOND
        local = start.astimezone(_zone(self.timezone))
        return next(iter(CronSim(self.expression, local, reverse=True))).astimezone(UTC)


@dataclass(frozen=True, slots=True)
class Every:
    """A fixed interval, counted from ``anchor`` (when the schedule was added)."""

    seconds: float
    anchor: datetime

    def after(self, moment: datetime) -> datetime:
        return self.anchor + self._step() * (self._steps_to(moment) + 1)

    def latest(self, moment: datetime) -> datetime | None:
        steps = self._steps_to(moment)
        return None if steps < 1 else self.anchor + self._step() * steps

    def _step(self) -> timedelta:
        return timedelta(microseconds=round(self.seconds * 1_000_000))

    def _steps_to(self, moment: datetime) -> int:
        """How many whole intervals fit between the anchor and ``moment`` (0 before it)."""
        elapsed = (moment - self.anchor) // _MICRO
        return max(0, elapsed // (self._step() // _MICRO))


TimeTrigger = Cron | Every


def parse_interval(text: str) -> float:
    """Seconds in ``10m``, ``90s``, ``1h30m``, ``2d`` or a bare number of seconds."""
    span = parse_duration(text)
    if span is not None:
        seconds = span.total_seconds()
    elif _SECONDS.fullmatch(text.strip()):
        seconds = float(text)
    else:
        raise SchedulerError(
            f"{text!r} is not an interval: use a number with s, m, h, d or w, e.g. 30s, 10m, "
            "1h30m, 1d",
            every=text,
        )
    if not math.isfinite(seconds) or seconds < _MIN_INTERVAL:
        raise SchedulerError(f"an interval is at least 1 second, got {text!r}", every=text)
    return seconds


def check_timezone(name: str) -> str:
    _zone(name)
    return name


def time_trigger(schedule: ScheduleRecord) -> TimeTrigger:
    """The trigger of a cron or interval schedule."""
    if schedule.trigger == "cron":
        return Cron(schedule.spec, schedule.timezone)
    if schedule.trigger == "every":
        return Every(parse_interval(schedule.spec), schedule.created_at)
    raise SchedulerError(f"schedule {schedule.id} is started by files, not by time")


def count_due(trigger: TimeTrigger, after: datetime, until: datetime, cap: int) -> int:
    """How many due times lie in ``(after, until]``, counting no further than ``cap``."""
    if isinstance(trigger, Every):
        return min(cap, trigger._steps_to(until) - trigger._steps_to(after))
    count, moment = 0, after
    while count < cap:
        moment = trigger.after(moment)
        if moment > until:
            break
        count += 1
    return count


def describe(schedule: ScheduleRecord) -> str:
    """The trigger as a person reads it: ``cron 0 2 * * * (UTC)``, ``every 10m``, …"""
    if schedule.trigger == "cron":
        return f"cron {schedule.spec} ({schedule.timezone})"
    if schedule.trigger == "every":
        return f"every {schedule.spec}"
    return f"new files {schedule.spec}"


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise SchedulerError(
            f"unknown time zone {name!r}: use an IANA name such as 'UTC' or 'Europe/Berlin'",
            timezone=name,
        ) from exc
