"""Distributed execution: scaling from 1 to 2 workers, and the per-step overhead on Dask.

    .venv/bin/python bench/distributed_scaling.py [--rows 1000000] [--rounds 3] [--steps 40]

Scaling: the partitioned transform of ``bench/transform.py`` (fit and transform of a CSV with
``cv.map``, 8 partitions, zstd Parquet out) runs with 1 and then 2 workers on each executor:
local worker processes, Dask (a ``LocalCluster`` of single-threaded worker processes) and Ray
(a local instance with that many CPUs); each worker gets one core (POLARS_MAX_THREADS and the
BLAS variables are 1 unless set). Clusters are started, and worker processes warmed up,
before the clock starts; every run executes every step (``no_cache``). Rounds alternate the
executors and the worker counts; medians are reported. Floor: 2 workers at least 1.7× faster
than 1, for each executor.

Overhead: Dask's own round trip for a trivial task (``client.submit(f).result()``) beside
conveyor's per-step cost on the same cluster: a pipeline of ``--steps`` trivial steps, each
depending on the one before, run on ``cv.DaskExecutor`` with no cache (its wall time over the
number of steps: planning, cache look-up, recording and the round trip), and the executor's
own round trip for one attempt. Floor: the pipeline's per-step cost at most 2× Dask's round
trip.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
# One core per worker, whatever the executor: the libraries' own thread pools would otherwise
# let a single worker use both cores, and the comparison would be of threads, not workers.
# Set before polars and Arrow are imported here, and inherited by every worker process.
for _name in ("POLARS_MAX_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")

import _conveyor_transform as job  # noqa: E402
import conveyor as cv  # noqa: E402
from _peers import shared_dir  # noqa: E402
from conveyor.engine.executors import ProcessExecutor  # noqa: E402

PARTITIONS = 8
FLOOR_SCALING = 1.7
FLOOR_OVERHEAD = 2.0


def settings_in(home: Path) -> cv.Settings:
    return cv.Settings(home=home, db_url=f"sqlite:///{home}/conveyor.db", artifacts=f"{home}/art")


# ---------------------------------------------------------------------------- executors
@contextlib.contextmanager
def processes(workers: int) -> Iterator[Callable[[], Any]]:
    def make() -> Any:
        executor = ProcessExecutor(workers)
        executor.start()
        time.sleep(3)  # the workers import polars and Arrow before the clock starts
        return executor

    yield make


@contextlib.contextmanager
def dask(workers: int) -> Iterator[Callable[[], Any]]:
    from distributed import LocalCluster

    with LocalCluster(
        n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster:
        address = cluster.scheduler_address
        yield lambda: cv.DaskExecutor(address)


@contextlib.contextmanager
def ray(workers: int) -> Iterator[Callable[[], Any]]:
    import ray as ray_

    ray_.init(num_cpus=workers, include_dashboard=False, log_to_driver=False)
    try:
        yield cv.RayExecutor  # joins this process' instance, which it leaves running
    finally:
        ray_.shutdown()


EXECUTORS: dict[str, Callable[[int], contextlib.AbstractContextManager[Callable[[], Any]]]] = {
    "processes": processes,
    "dask": dask,
    "ray": ray,
}


# ---------------------------------------------------------------------------- scaling
def transform_once(make: Callable[[], Any], csv: Path, home: Path) -> float:
    executor = make()
    try:
        started = time.perf_counter()
        run = job.transform.run(
            csv=str(csv),
            partitions=PARTITIONS,
            executor=executor,
            settings=settings_in(home),
            no_cache=True,
        )
        seconds = time.perf_counter() - started
    finally:
        executor.shutdown()  # an executor passed in stays open after the run
    if run.status != "succeeded":
        raise RuntimeError(f"transform failed: {[(s.name, s.error) for s in run.steps]}")
    return seconds


def scaling(csv: Path, names: list[str], rounds: int, work: Path) -> dict[str, Any]:
    times: dict[str, dict[int, list[float]]] = {n: {1: [], 2: []} for n in names}
    for r in range(rounds):
        order = names if r % 2 == 0 else names[::-1]
        for name in order:
            for workers in (1, 2) if r % 2 == 0 else (2, 1):
                with EXECUTORS[name](workers) as make:
                    make().shutdown()  # a first attempt warms the cluster's workers up
                    seconds = transform_once(make, csv, work / f"{name}-{workers}")
                times[name][workers].append(seconds)
                print(
                    f"  round {r + 1}: {name:9s} {workers} worker(s) {seconds:7.2f} s", flush=True
                )
    report = {}
    for name in names:
        one, two = statistics.median(times[name][1]), statistics.median(times[name][2])
        report[name] = {"1": one, "2": two, "speedup": one / two, "runs": times[name]}
    return report


# ---------------------------------------------------------------------------- overhead
@cv.step
def nothing(previous: int) -> int:
    return previous + 1


def chain_of(steps: int) -> cv.Pipeline:
    @cv.pipeline(name=f"chain{steps}")
    def chain() -> None:
        value: Any = 0
        for i in range(steps):
            value = nothing.with_options(name=f"s{i:03d}")(value)

    return chain


def _trivial() -> None:
    return None


def overhead(steps: int, rounds: int, work: Path) -> dict[str, Any]:
    from distributed import Client, LocalCluster

    from conveyor.core import RunContext
    from conveyor.engine._attempt import Task

    pipe = chain_of(steps)
    settings = settings_in(work / "overhead")
    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
    ):
        address = cluster.scheduler_address
        for _ in range(50):  # connections and imports on both sides
            client.submit(_trivial, pure=False).result()
        dask_trips = []
        for _ in range(rounds * 100):
            started = time.perf_counter()
            client.submit(_trivial, pure=False).result()
            dask_trips.append(time.perf_counter() - started)

        executor = cv.DaskExecutor(address)
        task = Task(
            step="nothing",
            fn=nothing.spec.fn,
            args=(),
            kwargs=(("previous", _loaded(1)),),
            n_outputs=None,
            context=RunContext("run-bench", "bench", "nothing", 1, settings=settings),
            artifacts_url=settings.artifacts,
            inline_limit=settings.inline_limit,
            keep_values=False,
        )
        for _ in range(20):
            executor.submit(task).result()
        attempt_trips = []
        for _ in range(rounds * 100):
            started = time.perf_counter()
            outcome = executor.submit(task).result()
            attempt_trips.append(time.perf_counter() - started)
            assert outcome.ok, outcome.error
        executor.shutdown()

        with cv.DaskExecutor(address) as executor:
            pipe.run(executor=executor, settings=settings)  # warm: imports, tables
            per_step = []
            for _ in range(rounds):
                started = time.perf_counter()
                run = pipe.run(executor=executor, settings=settings, no_cache=True)
                per_step.append((time.perf_counter() - started) / steps)
                assert run.status == "succeeded"
    return {
        "dask_round_trip_ms": statistics.median(dask_trips) * 1e3,
        "attempt_round_trip_ms": statistics.median(attempt_trips) * 1e3,
        "pipeline_per_step_ms": statistics.median(per_step) * 1e3,
        "pipeline_per_step_runs_ms": [x * 1e3 for x in per_step],
    }


def _loaded(value: object) -> Any:
    from conveyor.engine._attempt import Loaded

    return Loaded(value)


# ---------------------------------------------------------------------------- main
def ensure_csv(rows: int) -> Path:
    """The harness' reference CSV of ``rows`` rows, generated by its gen.py when missing."""
    shared = shared_dir()
    if shared is None:
        sys.exit("shared/bench/data not found beside the repository (set CONVEYOR_SHARED_DIR)")
    harness = shared / "bench" / "data"
    sys.path.insert(0, str(harness))
    import common as C  # the harness: where its data lives

    path = Path(C.dataset_path("reference", rows, "csv"))
    if not path.exists():
        peers = os.environ.get("PEERS_DATA_PYTHON", "/tmp/peers/data/bin/python")
        python = peers if Path(peers).exists() else sys.executable
        generate = [python, str(harness / "gen.py"), "--rows", str(rows)]
        generate += ["--variant", "reference", "--formats", "csv"]
        generate += ["--out", str(Path(C.data_dir()) / f"gen_reference_{rows}_csv.json")]
        subprocess.run(generate, check=True)
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--executors", default="processes,dask,ray")
    ap.add_argument("--skip", default="", help="scaling or overhead")
    ap.add_argument("--out", type=Path, default=BENCH / "results" / "distributed.json")
    a = ap.parse_args()
    names = [n for n in a.executors.split(",") if n]
    report: dict[str, Any] = {"cores": os.cpu_count(), "rows": a.rows, "partitions": PARTITIONS}
    with tempfile.TemporaryDirectory(prefix="cv-distributed-") as tmp:
        work = Path(tmp)
        if "overhead" not in a.skip:
            print(f"per-step overhead on Dask ({a.steps} chained trivial steps)", flush=True)
            report["overhead"] = overhead(a.steps, a.rounds, work)
        if "scaling" not in a.skip:
            csv = ensure_csv(a.rows)
            print(f"scaling: {csv.name} ({csv.stat().st_size / 1e6:.0f} MB)", flush=True)
            report["scaling"] = scaling(csv, names, a.rounds, work)
    summarize(report)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(report, indent=2))
    print(f"\nwritten to {a.out}")


