"""The ScheduleStore contract (schedules, fires, seen files, the lease), run against every
adapter: memory, SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
import threading
from datetime import UTC, datetime, timedelta

import pytest

from conveyor.errors import ConveyorError, ScheduleNotFound, StoreError
from conveyor.store import LeaseRecord, MetadataStore, ScheduleFire, ScheduleRecord

T0 = datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def schedule(
    id: str = "sch-0000000000010000000a", name: str | None = "nightly", **changes: object
) -> ScheduleRecord:
    record = ScheduleRecord(
        id=id,
        name=name,
        target="/work/pipeline.py:churn",
        pipeline="churn",
        params={"n_estimators": "300", "path": "data/a b.csv"},
        trigger="cron",
        spec="0 2 * * *",
        created_at=T0,
        timezone="Europe/Riga",
        missed="catch-up",
        workdir="/work",
    )
    return dataclasses.replace(record, **changes)  # type: ignore[arg-type]


def fire(schedule_id: str = "sch-0000000000010000000a", **changes: object) -> ScheduleFire:
    record = ScheduleFire(
        schedule_id=schedule_id,
        due_at=at(60),
        status="running",
        started_at=at(61),
        host="host-a",
        pid=4242,
        reason="",
    )
    return dataclasses.replace(record, **changes)  # type: ignore[arg-type]


def lease(holder: str = "sched-a", expires: float = 30, **changes: object) -> LeaseRecord:
    record = LeaseRecord(
        name="scheduler",
        holder=holder,
        host="host-a",
        pid=100,
        acquired_at=T0,
        expires_at=at(expires),
    )
    return dataclasses.replace(record, **changes)  # type: ignore[arg-type]


# -- definitions ------------------------------------------------------------------------------


def test_a_schedule_round_trips_and_is_found_by_id_or_name(store: MetadataStore) -> None:
    stored = store.add_schedule(schedule())
    assert stored == schedule()
    assert store.get_schedule("nightly") == stored
    assert store.get_schedule(stored.id) == stored
    assert stored.handled_until is None
    assert dict(stored.params) == {"n_estimators": "300", "path": "data/a b.csv"}


def test_schedules_are_listed_oldest_first_and_unnamed_ones_may_be_many(
    store: MetadataStore,
) -> None:
    store.add_schedule(schedule("sch-02", None, created_at=at(2)))
    store.add_schedule(schedule("sch-01", None, created_at=at(1)))
    store.add_schedule(schedule("sch-03", "weekly", created_at=at(3)))
    assert [s.id for s in store.list_schedules()] == ["sch-01", "sch-02", "sch-03"]


def test_a_taken_name_or_id_is_refused_and_nothing_is_stored(store: MetadataStore) -> None:
    store.add_schedule(schedule())
    with pytest.raises(StoreError, match="a schedule named 'nightly' exists already"):
        store.add_schedule(schedule("sch-0000000000020000000b", "nightly"))
    with pytest.raises(StoreError, match="already exists"):
        store.add_schedule(schedule(name="other"))
    assert len(store.list_schedules()) == 1


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"name": "bad name!"}, "cannot name a schedule"),
        ({"name": "sch-00ff"}, "looks like a schedule id"),
        ({"trigger": "hourly"}, "unknown trigger"),
        ({"missed": "all"}, "unknown missed-run policy"),
        ({"spec": ""}, "trigger is at least 1 characters"),
        ({"params": {"n": 3}}, "KEY=VALUE text"),
        ({"created_at": datetime(2026, 1, 1)}, "timezone-aware"),
    ],
)
def test_bad_definitions_are_refused(
    store: MetadataStore, change: dict[str, object], message: str
) -> None:
    with pytest.raises(ConveyorError, match=message):
        store.add_schedule(dataclasses.replace(schedule(), **change))  # type: ignore[arg-type]
    assert store.list_schedules() == []


def test_an_unknown_schedule_names_the_ones_there_are(store: MetadataStore) -> None:
    store.add_schedule(schedule())
    store.add_schedule(schedule("sch-0000000000020000000b", None))
    with pytest.raises(ScheduleNotFound, match=r"'nope'; schedules: nightly, sch-0+20+b"):
        store.get_schedule("nope")
    with pytest.raises(ScheduleNotFound, match="'nope'"):
        store.delete_schedule("nope")


def test_removing_a_schedule_forgets_its_seen_files_and_keeps_its_fires(
    store: MetadataStore,
) -> None:
    added = store.add_schedule(schedule(trigger="files", spec="in/*.csv"), ["/in/a.csv"])
    made = store.record_fire(fire(added.id, status="skipped"))
    removed = store.delete_schedule("nightly")
    assert removed == added
    assert store.list_schedules() == []
    assert store.seen_files(added.id) == set()
    assert store.fires(added.id) == [made]
    with pytest.raises(ScheduleNotFound):
        store.record_fire(fire(added.id))


# -- fires and seen files ---------------------------------------------------------------------


def test_a_fire_moves_handled_until_and_adds_seen_files_with_it(store: MetadataStore) -> None:
    added = store.add_schedule(schedule(), seen_files=["/in/a.csv", "/in/b.csv"])
    assert store.seen_files(added.id) == {"/in/a.csv", "/in/b.csv"}
    made = store.record_fire(fire(), handled_until=at(60), seen_files=["/in/b.csv", "/in/c.csv"])
    assert made.id > 0
    assert dataclasses.replace(made, id=0) == fire()
    assert store.get_schedule(added.id).handled_until == at(60)
    assert store.seen_files(added.id) == {"/in/a.csv", "/in/b.csv", "/in/c.csv"}
    store.record_fire(fire(status="skipped", due_at=at(120)))  # no handled_until: unchanged
    assert store.get_schedule(added.id).handled_until == at(60)


def test_a_rejected_fire_changes_nothing(store: MetadataStore) -> None:
    added = store.add_schedule(schedule())
    with pytest.raises(StoreError, match="unknown fire status"):
        store.record_fire(fire(status="odd"), handled_until=at(60), seen_files=["/x"])
    with pytest.raises(StoreError, match="timezone-aware"):
        store.record_fire(fire(due_at=datetime(2026, 1, 1)), handled_until=at(60))
    assert store.fires() == []
    assert store.get_schedule(added.id).handled_until is None
    assert store.seen_files(added.id) == set()


def test_a_fire_is_updated_when_its_run_ends(store: MetadataStore) -> None:
    store.add_schedule(schedule())
    made = store.record_fire(fire(pid=None))
    done = dataclasses.replace(
        made,
        status="failed",
        finished_at=at(90),
        run_id="run-0123",
        reason="failed at step 'train'",
        pid=4343,
        due_at=at(999),  # not updatable: stays
    )
    updated = store.update_fire(done)
    assert updated == dataclasses.replace(done, due_at=made.due_at)
    assert store.fires() == [updated]
    with pytest.raises(StoreError, match="no schedule fire with id 999"):
        store.update_fire(dataclasses.replace(done, id=999))


def test_fires_come_newest_first_by_schedule_and_status(store: MetadataStore) -> None:
    one = store.add_schedule(schedule())
    two = store.add_schedule(schedule("sch-0000000000020000000b", "two"))
    made = [
        store.record_fire(fire(one.id, status="succeeded", finished_at=at(70))),
        store.record_fire(fire(two.id, status="running")),
        store.record_fire(fire(one.id, status="skipped", due_at=at(120))),
        store.record_fire(fire(one.id, status="running", due_at=at(180))),
    ]
    assert store.fires() == made[::-1]
    assert store.fires(one.id) == [made[3], made[2], made[0]]
    assert store.fires(one.id, limit=1) == [made[3]]
    assert store.fires(status="running") == [made[3], made[1]]
    assert store.fires(two.id, status="succeeded") == []
    with pytest.raises(StoreError, match="limit"):
        store.fires(limit=0)
    with pytest.raises(StoreError, match="unknown fire status"):
        store.fires(status="odd")  # type: ignore[arg-type]


# -- the lease --------------------------------------------------------------------------------


def test_a_free_lease_is_taken_and_a_held_one_names_its_holder(store: MetadataStore) -> None:
    assert store.get_lease("scheduler") is None
    assert store.acquire_lease(lease("sched-a"), now=at(0)) == lease("sched-a")
    held = store.acquire_lease(lease("sched-b", host="host-b", pid=7), now=at(10))
    assert held == lease("sched-a")
    assert store.get_lease("scheduler") == lease("sched-a")
    # the holder itself may take it again (a restart of the same holder)
    again = lease("sched-a", expires=60)
    assert store.acquire_lease(again, now=at(10)) == again


def test_an_expired_lease_is_taken_over_and_renewing_it_fails_for_the_old_holder(
    store: MetadataStore,
) -> None:
    store.acquire_lease(lease("sched-a", expires=30), now=at(0))
    assert store.renew_lease("scheduler", "sched-a", at(60))
    assert store.acquire_lease(lease("sched-b", expires=90), now=at(59)).holder == "sched-a"
    taken = store.acquire_lease(lease("sched-b", expires=120), now=at(60))
    assert taken.holder == "sched-b"
    assert not store.renew_lease("scheduler", "sched-a", at(200))
    store.release_lease("scheduler", "sched-a")  # not its lease any more: nothing happens
    assert store.get_lease("scheduler") == taken
    store.release_lease("scheduler", "sched-b")
    assert store.get_lease("scheduler") is None


def test_a_lease_held_by_a_holder_known_to_be_gone_is_replaced(store: MetadataStore) -> None:
    store.acquire_lease(lease("sched-a", expires=300), now=at(0))
    assert store.acquire_lease(lease("sched-b"), now=at(1), replacing="sched-x").holder == "sched-a"
    assert store.acquire_lease(lease("sched-b"), now=at(1), replacing="sched-a").holder == "sched-b"


def test_of_many_takers_at_once_exactly_one_gets_the_lease(store: MetadataStore) -> None:
    results: list[LeaseRecord] = []
    errors: list[BaseException] = []
    start = threading.Barrier(6)

    def take(i: int) -> None:
        start.wait()
        try:
            results.append(store.acquire_lease(lease(f"sched-{i}"), now=at(0)))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=take, args=(i,)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    winners = {r.holder for r in results}
    assert len(winners) == 1
    assert store.get_lease("scheduler") is not None
    assert store.get_lease("scheduler").holder in winners  # type: ignore[union-attr]
