"""The scheduler driven tick by tick with a fake clock and fake processes: due times, outcomes,
overlap, missed runs, restarts, file triggers and stopping."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest

from conveyor.errors import SchedulerError
from conveyor.scheduling import Scheduler, serve
from conveyor.scheduling._serve import wind_down
from conveyor.store import MemoryMetadataStore, RunRecord, ScheduleFire
from conveyor.testing import FakeClock
from tests.unit.scheduling._fakes import T0, FakeLauncher, schedule

HOST = "host-a"


class World:
    """One store, one clock, one launcher, and schedulers made on them."""

    def __init__(self) -> None:
        self.store = MemoryMetadataStore()
        self.clock = FakeClock(T0)
        self.launcher = FakeLauncher()
        self.alive: set[int] = set()  # pids alive on HOST, besides the fake pipelines
        self.logs: list[str] = []

    def scheduler(
        self, pid: int = 100, host: str = HOST, evaluate: Callable[[str], object] | None = None
    ) -> Scheduler:
        self.alive.add(pid)
        return Scheduler(
            self.store,
            self.launcher,
            evaluate_monitor=evaluate,
            clock=self.clock,
            poll=1.0,
            lease_seconds=30,
            log=self.logs.append,
            host=host,
            pid=pid,
            is_alive=self.is_alive,
        )

    def is_alive(self, pid: int) -> bool:
        running = {p.pid for p in self.launcher.running()}
        return pid in self.alive or pid in running

    def crash(self, pid: int) -> None:
        """The scheduler with this pid dies without a word; its pipelines live on."""
        self.alive.discard(pid)

    def at(self, seconds: float) -> None:
        self.clock.advance((T0 + timedelta(seconds=seconds) - self.clock()).total_seconds())

    def fires(self) -> list[ScheduleFire]:
        return list(reversed(self.store.fires()))  # oldest first


@pytest.fixture
def world() -> World:
    return World()


def seconds(n: float) -> timedelta:
    return timedelta(seconds=n)


# -- due times and outcomes -------------------------------------------------------------------


def test_an_interval_schedule_runs_at_each_due_time_and_records_how_it_went(
    world: World,
) -> None:
    world.store.add_schedule(schedule(spec="60s"))
    scheduler = world.scheduler()
    scheduler.start()
    scheduler.tick()
    assert world.launcher.started == []
    world.at(60.5)
    scheduler.tick()
    [process] = world.launcher.started
    assert process.schedule.target == "/work/pipeline.py:churn"
    [fire] = world.fires()
    assert (fire.status, fire.due_at, fire.pid, fire.host) == (
        "running",
        T0 + seconds(60),
        5000,
        HOST,
    )
    assert world.store.get_schedule("job").handled_until == T0 + seconds(60)
    process.end(0)
    world.at(62)
    scheduler.tick()
    [fire] = world.fires()
    assert fire.status == "succeeded" and fire.finished_at == T0 + seconds(62)
    world.at(120)
    scheduler.tick()
    assert [f.due_at for f in world.fires()] == [T0 + seconds(60), T0 + seconds(120)]


def test_the_run_a_process_recorded_is_found_by_its_process_id(world: World) -> None:
    world.store.add_schedule(schedule(spec="60s"))
    scheduler = world.scheduler()
    scheduler.start()
    world.at(60)
    scheduler.tick()
    [process] = world.launcher.started
    world.store.create_run(RunRecord("run-other", "churn", "succeeded", T0, host=HOST, pid=1))
    world.store.create_run(
        RunRecord("run-ours", "churn", "running", T0 + seconds(61), host=HOST, pid=process.pid)
    )
    process.end(0)
    world.at(70)
    scheduler.tick()
    assert world.fires()[0].run_id == "run-ours"


@pytest.mark.parametrize(
    ("code", "output", "reason"),
    [
        (
            1,
            "numbers: succeeded\nerror: run run-1 failed at step 'train': ValueError: boom\n",
            "run run-1 failed at step 'train': ValueError: boom",
        ),
        (2, "error: no such file: /work/pipeline.py\n", "no such file: /work/pipeline.py"),
        (-9, "", "the pipeline's process was killed by SIGKILL"),
        (3, "", "the pipeline's process exited with code 3"),
    ],
)
def test_a_failed_process_is_recorded_with_what_went_wrong(
    world: World, code: int, output: str, reason: str
) -> None:
    world.store.add_schedule(schedule(spec="60s"))
    scheduler = world.scheduler()
    scheduler.start()
    world.at(60)
    scheduler.tick()
    world.launcher.started[0].end(code, output)
    scheduler.tick()
    [fire] = world.fires()
    assert (fire.status, fire.reason) == ("failed", reason)


def test_a_pipeline_that_cannot_be_started_is_recorded_as_failed_once(world: World) -> None:
    world.store.add_schedule(schedule(spec="60s"))
    world.launcher.failure = FileNotFoundError(2, "No such file or directory", "/gone")
    scheduler = world.scheduler()
    scheduler.start()
    world.at(60)
    scheduler.tick()
    scheduler.tick()  # the due time is handled: no second attempt
    [fire] = world.fires()
    assert fire.status == "failed"
    assert "could not start the pipeline" in fire.reason and "/gone" in fire.reason
    assert scheduler.running() == []


def test_a_schedule_that_cannot_be_read_is_logged_once_and_the_others_still_run(
    world: World,
) -> None:
    world.store.add_schedule(schedule("sch-bad", name="bad", trigger="cron", spec="nonsense"))
    world.store.add_schedule(schedule("sch-good", name="good", spec="60s"))
    scheduler = world.scheduler()
    scheduler.start()
    world.at(60)
    scheduler.tick()
    scheduler.tick()
    assert [p.schedule.id for p in world.launcher.started] == ["sch-good"]
    assert sum("bad is ignored" in line for line in world.logs) == 1


# -- overlap and missed due times --------------------------------------------------------------


def test_a_fire_due_while_the_previous_run_goes_on_is_skipped_with_the_reason(
    world: World,
) -> None:
    world.store.add_schedule(schedule(spec="60s"))
    scheduler = world.scheduler()
    scheduler.start()
    world.at(60)
    scheduler.tick()
    world.at(120)
    scheduler.tick()
    assert len(world.launcher.started) == 1
    first, skipped = world.fires()
    assert skipped.status == "skipped" and skipped.due_at == T0 + seconds(120)
    assert f"the previous run is still going (fire {first.id}" in skipped.reason
    assert world.store.get_schedule("job").handled_until == T0 + seconds(120)
    world.launcher.started[0].end(0)
    world.at(180)
    scheduler.tick()
    assert len(world.launcher.started) == 2
    assert [f.status for f in world.fires()] == ["succeeded", "skipped", "running"]


def test_due_times_missed_while_no_scheduler_ran_are_skipped_by_default(world: World) -> None:
    world.store.add_schedule(schedule(trigger="cron", spec="0 * * * *"))
    world.at(3.5 * 3600)
    scheduler = world.scheduler()
    scheduler.start()
    scheduler.tick()
    scheduler.tick()
    assert world.launcher.started == []
    [fire] = world.fires()
    assert fire.status == "skipped" and fire.due_at == T0 + timedelta(hours=3)
    assert "missed 3 due time(s) while no scheduler was running" in fire.reason
    world.at(4 * 3600 + 2)
    scheduler.tick()
    assert len(world.launcher.started) == 1  # the next due time runs as usual


def test_catch_up_runs_once_for_everything_missed(world: World) -> None:
    world.store.add_schedule(schedule(trigger="cron", spec="0 * * * *", missed="catch-up"))
    world.at(3.5 * 3600)
    scheduler = world.scheduler()
    scheduler.start()
    scheduler.tick()
    world.launcher.started[0].end(0)
    scheduler.tick()
    scheduler.tick()
    assert len(world.launcher.started) == 1
    [fire] = world.fires()
    assert fire.status == "succeeded"
    assert "catching up, once, 3 missed due time(s)" in fire.reason


# -- restarts ---------------------------------------------------------------------------------


def test_a_restarted_scheduler_goes_on_without_repeating_a_handled_due_time(
    world: World,
) -> None:
    world.store.add_schedule(schedule(spec="60s"))
    first = world.scheduler(pid=100)
    first.start()
    world.at(60)
    first.tick()
    world.launcher.started[0].end(0)
    world.at(61)
    first.tick()
    world.crash(100)  # killed: the lease is still in the store, unreleased
    second = world.scheduler(pid=200)
    second.start()  # on the same host a dead holder is replaced at once
    world.at(90)
    second.tick()
    assert len(world.launcher.started) == 1
    world.at(120)
    second.tick()
    assert [f.due_at for f in world.fires()] == [T0 + seconds(60), T0 + seconds(120)]


def test_a_run_left_going_by_a_crashed_scheduler_is_watched_then_recorded(
    world: World,
) -> None:
    world.store.add_schedule(schedule(spec="60s"))
    first = world.scheduler(pid=100)
    first.start()
    world.at(60)
    first.tick()
    [process] = world.launcher.started
    world.crash(100)
    second = world.scheduler(pid=200)
    second.start()
    assert [f.id for f in second.running()] == [world.fires()[0].id]
    world.at(120)
    second.tick()  # still going: this due time is skipped, not run alongside
    assert len(world.launcher.started) == 1
    assert world.fires()[1].status == "skipped"
    world.store.create_run(
        RunRecord("run-1", "churn", "succeeded", T0 + seconds(61), host=HOST, pid=process.pid)
    )
    process.end(0)  # the second scheduler is not its parent: it sees the pid gone
    world.at(125)
    second.tick()
    adopted = world.fires()[0]
    assert (adopted.status, adopted.run_id) == ("succeeded", "run-1")
    assert any("left running by an earlier scheduler" in line for line in world.logs)


def test_a_run_that_ended_unwatched_without_a_run_record_is_failed_on_restart(
    world: World,
) -> None:
    world.store.add_schedule(schedule(spec="60s"))
    world.store.record_fire(ScheduleFire("sch-0001", T0, "running", T0, host=HOST, pid=4444))
    world.store.record_fire(ScheduleFire("sch-0001", T0, "running", T0, host=HOST, pid=None))
    scheduler = world.scheduler()
    scheduler.start()
    gone, never = world.fires()
    assert gone.status == "failed" and "its outcome is unknown" in gone.reason
    assert never.status == "failed" and "stopped before the run began" in never.reason
    assert scheduler.running() == []


# -- the lease --------------------------------------------------------------------------------


def test_a_second_scheduler_is_refused_naming_the_one_running(world: World) -> None:
    world.scheduler(pid=100).start()
    with pytest.raises(SchedulerError, match="another scheduler is running on this store: pid 100"):
        world.scheduler(pid=200).start()
    with pytest.raises(SchedulerError, match="pid 100 on host host-a"):
        world.scheduler(pid=300, host="host-b").start()


def test_a_lease_renewed_every_tick_holds_and_an_abandoned_one_expires(world: World) -> None:
    first = world.scheduler(pid=100)
    first.start()
    for second in range(20, 120, 20):
        world.at(second)
        first.tick()
        with pytest.raises(SchedulerError):
            world.scheduler(pid=300, host="host-b").start()
    # first stops renewing (hung, or died on a machine nobody here can see)
    world.at(100 + 31)
    taker = world.scheduler(pid=300, host="host-b")
    taker.start()
    with pytest.raises(SchedulerError, match=r"lost its lease.*pid 300 on host host-b"):
        first.tick()


def test_closing_releases_the_lease(world: World) -> None:
    first = world.scheduler(pid=100)
    first.start()
    first.close()
    assert world.store.get_lease("scheduler") is None
    world.scheduler(pid=300, host="host-b").start()


# -- file triggers ----------------------------------------------------------------------------


def test_new_files_start_one_run_and_are_never_seen_twice(world: World, tmp_path: Path) -> None:
    incoming = tmp_path / "in"
    incoming.mkdir()
    (incoming / "old.csv").write_text("x")
    record = schedule(trigger="files", spec="in/*.csv", workdir=str(tmp_path))
    world.store.add_schedule(record, [str(incoming / "old.csv")])
    scheduler = world.scheduler()
    scheduler.start()
    scheduler.tick()
    assert world.launcher.started == []
    (incoming / "a.csv").write_text("x")
    (incoming / "b.csv").write_text("x")
    (incoming / "notes.txt").write_text("x")
    scheduler.tick()
    [fire] = world.fires()
    assert fire.reason == "2 new files: in/a.csv, in/b.csv"
    assert world.store.seen_files(record.id) == {
        str(incoming / n) for n in ("old.csv", "a.csv", "b.csv")
    }
    scheduler.tick()
    assert len(world.launcher.started) == 1


def test_files_arriving_during_a_run_start_the_next_one_when_it_ends(
    world: World, tmp_path: Path
) -> None:
    world.store.add_schedule(schedule(trigger="files", spec="*.csv", workdir=str(tmp_path)))
    scheduler = world.scheduler()
    scheduler.start()
    (tmp_path / "a.csv").write_text("x")
    scheduler.tick()
    (tmp_path / "b.csv").write_text("x")
    scheduler.tick()
    assert len(world.launcher.started) == 1
    assert len(world.fires()) == 1  # nothing skipped: b.csv waits
    world.launcher.started[0].end(0)
    scheduler.tick()
    assert [f.reason for f in world.fires()] == ["1 new file: a.csv", "1 new file: b.csv"]


def test_a_restarted_scheduler_does_not_run_for_files_already_seen(
    world: World, tmp_path: Path
) -> None:
    world.store.add_schedule(schedule(trigger="files", spec="**/*.csv", workdir=str(tmp_path)))
    first = world.scheduler(pid=100)
    first.start()
    (tmp_path / "deep" / "er").mkdir(parents=True)
    (tmp_path / "deep" / "er" / "a.csv").write_text("x")
    first.tick()
    world.launcher.started[0].end(0)
    first.tick()
    world.crash(100)
    second = world.scheduler(pid=200)
    second.start()
    second.tick()
    assert len(world.launcher.started) == 1
    assert world.fires()[0].reason == "1 new file: deep/er/a.csv"


# -- monitors ---------------------------------------------------------------------------------


class Evaluations:
    """Stands in for conveyor.monitoring.evaluate: records an evaluation at the clock's time."""

    def __init__(self, world: World, failing: bool = False) -> None:
        self.world = world
        self.calls: list[str] = []
        self.failing = failing

    def __call__(self, name: str) -> object:
        from conveyor.store import MonitorEvaluation

        self.calls.append(name)
        if self.failing:
            raise RuntimeError("the model is gone")
        evaluation = MonitorEvaluation(
            name, "churn", 1, self.world.clock(), None, None, 0, "no_data"
        )
        return self.world.store.record_evaluation(evaluation)


