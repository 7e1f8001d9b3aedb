"""Where the partitions of a map run: each worker's process and the cores it may use."""

from __future__ import annotations

import os
from pathlib import Path

import polars as pl

import conveyor as cv


@cv.step
def cores_of_worker(part: pl.DataFrame) -> pl.DataFrame:
    cores = ",".join(map(str, sorted(os.sched_getaffinity(0))))
    return pl.DataFrame({"pid": [os.getpid()], "cores": [cores]})


@cv.pipeline
def where_partitions_run(path: str) -> None:
    cv.map(cores_of_worker, cv.read_csv(path), partitions=8)


def splits_in_two() -> bool:
    """Whether this process's allowed cores split evenly between two workers."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 0
    return cores >= 2 and cores % 2 == 0


def rows(path: Path) -> str:
    path.write_text("a\n" + "".join(f"{i}\n" for i in range(64)))
    return str(path)


def cores_by_worker(run: cv.Run) -> dict[int, set[int]]:
    """Each worker process that ran a partition, and the one set of cores it was allowed."""
    assert run.status == "succeeded", run.failed_steps
    frame = run.outputs["cores_of_worker"].to_polars()
    seen = frame.group_by("pid").agg(pl.col("cores").unique())
    assert all(len(cores) == 1 for cores in seen["cores"])  # a worker stays where it is put
    return {
        pid: {int(c) for c in cores[0].split(",")}
        for pid, cores in zip(seen["pid"], seen["cores"], strict=True)
    }


def assert_pinned_apart(by_worker: dict[int, set[int]], workers: int) -> None:
    """Each worker on its own share of the allowed cores, no two sharing one."""
    allowed = os.sched_getaffinity(0)
    share = len(allowed) // workers
    assert by_worker
    assert all(len(cores) == share and cores <= allowed for cores in by_worker.values())
    claimed = [core for cores in by_worker.values() for core in cores]
    assert len(claimed) == len(set(claimed))
