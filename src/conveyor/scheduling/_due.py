"""What a time trigger asks for at a moment: nothing, a run, or skipping fire times that were
missed, by the schedule's missed-run policy.

Pure, like ``_triggers``. The rule: every due time since the schedule was last handled is dealt
with by one decision, so a schedule never runs twice for one poll, nor once per slot it missed.
The newest due time decides. If the scheduler reaches it within ``grace`` it is on time and
runs. If it is later than that, it was missed while no scheduler was running: ``skip`` records
it as skipped, ``catch-up`` runs once now.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from conveyor.scheduling._triggers import TimeTrigger, count_due
from conveyor.store import MissedPolicy, ScheduleRecord

_COUNTED = 10_000  # beyond this many missed slots the message says "10000+"


@dataclass(frozen=True, slots=True)
class Due:
    """The decision for one schedule at one moment."""

    at: datetime  # the newest due time dealt with: the schedule's handled_until afterwards
    run: bool  # start a run; False: record the fire as skipped
    reason: str  # what the fire's record says about it ("" for a plain on-time run)


def due(
    trigger: TimeTrigger,
    *,
    since: datetime,
    now: datetime,
    missed: MissedPolicy,
    grace: timedelta,
) -> Due | None:
    """The decision for the due times in ``(since, now]``; None when there are none."""
    latest = trigger.latest(now)
    if latest is None or latest <= since:
        return None
    first = trigger.after(since)
    count = count_due(trigger, since, latest, _COUNTED)
    counted = f"{count}+" if count >= _COUNTED else str(count)
    span = f"{when(first)} … {when(latest)}" if count > 1 else when(latest)
    if now - latest <= grace:
        if count == 1:
            return Due(latest, True, "")
        earlier = f"{count - 1}+" if count >= _COUNTED else str(count - 1)
        return Due(latest, True, f"one run for {earlier} earlier due time(s) too ({span})")
    if missed == "catch-up":
        return Due(latest, True, f"catching up, once, {counted} missed due time(s) ({span})")
    return Due(
        latest,
        False,
        f"missed {counted} due time(s) while no scheduler was running ({span}); "
        "the schedule skips missed runs (--missed skip)",
    )


def next_due(
    schedule: ScheduleRecord, trigger: TimeTrigger, now: datetime, grace: timedelta
) -> datetime:
    """When the schedule will next start a run, as a scheduler polling from ``now`` sees it."""
    upcoming = trigger.after(schedule.handled_until or schedule.created_at)
    if now - upcoming <= grace:
        return upcoming  # in the future, or due now and still on time
    if schedule.missed == "catch-up":
        return now
    return trigger.after(now)


def when(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")
