"""The engine's behaviour end to end, on in-memory stores and real threads."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pandas as pd
import pytest

import conveyor as cv
from conveyor.core import RunFinished, StepFinished
from conveyor.engine import Run, Runner, ThreadExecutor, Workspace
from conveyor.testing import InlineExecutor, memory_workspace, settings_for


@pytest.fixture
def ws() -> Iterator[Workspace]:
    workspace = memory_workspace(inline_limit=256)
    yield workspace
    workspace.close()


def run(
    pipe: cv.Pipeline,
    ws: Workspace,
    *,
    no_cache: bool = False,
    hooks: list[object] | None = None,
    targets: list[str] | None = None,
    **params: object,
) -> Run:
    values = pipe.params(params)
    runner = Runner(ws, ThreadExecutor(4), hooks=hooks or [], no_cache=no_cache)
    return runner.run(pipe.build(**values), values, targets=targets)


def statuses(result: Run) -> dict[str, str]:
    return {s.name: s.status for s in result.steps}


@cv.step
def source(n: int) -> list[int]:
    return list(range(n))


@cv.step
def double(xs: list[int]) -> list[int]:
    return [2 * x for x in xs]


@cv.step
def total(xs: list[int], bonus: int = 0) -> int:
    return sum(xs) + bonus


@cv.pipeline
def small(n: int = 4, bonus: int = 0) -> None:
    total(double(source(n)), bonus=bonus)


def test_a_run_returns_outputs_and_step_results(ws: Workspace) -> None:
    result = run(small, ws, n=4)
    assert result.status == "succeeded"
    assert result.outputs["total"] == 12 and result.outputs["double"] == [0, 2, 4, 6]
    assert statuses(result) == {"source": "succeeded", "double": "succeeded", "total": "succeeded"}
    assert all(s.duration >= 0 and s.error is None for s in result.steps)


def test_an_unchanged_rerun_executes_nothing(ws: Workspace) -> None:
    run(small, ws, n=4)
    again = run(small, ws, n=4)
    assert set(statuses(again).values()) == {"cached"}
    assert again.outputs["total"] == 12


def test_changing_a_parameter_reruns_only_the_affected_steps_and_says_why(ws: Workspace) -> None:
    run(small, ws, n=4)
    changed = run(small, ws, n=4, bonus=5)
    assert statuses(changed) == {"source": "cached", "double": "cached", "total": "succeeded"}
    assert changed.step("total").reason == "parameter bonus changed"
    upstream = run(small, ws, n=5, bonus=5)
    assert statuses(upstream) == {
        "source": "succeeded",
        "double": "succeeded",
        "total": "succeeded",
    }
    assert upstream.step("double").reason == "input xs changed"


def test_no_cache_forces_execution(ws: Workspace) -> None:
    run(small, ws)
    forced = run(small, ws, no_cache=True)
    assert set(statuses(forced).values()) == {"succeeded"}
    assert "no-cache" in (forced.step("source").reason or "")


def test_independent_steps_run_at_the_same_time(ws: Workspace) -> None:
    barrier = threading.Barrier(2, timeout=10)

    @cv.step
    def left() -> int:
        barrier.wait()  # only returns once the other branch is running too
        return 1

    @cv.step
    def right() -> int:
        barrier.wait()
        return 2

    @cv.pipeline
    def both() -> None:
        total([left(), right()])

    assert run(both, ws).outputs["total"] == 3


def test_a_step_starts_as_soon_as_its_inputs_exist(ws: Workspace) -> None:
    fast_done = threading.Event()

    @cv.step
    def slow() -> int:
        if not fast_done.wait(10):  # waits for a step that depends only on the fast branch
            raise RuntimeError("the fast branch never ran")
        return 1

    @cv.step
    def fast() -> int:
        return 2

    @cv.step
    def after_fast(x: int) -> int:
        fast_done.set()
        return x

    @cv.pipeline
    def uneven() -> None:
        total([slow(), after_fast(fast())])

    result = run(uneven, ws)
    assert result.status == "succeeded", result.failed_steps


@cv.step
def boom(xs: list[int]) -> list[int]:
    raise ValueError("bad rows")


@cv.pipeline
def failing() -> None:
    data = source(3)
    total(boom(data))
    double(data)  # an independent branch


def test_a_failure_skips_downstream_and_lets_other_branches_finish(ws: Workspace) -> None:
    result = run(failing, ws)
    assert result.status == "failed"
    assert statuses(result) == {
        "source": "succeeded",
        "boom": "failed",
        "total": "skipped",
        "double": "succeeded",
    }
    assert result.step("boom").error == "ValueError: bad rows"
    (record,) = [s for s in ws.metadata.step_runs(result.id) if s.step == "boom"]
    assert "raise ValueError" in (record.traceback or "")
    with pytest.raises(cv.errors.RunFailed, match="failed at step 'boom': ValueError: bad rows"):
        result.raise_for_status()


def test_rerunning_after_a_fix_resumes_from_the_finished_steps(ws: Workspace) -> None:
    attempts: list[int] = []

    @cv.step
    def flaky(xs: list[int]) -> list[int]:
        attempts.append(1)
        if len(attempts) == 1:
            raise OSError("disk hiccup")
        return xs

    @cv.pipeline
    def resumable() -> None:
        total(flaky(double(source(3))))

    assert run(resumable, ws).status == "failed"
    again = run(resumable, ws)
    assert statuses(again) == {
        "source": "cached",
        "double": "cached",
        "flaky": "succeeded",
        "total": "succeeded",
    }


def test_retries_with_backoff_until_success(ws: Workspace) -> None:
    calls: list[float] = []

    @cv.step(retries=2, retry_delay=0.05)
    def shaky() -> int:
        calls.append(time.monotonic())
        if len(calls) < 3:
            raise ConnectionError("try again")
        return 7

    @cv.pipeline
    def retrying() -> None:
        shaky()

    result = run(retrying, ws)
    assert result.status == "succeeded" and result.step("shaky").attempts == 3
    assert calls[2] - calls[1] >= 2 * (calls[1] - calls[0]) * 0.8  # the delay doubles


def test_retries_exhausted_report_every_attempt(ws: Workspace) -> None:
    @cv.step(retries=1, retry_delay=0)
    def always() -> int:
        raise ConnectionError("down")

    @cv.pipeline
    def hopeless() -> None:
        always()

    result = run(hopeless, ws)
    assert result.status == "failed"
    assert result.step("always").attempts == 2
    assert "after 2 attempts" in (result.step("always").error or "")


def test_each_attempt_is_recorded_with_its_worker_and_outcome(ws: Workspace) -> None:
    calls: list[int] = []

    @cv.step(retries=2, retry_delay=0)
    def shaky() -> int:
        calls.append(1)
        if len(calls) < 2:
            raise ConnectionError("try again")
        return 7

    @cv.pipeline
    def retrying() -> None:
        shaky()

    result = run(retrying, ws)
    (record,) = ws.metadata.step_runs(result.id)
    first, second = record.attempt_log
    here = f"{socket.gethostname()}:{os.getpid()}"  # threads: this process
    assert (first.number, first.worker, first.status) == (1, here, "failed")
    assert first.error == "ConnectionError: try again"
    assert (second.number, second.worker, second.status, second.error) == (
        2,
        here,
        "succeeded",
        None,
    )


def test_a_step_asking_more_than_the_machine_has_fails_at_once(ws: Workspace) -> None:
    calls: list[int] = []

    @cv.step(retries=3, retry_delay=0, resources=cv.Resources(cpus=100_000, memory="2GB"))
    def greedy() -> int:
        calls.append(1)
        return 1

    @cv.pipeline
    def hungry() -> None:
        greedy()

    result = run(hungry, ws)
    step = result.step("greedy")
    assert result.status == "failed" and calls == [] and step.attempts == 1
    assert "InsufficientResources: step 'greedy' needs 100000 CPUs" in (step.error or "")
    assert "this machine" in (step.error or "")


def test_a_step_within_the_machine_runs_with_its_resources(ws: Workspace) -> None:
    @cv.step(resources=cv.Resources(cpus=1, memory="1MB"))
    def modest() -> int:
        return 3

    @cv.pipeline
    def fine() -> None:
        modest()

    assert run(fine, ws).status == "succeeded"


def test_a_step_over_its_timeout_fails(ws: Workspace) -> None:
    release = threading.Event()

    @cv.step(timeout=0.2)
    def stuck() -> int:
        release.wait(10)
        return 1

    @cv.pipeline
    def slow_pipe() -> None:
        stuck()

    started = time.monotonic()
    result = run(slow_pipe, ws)
    release.set()
    assert result.status == "failed"
    assert "StepTimeout" in (result.step("stuck").error or "")
    assert time.monotonic() - started < 5


def test_a_step_waiting_for_a_worker_is_not_timed_out_for_the_wait(ws: Workspace) -> None:
    @cv.step(timeout=1.0)
    def patient(i: int) -> int:
        time.sleep(0.4)
        return i

    @cv.pipeline
    def three_at_once() -> None:
        for i in range(3):
            patient.with_options(name=f"patient_{i}")(i)

    # one worker: the last step starts at 0.8 s and ends at 1.2 s, past its 1 s timeout if
    # that counted from when the three became ready
    values = three_at_once.params({})
    result = Runner(ws, ThreadExecutor(1)).run(three_at_once.build(**values), values)
    assert result.status == "succeeded", [s.error for s in result.steps]
    starts = sorted(s.started_at for s in ws.metadata.step_runs(result.id))
    assert starts[2] - starts[0] >= timedelta(seconds=0.75)  # each started when it could run


@cv.step
def split(xs: list[int]) -> tuple[list[int], list[int]]:
    return xs[:2], xs[2:]


def test_tuple_outputs_are_separate_artifacts_and_a_tuple_in_outputs(ws: Workspace) -> None:
    @cv.pipeline
    def parts() -> None:
        head, tail = split(source(5))
        total(tail)
        double(head)

    result = run(parts, ws)
    assert result.outputs["split"] == ([0, 1], [2, 3, 4])
    assert result.outputs["total"] == 9 and result.outputs["double"] == [0, 2]


def test_targets_run_only_what_they_need(ws: Workspace) -> None:
    result = run(failing, ws, targets=["double"])
    assert statuses(result) == {"source": "succeeded", "double": "succeeded"}
    assert result.status == "succeeded"


def test_prints_and_log_records_are_captured_per_step(ws: Workspace) -> None:
    @cv.step
    def chatty() -> int:
        print("hello from the step")
        logging.getLogger("user.code").warning("careful")
        return 1

    @cv.pipeline
    def talk() -> None:
        chatty()

    result = run(talk, ws)
    (record,) = ws.metadata.step_runs(result.id)
    assert "hello from the step" in record.logs
    assert "WARNING user.code: careful" in record.logs


def test_resource_figures_are_recorded(ws: Workspace) -> None:
    @cv.step
    def frame(n: int) -> pd.DataFrame:
        return pd.DataFrame({"a": range(n), "b": [float(i) for i in range(n)]})

    @cv.step
    def head(df: pd.DataFrame) -> pd.DataFrame:
        sum(i * i for i in range(20_000))  # some CPU time
        return df.head(10)

    @cv.pipeline
    def tables() -> None:
        head(frame(1000))

    result = run(tables, ws)
    records = {s.step: s for s in ws.metadata.step_runs(result.id)}
    assert records["frame"].rows_out == 1000 and records["frame"].bytes_out > 0
    assert records["head"].rows_in == 1000 and records["head"].rows_out == 10
    assert records["head"].bytes_in == records["frame"].bytes_out
    assert records["head"].cpu_seconds > 0 and (records["head"].peak_rss_bytes or 0) > 10_000_000
    pd.testing.assert_frame_equal(
        result.outputs["head"],
        pd.DataFrame(  # type: ignore[arg-type]
            {"a": range(10), "b": [float(i) for i in range(10)]}
        ),
    )


def test_hooks_see_every_step_and_the_end(ws: Workspace) -> None:
    seen: list[object] = []

    class Recorder:
        def on_step_finished(self, event: StepFinished) -> None:
            seen.append((event.step, event.status))

        def on_run_finished(self, event: RunFinished) -> None:
            seen.append(("run", event.status))

    run(small, ws, hooks=[Recorder()])
    assert seen == [
        ("source", "succeeded"),
        ("double", "succeeded"),
        ("total", "succeeded"),
        ("run", "succeeded"),
    ]


def test_the_inline_executor_runs_parallel_branches_in_order(ws: Workspace) -> None:
    @cv.pipeline
    def branches() -> None:
        data = source(3)
        total(double(data))
        double(data)

    executor = InlineExecutor()
    result = Runner(ws, executor).run(branches.build(), {})
    assert result.status == "succeeded"
    # the source is alone and runs on the runner's thread; the branches go to the executor
    assert executor.submitted == ["double", "double_2", "total"]


def test_a_wrong_number_of_outputs_fails_the_step(ws: Workspace) -> None:
    @cv.step
    def liar() -> tuple[int, int]:
        return 1  # type: ignore[return-value]

    @cv.pipeline
    def lies() -> None:
        liar()

    result = run(lies, ws)
    assert "declares 2 outputs" in (result.step("liar").error or "")


def test_a_cache_hit_whose_artifact_was_deleted_runs_again(tmp_path: Path) -> None:
    settings = settings_for(tmp_path).with_changes(inline_limit=8)  # lists go to files
    with Workspace.open(settings) as workspace:
        run(small, workspace, n=50)
        for blob in (tmp_path / "artifacts").rglob("*"):
            if blob.is_file():
                blob.unlink()
        again = run(small, workspace, n=50)
    assert again.status == "succeeded"
    assert again.step("source").reason == "cached outputs are missing from the artifact store"
    assert again.outputs["total"] == 2 * sum(range(50))


def test_a_nul_character_in_output_or_an_error_is_stored_replaced(ws: Workspace) -> None:
    # every metadata store refuses NUL in text; a step's output must not lose its run
    @cv.step
    def noisy() -> int:
        print("before\x00after")
        raise ValueError("bad\x00byte")

    @cv.pipeline
    def nul() -> None:
        noisy()

    finished = run(nul, ws)
    assert finished.status == "failed"
    (record,) = ws.metadata.step_runs(finished.id)
    assert "before\ufffdafter" in record.logs
    assert record.error == "ValueError: bad\ufffdbyte"
    assert record.traceback is not None and "\x00" not in record.traceback
