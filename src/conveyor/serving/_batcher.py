"""Adaptive micro-batching: concurrent requests for one model become one predict call.

One batch per model is predicted at a time, on a thread of its own, so the event loop keeps
reading requests meanwhile; whatever queued up during a predict goes into the next one. A
request that finds the model idle is predicted at once unless other requests are still being
read, in which case it waits for them up to ``max_latency``: a lone client pays nothing for
batching, and under load batches fill by themselves.

If a batch fails, its requests are predicted one by one, so one client's bad input fails only
that client's request.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from conveyor.serving._frames import model_input
from conveyor.serving._models import LoadedVersion
from conveyor.serving._rows import Rows


@dataclass(frozen=True, slots=True)
class Prediction:
    """What one request gets back."""

    version: int
    outputs: list[Any]
    probabilities: list[list[float]] | None
    classes: tuple[Any, ...]
    queue_seconds: float
    batch_rows: int
    # a binary classifier's probability of its second class, for the prediction log
    scores: list[float] | None = None


@dataclass(frozen=True, slots=True)
class BatchStats:
    name: str
    version: int
    rows: int
    requests: int
    queue_seconds: tuple[float, ...]  # per request: from enqueued to its batch starting
    predict_seconds: float
    outputs: Any  # the batch's predictions, for counting them by class or value


class PredictionFailed(Exception):
    """The model raised on a request's rows (the others of its batch were predicted)."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__(f"{type(cause).__name__}: {cause}")
        self.cause = cause


@dataclass(slots=True)
class _Job:
    loaded: LoadedVersion
    rows: Rows
    proba: bool
    enqueued: float
    future: asyncio.Future[Prediction]
    scores: bool = False


class Batcher:
    def __init__(
        self,
        name: str,
        *,
        max_batch_size: int,
        max_latency_s: float,
        arriving: Callable[[], int],
        on_batch: Callable[[BatchStats], None] | None = None,
    ) -> None:
        self.name = name
        self.max_batch_size = max_batch_size
        self.max_latency_s = max_latency_s
        self._arriving = arriving
        self._on_batch = on_batch
        self._queue: deque[_Job] = deque()
        self._queued_rows = 0
        self._more = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._executor = ThreadPoolExecutor(1, thread_name_prefix=f"predict-{name}")

    async def submit(
        self, loaded: LoadedVersion, rows: Rows, *, proba: bool = False, scores: bool = False
    ) -> Prediction:
        """``loaded``'s prediction of ``rows``, batched with other requests; with ``proba``
        the class probabilities, with ``scores`` the second class's probability of a binary
        classifier."""
        loop = asyncio.get_running_loop()
        job = _Job(loaded, rows, proba, time.perf_counter(), loop.create_future(), scores)
        self._queue.append(job)
        self._queued_rows += len(rows)
        self._more.set()
        if self._task is None or self._task.done():
            self._task = loop.create_task(self._drain(), name=f"batcher-{self.name}")
        return await job.future

    async def close(self) -> None:
        """Finish what is queued, then release the predict thread."""
        if self._task is not None:
            await self._task
        self._executor.shutdown(wait=True)

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        while self._queue:
            await self._wait_for_more()
            jobs = self._take()
            started = time.perf_counter()
            try:
                results = await loop.run_in_executor(self._executor, _predict, jobs)
            except BaseException as exc:  # the executor itself failed: nothing was predicted
                for job in jobs:
                    if not job.future.done():
                        job.future.set_exception(exc)
                raise
            finished = time.perf_counter()
            for job, result in zip(jobs, results, strict=True):
                if job.future.done():  # the client went away
                    continue
                if isinstance(result, BaseException):
                    job.future.set_exception(result)
                else:
                    job.future.set_result(result)
            self._report(jobs, results, started, finished)

    async def _wait_for_more(self) -> None:
        """While requests are still being read, give them until the oldest queued request
        has waited ``max_latency`` to join the batch."""
        deadline = self._queue[0].enqueued + self.max_latency_s
        while self._queued_rows < self.max_batch_size and self._arriving() > 0:
            timeout = deadline - time.perf_counter()
            if timeout <= 0:
                return
            self._more.clear()
            try:
                await asyncio.wait_for(self._more.wait(), timeout)
            except TimeoutError:
                return

    def _take(self) -> list[_Job]:
        jobs = [self._queue.popleft()]
        rows = len(jobs[0].rows)
        while self._queue and rows + len(self._queue[0].rows) <= self.max_batch_size:
            job = self._queue.popleft()
            jobs.append(job)
            rows += len(job.rows)
        self._queued_rows -= rows
        return jobs

    def _report(
        self,
        jobs: list[_Job],
        results: list[Prediction | BaseException],
        started: float,
        finished: float,
    ) -> None:
        if self._on_batch is None:
            return
        outputs = [o for r in results if isinstance(r, Prediction) for o in r.outputs]
        self._on_batch(
            BatchStats(
                name=self.name,
                version=jobs[-1].loaded.version,
                rows=sum(len(j.rows) for j in jobs),
                requests=len(jobs),
                queue_seconds=tuple(started - j.enqueued for j in jobs),
                predict_seconds=finished - started,
                outputs=outputs,
            )
        )


def _predict(jobs: list[_Job]) -> list[Prediction | BaseException]:
    """Runs on the model's thread: one predict per group of jobs that share a version,
    columns and kind of answer (nearly always one group)."""
    started = time.perf_counter()
    groups: dict[tuple[int, bool, bool, tuple[str, ...] | None], list[int]] = {}
    for i, job in enumerate(jobs):
        key = (job.loaded.version, job.proba, job.scores, job.rows.columns)
        groups.setdefault(key, []).append(i)
    results: list[Prediction | BaseException] = [RuntimeError("not predicted")] * len(jobs)
    for members in groups.values():
        group = [jobs[i] for i in members]
        try:
            answers = _predict_group(group, started)
        except Exception as exc:
            if len(group) == 1:
                answers = [PredictionFailed(exc)]
            else:  # find whose rows the model refuses; the others still get answers
                answers = [_one(job, started) for job in group]
        for i, answer in zip(members, answers, strict=True):
            results[i] = answer
    return results


def _one(job: _Job, started: float) -> Prediction | BaseException:
    try:
        return _predict_group([job], started)[0]
    except Exception as exc:
        return PredictionFailed(exc)


def _predict_group(group: list[_Job], started: float) -> list[Prediction | BaseException]:
    loaded = group[0].loaded
    rows = [row for job in group for row in job.rows.rows]
    data = model_input(group[0].rows.columns, rows, loaded.signature)
    probabilities = scores = None
    if group[0].proba or group[0].scores:
        labels, proba = loaded.predictor.predict_with_proba(data)
        outputs = labels.tolist()
        probabilities = proba.tolist() if group[0].proba else None
        scores = proba[:, -1].tolist() if group[0].scores else None
    else:
        outputs = loaded.predictor.predict(data).tolist()
    if len(outputs) != len(rows):
        raise ValueError(f"the model returned {len(outputs)} predictions for {len(rows)} rows")
    answers: list[Prediction | BaseException] = []
    at = 0
    for job in group:
        n = len(job.rows)
        answers.append(
            Prediction(
                version=loaded.version,
                outputs=outputs[at : at + n],
                probabilities=None if probabilities is None else probabilities[at : at + n],
                classes=loaded.classes,
                queue_seconds=started - job.enqueued,
                batch_rows=len(rows),
                scores=None if scores is None else scores[at : at + n],
            )
        )
        at += n
    return answers
