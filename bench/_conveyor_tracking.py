"""conveyor's side of ``tracking.py``: the scenarios of the peer ``mlflow_tracking.py``.

    python _conveyor_tracking.py --n 10000 --repeats 5 --out result.json

Each repeat uses a fresh SQLite store in a temporary folder.
* per_call : inside a pipeline step, 100 x cv.log_param then --n x cv.log_metric (10 keys,
             step = i // 10), one call each; timed from the first call until the run has
             returned, i.e. until everything is durable in the store
* batch    : inside a step, 100 params in one call and --n points as cv.log_metrics of 10
             keys per call (a dict per step index), then a flush that returns once they are
             stored: timed from the first call until the flush returns
* search   : 1000 runs with 10 metrics each (setup untimed), then cv.search_runs over them,
             unfiltered and with ``metrics.m0 > 0.5`` ordered by ``metrics.m1 desc``
* load     : a registered scikit-learn model promoted to an alias, loaded once, then loaded
             by alias again (the cached path): median of 1000 calls
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import conveyor as cv
from conveyor.engine import Workspace
from conveyor.store import RunRecord
from conveyor.store._tracking_records import MetricPoint, TrackingBatch
from conveyor.testing import settings_for

N = 10_000


@cv.step(cache=False)
def per_call(n: int) -> float:
    started = time.perf_counter()
    for i in range(100):
        cv.log_param(f"p{i}", i)
    for i in range(n):
        cv.log_metric(f"m{i % 10}", random.random(), step=i // 10)
    return started


@cv.pipeline
def per_call_run(n: int = N) -> None:
    per_call(n)


@cv.step(cache=False)
def batch(n: int) -> float:
    """The points logged as dicts of 10, then flushed: durable when flush() returns."""
    context = cv.current_run()
    assert context is not None
    assert context.tracker is not None
    keys = [f"m{k}" for k in range(10)]
    started = time.perf_counter()
    cv.log_params({f"p{i}": i for i in range(100)})
    for s in range(n // 10):
        cv.log_metrics({key: random.random() for key in keys}, step=s)
    context.tracker.flush()
    return time.perf_counter() - started


@cv.pipeline
def batch_run(n: int = N) -> None:
    batch(n)


def flushed_batch(settings: cv.Settings, n: int) -> float:
    run = batch_run.run(n=n, settings=settings)
    run.raise_for_status()
    return float(run.outputs["batch"])  # type: ignore[arg-type]


def timed_run(pipe: cv.Pipeline, settings: cv.Settings, n: int) -> float:
    run = pipe.run(n=n, settings=settings)
    ended = time.perf_counter()  # the run has returned: its records are written
    run.raise_for_status()
    started = run.outputs[run.steps[0].name]
    return ended - float(started)  # type: ignore[arg-type]


def search_setup(settings: cv.Settings, runs: int) -> None:
    store = Workspace.for_api(settings).metadata
    now = datetime.now(UTC)
    for r in range(runs):
        run_id = f"run-bench{r:015d}"
        store.create_run(RunRecord(run_id, "search", "succeeded", now, params={"r": r}))
        store.log_batch(
            TrackingBatch(
                run_id,
                metrics=tuple(
                    MetricPoint(f"m{k}", random.random(), 0, time.time()) for k in range(10)
                ),
            )
        )


def one_repeat(a: argparse.Namespace) -> dict[str, float | list[float]]:
    folder = Path(tempfile.mkdtemp(prefix="cv-tracking-"))
    settings = settings_for(folder / "home")
    out: dict[str, float | list[float]] = {}
    try:
        per_call_run.run(n=10, settings=settings)  # the store exists: like MLflow's init
        out["per_call_s"] = timed_run(per_call_run, settings, a.n)
        out["batch_s"] = flushed_batch(settings, a.n)
        search_setup(settings, a.search_runs)
        plain, filtered = [], []
        for _ in range(a.search_repeats):
            t0 = time.perf_counter()
            frame = cv.search_runs(pipeline="search", settings=settings)
            plain.append(time.perf_counter() - t0)
            assert len(frame) == a.search_runs, len(frame)
            t0 = time.perf_counter()
            frame = cv.search_runs(
                pipeline="search",
                filter="metrics.m0 > 0.5",
                order_by=["metrics.m1 desc"],
                settings=settings,
            )
            filtered.append(time.perf_counter() - t0)
            assert 0 < len(frame) < a.search_runs
        out["search_all_s"] = statistics.median(plain)
        out["search_filtered_s"] = statistics.median(filtered)
        out["search_filtered_samples_s"] = filtered
        out["load_cached_s"] = _cached_load(settings)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return out


def _cached_load(settings: cv.Settings) -> float:
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    model = LogisticRegression().fit(rng.random((200, 4)), rng.integers(0, 2, 200))
    version = cv.models.register("bench", model, settings=settings)
    cv.models.promote("bench", version.version, "production", settings=settings)
    cv.models.load("bench@production", settings=settings)
    samples = []
    for _ in range(1000):
        t0 = time.perf_counter()
        cv.models.load("bench@production", settings=settings)
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=N)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--search-runs", type=int, default=1000)
    ap.add_argument("--search-repeats", type=int, default=5)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    reps = [one_repeat(a) for _ in range(a.repeats)]
    keys = [k for k in reps[0] if not k.endswith("samples_s")]
    med = {k: statistics.median(float(r[k]) for r in reps) for k in keys}  # type: ignore[arg-type]
    ops = {
        "log_metric_us_per_call": 1e6 * med["per_call_s"] / (a.n + 100),
        "log_metric_calls_per_s": (a.n + 100) / med["per_call_s"],
        "log_batch_points_per_s": a.n / med["batch_s"],
        "search_1000_runs_s": med["search_all_s"],
        "search_filtered_s": med["search_filtered_s"],
        "load_cached_ms": 1e3 * med["load_cached_s"],
    }
    Path(a.out).write_text(
        json.dumps({"tool": "conveyor", "version": cv.__version__, "repeats": reps, "ops": ops})
    )
    print(
        f"conveyor: log_metric {ops['log_metric_us_per_call']:.1f} us/call, "
        f"log_metrics {ops['log_batch_points_per_s']:.0f} pts/s, "
        f"search {1e3 * ops['search_filtered_s']:.1f} ms, load {ops['load_cached_ms']:.3f} ms"
    )


if __name__ == "__main__":
    main()
