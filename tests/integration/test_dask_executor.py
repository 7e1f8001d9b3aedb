"""The Dask executor end to end: pipelines run on a local Dask cluster with the engine's
caching, tracking and retries; a killed worker, a step too big for any worker, a lost
scheduler and an unreachable one.

One local cluster of two worker processes, started by the executor itself, serves the
module; each test joins it by address with an executor of its own, which stays open across
that test's runs and is closed at its end."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from click.testing import CliRunner
from distributed import Client

import conveyor as cv
from conveyor.core._settings import Settings
from conveyor.engine.executors._dask import DaskExecutor, _capacities_of, _required
from conveyor.errors import ConfigurationError
from conveyor.testing import settings_for
from tests._cli import invoke
from tests.integration._cluster_cases import (
    GREETING,
    arithmetic,
    free_port,
    statuses,
    step_runs,
    survivor,
    training,
    trial_pid,
    wait_for,
)
from tests.integration._cores_cases import splits_in_two

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def cluster() -> Iterator[str]:
    """The scheduler address of a two-worker local cluster, one thread per worker."""
    owner = DaskExecutor(workers=2)
    try:
        yield owner.address
    finally:
        owner.shutdown()


@pytest.fixture
def executor(cluster: str) -> Iterator[DaskExecutor]:
    with DaskExecutor(cluster) as joined:
        yield joined


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return settings_for(tmp_path / "home")


def test_a_pipeline_runs_on_dask_like_on_threads_and_is_cached_the_second_time(
    executor: DaskExecutor, settings: Settings, tmp_path: Path
) -> None:
    first = arithmetic.run(executor=executor, settings=settings, n=10)
    assert first.status == "succeeded", first.steps
    assert statuses(first) == dict.fromkeys(["numbers", "squares", "table", "total"], "succeeded")

    local = arithmetic.run(executor="threads", settings=settings_for(tmp_path / "local"), n=10)
    assert local.outputs["total"] == first.outputs["total"] == sum(v * v for v in range(10))
    frame = first.outputs["table"]
    assert isinstance(frame, pl.DataFrame) and frame.equals(local.outputs["table"])

    records = step_runs(settings, first)
    assert {name: r.attempts for name, r in records.items()} == dict.fromkeys(records, 1)
    assert all(r.outputs for r in records.values())
    assert records["table"].inputs  # lineage: what each step read
    assert {link.artifact_id for link in records["total"].inputs} == {
        link.artifact_id for link in records["table"].outputs
    }

    again = arithmetic.run(executor=executor, settings=settings, n=10)
    assert again.status == "succeeded"
    assert set(statuses(again).values()) == {"cached"}
    assert again.outputs["total"] == first.outputs["total"]


# -- what a remote step logs -------------------------------------------------------------------


def test_metrics_logs_and_the_worker_of_a_remote_step_reach_the_run(
    executor: DaskExecutor, settings: Settings
) -> None:
    run = training.run(executor=executor, settings=settings)
    assert run.status == "succeeded", run.steps
    assert cv.get_run(run.id, settings=settings).metrics["loss"] == 0.5
    record = step_runs(settings, run)["train"]
    assert GREETING in record.logs
    (attempt,) = record.attempt_log
    assert attempt.status == "succeeded"
    assert attempt.worker.startswith("tcp://")


# -- a worker killed while it runs a step ------------------------------------------------------


def test_a_killed_worker_fails_the_attempt_and_the_engine_retries_it(
    executor: DaskExecutor, settings: Settings, tmp_path: Path
) -> None:
    pid_file = tmp_path / "pid"

    def kill_the_worker() -> None:
        wait_for(pid_file)
        os.kill(int(pid_file.read_text()), signal.SIGKILL)

    killer = threading.Thread(target=kill_the_worker, daemon=True)
    killer.start()
    run = survivor.run(executor=executor, settings=settings, folder=str(tmp_path))
    killer.join(timeout=60)

    assert run.status == "succeeded", run.steps
    assert run.outputs["fragile"] == 42
    record = step_runs(settings, run)["fragile"]
    assert record.attempts == 2
    lost, retried = record.attempt_log
    assert (lost.status, retried.status) == ("worker lost", "succeeded")
    assert lost.worker.startswith("tcp://") and retried.worker.startswith("tcp://")
    assert lost.worker != retried.worker


# -- a partitioned transform -------------------------------------------------------------------


@cv.step
def scaled(part: pl.DataFrame, k: int) -> pl.DataFrame:
    return part.with_columns((pl.col("b") * k).alias("scaled"))


@cv.step
def summed(ds: cv.Dataset) -> int:
    return int(ds.to_polars()["scaled"].sum())


@cv.pipeline
def scaling(path: str, k: int = 3) -> None:
    summed(cv.map(scaled, cv.read_csv(path), k=k, partitions=4))


def test_a_mapped_step_runs_its_partitions_on_dask(
    executor: DaskExecutor, settings: Settings, tmp_path: Path
) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    for i in range(3):
        rows = range(i * 100, i * 100 + 100)
        pl.DataFrame({"a": list(rows), "b": [v % 7 for v in rows]}).write_csv(folder / f"{i}.csv")

    run = scaling.run(executor=executor, settings=settings, path=str(folder / "*.csv"))
    assert run.status == "succeeded", run.steps

    expected = pl.read_csv(folder / "*.csv").with_columns((pl.col("b") * 3).alias("scaled"))
    mapped = run.outputs["scaled"]
    assert isinstance(mapped, cv.Dataset)
    assert mapped.to_polars().sort("a").equals(expected.sort("a"))
    assert run.outputs["summed"] == int(expected["scaled"].sum())
    workers = {
        r.attempt_log[0].worker
        for name, r in step_runs(settings, run).items()
        if name.startswith("scaled[")
    }
    assert workers and all(w.startswith("tcp://") for w in workers)


# -- a step no worker can take -----------------------------------------------------------------


@cv.step(resources=cv.Resources(cpus=64), retries=3, retry_delay=0)
def greedy(n: int) -> int:
    return n


@cv.pipeline
def too_big(n: int = 1) -> None:
    greedy(n)


def test_a_step_that_needs_more_than_any_worker_has_fails_at_once(
    executor: DaskExecutor, settings: Settings
) -> None:
    run = too_big.run(executor=executor, settings=settings)
    assert run.status == "failed"
    (step,) = run.steps
    assert step.status == "failed" and step.attempts == 1
    assert step.error is not None
    assert (
        "'greedy'" in step.error
        and "64 CPUs" in step.error
        and "InsufficientResources" in step.error
    )


def test_a_resource_some_workers_declare_is_one_the_others_lack() -> None:
    workers = {
        "tcp://a:1": {"nthreads": 4, "memory_limit": 8 * 10**9, "resources": {"GPU": 1}},
        "tcp://b:1": {"nthreads": 8, "memory_limit": 0, "resources": {}},
    }
    seen = _capacities_of(workers)
    assert seen.declared == {"GPU"} and seen.threads == 12
    assert [(w.cpus, w.memory, w.gpus) for w in seen.workers] == [(4, 8 * 10**9, 1), (8, None, 0)]
    assert _required(cv.Resources(cpus=2, gpus=1), seen.declared) == {"GPU": 1}
    assert _required(cv.Resources(cpus=2, memory="1GB"), seen.declared) is None


# -- a lost scheduler --------------------------------------------------------------------------


class Scheduler:
    """``dask scheduler`` and one ``dask worker`` in processes of their own."""

    def __init__(self, folder: Path) -> None:
        self.address = f"tcp://127.0.0.1:{free_port()}"
        self.processes: list[subprocess.Popen[bytes]] = []
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "src")])}
        port = self.address.rsplit(":", 1)[1]
        python = [sys.executable, "-m"]
        commands = [
            [*python, "distributed.cli.dask_scheduler", "--port", port],
            [*python, "distributed.cli.dask_worker", self.address, "--no-nanny", "--nthreads", "1"],
        ]
        self._logs = [(folder / f"{port}-{i}.log").open("wb") for i in range(len(commands))]
        for command, log in zip(commands, self._logs, strict=True):
            self.processes.append(
                subprocess.Popen(
                    [*command, "--host", "127.0.0.1", "--no-dashboard"],
                    env=env,
                    cwd=folder,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )

    def wait_ready(self) -> None:
        import distributed

        client = distributed.Client(self.address, timeout=60, set_as_default=False)
        try:
            client.wait_for_workers(1, timeout=60)
        finally:
            client.close()

    def kill_scheduler(self) -> None:
        self.processes[0].kill()
        self.processes[0].wait(timeout=30)

    def stop(self) -> None:
        for process in reversed(self.processes):
            if process.poll() is None:
                process.kill()
            process.wait(timeout=30)
        for log in self._logs:
            log.close()


@cv.step
def first(n: int) -> int:
    return n * 2


@cv.step
def second(value: int, folder: str) -> int:
    started = Path(folder, "second.started")
    if not started.exists():  # the first run's attempt: long enough to lose the scheduler
        started.write_text("")
        time.sleep(120)
    return value + 1


@cv.pipeline
def two_steps(folder: str, n: int = 5) -> None:
    second(first(n), folder)


def test_a_lost_scheduler_fails_the_run_and_a_new_one_reuses_what_finished(
    settings: Settings, tmp_path: Path
) -> None:
    clusters: list[Scheduler] = []
    executors: list[DaskExecutor] = []

    def joined(scheduler: Scheduler) -> DaskExecutor:
        executors.append(DaskExecutor(scheduler.address))
        return executors[-1]

    try:
        clusters.append(Scheduler(tmp_path))
        clusters[0].wait_ready()

        def lose_the_scheduler() -> None:
            wait_for(tmp_path / "second.started")
            clusters[0].kill_scheduler()

        bystander = joined(clusters[0])  # connected, idle while it is lost
        killer = threading.Thread(target=lose_the_scheduler, daemon=True)
        killer.start()
        lost = two_steps.run(executor=joined(clusters[0]), settings=settings, folder=str(tmp_path))
        killer.join(timeout=60)
        assert lost.status == "failed"
        assert statuses(lost) == {"first": "succeeded", "second": "failed"}
        error = step_runs(settings, lost)["second"].error or ""
        assert "ExecutorLost" in error and "scheduler" in error
        assert clusters[0].address in error
        assert "lost the Dask scheduler" in (cv.get_run(lost.id, settings=settings).error or "")

        # an executor that had nothing running when the scheduler went fails its next attempt
        late = two_steps.run(executor=bystander, settings=settings, folder=str(tmp_path))
        assert statuses(late) == {"first": "cached", "second": "failed"}
        assert "lost the Dask scheduler" in (step_runs(settings, late)["second"].error or "")
        clusters[0].stop()

        clusters.append(Scheduler(tmp_path))
        clusters[1].wait_ready()
        again = two_steps.run(executor=joined(clusters[1]), settings=settings, folder=str(tmp_path))
        assert again.status == "succeeded", again.steps
        assert statuses(again) == {"first": "cached", "second": "succeeded"}
        assert again.outputs["second"] == 11
    finally:
        for executor in executors:
            executor.shutdown()
        for scheduler in clusters:
            scheduler.stop()


# -- construction --------------------------------------------------------------------------------


@pytest.mark.parametrize("address", ["unreachable", "scheduler.example:no-port"])
def test_a_scheduler_that_cannot_be_reached_is_an_error_naming_its_address(address: str) -> None:
    if address == "unreachable":
        address = f"tcp://127.0.0.1:{free_port()}"  # nothing listens there
    with pytest.raises(ConfigurationError, match=re.escape(address)):
        DaskExecutor(address, connect_timeout=2)


def _worker_environment() -> dict[str, str]:
    return dict(os.environ)


def _quiet() -> tuple[bool, str, str, str]:
    import dask

    return (
        bool(dask.config.get("distributed.worker.profile.enabled")),
        str(dask.config.get("distributed.admin.tick.interval")),
        str(dask.config.get("distributed.worker.memory.monitor-interval")),
        str(dask.config.get("distributed.admin.system-monitor.interval")),
    )


def test_a_local_cluster_leaves_this_process_environment_as_it_was(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # a Dask nanny writes its workers' variables into the environment of the process that
    # starts it, where every process started later would find them
    for name in ("MALLOC_TRIM_THRESHOLD_", "OMP_NUM_THREADS", "POLARS_MAX_THREADS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PYTHONHASHSEED", "0")
    before = dict(os.environ)
    with DaskExecutor(workers=1) as executor:
        assert dict(os.environ) == before
        with Client(executor.address, set_as_default=False) as client:
            (worker,) = client.run(_worker_environment).values()
            # no dashboard to show the samples of the task thread's stack: none are taken;
            # the event loop is timed once a second, not 50 times; memory is read twice a
            # second, not 10 times, and the machine's counters every 2 seconds
            assert list(client.run(_quiet).values()) == [(False, "1s", "500ms", "2s")]
        # the client shares the local cluster's event loop: no second loop thread
        assert executor._client.loop is executor._cluster.loop
    assert dict(os.environ) == before
    assert worker["POLARS_MAX_THREADS"] == "1"  # one thread: the worker's share of the cores
    assert worker["OMP_NUM_THREADS"] == "1"
    assert "MALLOC_TRIM_THRESHOLD_" not in worker  # freed memory is not handed back at once


def _imported(names: tuple[str, ...]) -> bool:
    return all(name in sys.modules for name in names)


def test_start_has_every_worker_import_what_an_attempt_needs_and_returns_at_once() -> None:
    needed = ("polars", "pyarrow", "conveyor.engine._attempt")
    with (
        DaskExecutor(workers=2) as executor,
        Client(executor.address, set_as_default=False) as client,
    ):
        assert not any(client.run(_imported, needed).values())  # a new worker has none
        executor.start()  # the run calls it before it opens the stores, when maps are coming
        deadline = time.monotonic() + 60
        while not all((done := client.run(_imported, needed)).values()):
            assert time.monotonic() < deadline, done
            time.sleep(0.05)
        assert len(done) == 2


def test_two_local_clusters_at_once_do_not_contend_for_a_port(cluster: str) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with DaskExecutor(workers=1) as second:
            assert second.address != cluster
    assert [str(w.message) for w in caught if "in use" in str(w.message)] == []


def test_without_distributed_the_executor_says_which_extra_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in [n for n in sys.modules if n.split(".")[0] == "distributed"] or ["distributed"]:
        monkeypatch.setitem(sys.modules, name, None)  # None: the import fails
    with pytest.raises(ConfigurationError, match=r"pip install 'conveyor\[dask\]'"):
        DaskExecutor()


def test_importing_the_executor_does_not_import_dask() -> None:
    code = "import sys, conveyor.engine.executors._dask; print('distributed' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_tune_submits_its_trials_to_the_cluster(cluster: str, settings: Settings) -> None:
    with DaskExecutor(cluster) as executor:
        result = cv.tune(
            trial_pid,
            {"x": (-3.0, 3.0)},
            n_trials=6,
            parallelism=2,
            seed=0,
            executor=executor,
            settings=settings,
        )
    trials = cv.search_runs(parent_id=result.run_id, settings=settings)
    assert len(trials) == 6 and set(trials["status"]) == {"succeeded"}
    pids = {int(cv.get_run(r, settings=settings).metrics["pid"]) for r in trials["run_id"]}
    assert os.getpid() not in pids  # every trial ran in a worker process of the cluster
    assert result.best_run_id is not None


def _clients(dask_scheduler: Any) -> int:
    return len(dask_scheduler.clients)


def test_the_cli_runs_on_a_scheduler_by_address_and_leaves_no_client_behind(
    cluster: str, cli: CliRunner
) -> None:
    from distributed import Client

    pipeline = ROOT / "tests" / "pipelines" / "basic.py"
    with Client(cluster, set_as_default=False) as watcher:
        before = watcher.run_on_scheduler(_clients)
        ran = invoke(cli, "run", str(pipeline), "--executor", "dask", "--address", cluster)
        assert ran.exit_code == 0, ran.output
        shown = invoke(cli, "runs", "show", re.findall(r"run-[0-9a-f]+", ran.output)[0])
        assert re.search(r"numbers\s+1\s+tcp://127\.0\.0\.1:\d+\s+succeeded", shown.output)
        assert watcher.run_on_scheduler(_clients) == before  # the CLI closed what it joined with


# -- a core of its own for each worker ---------------------------------------------------------


@pytest.mark.skipif(not splits_in_two(), reason="the allowed cores do not split between two")
def test_the_workers_of_a_local_cluster_filling_the_machine_run_on_their_own_cores(
    settings: Settings, tmp_path: Path
) -> None:
    from tests.integration._cores_cases import (
        assert_pinned_apart,
        cores_by_worker,
        rows,
        where_partitions_run,
    )

    with DaskExecutor(workers=2) as local:
        run = where_partitions_run.run(
            settings=settings, executor=local, path=rows(tmp_path / "a.csv")
        )
    assert_pinned_apart(cores_by_worker(run), 2)
