"""Distributed execution: scaling from 1 to 2 workers, and the per-step overhead on Dask.

    .venv/bin/python bench/distributed_scaling.py [--rows 5000000] [--rounds 5] [--steps 40]

Scaling: the partitioned transform of ``bench/transform.py`` (fit and transform of a CSV with
``cv.map`` in its own partitions of 16 MiB, zstd Parquet out; 5 million rows, as there) runs
with 1 and then 2 workers on each executor, each as conveyor starts it without an address:
local worker processes (``ProcessExecutor``), ``cv.DaskExecutor(workers=n)`` (a
``LocalCluster`` of single-threaded worker processes) and ``cv.RayExecutor(workers=n)`` (a
local instance with that many CPUs); each worker gets one core (POLARS_MAX_THREADS and the
BLAS variables are 1 unless set), and with 2 workers each is pinned to its own core, as every
executor does by default when its workers split the cores evenly. Clusters are started, and
their workers warmed up (``executor.start()``, as a run does), before the clock starts; every
run executes every step (``no_cache``). Rounds alternate the executors and the worker
counts; medians are reported: one run of the same job varies by ±10% with this machine's
speed, so 5 rounds by default.
Floor: 2 workers at least 1.7× faster than 1, for each executor.

Overhead: Dask's own round trip for a trivial task (``client.submit(f).result()``) beside
conveyor's per-step cost on the same cluster (2 workers, as ``cv.DaskExecutor(workers=2)``
starts it): a pipeline of ``--steps`` trivial steps, each depending on the one before, run on
``cv.DaskExecutor`` with no cache (its wall time over the number of steps: planning, cache
look-up, recording and the round trip), and the executor's own round trip for one attempt;
rounds alternate the three. Floor: the pipeline's per-step cost at most 2× Dask's round trip.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
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
from _peers import compile_package, shared_dir  # noqa: E402
from conveyor.engine.executors import ProcessExecutor  # noqa: E402

FLOOR_SCALING = 1.7
FLOOR_OVERHEAD = 2.0


def settings_in(home: Path) -> cv.Settings:
    return cv.Settings(home=home, db_url=f"sqlite:///{home}/conveyor.db", artifacts=f"{home}/art")


# ---------------------------------------------------------------------------- executors
WARM_UP_SECONDS = 3.0  # a worker imports polars, Arrow and conveyor in about a second


@contextlib.contextmanager
def ready(executor: Any) -> Iterator[Any]:
    """``executor`` with its workers started and warm, shut down afterwards."""
    try:
        executor.start()  # what a run does itself when a map is coming, before its first step
        time.sleep(WARM_UP_SECONDS)
        yield executor
    finally:
        executor.shutdown()


def processes(workers: int) -> contextlib.AbstractContextManager[Any]:
    return ready(ProcessExecutor(workers))


def dask(workers: int) -> contextlib.AbstractContextManager[Any]:
    return ready(cv.DaskExecutor(workers=workers))  # a LocalCluster of that many processes


def ray(workers: int) -> contextlib.AbstractContextManager[Any]:
    return ready(cv.RayExecutor(workers=workers))  # a local instance with that many CPUs


EXECUTORS: dict[str, Callable[[int], contextlib.AbstractContextManager[Any]]] = {
    "processes": processes,
    "dask": dask,
    "ray": ray,
}


# ---------------------------------------------------------------------------- scaling
def transform_once(executor: Any, csv: Path, home: Path, partitions: int) -> float:
    started = time.perf_counter()
    run = job.transform.run(
        csv=str(csv),
        partitions=partitions,
        executor=executor,  # an executor passed in stays open after the run
        settings=settings_in(home),
        no_cache=True,
    )
    seconds = time.perf_counter() - started
    if run.status != "succeeded":
        raise RuntimeError(f"transform failed: {[(s.name, s.error) for s in run.steps]}")
    return seconds


def warm_driver(csv: Path, work: Path) -> None:
    """One run of the transform on the CSV's first rows, with threads: this process imports
    the stores' libraries and the engine before any run is timed."""
    head = work / "head.csv"
    with csv.open("rb") as source, head.open("wb") as out:
        for _, line in zip(range(10_000), source, strict=False):
            out.write(line)
    run = job.transform.run(
        csv=str(head), partitions=2, executor="threads", settings=settings_in(work / "warm")
    )
    if run.status != "succeeded":
        raise RuntimeError(f"transform failed: {[(s.name, s.error) for s in run.steps]}")


