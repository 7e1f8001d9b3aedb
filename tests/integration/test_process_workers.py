"""The worker processes behind ``cv.map`` and ``executor="processes"``: the threads a worker's
libraries get, a worker's way out, and what reading a partition imports."""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest

import conveyor as cv
from conveyor.core._settings import Settings
from conveyor.engine.executors._local import THREAD_VARIABLES
from conveyor.testing import settings_for
from tests.integration._cores_cases import splits_in_two

pytestmark = pytest.mark.slow


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return settings_for(tmp_path / "home")


@cv.step
def thread_settings(part: pl.DataFrame) -> pl.DataFrame:
    return pl.DataFrame({name: [os.environ.get(name, "")] for name in THREAD_VARIABLES})


@cv.step
def leave_a_note(part: pl.DataFrame, folder: str) -> pl.DataFrame:
    import atexit

    def note() -> None:
        Path(folder, f"{os.getpid()}.exited").write_text("bye")

    atexit.register(note)
    return part


@cv.pipeline
def threads_of_workers(path: str) -> None:
    cv.map(thread_settings, cv.read_csv(path))


@cv.pipeline
def notes(path: str, folder: str) -> None:
    cv.map(leave_a_note, cv.read_csv(path), folder=folder)


def write_rows(path: Path) -> Path:
    path.write_text("a\n" + "".join(f"{i}\n" for i in range(10)))
    return path


def test_each_worker_gets_its_share_of_the_cores_for_its_libraries(
    tmp_path: Path, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in THREAD_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MKL_NUM_THREADS", "3")  # set by the user: left alone
    result = threads_of_workers.run(
        settings=settings, workers=1, path=str(write_rows(tmp_path / "a.csv"))
    )
    assert result.status == "succeeded", result.failed_steps
    seen = result.outputs["thread_settings"].to_polars().row(0, named=True)
    cores = str(os.cpu_count() or 1)  # one worker: every core is its share
    assert seen == {
        "POLARS_MAX_THREADS": cores,
        "OMP_NUM_THREADS": cores,
        "OPENBLAS_NUM_THREADS": cores,
        "MKL_NUM_THREADS": "3",
    }
    assert [name for name in THREAD_VARIABLES if name in os.environ] == ["MKL_NUM_THREADS"]


def test_a_worker_runs_its_exit_handlers_before_it_ends(tmp_path: Path, settings: Settings) -> None:
    folder = tmp_path / "notes"
    folder.mkdir()
    result = notes.run(
        settings=settings, path=str(write_rows(tmp_path / "a.csv")), folder=str(folder)
    )
    assert result.status == "succeeded", result.failed_steps
    deadline = time.monotonic() + 30
    while multiprocessing.active_children() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert [p.read_text() for p in folder.iterdir()] == ["bye"]


def test_reading_a_csv_range_does_not_import_pandas(tmp_path: Path) -> None:
    path = write_rows(tmp_path / "a.csv")
    code = (
        "import sys, conveyor as cv\n"
        f"part = cv.read_csv({str(path)!r}).split(2).partitions[1]\n"
        "assert part.read_polars().height > 0\n"
        "print('pandas' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def _wait_ended(processes: list[multiprocessing.Process]) -> list[int | None]:
    """The processes' exit codes once they have ended. The pool's own thread reaps its
    workers too: a join that loses that race returns before the exit code is stored, so the
    code is waited for, not read once."""
    deadline = time.monotonic() + 60
    for process in processes:
        process.join(max(0.0, deadline - time.monotonic()))
    while any(p.exitcode is None for p in processes) and time.monotonic() < deadline:
        time.sleep(0.01)
    return [process.exitcode for process in processes]


def test_workers_started_for_work_that_never_comes_are_stopped_not_waited_for() -> None:
    import signal

    from conveyor.engine.executors import ProcessExecutor

    executor = ProcessExecutor(2)
    executor.start()
    started = list(executor._context.started)
    executor.shutdown()  # e.g. every partition of the map was cached
    assert len(started) == 2
    assert _wait_ended(started) == [-signal.SIGTERM, -signal.SIGTERM]


def test_a_cached_rerun_of_a_map_ends_with_no_worker_left(
    tmp_path: Path, settings: Settings
) -> None:
    folder = tmp_path / "notes"
    folder.mkdir()
    path = str(write_rows(tmp_path / "a.csv"))
    first = notes.run(settings=settings, path=path, folder=str(folder))
    assert first.status == "succeeded", first.failed_steps
    again = notes.run(settings=settings, path=path, folder=str(folder))
    assert again.status == "succeeded", again.failed_steps
    assert [s.status for s in again.steps if s.name.startswith("leave_a_note")] == ["cached"]
    assert all(code is not None for code in _wait_ended(multiprocessing.active_children()))


def test_a_pipeline_file_named_like_a_module_already_loaded_runs_in_worker_processes(
    tmp_path: Path, settings: Settings
) -> None:
    """Two projects' pipeline.py in one process (a scheduler retraining both): the second is
    imported under a made-up module name, which worker processes must not need to import."""
    from conveyor.engine import load_pipeline

    source = (Path(__file__).parents[1] / "pipelines" / "basic.py").read_text()
    paths = []
    for project in ("a", "b"):
        (tmp_path / project).mkdir()
        paths.append(tmp_path / project / "pipeline.py")
        paths[-1].write_text(source)
    first, _ = load_pipeline(f"{paths[0]}:basic")
    second, _ = load_pipeline(f"{paths[1]}:basic")
    assert first.fn.__module__ != second.fn.__module__  # the second had to be renamed
    for pipe in (first, second):
        run = pipe.run(executor="processes", workers=2, no_cache=True, settings=settings, n=5)
        assert run.status == "succeeded", [s.error for s in run.failed_steps]


# -- a core of its own for each worker ---------------------------------------------------------


@pytest.mark.skipif(not splits_in_two(), reason="the allowed cores do not split between two")
def test_two_workers_filling_the_machine_each_run_on_their_own_cores(
    tmp_path: Path, settings: Settings
) -> None:
    from conveyor.engine.executors import ProcessExecutor
    from tests.integration._cores_cases import (
        assert_pinned_apart,
        cores_by_worker,
        rows,
        where_partitions_run,
    )

    path = rows(tmp_path / "a.csv")
    executor = ProcessExecutor(2)
    try:
        pinned = cores_by_worker(
            where_partitions_run.run(settings=settings, executor=executor, path=path)
        )
    finally:
        executor.shutdown()
    assert_pinned_apart(pinned, 2)
    free = ProcessExecutor(2, pin=False)
    try:
        unpinned = cores_by_worker(
            where_partitions_run.run(settings=settings, executor=free, path=path, no_cache=True)
        )
    finally:
        free.shutdown()
    assert all(cores == os.sched_getaffinity(0) for cores in unpinned.values())


def test_a_lone_worker_may_use_every_core(tmp_path: Path, settings: Settings) -> None:
    from tests.integration._cores_cases import cores_by_worker, rows, where_partitions_run

    run = where_partitions_run.run(settings=settings, workers=1, path=rows(tmp_path / "a.csv"))
    assert all(cores == os.sched_getaffinity(0) for cores in cores_by_worker(run).values())
