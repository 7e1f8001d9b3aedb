"""The Ray executor end to end: pipelines run as Ray tasks with the engine's caching, tracking
and retries; a killed worker, a step too big for any node, a step that cannot be pickled, an
unreachable cluster, a head that stops answering and Ray shut down under a running step.

One local Ray instance of two CPUs, started by an executor of the module, serves every test;
each test's executor finds it already initialized and uses it, and leaves it up when shut
down. The test of Ray shut down under a run stops it, so it comes last."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pytest

import conveyor as cv
from conveyor.core import RunContext
from conveyor.core._settings import Settings
from conveyor.engine import Run
from conveyor.engine._attempt import Loaded, Task
from conveyor.engine.executors._ray import RayExecutor, capacities_of
from conveyor.errors import (
    ConfigurationError,
    ExecutorLost,
    InsufficientResources,
    WorkerLost,
)
from conveyor.testing import settings_for
from tests.integration._cluster_cases import (
    GREETING,
    arithmetic,
    fragile,
    free_port,
    statuses,
    step_runs,
    survivor,
    training,
    trial_pid,
    wait_for,
    write_atomically,
)
from tests.integration._cores_cases import splits_in_two

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def ray_instance() -> Iterator[RayExecutor]:
    """The executor that started the module's Ray instance: two CPUs."""
    owner = RayExecutor(workers=2)
    try:
        yield owner
    finally:
        owner.shutdown()


@pytest.fixture
def executor(ray_instance: RayExecutor) -> Iterator[RayExecutor]:
    """An executor on the module's Ray instance."""
    joined = RayExecutor()
    try:
        yield joined
    finally:
        joined.shutdown()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return settings_for(tmp_path / "home")


def test_the_executor_started_ray_with_the_cpus_asked_for(ray_instance: RayExecutor) -> None:
    assert ray_instance.local and ray_instance.workers == 2 and not ray_instance.in_process
    joined = RayExecutor()  # Ray is initialized in this process: used, not started
    assert not joined.local and joined.workers == 2
    joined.shutdown()
    import ray

    assert ray.is_initialized()  # a joined executor's shutdown leaves Ray up


def test_a_ray_instance_started_by_an_executor_stops_when_the_executor_is_dropped() -> None:
    """Without ``shutdown``: a run leaves an executor object it was given to its caller. The
    variables ``ray.init`` set in this process' environment (RAY_*, PYTHONBREAKPOINT) go too:
    processes started afterwards would inherit them."""
    code = (
        "import gc, os, ray\n"
        "from conveyor.engine.executors._ray import RayExecutor\n"
        "before = dict(os.environ)\n"
        "executor = RayExecutor(workers=1)\n"
        "folder = executor._temp_dir\n"
        "assert ray.is_initialized() and os.path.isdir(folder)\n"
        "assert dict(os.environ) != before\n"
        "del executor\n"
        "gc.collect()\n"
        "print(ray.is_initialized(), os.path.exists(folder), dict(os.environ) == before)\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    env.pop("PYTHONBREAKPOINT", None)
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT, env=env
    )
    assert out.stdout.split() == ["False", "False", "True"], out.stderr


