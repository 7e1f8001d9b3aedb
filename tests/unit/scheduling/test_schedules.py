"""Adding, listing and removing schedules: everything is checked before anything is stored."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from conveyor.core import Settings
from conveyor.errors import ConveyorError, ScheduleNotFound, SchedulerError, StoreError
from conveyor.scheduling import (
    SubprocessLauncher,
    add_schedule,
    list_schedules,
    remove_schedule,
)
from conveyor.scheduling._launch import absolute_db_url
from conveyor.store import open_metadata_store
from conveyor.testing import settings_for

PIPELINES = Path(__file__).parents[2] / "pipelines"
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return settings_for(tmp_path / "home")


@pytest.fixture
def project(tmp_path: Path) -> Path:
    folder = tmp_path / "project"
    folder.mkdir()
    shutil.copy(PIPELINES / "basic.py", folder / "pipeline.py")
    return folder


def stored(settings: Settings) -> int:
    store = open_metadata_store(settings.db_url)
    try:
        return len(store.list_schedules())
    finally:
        store.close()


def test_a_cron_schedule_is_stored_with_its_absolute_target_and_next_due_time(
    settings: Settings, project: Path
) -> None:
    added = add_schedule(
        "pipeline.py:basic",
        cron="0 2 * * *",
        params={"n": "5"},
        name="nightly",
        workdir=project,
        settings=settings,
        now=NOW,
    )
    record = added.record
    assert record.target == f"{project / 'pipeline.py'}:basic"
    assert (record.pipeline, record.workdir, dict(record.params)) == (
        "basic",
        str(project),
        {"n": "5"},
    )
    assert (record.trigger, record.spec, record.timezone, record.missed) == (
        "cron",
        "0 2 * * *",
        "UTC",
        "skip",
    )
    assert added.next_due == datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
    assert added.label == "nightly" and added.trigger == "cron 0 2 * * * (UTC)"


def test_a_file_with_one_pipeline_needs_no_name_and_intervals_count_from_now(
    settings: Settings, project: Path
) -> None:
    added = add_schedule("pipeline.py", every="10m", workdir=project, settings=settings, now=NOW)
    assert added.record.target.endswith("pipeline.py:basic")
    assert added.next_due == NOW + timedelta(minutes=10)
    assert added.record.name is None and added.label == added.record.id


@pytest.mark.parametrize(
    ("ref", "options", "error", "message"),
    [
        ("pipeline.py", {"cron": "0 25 * * *"}, SchedulerError, "is not a cron expression"),
        ("missing.py", {"cron": "0 2 * * *"}, ConveyorError, "no such file"),
        ("pipeline.py:nope", {"cron": "0 2 * * *"}, ConveyorError, "no pipeline named 'nope'"),
        ("pipeline.py", {"every": "1m", "params": {"n": "x"}}, ConveyorError, "not a valid int"),
        ("pipeline.py", {"every": "1m", "params": {"m": "1"}}, ConveyorError, "no parameter 'm'"),
        ("pipeline.py", {"every": "soon"}, SchedulerError, "is not an interval"),
        ("pipeline.py", {}, SchedulerError, "give exactly one trigger"),
        ("pipeline.py", {"every": "1m", "cron": "* * * * *"}, SchedulerError, "exactly one"),
        ("pipeline.py", {"every": "1m", "timezone": "UTC"}, SchedulerError, "--cron only"),
        ("pipeline.py", {"cron": "0 2 * * *", "timezone": "Nowhere/X"}, SchedulerError, "zone"),
        ("pipeline.py", {"on_new_files": "*.csv", "missed": "skip"}, SchedulerError, "--missed"),
        ("pipeline.py", {"every": "1m", "missed": "never"}, SchedulerError, "--missed is one of"),
        ("pipeline.py", {"every": "1m", "include_existing": True}, SchedulerError, "files only"),
        ("pipeline.py", {"every": "1m", "name": "a b"}, ConveyorError, "cannot name a schedule"),
    ],
)
def test_a_bad_schedule_is_refused_with_the_problem_named_and_nothing_stored(
    settings: Settings,
    project: Path,
    ref: str,
    options: dict[str, object],
    error: type[Exception],
    message: str,
) -> None:
    with pytest.raises(error, match=message):
        add_schedule(ref, workdir=project, settings=settings, **options)  # type: ignore[arg-type]
    assert stored(settings) == 0


def test_a_second_schedule_may_not_take_a_name_in_use(settings: Settings, project: Path) -> None:
    add_schedule("pipeline.py", every="1m", name="job", workdir=project, settings=settings)
    with pytest.raises(StoreError, match="a schedule named 'job' exists already"):
        add_schedule("pipeline.py", every="2m", name="job", workdir=project, settings=settings)
    assert stored(settings) == 1


def test_files_there_when_a_file_schedule_is_added_count_as_seen_unless_included(
    settings: Settings, project: Path
) -> None:
    (project / "in").mkdir()
    (project / "in" / "old.csv").write_text("x")
    quiet = add_schedule("pipeline.py", on_new_files="in/*.csv", workdir=project, settings=settings)
    eager = add_schedule(
        "pipeline.py",
        on_new_files="in/*.csv",
        include_existing=True,
        workdir=project,
        settings=settings,
    )
    store = open_metadata_store(settings.db_url)
    try:
        assert store.seen_files(quiet.record.id) == {str(project / "in" / "old.csv")}
        assert store.seen_files(eager.record.id) == set()
    finally:
        store.close()
    assert quiet.next_due is None


def test_schedules_are_listed_oldest_first_and_removed_by_name_or_id(
    settings: Settings, project: Path
) -> None:
    first = add_schedule("pipeline.py", every="1m", name="a", workdir=project, settings=settings)
    second = add_schedule("pipeline.py", every="1m", workdir=project, settings=settings)
    assert [s.record.id for s in list_schedules(settings=settings)] == [
        first.record.id,
        second.record.id,
    ]
    assert remove_schedule("a", settings=settings).id == first.record.id
    assert remove_schedule(second.record.id, settings=settings).name is None
    assert list_schedules(settings=settings) == []
    with pytest.raises(ScheduleNotFound, match="no schedule with id or name 'a'; schedules: none"):
        remove_schedule("a", settings=settings)


def test_runs_are_started_with_the_schedules_parameters_and_the_schedulers_store(
    settings: Settings, project: Path, tmp_path: Path
) -> None:
    added = add_schedule(
        "pipeline.py",
        every="1m",
        params={"n": "4", "scale": "0.5"},
        workdir=project,
        settings=settings,
    )
    launcher = SubprocessLauncher(settings, environ={"PATH": "/bin"}, python="/py")
    assert launcher.command(added.record) == [
        "/py",
        "-m",
        "conveyor",
        "run",
        f"{project / 'pipeline.py'}:basic",
        "-p",
        "n=4",
        "-p",
        "scale=0.5",
    ]
    env = launcher.environment()
    assert env["PATH"] == "/bin"
    assert (env["CONVEYOR_HOME"], env["CONVEYOR_DB_URL"]) == (str(settings.home), settings.db_url)
    assert env["CONVEYOR_ARTIFACTS"] == settings.artifacts


def test_a_relative_sqlite_path_is_made_absolute_for_the_pipelines_process(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    assert absolute_db_url("sqlite:///rel/c.db") == f"sqlite:///{tmp_path}/rel/c.db"
    assert absolute_db_url("sqlite:///rel/c.db?mode=ro") == f"sqlite:///{tmp_path}/rel/c.db?mode=ro"
    assert absolute_db_url("sqlite:////abs/c.db") == "sqlite:////abs/c.db"
    assert absolute_db_url("postgresql://u@h/db") == "postgresql://u@h/db"