def summarize(report: dict[str, Any]) -> None:
    if "scaling" in report:
        print("\n| executor | 1 worker s | 2 workers s | speedup | floor |")
        print("|---|---:|---:|---:|---|")
        for name, row in report["scaling"].items():
            verdict = "PASS" if row["speedup"] >= FLOOR_SCALING else "FAIL"
            print(
                f"| {name} | {row['1']:.2f} | {row['2']:.2f} | {row['speedup']:.2f}× | "
                f"{verdict} (≥ {FLOOR_SCALING}×) |"
            )
    if "overhead" in report:
        o = report["overhead"]
        ratio = o["pipeline_per_step_ms"] / o["dask_round_trip_ms"]
        print("\n| per step on Dask | median ms | × Dask's round trip |")
        print("|---|---:|---:|")
        print(f"| Dask client.submit(f).result() | {o['dask_round_trip_ms']:.2f} | 1.00 |")
        attempt = o["attempt_round_trip_ms"]
        print(
            f"| cv.DaskExecutor, one attempt | {attempt:.2f} | "
            f"{attempt / o['dask_round_trip_ms']:.2f} |"
        )
        print(f"| conveyor pipeline, per step | {o['pipeline_per_step_ms']:.2f} | {ratio:.2f} |")
        verdict = "PASS" if ratio <= FLOOR_OVERHEAD else "FAIL"
        print(f"{verdict}: per-step overhead {ratio:.2f}× Dask's round trip (floor ≤ 2×)")


if __name__ == "__main__":
    main()
