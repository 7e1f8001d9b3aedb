"""Local executors: threads in this process (default), or a pool of worker processes.

An executor only runs attempts; caching, lineage and recording stay with the runner, so every
executor behaves the same.
"""

from __future__ import annotations

import dataclasses
import hashlib
import multiprocessing
import os
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor

from conveyor.engine._attempt import Outcome, Task, execute
from conveyor.engine._values import ValueStore


def default_workers() -> int:
    return max(4, os.cpu_count() or 1)


class ThreadExecutor:
    """Steps run in threads of this process; inputs and outputs pass as Python objects."""

    in_process = True
    local = True  # workers share this machine's disk

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


# A worker's unpickled step functions by digest of their pickle: the partitions of a mapped
# step share one function, unpickled once per worker.
_functions: dict[bytes, Callable[..., object]] = {}


def _execute_pickled(function: bytes, payload: bytes) -> Outcome:
    import cloudpickle

    digest = hashlib.blake2b(function, digest_size=16).digest()
    fn = _functions.get(digest)
    if fn is None:
        fn = _functions[digest] = cloudpickle.loads(function)
    task: Task = cloudpickle.loads(payload)
    return execute(dataclasses.replace(task, fn=fn))


class ProcessExecutor:
    """Steps run in worker processes, for CPU-bound Python; outputs go through the artifact
    store, so values are never copied back through the pool's pipe."""

    in_process = False
    local = True

    def __init__(self, workers: int | None = None) -> None:
        self.workers = workers or (os.cpu_count() or 1)
        # spawn: a clean interpreter per worker; forking a process with live threads and open
        # database connections is unsafe
        context = multiprocessing.get_context("spawn")
        self._pool = ProcessPoolExecutor(self.workers, mp_context=context)
        # Pickling a step function defined in a script copies its code and globals (ms each):
        # done once per function object, which is kept so that its id is not reused.
        self._pickled: dict[int, tuple[Callable[..., object], bytes]] = {}

    def bind(self, values: ValueStore) -> None:
        pass

    def submit(self, task: Task) -> Future[Outcome]:
        import cloudpickle  # steps defined in a script are pickled by value, not by import path

        known = self._pickled.get(id(task.fn))
        if known is None or known[0] is not task.fn:
            known = self._pickled[id(task.fn)] = (task.fn, cloudpickle.dumps(task.fn))
        payload = cloudpickle.dumps(dataclasses.replace(task, fn=_unset))
        return self._pool.submit(_execute_pickled, known[1], payload)

    def shutdown(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def _unset() -> None:
    """The function of a task in transit; the worker puts the real one back."""
