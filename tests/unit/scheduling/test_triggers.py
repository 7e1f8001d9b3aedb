"""Cron and interval triggers: the next and latest due times, intervals, and bad input."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from conveyor.errors import SchedulerError
from conveyor.scheduling import Cron, Every, parse_interval
from conveyor.scheduling._triggers import count_due


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, *rest: int) -> datetime:
    second, micro = (*rest, 0, 0)[:2]
    return datetime(year, month, day, hour, minute, second, micro, tzinfo=UTC)


def test_a_daily_cron_is_next_due_strictly_after_the_moment() -> None:
    nightly = Cron("0 2 * * *")
    assert nightly.after(utc(2026, 3, 1, 1, 59, 59)) == utc(2026, 3, 1, 2, 0)
    assert nightly.after(utc(2026, 3, 1, 2, 0)) == utc(2026, 3, 2, 2, 0)
    assert nightly.after(utc(2026, 3, 1, 2, 0, 0, 500)) == utc(2026, 3, 2, 2, 0)


def test_the_latest_cron_time_includes_the_moment_itself() -> None:
    nightly = Cron("0 2 * * *")
    assert nightly.latest(utc(2026, 3, 1, 2, 0)) == utc(2026, 3, 1, 2, 0)
    assert nightly.latest(utc(2026, 3, 1, 2, 0, 0, 999_999)) == utc(2026, 3, 1, 2, 0)
    assert nightly.latest(utc(2026, 3, 1, 1, 59, 59, 999_999)) == utc(2026, 2, 28, 2, 0)


def test_weekday_ranges_steps_and_names_are_understood() -> None:
    weekdays = Cron("30 8 * * MON-FRI")
    assert weekdays.after(utc(2026, 3, 6, 9, 0)) == utc(2026, 3, 9, 8, 30)  # Fri → Mon
    quarter = Cron("*/15 * * * *")
    assert quarter.after(utc(2026, 3, 1, 10, 7)) == utc(2026, 3, 1, 10, 15)


def test_a_cron_in_a_time_zone_follows_its_daylight_saving_time() -> None:
    berlin = Cron("0 2 * * *", "Europe/Berlin")
    # 02:00 in Berlin is 01:00 UTC in winter, 00:00 UTC in summer
    assert berlin.after(utc(2026, 3, 1, 12, 0)) == utc(2026, 3, 2, 1, 0)
    assert berlin.after(utc(2026, 6, 1, 12, 0)) == utc(2026, 6, 2, 0, 0)
    # 2026-03-29 02:00 does not exist in Berlin: the job runs when the clock jumps (03:00 CEST)
    assert berlin.after(utc(2026, 3, 28, 12, 0)) == utc(2026, 3, 29, 1, 0)


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("bad cron", "is not a cron expression"),
        ("61 * * * *", "is not a cron expression"),
        ("* * *", "expected 5 fields"),
        ("0 0 31 2 *", "is not a cron expression"),
    ],
)
def test_a_bad_cron_expression_is_named(expression: str, message: str) -> None:
    with pytest.raises(SchedulerError, match=message) as caught:
        Cron(expression)
    assert repr(expression) in str(caught.value)


def test_an_unknown_time_zone_is_named() -> None:
    with pytest.raises(SchedulerError, match="unknown time zone 'Mars/Olympus'"):
        Cron("0 2 * * *", "Mars/Olympus")


def test_interval_due_times_are_counted_from_the_anchor() -> None:
    anchor = utc(2026, 3, 1, 12, 0)
    every = Every(600, anchor)
    assert every.after(anchor - timedelta(hours=1)) == anchor + timedelta(minutes=10)
    assert every.after(anchor) == anchor + timedelta(minutes=10)
    assert every.after(anchor + timedelta(minutes=10)) == anchor + timedelta(minutes=20)
    assert every.latest(anchor + timedelta(minutes=9)) is None
    assert every.latest(anchor + timedelta(minutes=25)) == anchor + timedelta(minutes=20)
    assert every.latest(anchor + timedelta(minutes=30)) == anchor + timedelta(minutes=30)


def test_due_times_between_two_moments_are_counted_up_to_a_cap() -> None:
    anchor = utc(2026, 3, 1)
    assert count_due(Every(60, anchor), anchor, anchor + timedelta(minutes=5), 100) == 5
    assert count_due(Every(1, anchor), anchor, anchor + timedelta(days=30), 100) == 100
    hourly = Cron("0 * * * *")
    assert count_due(hourly, anchor, anchor + timedelta(hours=3, minutes=30), 100) == 3
    assert count_due(hourly, anchor, anchor + timedelta(days=30), 10) == 10


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30s", 30), ("10m", 600), ("1h30m", 5400), ("2d", 172800), ("90", 90), ("1.5h", 5400)],
)
def test_intervals_are_read_with_their_units(text: str, seconds: float) -> None:
    assert parse_interval(text) == seconds


@pytest.mark.parametrize("text", ["", "ten minutes", "10x", "m10", "-5s", "0s", "0.5s"])
def test_bad_intervals_are_refused(text: str) -> None:
    with pytest.raises(SchedulerError, match="interval"):
        parse_interval(text)
