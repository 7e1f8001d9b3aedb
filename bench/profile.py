"""Time ``profile()`` on the shared 1M-row table, next to pandas and polars doing the same.

The table comes from the shared data harness (``shared/bench/data/gen.py``: id, 20 numeric,
5 categorical columns, a label; 1 % nulls in four columns), generated on first use into
``$PEERS_DATA_DIR`` (default ``<tmp>/peers-data``) and read into memory before any timing.
Three jobs run in this process, interleaved repeat by repeat, after one untimed warm-up each:

* conveyor: ``profile(frame)`` on the polars frame, and on the pandas frame (its conversion
  included);
* pandas: ``describe(include="all")``, the seven quantiles of every numeric column and
  ``value_counts`` of every other column;
* polars: ``describe()`` with the same seven (linear) quantiles and ``value_counts`` of every
  string column.

The references compute less than conveyor (no histograms, no ordering of ties). Wall seconds
are medians; CPU seconds are this process's user + system time, all threads (less sensitive to
a shared machine than wall time). Floor: conveyor's median on the polars frame under 1 s.

Usage (from the repository root, with the project's venv):
  python bench/profile.py [--rows 1000000] [--repeats 7] [--out results.json]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _peers as P

FLOOR_S = 1.0
QUANTILES = [0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99]


def shared_data_module() -> Any:
    """The shared harness' ``common`` module (schema, data dir, dataset generation)."""
    shared = P.shared_dir()
    if shared is None or not (shared / "bench" / "data" / "gen.py").is_file():
        raise SystemExit(
            "shared/bench/data not found beside the repository; set CONVEYOR_SHARED_DIR"
        )
    sys.path.insert(0, str(shared / "bench" / "data"))
    import common

    return common


def cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# ---------------------------------------------------------------------------- the jobs
def conveyor_job(frame: Any) -> Callable[[], object]:
    from conveyor.data._profile_stats import profile

    return lambda: profile(frame)


def pandas_job(frame: Any) -> Callable[[], object]:
    def run() -> object:
        numeric = frame.select_dtypes("number")
        return (
            frame.describe(include="all"),
            numeric.quantile(QUANTILES),
            {name: frame[name].value_counts() for name in frame.columns if name not in numeric},
        )

    return run


def polars_job(frame: Any) -> Callable[[], object]:
    import polars as pl

    strings = [name for name, dtype in frame.schema.items() if dtype == pl.String]

    def run() -> object:
        return (
            frame.describe(percentiles=QUANTILES, interpolation="linear"),
            frame.select(pl.col(name).value_counts().implode() for name in strings),
        )

    return run


def check(frame: Any, result: Any) -> str:
    """Compare conveyor's medians and null counts with pandas'; '' if they agree."""
    problems = []
    for name, column in result.columns.items():
        series = frame[name]
        if int(series.isna().sum()) != column.nulls:
            problems.append(f"{name}: nulls {column.nulls} != {int(series.isna().sum())}")
        if column.quantiles is not None:
            expected = float(series.quantile(0.5))
            if abs(column.quantiles.p50 - expected) > 1e-9 * max(1.0, abs(expected)):
                problems.append(f"{name}: p50 {column.quantiles.p50} != {expected}")
    return "; ".join(problems)


# ---------------------------------------------------------------------------- main
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--out", type=Path, help="write all samples as JSON here")
    args = parser.parse_args()

    common = shared_data_module()
    path = common.ensure_dataset("reference", args.rows, "parquet", 0.01)
    import polars as pl

    frame = pl.read_parquet(path)
    pandas_frame = frame.to_pandas()
    print(
        f"data: {path.name}, {frame.height:,} rows x {frame.width} columns "
        f"({sum(d.is_numeric() for d in frame.dtypes)} numeric); cpus {os.cpu_count()}, "
        f"load {os.getloadavg()[0]:.1f}",
        flush=True,
    )

    jobs = {
        "conveyor": conveyor_job(frame),
        "conveyor (pandas in)": conveyor_job(pandas_frame),
        "pandas describe+vc+q": pandas_job(pandas_frame),
        "polars describe+vc": polars_job(frame),
    }
    mismatch = check(pandas_frame, jobs["conveyor"]())
    for job in jobs.values():
        job()  # warm-up, untimed
    samples: dict[str, dict[str, list[float]]] = {n: {"wall": [], "cpu": []} for n in jobs}
    for _ in range(args.repeats):
        for name, job in jobs.items():  # interleaved: drifts of the machine hit all alike
            c0, t0 = cpu_s(), time.perf_counter()
            job()
            samples[name]["wall"].append(time.perf_counter() - t0)
            samples[name]["cpu"].append(cpu_s() - c0)

    medians = {
        name: (statistics.median(s["wall"]), statistics.median(s["cpu"]))
        for name, s in samples.items()
    }
    base_wall, base_cpu = medians["conveyor"]
    print(f"\n{'job':<24}{'median s':>10}{'min s':>9}{'CPU s':>9}{'x conveyor':>12}{'(CPU)':>8}")
    for name, (wall, cpu) in medians.items():
        print(
            f"{name:<24}{wall:>10.3f}{min(samples[name]['wall']):>9.3f}{cpu:>9.3f}"
            f"{wall / base_wall:>11.1f}x{cpu / base_cpu:>7.1f}x"
        )
    print(f"(median of {args.repeats}; 'x conveyor' = job / conveyor: above 1 conveyor is faster)")
    verdict = "PASS" if base_wall < FLOOR_S else "FAIL"
    print(
        f"\n{verdict}: conveyor profile of {frame.height:,} rows median {base_wall:.3f} s "
        f"(floor {FLOOR_S:.1f} s)"
    )
    print(
        f"{'FAIL' if mismatch else 'PASS'}: medians and null counts equal pandas'"
        + (f" ({mismatch})" if mismatch else "")
    )
    if args.out:
        args.out.write_text(
            json.dumps(
                {
                    "rows": frame.height,
                    "columns": frame.width,
                    "repeats": args.repeats,
                    "samples": samples,
                    "floor_s": FLOOR_S,
                    "pass": verdict == "PASS",
                    "loadavg": os.getloadavg(),
                },
                indent=2,
            )
        )


if __name__ == "__main__":
    main()