def add_monitor(world: World, name: str, spec: dict[str, object]) -> None:
    from conveyor.store import MonitorRecord

    world.store.put_monitor(MonitorRecord(name, "churn@production", spec, T0, T0))


def test_monitors_are_evaluated_each_on_its_own_interval(world: World) -> None:
    add_monitor(world, "fast", {"every": "1m"})
    add_monitor(world, "default", {})
    evaluations = Evaluations(world)
    scheduler = world.scheduler(evaluate=evaluations)
    scheduler.start()
    for second in (0, 30, 60, 90, 120, 300):
        world.at(second)
        scheduler.tick()
        scheduler.wait_for_monitors(10)
    assert evaluations.calls.count("fast") == 4  # at 0, 60, 120, 300
    assert evaluations.calls.count("default") == 2  # at 0 and 300


def test_a_failing_evaluation_is_logged_and_retried_only_when_due_again(world: World) -> None:
    add_monitor(world, "broken", {"every": "1m"})
    add_monitor(world, "odd", {"every": "soon"})
    evaluations = Evaluations(world, failing=True)
    scheduler = world.scheduler(evaluate=evaluations)
    scheduler.start()
    for second in (0, 10, 20, 61):
        world.at(second)
        scheduler.tick()
        scheduler.wait_for_monitors(10)
    assert evaluations.calls.count("broken") == 2
    assert evaluations.calls.count("odd") == 1
    assert "monitor broken: evaluation failed: RuntimeError: the model is gone" in world.logs
    assert sum("every must be a duration such as 10m" in line for line in world.logs) == 1


