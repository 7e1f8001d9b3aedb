"""``conveyor schedule`` and ``conveyor scheduler`` end to end on a SQLite store in a temporary
folder: real scheduler processes running real pipelines."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

import pytest
from click.testing import CliRunner

from conveyor.cli import app
from conveyor.store import MetadataStore, ScheduleFire, open_metadata_store
from tests._cli import invoke

PIPELINES = Path(__file__).parent.parent / "pipelines"


# -- adding, listing, removing (in process) ---------------------------------------------------


@pytest.fixture
def project(tmp_path: Path) -> Path:
    shutil.copy(PIPELINES / "basic.py", tmp_path / "basic.py")
    shutil.copy(PIPELINES / "failing.py", tmp_path / "failing.py")
    return tmp_path


def test_a_schedule_is_added_listed_shown_and_removed(cli: CliRunner, project: Path) -> None:
    added = invoke(
        cli, "schedule", "add", "basic.py:basic", "--cron", "0 2 * * *", "-p", "n=4", "--name",
        "nightly", "--timezone", "Europe/Berlin", "--missed", "catch-up",
    )  # fmt: skip
    assert added.exit_code == 0, added.output
    assert "added schedule nightly (sch-" in added.output
    assert "cron 0 2 * * * (Europe/Berlin)" in added.output
    assert "next due: 20" in added.output

    listed = invoke(cli, "schedule", "list")
    row = next(line for line in listed.output.splitlines() if line.startswith("nightly"))
    for text in ("basic.py:basic", "cron 0 2 * * * (Europe/Berlin)", "n=4", "UTC", "—"):
        assert text in row

    shown = invoke(cli, "schedule", "show", "nightly")
    assert "missed:   catch-up" in shown.output and "no fires yet" in shown.output

    removed = invoke(cli, "schedule", "remove", "nightly")
    assert removed.exit_code == 0 and "removed schedule nightly" in removed.output
    assert "no schedules" in invoke(cli, "schedule", "list").output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["basic.py", "--cron", "0 2 * *"], "'0 2 * *' is not a cron expression"),
        (["nowhere.py", "--every", "1m"], "no such file: "),
        (["basic.py:churn", "--every", "1m"], "has no pipeline named 'churn'"),
        (["basic.py", "--every", "1m", "-p", "n=many"], "-p n=many is not a valid int"),
        (["basic.py", "--every", "1m", "-p", "n"], "-p takes KEY=VALUE, got 'n'"),
        (["basic.py", "--every", "1m", "-p", "size=2"], "no parameter 'size'"),
        (["basic.py"], "give exactly one trigger"),
        (["basic.py", "--every", "often"], "'often' is not an interval"),
        (["basic.py", "--cron", "0 2 * * *", "--timezone", "Atlantis"], "unknown time zone"),
    ],
)
def test_bad_input_is_one_clear_line_and_stores_nothing(
    cli: CliRunner, project: Path, args: list[str], message: str
) -> None:
    result = cli.invoke(app, ["schedule", "add", *args])
    assert result.exit_code == 2
    assert message in result.output
    assert result.output.startswith("error: ") and result.output.count("\n") == 1
    assert "Traceback" not in result.output
    assert "no schedules" in invoke(cli, "schedule", "list").output


def test_removing_an_unknown_schedule_names_the_ones_there_are(
    cli: CliRunner, project: Path
) -> None:
    invoke(cli, "schedule", "add", "basic.py", "--every", "1h", "--name", "hourly")
    result = cli.invoke(app, ["schedule", "remove", "daily"])
    assert result.exit_code == 2
    assert "no schedule with id or name 'daily'; schedules: hourly" in result.output


# -- the scheduler as a process ----------------------------------------------------------------


def env_for(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONVEYOR_")}
    return {**env, "CONVEYOR_HOME": str(home)}


def conveyor(project: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, "-m", "conveyor", *args],
        cwd=project,
        env=env_for(project / "home"),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if check:
        assert done.returncode == 0, done.stdout + done.stderr
    return done


class SchedulerProcess:
    """``conveyor scheduler`` running in the background, its output in a file."""

    def __init__(self, project: Path, *args: str) -> None:
        self.log_path = project / f"scheduler-{time.monotonic_ns()}.log"
        self._log: IO[str] = open(self.log_path, "w")  # noqa: SIM115  (closed in stop())
        self.process = subprocess.Popen(
            [sys.executable, "-m", "conveyor", "scheduler", "--poll", "0.2", *args],
            cwd=project,
            env=env_for(project / "home"),
            stdout=self._log,
            stderr=subprocess.STDOUT,
            text=True,
        )

    @property
    def output(self) -> str:
        return self.log_path.read_text()

    def stop(self, sig: signal.Signals = signal.SIGTERM) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        code = self.process.wait(60)
        self._log.close()
        return code


@pytest.fixture
def schedulers(project: Path) -> Iterator[Callable[..., SchedulerProcess]]:
    started: list[SchedulerProcess] = []

    def start(*args: str) -> SchedulerProcess:
        started.append(SchedulerProcess(project, *args))
        return started[-1]

    yield start
    for scheduler in started:
        scheduler.stop(signal.SIGKILL)


@pytest.fixture
def store(project: Path) -> Iterator[MetadataStore]:
    conveyor(project, "schedule", "list")  # creates the store, so the test can open it
    opened = open_metadata_store(f"sqlite:///{project / 'home' / 'conveyor.db'}")
    yield opened
    opened.close()


def wait_until(
    condition: Callable[[], bool], what: str, scheduler: SchedulerProcess, seconds: float = 90
) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen in {seconds}s:\n{scheduler.output}")
        if scheduler.process.poll() is not None:
            raise AssertionError(f"the scheduler exited before {what}:\n{scheduler.output}")
        time.sleep(0.1)


def finished(store: MetadataStore, status: str = "succeeded") -> list[ScheduleFire]:
    return [f for f in reversed(store.fires(limit=1000)) if f.status == status]


@pytest.mark.slow
def test_the_scheduler_runs_a_schedule_records_each_fire_and_refuses_a_second_scheduler(
    project: Path, store: MetadataStore, schedulers: Callable[..., SchedulerProcess]
) -> None:
    conveyor(project, "schedule", "add", "basic.py:basic", "--every", "1s", "-p", "n=4")
    scheduler = schedulers()
    wait_until(lambda: len(finished(store)) >= 2, "two succeeded runs", scheduler)

    second = conveyor(project, "scheduler", "--once", check=False)
    assert second.returncode == 2
    assert (
        f"error: another scheduler is running on this store: pid {scheduler.process.pid}"
        in second.stderr
    )
    assert "Traceback" not in second.stderr

    for fire in finished(store)[:2]:
        assert fire.run_id is not None and fire.finished_at is not None
        run = store.get_run(fire.run_id)
        assert run.status == "succeeded" and dict(run.params)["n"] == 4
        assert fire.started_at <= run.started_at

    assert scheduler.stop(signal.SIGTERM) == 0
    assert "stopping (SIGTERM)" in scheduler.output
    assert "scheduler stopped" in scheduler.output
    assert store.get_lease("scheduler") is None
    assert store.fires(status="running") == []
    listed = conveyor(project, "schedule", "list").stdout
    assert "every 1s" in listed and "n=4" in listed


@pytest.mark.slow
def test_a_killed_scheduler_restarts_where_it_left_off(
    project: Path, store: MetadataStore, schedulers: Callable[..., SchedulerProcess]
) -> None:
    conveyor(project, "schedule", "add", "basic.py:basic", "--every", "1s", "--name", "tick")
    first = schedulers()
    wait_until(lambda: len(finished(store)) >= 1, "a succeeded run", first)
    first.stop(signal.SIGKILL)
    before = {f.id: f.due_at for f in store.fires(limit=1000)}
    handled = store.get_schedule("tick").handled_until
    assert handled is not None

    second = schedulers()  # takes over at once: the old holder's process is gone
    wait_until(
        lambda: any(f.due_at > handled and f.status == "succeeded" for f in store.fires()),
        "a run after the restart",
        second,
    )
    assert second.stop(signal.SIGTERM) == 0
    fires = list(reversed(store.fires(limit=1000)))
    due = [f.due_at for f in fires]
    assert due == sorted(due) and len(set(due)) == len(due)  # no due time handled twice
    assert {f.id: f.due_at for f in fires if f.id in before} == before
    assert all(f.status != "running" for f in fires)  # the run the kill left going is settled


@pytest.mark.slow
def test_new_files_start_runs_and_files_there_before_do_not(
    project: Path, store: MetadataStore, schedulers: Callable[..., SchedulerProcess]
) -> None:
    incoming = project / "data" / "incoming"
    incoming.mkdir(parents=True)
    (incoming / "old.csv").write_text("a\n1\n")
    conveyor(project, "schedule", "add", "basic.py", "--on-new-files", "data/incoming/*.csv")
    scheduler = schedulers()
    (incoming / "new.csv.part").write_text("a\n2\n")  # still being written: no match
    (incoming / "new.csv.part").rename(incoming / "new.csv")
    wait_until(lambda: len(finished(store)) == 1, "a run for new.csv", scheduler)
    (incoming / "newer.csv").write_text("a\n3\n")
    wait_until(lambda: len(finished(store)) == 2, "a run for newer.csv", scheduler)
    assert scheduler.stop() == 0
    reasons = [f.reason for f in reversed(store.fires())]
    assert reasons == ["1 new file: data/incoming/new.csv", "1 new file: data/incoming/newer.csv"]


@pytest.mark.slow
def test_a_failing_pipeline_is_recorded_with_its_error_and_once_waits_for_it(
    project: Path, store: MetadataStore
) -> None:
    (project / "go.flag").touch()
    conveyor(
        project, "schedule", "add", "failing.py:broken", "--on-new-files", "*.flag",
        "--include-existing", "--name", "doomed",
    )  # fmt: skip
    once = conveyor(project, "scheduler", "--once")
    assert "fire 1" in once.stdout and "failed" in once.stdout
    [fire] = store.fires()
    assert fire.status == "failed"
    assert "failed at step 'explode': ValueError: cannot handle 1" in fire.reason
    assert fire.run_id is not None and store.get_run(fire.run_id).status == "failed"
    shown = conveyor(project, "schedule", "show", "doomed").stdout
    assert "failed" in shown and fire.run_id in shown
    assert store.get_lease("scheduler") is None


SLEEPY = """
import time

import conveyor as cv


@cv.step(cache=False)
def nap(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


@cv.pipeline
def sleepy(seconds: float = 120.0) -> None:
    nap(seconds)
"""


@pytest.mark.slow
def test_stopping_waits_a_bounded_time_then_stops_the_run_and_records_it(
    project: Path, store: MetadataStore, schedulers: Callable[..., SchedulerProcess]
) -> None:
    (project / "sleepy.py").write_text(SLEEPY)
    (project / "go.flag").touch()
    conveyor(
        project, "schedule", "add", "sleepy.py", "--on-new-files", "*.flag", "--include-existing"
    )
    scheduler = schedulers("--stop-timeout", "1")
    wait_until(
        lambda: bool(store.list_runs(pipeline="sleepy", status="running")),
        "the run to start",
        scheduler,
    )
    assert scheduler.stop(signal.SIGTERM) == 0
    [fire] = store.fires()
    assert fire.status == "failed"
    assert fire.reason.endswith(
        "stopped with the scheduler (the pipeline's process was killed by SIGTERM)"
    )
    assert fire.run_id == store.list_runs(pipeline="sleepy")[0].id
    assert store.get_lease("scheduler") is None
    assert "stopping 1 run(s) that did not end in time" in scheduler.output
