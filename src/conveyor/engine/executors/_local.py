"""Local executors: threads in this process (default), or a pool of worker processes.

An executor only runs attempts; caching, lineage and recording stay with the runner, so every
executor behaves the same.
"""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor

from conveyor.engine._attempt import Outcome, Task, execute
from conveyor.engine._values import ValueStore


def default_workers() -> int:
    return max(4, os.cpu_count() or 1)


class ThreadExecutor:
    """Steps run in threads of this process; inputs and outputs pass as Python objects."""

    in_process = True

    def __init__(self, workers: int | None = None) -> None:
        self.workers = workers or default_workers()
        self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="conveyor-step")
        self._values: ValueStore | None = None

    def bind(self, values: ValueStore) -> None:
        self._values = values

    def submit(self, task: Task) -> Future[Outcome]:
        return self._pool.submit(execute, task, self._values)

    def shutdown(self) -> None:
        # a timed-out step's thread cannot be stopped; don't let it hold the run's return
        self._pool.shutdown(wait=False, cancel_futures=True)


def _execute_pickled(payload: bytes) -> Outcome:
    import cloudpickle

    task: Task = cloudpickle.loads(payload)
    return execute(task)


class ProcessExecutor:
    """Steps run in worker processes, for CPU-bound Python; outputs go through the artifact
    store, so values are never copied back through the pool's pipe."""

    in_process = False

    def __init__(self, workers: int | None = None) -> None:
        self.workers = workers or (os.cpu_count() or 1)
        # spawn: a clean interpreter per worker; forking a process with live threads and open
        # database connections is unsafe
        context = multiprocessing.get_context("spawn")
        self._pool = ProcessPoolExecutor(self.workers, mp_context=context)

    def bind(self, values: ValueStore) -> None:
        pass

    def submit(self, task: Task) -> Future[Outcome]:
        import cloudpickle  # steps defined in a script are pickled by value, not by import path

        return self._pool.submit(_execute_pickled, cloudpickle.dumps(task))

    def shutdown(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
