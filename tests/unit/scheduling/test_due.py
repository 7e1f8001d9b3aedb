"""The missed-run policy: on time, several due times in one poll, skip, and catch up once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from conveyor.scheduling import Cron, Every, due, next_due
from conveyor.store import MissedPolicy, ScheduleRecord

T0 = datetime(2026, 3, 1, 0, 0, tzinfo=UTC)
GRACE = timedelta(seconds=60)
HOURLY = Cron("0 * * * *")


def hours(n: float) -> datetime:
    return T0 + timedelta(hours=n)


def test_nothing_is_due_before_the_first_due_time() -> None:
    assert due(HOURLY, since=T0, now=hours(0.99), missed="skip", grace=GRACE) is None
    assert due(HOURLY, since=hours(1), now=hours(1.5), missed="skip", grace=GRACE) is None


def test_a_due_time_reached_on_time_runs() -> None:
    decision = due(
        HOURLY, since=T0, now=hours(1) + timedelta(seconds=3), missed="skip", grace=GRACE
    )
    assert decision is not None
    assert decision.run and decision.at == hours(1) and decision.reason == ""


def test_due_times_missed_while_down_are_skipped_by_default_as_one_record() -> None:
    decision = due(HOURLY, since=T0, now=hours(3.5), missed="skip", grace=GRACE)
    assert decision is not None
    assert not decision.run
    assert decision.at == hours(3)  # handled up to the newest: none of them runs later
    assert "missed 3 due time(s) while no scheduler was running" in decision.reason
    assert "2026-03-01 01:00:00 UTC … 2026-03-01 03:00:00 UTC" in decision.reason


def test_catch_up_runs_once_for_all_missed_due_times() -> None:
    decision = due(HOURLY, since=T0, now=hours(3.5), missed="catch-up", grace=GRACE)
    assert decision is not None
    assert decision.run and decision.at == hours(3)
    assert "catching up, once, 3 missed due time(s)" in decision.reason
    # after it, the next decision is the next due time, not another catch-up
    assert due(HOURLY, since=decision.at, now=hours(3.6), missed="catch-up", grace=GRACE) is None


@pytest.mark.parametrize("missed", ["skip", "catch-up"])
def test_when_the_newest_due_time_is_on_time_one_run_covers_the_earlier_ones(
    missed: MissedPolicy,
) -> None:
    now = hours(3) + timedelta(seconds=5)
    decision = due(HOURLY, since=T0, now=now, missed=missed, grace=GRACE)
    assert decision is not None
    assert decision.run and decision.at == hours(3)
    assert "one run for 2 earlier due time(s) too" in decision.reason


def test_a_fast_interval_polled_slowly_runs_once_per_poll() -> None:
    every_second = Every(1, T0)
    decision = due(
        every_second, since=T0, now=T0 + timedelta(seconds=5.5), missed="skip", grace=GRACE
    )
    assert decision is not None
    assert decision.run and decision.at == T0 + timedelta(seconds=5)


def test_a_huge_number_of_missed_due_times_is_counted_with_a_cap() -> None:
    every_two_minutes = Every(120, T0)
    now = T0 + timedelta(days=30, seconds=90)  # the newest due time is 90 s old: missed
    decision = due(every_two_minutes, since=T0, now=now, missed="skip", grace=GRACE)
    assert decision is not None
    assert not decision.run
    assert "missed 10000+ due time(s)" in decision.reason


def schedule(missed: str = "skip", handled_until: datetime | None = None) -> ScheduleRecord:
    return ScheduleRecord(
        "sch-01", None, "/p.py:p", "p", {}, "cron", "0 * * * *", T0,
        missed=missed, handled_until=handled_until,  # type: ignore[arg-type]
    )  # fmt: skip


def test_the_next_due_time_shown_follows_the_missed_run_policy() -> None:
    assert next_due(schedule(), HOURLY, hours(0.5), GRACE) == hours(1)
    assert next_due(schedule(handled_until=hours(1)), HOURLY, hours(1.2), GRACE) == hours(2)
    # long overdue: skip waits for the next one, catch-up runs as soon as a scheduler polls
    assert next_due(schedule(), HOURLY, hours(5.5), GRACE) == hours(6)
    assert next_due(schedule("catch-up"), HOURLY, hours(5.5), GRACE) == hours(5.5)
