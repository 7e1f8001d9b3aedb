"""The transform job of ``shared/bench/data/transform.py``, as a conveyor pipeline with cv.map.

    python _conveyor_transform.py --csv FILE --engine-out DIR --worker-out RESULT.json

Same step as every peer engine there: fit (mean, sample std per numeric column; sorted
vocabulary per categorical), then fill nulls with the mean, standardize, ordinal-encode
(null -> -1) and write zstd Parquet. Fit and transform each run once per partition of the
CSV in worker processes; every partition reads its own byte range of the file. The parts
land in the artifact store; they are hard-linked into ``--engine-out`` so the harness can
fingerprint them like any other engine's output.
"""

from __future__ import annotations

import argparse
import importlib
import json
import multiprocessing
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

import polars as pl

import conveyor as cv

_RUN_IMPORTS = ("pyarrow", "conveyor.engine", "conveyor.store.sql", "conveyor.data")
ID, LABEL = "id", "label"
NUM = [f"num_{i:02d}" for i in range(20)]
CAT = [f"cat_{i:02d}" for i in range(5)]


@cv.step
def load(csv: str) -> cv.Dataset:
    return cv.read_csv(csv)


@cv.step
def fit_part(part: pl.DataFrame) -> pl.DataFrame:
    """Count, mean and sum of squared deviations per numeric column; vocabulary per category."""
    exprs = []
    for c in NUM:
        col = pl.col(c)
        exprs += [
            col.count().alias(f"{c}__n"),
            col.mean().alias(f"{c}__mean"),
            ((col - col.mean()) ** 2).sum().alias(f"{c}__m2"),
        ]
    exprs += [pl.col(c).drop_nulls().unique().implode().alias(f"{c}__vocab") for c in CAT]
    return part.select(exprs)


@cv.step
def combine(partials: cv.Dataset) -> dict[str, object]:
    """Chan's parallel combination of the partitions' moments, and the union of vocabularies."""
    frame = partials.to_polars()
    stats: dict[str, object] = {}
    for c in NUM:
        n = mean = m2 = 0.0
        for nb, mb, m2b in frame.select(f"{c}__n", f"{c}__mean", f"{c}__m2").iter_rows():
            if not nb:
                continue
            delta = mb - mean
            total = n + nb
            mean += delta * nb / total
            m2 += m2b + delta * delta * n * nb / total
            n = total
        stats[f"{c}__mean"] = mean
        stats[f"{c}__std"] = (m2 / (n - 1)) ** 0.5
    for c in CAT:
        values = {v for chunk in frame[f"{c}__vocab"].to_list() for v in chunk}
        stats[f"{c}__vocab"] = sorted(values)
    return stats


@cv.step
def transform_part(part: pl.DataFrame, stats: dict[str, object]) -> pl.DataFrame:
    exprs = [pl.col(ID)]
    for c in NUM:
        m, s = stats[f"{c}__mean"], stats[f"{c}__std"]
        exprs.append(((pl.col(c).fill_null(m) - m) / s).alias(c))
    for c in CAT:
        vocab = list(stats[f"{c}__vocab"])  # type: ignore[call-overload]
        exprs.append(
            pl.col(c).cast(pl.Enum(vocab)).to_physical().cast(pl.Int32).fill_null(-1).alias(c)
        )
    exprs.append(pl.col(LABEL))
    return part.select(exprs)


@cv.pipeline
def transform(csv: str, partitions: int = 0) -> None:
    data = load(csv)
    n = partitions or None
    stats = combine(cv.map(fit_part, data, partitions=n))
    cv.map(transform_part, data, stats, partitions=n)


def _children_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def _self_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--csv", required=True)
    ap.add_argument("--engine-out", required=True)
    ap.add_argument("--worker-out", required=True)
    ap.add_argument("--partitions", type=int, default=0)
    a = ap.parse_args()
    # As the harness does for the peers: what the run imports is imported before the clock
    # starts, and reported apart.
    t0 = time.perf_counter()
    for module in _RUN_IMPORTS:
        importlib.import_module(module)
    import_s = time.perf_counter() - t0
    given = os.environ.get("CONVEYOR_TRANSFORM_HOME")
    home = given or tempfile.mkdtemp(prefix="cv-transform-")
    try:
        _run(a, home, import_s)
    finally:
        if not given:  # the parts live on through their hard links in --engine-out
            shutil.rmtree(home, ignore_errors=True)


def _run(a: argparse.Namespace, home: str, import_s: float) -> None:
    settings = cv.Settings(
        home=Path(home),
        db_url=f"sqlite:///{home}/conveyor.db",
        artifacts=f"{home}/artifacts",
    )
    c0, k0 = _self_cpu(), _children_cpu()
    t0 = time.perf_counter()
    run = transform.run(csv=a.csv, partitions=a.partitions, settings=settings)
    # the worker processes exit with the run; reap them so their CPU time is counted
    deadline = time.monotonic() + 30
    while multiprocessing.active_children() and time.monotonic() < deadline:
        time.sleep(0.01)
    wall = time.perf_counter() - t0
    if run.status != "succeeded":
        print(f"conveyor run failed: {[(s.name, s.error) for s in run.steps]}", file=sys.stderr)
        sys.exit(1)
    dataset = run.outputs["transform_part"]
    out = Path(a.engine_out)
    out.mkdir(parents=True, exist_ok=True)
    root = Path(home) / "artifacts" / "sha256"
    for i, part in enumerate(dataset.partitions):
        digest = part.address[len("sha256:") :]  # type: ignore[attr-defined]
        os.link(root / digest[:2] / digest[2:], out / f"part-{i:05d}.parquet")
    durations = {s.name: round(s.duration, 3) for s in run.steps}
    with open(a.worker_out, "w") as f:
        json.dump(
            {
                "engine": "conveyor",
                "seconds": wall,
                "cpu_s": _self_cpu() - c0 + _children_cpu() - k0,
                "import_s": import_s,
                "phases": {"steps_s": durations, "partitions": len(dataset.partitions)},
                "loadavg_end": os.getloadavg(),
            },
            f,
        )


if __name__ == "__main__":
    main()