def scaling(
    csv: Path, names: list[str], rounds: int, work: Path, partitions: int
) -> dict[str, Any]:
    warm_driver(csv, work)
    times: dict[str, dict[int, list[float]]] = {n: {1: [], 2: []} for n in names}
    for r in range(rounds):
        order = names if r % 2 == 0 else names[::-1]
        for name in order:
            for workers in (1, 2) if r % 2 == 0 else (2, 1):
                with EXECUTORS[name](workers) as executor:
                    home = work / f"{name}-{workers}-{r}"
                    seconds = transform_once(executor, csv, home, partitions)
                # its outputs are not read again: gone before the kernel writes them to disk
                # while the next run is timed
                shutil.rmtree(home, ignore_errors=True)
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
    """Rounds alternate the three measures, so that the machine's ups and downs fall on all."""
    from distributed import Client

    from conveyor.core import RunContext
    from conveyor.engine._attempt import Task

    pipe = chain_of(steps)
    settings = settings_in(work / "overhead")
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
    dask_trips: list[float] = []
    attempt_trips: list[float] = []
    per_step: list[float] = []
    # The cluster as conveyor starts it (2 single-threaded worker processes); Dask's own
    # client and conveyor's executor both join it.
    with (
        cv.DaskExecutor(workers=2) as cluster,
        Client(cluster.address, set_as_default=False) as client,
        cv.DaskExecutor(cluster.address) as executor,
    ):
        for _ in range(50):  # connections and imports on both sides
            client.submit(_trivial, pure=False).result()
            executor.submit(task).result()
        pipe.run(executor=executor, settings=settings)  # warm: imports, tables
        for _ in range(rounds * 3):
            for _ in range(50):
                started = time.perf_counter()
                client.submit(_trivial, pure=False).result()
                dask_trips.append(time.perf_counter() - started)
            for _ in range(50):
                started = time.perf_counter()
                outcome = executor.submit(task).result()
                attempt_trips.append(time.perf_counter() - started)
                assert outcome.ok, outcome.error
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
    ap.add_argument("--rows", type=int, default=5_000_000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument(
        "--partitions", type=int, default=0, help="0: cv.map's own (16 MiB of CSV each)"
    )
    ap.add_argument("--executors", default="processes,dask,ray")
    ap.add_argument("--skip", default="", help="scaling or overhead")
    ap.add_argument("--out", type=Path, default=BENCH / "results" / "distributed.json")
    a = ap.parse_args()
    names = [n for n in a.executors.split(",") if n]
    # Worker processes import conveyor in both measures: from bytecode, as after an install.
    compile_package(sys.executable, "conveyor")
    report: dict[str, Any] = {"cores": os.cpu_count(), "rows": a.rows, "partitions": a.partitions}
    with tempfile.TemporaryDirectory(prefix="cv-distributed-") as tmp:
        work = Path(tmp)
        if "overhead" not in a.skip:
            print(f"per-step overhead on Dask ({a.steps} chained trivial steps)", flush=True)
            report["overhead"] = overhead(a.steps, a.rounds, work)
        if "scaling" not in a.skip:
            csv = ensure_csv(a.rows)
            print(f"scaling: {csv.name} ({csv.stat().st_size / 1e6:.0f} MB)", flush=True)
            report["scaling"] = scaling(csv, names, a.rounds, work, a.partitions)
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