# -- stopping ---------------------------------------------------------------------------------


def test_winding_down_waits_for_runs_then_stops_those_left(world: World) -> None:
    world.store.add_schedule(schedule("sch-1", name="one", spec="60s"))
    world.store.add_schedule(schedule("sch-2", name="two", spec="60s"))
    scheduler = world.scheduler()
    scheduler.start()
    world.at(60)
    scheduler.tick()
    polite, stubborn = world.launcher.started
    stubborn.ignores_terminate = True
    wind_down(
        scheduler,
        0,
        stop=threading.Event(),
        stop_timeout=0,
        hurry=threading.Event(),
        sleep=lambda _s: None,
    )
    assert polite.signals == ["TERM"] and stubborn.signals == ["TERM", "KILL"]
    reasons = {f.reason for f in world.fires()}
    assert reasons == {
        "stopped with the scheduler (the pipeline's process was killed by SIGTERM)",
        "stopped with the scheduler (the pipeline's process was killed by SIGKILL)",
    }
    assert all(f.status == "failed" for f in world.fires())


def test_serving_once_runs_what_is_due_waits_for_it_and_releases_the_lease(
    world: World,
) -> None:
    world.store.add_schedule(schedule(spec="60s"))
    world.launcher.exit_at_once = 0
    world.at(60)
    serve(world.scheduler(), threading.Event(), once=True, sleep=lambda _s: None)
    [fire] = world.fires()
    assert fire.status == "succeeded"
    assert world.store.get_lease("scheduler") is None


def test_a_stop_request_ends_serving_and_records_the_runs_that_end_meanwhile(
    world: World,
) -> None:
    world.store.add_schedule(schedule(spec="60s"))
    world.at(60)
    stop = threading.Event()
    stop.set()  # as if SIGTERM came during the first poll

    def sleep(_seconds: float) -> None:
        world.launcher.started[0].end(0)  # the run ends while the scheduler waits

    serve(world.scheduler(), stop, stop_timeout=60, sleep=sleep)
    [fire] = world.fires()
    assert fire.status == "succeeded"
    assert world.store.get_lease("scheduler") is None