def test_a_pipeline_runs_on_ray_like_on_threads_and_is_cached_the_second_time(
    executor: RayExecutor, settings: Settings, tmp_path: Path
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
    assert {link.artifact_id for link in records["total"].inputs} == {
        link.artifact_id for link in records["table"].outputs
    }

    again = arithmetic.run(executor=executor, settings=settings, n=10)
    assert again.status == "succeeded"
    assert set(statuses(again).values()) == {"cached"}
    assert again.outputs["total"] == first.outputs["total"]


# -- what a remote step logs -------------------------------------------------------------------


def test_metrics_logs_and_the_worker_of_a_remote_step_reach_the_run(
    executor: RayExecutor, settings: Settings
) -> None:
    run = training.run(executor=executor, settings=settings, n=1)
    assert run.status == "succeeded", run.steps
    assert run.outputs["train"] == 2

    assert cv.get_run(run.id, settings=settings).metrics == {"loss": 0.5}
    record = step_runs(settings, run)["train"]
    assert GREETING in record.logs
    [attempt] = record.attempt_log
    assert attempt.status == "succeeded"
    host, pid = attempt.worker.rsplit(":", 1)
    assert host and int(pid) != os.getpid()  # a Ray worker, not this process


def test_an_attempt_names_the_ray_worker_that_ran_it(
    executor: RayExecutor, settings: Settings
) -> None:
    outcome = executor.submit(task_of(increment, 41, settings=settings)).result()
    assert outcome.ok, outcome.error
    host, pid = outcome.worker.rsplit(":", 1)
    assert host == capacities_of(_nodes())[0].name and int(pid) != os.getpid()


def _nodes() -> list[dict[str, Any]]:
    import ray

    return list(ray.nodes())


def increment(x: int) -> int:
    return x + 1


def task_of(
    fn: Callable[..., object],
    *args: object,
    settings: Settings,
    step: str = "increment",
    resources: cv.Resources | None = None,
) -> Task:
    """An attempt as the runner hands it to an executor."""
    return Task(
        step=step,
        fn=fn,
        args=tuple(Loaded(a) for a in args),
        kwargs=(),
        n_outputs=None,
        context=RunContext("run_test", "test", step, 1, settings=settings),
        artifacts_url=settings.artifacts,
        inline_limit=settings.inline_limit,
        keep_values=False,
        resources=resources,
    )


def test_a_pipeline_file_and_the_module_beside_it_are_found_by_the_workers(
    executor: RayExecutor,
    settings: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Its folder is on this process' sys.path, not in the workers' working directory."""
    from conveyor.engine import load_pipeline

    monkeypatch.setattr(sys, "path", list(sys.path))  # loading the file adds its folder
    project = tmp_path / "project"
    project.mkdir()
    (project / "beside_ray_flow.py").write_text("def triple(x):\n    return 3 * x\n")
    (project / "ray_flow.py").write_text(
        "import conveyor as cv\n"
        "from beside_ray_flow import triple\n\n"
        "@cv.step\n"
        "def tripled(n: int) -> int:\n"
        "    return triple(n)\n\n"
        "@cv.pipeline\n"
        "def flow(n: int = 2) -> None:\n"
        "    tripled(n)\n"
    )
    pipe, _ = load_pipeline(f"{project / 'ray_flow.py'}:flow")
    run = pipe.run(executor=executor, settings=settings, n=2)
    assert run.status == "succeeded", [s.error for s in run.failed_steps]
    assert run.outputs["tripled"] == 6


def test_a_step_that_cannot_be_pickled_fails_once_saying_why(
    executor: RayExecutor, settings: Settings
) -> None:
    lock = threading.Lock()

    @cv.step(retries=2)
    def locked(n: int) -> int:
        with lock:
            return n

    @cv.pipeline
    def uses_a_lock(n: int = 1) -> None:
        locked(n)

    run = uses_a_lock.run(executor=executor, settings=settings, n=1)
    assert run.status == "failed"
    [step] = run.steps
    assert step.attempts == 1
    assert step.error is not None and "cannot be sent to a Ray worker" in step.error
    assert "lock" in step.error


# -- a worker killed while it runs a step ----------------------------------------------------


def test_a_killed_worker_is_one_lost_attempt_and_the_step_is_retried(
    executor: RayExecutor, settings: Settings, tmp_path: Path
) -> None:
    def kill_the_worker() -> None:
        wait_for(tmp_path / "pid")
        os.kill(int((tmp_path / "pid").read_text()), signal.SIGKILL)

    killer = threading.Thread(target=kill_the_worker, daemon=True)
    killer.start()
    run = survivor.run(executor=executor, settings=settings, folder=str(tmp_path))
    killer.join()
    assert run.status == "succeeded", run.steps
    assert run.outputs["fragile"] == 42
    record = step_runs(settings, run)["fragile"]
    assert record.attempts == 2
    assert [a.status for a in record.attempt_log] == ["worker lost", "succeeded"]


def test_a_killed_worker_fails_the_attempt_with_worker_lost(
    executor: RayExecutor, settings: Settings, tmp_path: Path
) -> None:
    """What the runner gets from the executor when the worker dies: ``WorkerLost``."""
    future = executor.submit(
        task_of(fragile.spec.fn, str(tmp_path), settings=settings, step="fragile")
    )
    wait_for(tmp_path / "pid")
    os.kill(int((tmp_path / "pid").read_text()), signal.SIGKILL)
    with pytest.raises(WorkerLost, match="fragile") as lost:
        future.result()
    assert lost.value.details["step"] == "fragile"
    assert lost.value.details["worker"] == capacities_of(_nodes())[0].name


# -- an attempt still running when its executor shuts down -----------------------------------


@cv.step
def held(folder: str) -> int:
    write_atomically(Path(folder) / "started", str(os.getpid()))
    while not (Path(folder) / "release").exists():
        time.sleep(0.05)
    return 1


def test_attempts_still_running_when_the_executor_shuts_down_are_cancelled(
    executor: RayExecutor, settings: Settings, tmp_path: Path
) -> None:
    """The attempt of a step that timed out, say: it would hold its CPUs until it ended."""
    future = executor.submit(task_of(held.spec.fn, str(tmp_path), settings=settings, step="held"))
    wait_for(tmp_path / "started")
    pid = int((tmp_path / "started").read_text())
    executor.shutdown()
    assert future.cancelled()
    deadline = time.monotonic() + 60  # only so that a worker left running fails the test
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(pid), "the attempt still runs"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = Path(f"/proc/{pid}/status")
    return not (status.exists() and "zombie" in status.read_text())


# -- cv.map over Ray -----------------------------------------------------------------------------


@cv.step
def generated(n: int) -> pl.DataFrame:
    return pl.DataFrame({"a": range(n), "b": [i * 10 for i in range(n)]})


@cv.step
def scaled(part: pl.DataFrame, k: int = 3) -> pl.DataFrame:
    return part.with_columns(pl.col("b") * k, pid=pl.lit(os.getpid()))


@cv.pipeline
def mapped(n: int = 40, k: int = 3) -> None:
    cv.map(scaled, generated(n), k=k, partitions=4)


def test_a_mapped_step_runs_its_partitions_on_ray_like_locally(
    executor: RayExecutor, settings: Settings, tmp_path: Path
) -> None:
    on_ray = mapped.run(executor=executor, settings=settings, n=40, k=3)
    assert on_ray.status == "succeeded", on_ray.steps
    local = mapped.run(executor="threads", settings=settings_for(tmp_path / "local"), n=40, k=3)
    assert local.status == "succeeded", local.steps

    def frame(run: Run) -> pl.DataFrame:
        dataset = run.outputs["scaled"]
        assert isinstance(dataset, cv.Dataset)
        return dataset.to_polars()

    remote = frame(on_ray)
    assert remote.drop("pid").equals(frame(local).drop("pid"))
    assert remote["b"].to_list() == [i * 30 for i in range(40)]
    assert os.getpid() not in set(remote["pid"])  # every partition ran in a Ray worker
    records = step_runs(settings, on_ray)
    assert {f"scaled[{i}]" for i in range(4)} <= records.keys()


# -- a step no node can take -------------------------------------------------------------------


@cv.step(retries=3, resources=cv.Resources(cpus=64))
def enormous(n: int) -> int:
    return n


@cv.pipeline
def too_big(n: int = 1) -> None:
    enormous(n)


def test_a_step_no_node_can_take_fails_at_once_without_retries(
    executor: RayExecutor, settings: Settings
) -> None:
    run = too_big.run(executor=executor, settings=settings, n=1)
    assert run.status == "failed"
    [step] = run.steps
    assert step.status == "failed" and step.attempts == 1
    assert step.error is not None and "'enormous'" in step.error and "CPU" in step.error


def test_insufficient_resources_is_the_future_s_error_and_nothing_is_submitted(
    executor: RayExecutor, settings: Settings
) -> None:
    future = executor.submit(
        task_of(increment, 1, settings=settings, resources=cv.Resources(cpus=1, gpus=1))
    )
    with pytest.raises(InsufficientResources, match="'increment' needs 1 CPU, 1 GPU") as error:
        future.result()
    assert error.value.details["step"] == "increment"
    assert not executor._running
    # what a node has is enough
    fits = executor.submit(
        task_of(increment, 1, settings=settings, resources=cv.Resources(cpus=2, memory="100MB"))
    )
    assert fits.result().ok


def test_capacities_are_read_from_the_alive_nodes() -> None:
    nodes = [
        {"Alive": True, "NodeManagerAddress": "10.0.0.1", "Resources": {"CPU": 4.0}},
        {"Alive": False, "NodeManagerAddress": "10.0.0.2", "Resources": {"CPU": 64.0}},
        {
            "Alive": True,
            "NodeManagerAddress": "10.0.0.3",
            "Resources": {"CPU": 8.0, "memory": 2.0e9, "GPU": 1.0},
        },
    ]
    [small, large] = capacities_of(nodes)
    assert (small.name, small.cpus, small.memory, small.gpus) == ("10.0.0.1", 4.0, None, 0.0)
    assert (large.name, large.cpus, large.memory, large.gpus) == ("10.0.0.3", 8.0, 2 * 10**9, 1.0)


# -- plain calls: cv.tune's trials -----------------------------------------------------------------


def test_the_pool_runs_plain_calls_as_ray_tasks(executor: RayExecutor) -> None:
    pool = executor.pool()
    assert pool.submit(divmod, 7, 2).result() == (3, 1)
    assert pool.submit(os.getpid).result() != os.getpid()
    with pytest.raises(ZeroDivisionError):  # the function's own error, as it raised it
        pool.submit(divmod, 1, 0).result()


def test_tune_submits_its_trials_to_the_cluster(
    ray_instance: RayExecutor, settings: Settings
) -> None:
    with RayExecutor() as executor:
        result = cv.tune(
            trial_pid,
            {"x": (-3.0, 3.0)},
            n_trials=4,
            parallelism=2,
            seed=0,
            executor=executor,
            settings=settings,
        )
    trials = cv.search_runs(parent_id=result.run_id, settings=settings)
    assert len(trials) == 4 and set(trials["status"]) == {"succeeded"}
    pids = {int(cv.get_run(r, settings=settings).metrics["pid"]) for r in trials["run_id"]}
    assert os.getpid() not in pids  # every trial ran in a Ray worker
    assert result.best_run_id is not None


# -- no Ray, or no cluster at the address --------------------------------------------------------


def test_importing_the_executor_does_not_import_ray() -> None:
    code = "import sys, conveyor.engine.executors._ray; print('ray' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert out.stdout.strip() == "False"


def test_without_ray_installed_the_executor_says_how_to_install_it() -> None:
    code = (
        "import sys; sys.modules['ray'] = None\n"
        "from conveyor.engine.executors._ray import RayExecutor\n"
        "from conveyor.errors import ConfigurationError\n"
        "try:\n"
        "    RayExecutor()\n"
        "except ConfigurationError as exc:\n"
        "    print(exc)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert "pip install 'conveyor[ray]'" in out.stdout


@pytest.mark.parametrize("scheme", ["", "ray://"])
def test_an_address_where_no_cluster_answers_is_a_configuration_error(scheme: str) -> None:
    address = f"{scheme}127.0.0.1:{free_port()}"
    with pytest.raises(ConfigurationError, match=address) as error:
        RayExecutor(address)
    assert error.value.details["address"] == address


def test_the_address_of_the_cluster_this_process_is_connected_to_joins_it(
    ray_instance: RayExecutor,
) -> None:
    import ray

    host, port = str(ray.get_runtime_context().gcs_address).rsplit(":", 1)
    for address in (f"{host}:{port}", f"127.0.0.1:{port}"):
        joined = RayExecutor(address)
        assert not joined.local and joined.workers == 2
        joined.shutdown()
    assert ray.is_initialized()
    with socket.socket() as other:  # something answers there, but it is not this cluster
        other.bind(("127.0.0.1", 0))
        other.listen()
        address = f"127.0.0.1:{other.getsockname()[1]}"
        with pytest.raises(ConfigurationError, match="already connected"):
            RayExecutor(address)


# -- the cluster lost --------------------------------------------------------------------------


def test_a_head_that_stops_answering_fails_the_running_attempts_with_executor_lost(
    executor: RayExecutor, settings: Settings, tmp_path: Path
) -> None:
    future = executor.submit(task_of(held.spec.fn, str(tmp_path), settings=settings, step="held"))
    wait_for(tmp_path / "started")
    executor._head = ("127.0.0.1", free_port())  # as if the head's control store had died
    try:
        with pytest.raises(ExecutorLost, match="stopped answering"):
            future.result()
        later = executor.submit(task_of(increment, 1, settings=settings))
        with pytest.raises(ExecutorLost, match="lost the Ray cluster"):
            later.result()
    finally:
        (tmp_path / "release").write_text("")  # the attempt ends; Ray itself is fine


# -- Ray gone under a run (last: it stops the module's Ray instance) ------------------------------


@cv.step
def waits(folder: str) -> int:
    write_atomically(Path(folder) / "started", "yes")
    time.sleep(600)  # until Ray is shut down under it
    return 1


@cv.step
def after(x: int) -> int:
    return x


@cv.pipeline
def interrupted(folder: str) -> None:
    after(waits(folder))


def test_ray_shut_down_under_a_run_fails_the_run_and_every_later_attempt(
    executor: RayExecutor, settings: Settings, tmp_path: Path
) -> None:
    import ray

    results: list[Run] = []
    runner = threading.Thread(
        target=lambda: results.append(
            interrupted.run(executor=executor, settings=settings, folder=str(tmp_path))
        ),
        daemon=True,
    )
    runner.start()
    wait_for(tmp_path / "started")
    ray.shutdown()  # behind the executor's back, while `waits` runs
    runner.join(timeout=120)  # only so that a hang fails this test instead of the suite
    assert not runner.is_alive(), "the run did not end after Ray was shut down"
    [run] = results
    assert run.status == "failed"
    assert statuses(run) == {"waits": "failed", "after": "skipped"}
    [failed] = [s for s in run.steps if s.name == "waits"]
    assert failed.error is not None and "lost the Ray cluster" in failed.error
    with pytest.raises(ExecutorLost, match="lost the Ray cluster"):
        executor.submit(task_of(increment, 1, settings=settings)).result()


# -- a core of its own for each worker ---------------------------------------------------------


@pytest.mark.skipif(not splits_in_two(), reason="the allowed cores do not split between two")
def test_the_workers_of_a_local_instance_filling_the_machine_run_on_their_own_cores(
    ray_instance: RayExecutor, settings: Settings, tmp_path: Path
) -> None:
    from tests.integration._cores_cases import (
        assert_pinned_apart,
        cores_by_worker,
        rows,
        where_partitions_run,
    )

    run = where_partitions_run.run(
        settings=settings, executor=ray_instance, path=rows(tmp_path / "a.csv")
    )
    # Ray may start a worker process beyond its CPUs (one that finds every group held, and
    # runs where it may); those that claimed a group share no core.
    by_worker = cores_by_worker(run)
    pinned = {pid: cores for pid, cores in by_worker.items() if cores != os.sched_getaffinity(0)}
    assert pinned
    assert_pinned_apart(pinned, 2)
