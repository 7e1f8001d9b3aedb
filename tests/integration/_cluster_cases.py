"""What the Dask and Ray executors' tests share: pipelines whose steps run on a cluster's
workers (importable there by module path), and small helpers to read back what a run did."""

from __future__ import annotations

import os
import time
from pathlib import Path

import polars as pl

import conveyor as cv
from conveyor.core._settings import Settings
from conveyor.engine import Run, Workspace
from conveyor.store import StepRunRecord
from tests.serving._servers import free_port as free_port  # the suite's one, for both modules

GREETING = "hello from a worker"


def step_runs(settings: Settings, run: Run) -> dict[str, StepRunRecord]:
    with Workspace.open(settings) as ws:
        return {r.step: r for r in ws.metadata.step_runs(run.id)}


def statuses(run: Run) -> dict[str, str]:
    return {s.name: s.status for s in run.steps}


def wait_for(path: Path, seconds: float = 120) -> None:
    """Until ``path`` exists; the limit only keeps a broken test from hanging the suite."""
    deadline = time.monotonic() + seconds
    while not path.exists():
        if time.monotonic() > deadline:
            raise AssertionError(f"{path} did not appear within {seconds:g}s")
        time.sleep(0.02)


def write_atomically(path: Path, text: str) -> None:
    partial = path.with_suffix(".partial")
    partial.write_text(text)
    partial.rename(path)  # whole, or not at all


# -- a pipeline of a few steps ---------------------------------------------------------------


@cv.step
def numbers(n: int) -> list[int]:
    return list(range(n))


@cv.step(resources=cv.Resources(cpus=1, memory="64MB"))
def squares(values: list[int]) -> list[int]:
    return [v * v for v in values]


@cv.step
def table(values: list[int], squared: list[int]) -> pl.DataFrame:
    return pl.DataFrame({"v": values, "sq": squared})


@cv.step
def total(frame: pl.DataFrame) -> int:
    return int(frame["sq"].sum())


@cv.pipeline
def arithmetic(n: int = 10) -> None:
    values = numbers(n)
    total(table(values, squares(values)))


# -- a step that logs on its worker ----------------------------------------------------------


@cv.step
def train(n: int) -> int:
    cv.log_metric("loss", 0.5)
    print(GREETING)
    return n + 1


@cv.pipeline
def training(n: int = 1) -> None:
    train(n)


# -- a step whose first attempt waits to be killed -------------------------------------------


@cv.step(retries=2, retry_delay=0)
def fragile(folder: str) -> int:
    context = cv.current_run()
    assert context is not None
    if context.attempt == 1:
        write_atomically(Path(folder) / "pid", str(os.getpid()))
        time.sleep(600)  # until the test kills this worker
    return 42


@cv.pipeline
def survivor(folder: str) -> None:
    fragile(folder)


def trial_pid(trial: cv.Trial) -> float:
    cv.log_metric("pid", os.getpid())
    return float(-((trial["x"] - 1.0) ** 2))
