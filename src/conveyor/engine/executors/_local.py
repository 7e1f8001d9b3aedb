"""Local executors: threads in this process (default), or a pool of worker processes.

An executor only runs attempts; caching, lineage and recording stay with the runner, so every
executor behaves the same.
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import functools
import hashlib
import math
import os
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from multiprocessing.context import SpawnContext, SpawnProcess
from typing import Any

from conveyor.core._errors import InsufficientResources
from conveyor.core._resources import Capacity, unplaceable
from conveyor.engine._attempt import Outcome, Task, execute
from conveyor.engine._values import ValueStore
from conveyor.engine.executors._cores import claim_cores, drop_claims, new_claims
from conveyor.engine.executors._environ import environ_lock


@functools.cache  # cores and memory do not change while the process runs
def machine() -> Capacity:
    """This machine as the one worker the local executors place steps on. GPUs are not
    counted (nothing here can see them), so a step asking for some is not refused."""
    try:
        memory: int | None = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        memory = None
    return Capacity("this machine", float(os.cpu_count() or 1), memory, math.inf)


def refused(task: Task) -> Future[Outcome] | None:
    """A failed future when no local worker can give ``task`` its resources."""
    if task.resources is None:
        return None
    reason = unplaceable(task.step, task.resources, [machine()])
    if reason is None:
        return None
    future: Future[Outcome] = Future()
    future.set_exception(InsufficientResources(reason, step=task.step))
    return future


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
        return refused(task) or self._pool.submit(execute, task, self._values)

    def shutdown(self) -> None:
        # a timed-out step's thread cannot be stopped; don't let it hold the run's return
        self._pool.shutdown(wait=False, cancel_futures=True)


# A worker's unpickled step functions by digest of their pickle: the partitions of a mapped
# step share one function, unpickled once per worker.
_functions: dict[bytes, Callable[..., object]] = {}


def execute_pickled(function: bytes, payload: bytes) -> Outcome:
    """An attempt sent as a pickled function (kept per worker) and a pickled task."""
    import cloudpickle

    digest = hashlib.blake2b(function, digest_size=16).digest()
    fn = _functions.get(digest)
    if fn is None:
        fn = _functions[digest] = cloudpickle.loads(function)
    task: Task = cloudpickle.loads(payload)
    return execute(dataclasses.replace(task, fn=fn))


def warm_up() -> None:
    """What every attempt in a worker needs, imported before the first one arrives. The
    modules then stay for the worker's life: frozen, the collector no longer walks them."""
    import gc

    import cloudpickle  # noqa: F401
    import polars  # noqa: F401
    import pyarrow  # noqa: F401

    import conveyor.data._profile_stats  # noqa: F401

    gc.freeze()


# Thread pools of the libraries a step uses (polars, Arrow, BLAS): sized by these variables
# when they are read, at import in a new worker.
THREAD_VARIABLES = (
    "POLARS_MAX_THREADS",
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
)


@contextlib.contextmanager
def _threads_per_worker(threads: int) -> Iterator[None]:
    """Sets each of THREAD_VARIABLES that the environment leaves unset to ``threads`` while
    workers start (they copy this process' environment), and unsets it again afterwards."""
    with environ_lock:
        added = [name for name in THREAD_VARIABLES if name not in os.environ]
        for name in added:
            os.environ[name] = str(threads)
        try:
            yield
        finally:
            for name in added:
                os.environ.pop(name, None)


class _WorkerProcess(SpawnProcess):
    """A pool worker that, once it has done everything a process does on its way out (exit
    handlers, flushed output), ends without tearing the interpreter down: freeing every
    module of polars, Arrow and numpy takes a few hundred milliseconds that nobody waits for
    usefully. Forked workers end this way too."""

    def _bootstrap(self, parent_sentinel: int | None = None) -> int:
        exitcode: int = super()._bootstrap(parent_sentinel)  # type: ignore[misc]
        atexit._run_exitfuncs()
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        os._exit(exitcode)


class _WorkerContext(SpawnContext):
    """spawn: a clean interpreter per worker; forking a process with live threads and open
    database connections is unsafe. Keeps the workers it starts, so that a pool that was
    never given work can be stopped without waiting for their start-up."""

    def __init__(self) -> None:
        super().__init__()
        self.started: list[_WorkerProcess] = []

    # The pool calls ``context.Process(...)``: a method here, where spawn's context has a class.
    def Process(self, *args: Any, **kwargs: Any) -> _WorkerProcess:  # type: ignore[override]
        process = _WorkerProcess(*args, **kwargs)
        self.started.append(process)
        return process


class ProcessExecutor:
    """Steps run in worker processes, for CPU-bound Python; outputs go through the artifact
    store, so values are never copied back through the pipe.

    A worker starts when a task finds none idle, or all of them at once on ``start``. Each
    one gets ``cores / workers`` threads (at least one) for the libraries a step uses, unless
    the environment sets THREAD_VARIABLES: the workers keep every core busy already, and a
    library's threads in each worker would only wait for each other (measured: a tenth more
    CPU time for the same partitions, with polars' default of a thread per core). When the
    workers split the cores evenly, each is pinned to its share of them (``pin=False`` leaves
    them to the scheduler; see ``_cores``).
    """

    in_process = False
    local = True

    def __init__(self, workers: int | None = None, *, pin: bool = True) -> None:
        self.workers = workers or (os.cpu_count() or 1)
        self._context = _WorkerContext()
        self._claims = new_claims(self.workers) if pin else None
        self._pool = ProcessPoolExecutor(
            self.workers,
            mp_context=self._context,
            initializer=functools.partial(claim_cores, *self._claims) if self._claims else None,
        )
        self._threads = max(1, (os.cpu_count() or 1) // self.workers)
        self._started = False
        self._used = False  # an attempt was submitted, not only warm-ups
        self._pickler = TaskPickler()

    def bind(self, values: ValueStore) -> None:
        pass

    def start(self) -> None:
        """Start every worker now, each importing what an attempt needs, and return at once:
        a caller that knows work is coming overlaps their start-up with its own."""
        if self._started:
            return
        self._started = True
        with _threads_per_worker(self._threads):
            # The pool starts a worker per task submitted while none is idle: one each.
            for _ in range(self.workers):
                self._pool.submit(warm_up)

    def submit(self, task: Task) -> Future[Outcome]:
        no = refused(task)
        if no is not None:
            return no
        function, payload = self._pickler.dumps(task)
        self._used = True
        with _threads_per_worker(self._threads):  # it may start a worker
            return self._pool.submit(execute_pickled, function, payload)

    def shutdown(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        drop_claims(self._claims)
        if not self._used:
            # Started ahead of work that never came (every partition was cached): the workers
            # are still importing, and the interpreter's exit would wait for them.
            for process in self._context.started:
                with contextlib.suppress(Exception):
                    process.terminate()


class TaskPickler:
    """Tasks for workers in other processes, as (function, task) pickles. Steps defined in a
    script are pickled by value (cloudpickle), which copies their code and globals (ms each):
    done once per function object, kept so that its id is not reused."""

    def __init__(self) -> None:
        self._pickled: dict[int, tuple[Callable[..., object], bytes]] = {}

    def dumps(self, task: Task) -> tuple[bytes, bytes]:
        import cloudpickle

        known = self._pickled.get(id(task.fn))
        if known is None or known[0] is not task.fn:
            known = self._pickled[id(task.fn)] = (task.fn, cloudpickle.dumps(task.fn))
        return known[1], cloudpickle.dumps(dataclasses.replace(task, fn=unset))


def unset() -> None:
    """The function of a task in transit; the worker puts the real one back."""
