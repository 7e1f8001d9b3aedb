"""The Dask executor: step attempts run on the workers of a Dask cluster, a ``LocalCluster``
started for the run or a scheduler at an address.

Only attempts travel: the pickled step function and task go to a worker, which reads its
inputs from and writes its outputs to the artifact store, and sends back a small ``Outcome``.
Dask's own failures are translated here into conveyor's (``WorkerLost``, ``ExecutorLost``,
``InsufficientResources``); retries, caching and records stay with the runner. Dask and
distributed are imported inside the methods, so conveyor imports without the extra.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import dataclasses
import logging
import os
import threading
import time
import uuid
from collections.abc import Mapping
from concurrent.futures import Executor as FuturesExecutor
from concurrent.futures import Future
from typing import Any

from conveyor.core import Resources
from conveyor.core._errors import (
    ConfigurationError,
    ConveyorError,
    ExecutorLost,
    InsufficientResources,
    StepFailed,
    WorkerLost,
)
from conveyor.core._resources import Capacity, unplaceable
from conveyor.engine._attempt import Outcome, Task
from conveyor.engine._values import ValueStore
from conveyor.engine.executors._cores import Claims, claim_cores, drop_claims, new_claims
from conveyor.engine.executors._environ import Changes, changes_noted, restore
from conveyor.engine.executors._local import TaskPickler, execute_pickled, warm_up

CONNECT_TIMEOUT = 10.0  # seconds to reach the scheduler, and to try again once it went away
_CAPACITY_TTL = 5.0  # seconds a view of the workers' capacities is reused: they rarely change
_CLOSE_TIMEOUT = 5.0


def attempt_on_worker(function: bytes, payload: bytes) -> Outcome:
    """One attempt on a Dask worker, which names itself by its address in the outcome."""
    from distributed.worker import get_worker

    outcome = execute_pickled(function, payload)
    return dataclasses.replace(outcome, worker=get_worker().address)


async def _warm_up_worker() -> None:
    """``warm_up`` in a worker, beside its event loop rather than on it: the imports take a
    second, in which the worker keeps answering its scheduler."""
    import asyncio

    await asyncio.get_running_loop().run_in_executor(None, warm_up)


@dataclasses.dataclass(frozen=True, slots=True)
class _Capacities:
    workers: list[Capacity]
    declared: frozenset[str]  # resource names some worker declares: "CPU", "MEMORY", "GPU"
    threads: int
    read_at: float


class DaskExecutor:
    """Runs each step attempt as a Dask task.

    Without ``address`` it starts a ``LocalCluster`` of worker processes on this machine
    (``workers`` of them, default one per core, one thread each), without a dashboard, and
    closes it on ``shutdown``; the workers keep freed memory rather than trimming it at once,
    and this process' environment is left as it was (a nanny writes its workers' variables
    into it). Each worker declares the Dask resources ``CPU`` (its threads)
    and ``MEMORY`` (its memory limit in bytes), so a step's ``cv.Resources`` hold a share of
    it while it runs; the scheduler allows no failures, so a worker that dies running an
    attempt fails that attempt at once (``WorkerLost``) and the engine retries it within the
    step's ``retries``, recording each attempt.

    With ``address`` (``tcp://host:8786``) it joins that scheduler. ``workers``, if given,
    caps how many attempts run at once; else it is the cluster's worker threads. The
    scheduler's ``distributed.scheduler.allowed-failures`` (default 3) then governs how often
    Dask re-runs a task whose worker died before the engine hears of it: set it to 0 on the
    scheduler to have every lost attempt counted and retried by the engine. The workers must
    reach the run's artifact store (s3://, or a folder they all mount at the same path) and
    import the modules the steps are defined in.

    A step's ``cv.Resources`` is checked against the workers' threads, memory limits and
    declared resources (``CPU``, ``MEMORY``, ``GPU``); a step no worker can take fails with
    ``InsufficientResources`` without being sent. Resources the workers declare are required
    of the Dask task, so the scheduler places it on a worker that has them free.

    Args:
        address: the scheduler to join; None starts a local cluster.
        workers: local: how many worker processes; with an address: the most attempts at once.
        connect_timeout: seconds to wait for the scheduler before giving up.
        pin: local cluster whose workers split the machine's cores evenly: each worker claims
            its own share of them as the executor starts (see ``_cores``); False leaves them
            free.
        **cluster_options: more ``distributed.LocalCluster`` options (local cluster only).

    Raises:
        ConfigurationError: distributed is not installed, or the scheduler cannot be reached.
    """

    in_process = False  # values pass between steps through the artifact store

    def __init__(
        self,
        address: str | None = None,
        *,
        workers: int | None = None,
        connect_timeout: float = CONNECT_TIMEOUT,
        pin: bool = True,
        **cluster_options: Any,
    ) -> None:
        try:
            from distributed.client import Client
        except ImportError:
            raise ConfigurationError(
                "the Dask executor needs distributed: pip install 'conveyor[dask]'"
            ) from None
        if address is not None and cluster_options:
            raise ConfigurationError(
                f"cluster options ({', '.join(sorted(cluster_options))}) are for the local "
                f"cluster, not a scheduler at an address ({address})",
                address=address,
            )
        if workers is not None and workers < 1:
            raise ConfigurationError(f"workers must be at least 1, got {workers}", workers=workers)
        if address is not None:
            _check_address(address)
        self.local = address is None
        self._cluster: Any = None
        self._leaked: Changes = {}  # what the nanny wrote into this process' environment
        self._cores: Claims | None = None
        if address is None:
            self._cluster, self._leaked = _start_cluster(workers, cluster_options)
            address = str(self._cluster.scheduler_address)
            self._cores = new_claims(len(self._cluster.workers)) if pin else None
            workers = None  # the cluster's threads, which ``workers`` already sized
        self.address = address
        self._cap = workers
        self._lock = threading.Lock()
        self._lost: str | None = None  # why the scheduler is gone, once it is
        self._closed = False
        self._started = False
        self._pickler = TaskPickler()
        connect: Any = Client  # untyped constructor
        try:
            self._client: Any = connect(
                # a local cluster's client shares its event loop: the scheduler's and the
                # client's messages need no hand-off between two loop threads
                self._cluster if self.local else address,
                timeout=connect_timeout,
                set_as_default=False,
                # the attempt's outcome comes straight from the worker that made it
                direct_to_workers=True if self.local else None,
            )
        except OSError as exc:  # refused, or timed out
            self._close_cluster()
            raise ConfigurationError(
                f"cannot reach the Dask scheduler at {address} "
                f"(waited {connect_timeout:g}s): {exc}",
                address=address,
            ) from exc
        except BaseException:
            self._close_cluster()
            raise
        self._capacities: _Capacities | None = None
        self.workers = 1
        with contextlib.suppress(Exception):  # a scheduler lost this early fails the submits
            self._refresh()
        if self._cores is not None:  # one round trip, before any attempt, whatever the run
            with contextlib.suppress(Exception):  # unpinned workers still run attempts
                self._client.run(claim_cores, *self._cores)

    # -- the Executor protocol -------------------------------------------------------------

    def bind(self, values: ValueStore) -> None:
        pass

    def start(self) -> None:
        """Have every worker import what an attempt needs now, and return at once: a caller
        that knows work is coming (the partitions of a map) overlaps that with its own."""
        if self._started or self._closed:
            return
        self._started = True
        # the call waits for every worker's answer (half a second): a thread of its own
        threading.Thread(target=self._warm_up, name="conveyor-dask-warm-up", daemon=True).start()

    def _warm_up(self) -> None:
        with contextlib.suppress(Exception):  # only a head start: an attempt imports them too
            self._client.run(_warm_up_worker, wait=False)

    def submit(self, task: Task) -> Future[Outcome]:
        result: Future[Outcome] = Future()
        try:
            self._submit(task, result)
        except BaseException as exc:  # submit never raises: a failure is the future's
            _settle(result, exception=self._translate(task.step, exc))
        return result

    def shutdown(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
        with contextlib.suppress(Exception):
            self._client.close(timeout=_CLOSE_TIMEOUT)
        self._close_cluster()

    def __enter__(self) -> DaskExecutor:
        return self

    def __exit__(self, *_: object) -> None:
        self.shutdown()

    def pool(self) -> FuturesExecutor:
        """The cluster as a ``concurrent.futures`` executor of plain calls (``cv.tune``'s
        trials), each a Dask future."""
        pool: FuturesExecutor = self._client.get_executor(pure=False)
        return pool

    # -- submitting ------------------------------------------------------------------------

    def _submit(self, task: Task, result: Future[Outcome]) -> None:
        client = self._client
        if self._lost is None and self._client_lost():
            self._mark_lost(f"the client is {client.status}")
        if self._lost is not None or self._closed:
            _settle(result, exception=self._lost_error())
            return
        restrictions: dict[str, float] | None = None
        if task.resources is not None:
            capacities = self._capacities_now()
            reason = unplaceable(task.step, task.resources, capacities.workers)
            if reason is not None:
                _settle(
                    result,
                    exception=InsufficientResources(
                        reason, step=task.step, resources=task.resources.describe()
                    ),
                )
                return
            restrictions = _required(task.resources, capacities.declared)
        function, payload = self._pickler.dumps(task)
        remote = client.submit(
            attempt_on_worker,
            function,
            payload,
            key=f"{task.step}-{uuid.uuid4().hex}",
            pure=False,
            resources=restrictions,
        )
        # awaited on the client's event loop: no thread of its own, no extra hop per attempt
        client.loop.add_callback(self._deliver, task.step, remote, result)
        if self._client_lost():  # lost between the check and the send: it would never end
            self._mark_lost(f"the client is {client.status}")
            _settle(result, exception=self._lost_error())

    async def _deliver(self, step: str, remote: Any, result: Future[Outcome]) -> None:
        """Wait for the attempt's Dask future, then complete ``result`` with its outcome or
        its failure translated. Runs on the client's event loop, so it must not block."""
        try:
            outcome = await self._client.gather(remote, asynchronous=True)
        except BaseException as exc:
            _settle(result, exception=self._translate(step, exc, remote.status))
        else:
            _settle(result, outcome=outcome)

    # -- failures --------------------------------------------------------------------------

    def _translate(self, step: str, exc: BaseException, status: str | None = None) -> BaseException:
        """A Dask failure as conveyor's error. ``status``: the Dask future's, when the failure
        is its own ("error": raised on the worker), None when it happened here."""
        from distributed.comm.core import CommClosedError
        from distributed.scheduler import KilledWorker

        if isinstance(exc, ConveyorError):
            return exc
        if self._closed:
            return self._lost_error()
        if isinstance(exc, KilledWorker):
            worker = str(getattr(exc.last_worker, "address", exc.last_worker))
            return WorkerLost(
                f"step {step!r}: the Dask worker {worker} died or left the cluster "
                "while running it",
                step=step,
                worker=worker,
            )
        if status == "error":  # raised on the worker around the attempt, not by the step
            return StepFailed(
                f"step {step!r} could not run on the Dask worker: {type(exc).__name__}: {exc}",
                step=step,
                error=f"{type(exc).__name__}: {exc}",
            )
        cancelled = isinstance(exc, concurrent.futures.CancelledError)
        if (
            self._client_lost()
            or (cancelled and "connection-lost" in str(exc))
            or (not cancelled and isinstance(exc, CommClosedError | OSError))
        ):
            reason = getattr(exc, "reason", None)  # a cancelled future's, from the client
            self._mark_lost(
                f"the connection closed ({reason})" if reason else f"{type(exc).__name__}: {exc}"
            )
            return self._lost_error()
        if status == "finished":  # it ran, but its outcome could not be fetched
            return WorkerLost(
                f"step {step!r}: its outcome could not be fetched from the Dask worker: "
                f"{type(exc).__name__}: {exc}",
                step=step,
                worker="",
            )
        if cancelled:
            return StepFailed(
                f"step {step!r}: its Dask task was cancelled on the cluster: {exc}", step=step
            )
        return StepFailed(
            f"step {step!r} could not run on the Dask cluster: {type(exc).__name__}: {exc}",
            step=step,
            error=f"{type(exc).__name__}: {exc}",
        )

    def _client_lost(self) -> bool:
        return str(self._client.status) not in ("running", "newly-created")

    def _mark_lost(self, reason: str) -> None:
        with self._lock:
            if self._lost is None:
                self._lost = reason.strip().splitlines()[0] if reason.strip() else "unknown"

    def _lost_error(self) -> ExecutorLost:
        if self._lost is None:
            return ExecutorLost(f"the Dask executor for {self.address} was shut down")
        return ExecutorLost(
            f"lost the Dask scheduler at {self.address}: {self._lost}", address=self.address
        )

    # -- workers' capacities ---------------------------------------------------------------

    def _capacities_now(self) -> _Capacities:
        known = self._capacities
        if known is None or time.monotonic() - known.read_at > _CAPACITY_TTL:
            known = self._refresh()
        return known

    def _refresh(self) -> _Capacities:
        info: Mapping[str, Any] = self._client.scheduler_info(n_workers=-1)
        capacities = _capacities_of(info.get("workers", {}))
        self._capacities = capacities
        threads = max(1, capacities.threads)
        self.workers = min(threads, self._cap) if self._cap else threads
        return capacities

    def _close_cluster(self) -> None:
        drop_claims(self._cores)
        if self._cluster is not None:
            with contextlib.suppress(Exception):
                self._cluster.close(timeout=_CLOSE_TIMEOUT)
            restore(self._leaked)


def _settle(
    result: Future[Outcome],
    *,
    outcome: Outcome | None = None,
    exception: BaseException | None = None,
) -> None:
    """Complete ``result`` unless it already is (a late answer after a failure is dropped)."""
    with contextlib.suppress(concurrent.futures.InvalidStateError):
        if exception is not None:
            result.set_exception(exception)
        else:
            assert outcome is not None
            result.set_result(outcome)


def _check_address(address: str) -> None:
    """Reject a malformed address before a client is made for it: a client that fails on its
    address, not on connecting, is left half open and blocks whoever collects it."""
    from distributed.comm.addressing import get_address_host_port, parse_address

    try:
        if parse_address(address)[0] != "inproc":  # in-process addresses have no port
            get_address_host_port(address)
    except ValueError as exc:
        raise ConfigurationError(
            f"{address!r} is not a Dask scheduler address (such as tcp://host:8786): {exc}",
            address=address,
        ) from None


def _start_cluster(workers: int | None, options: Mapping[str, Any]) -> tuple[Any, Changes]:
    import dask
    from distributed.deploy.local import LocalCluster
    from distributed.worker_memory import parse_memory_limit

    settings: dict[str, Any] = {
        "n_workers": workers or os.cpu_count() or 1,
        "threads_per_worker": 1,
        "processes": True,
        # The scheduler serves its HTTP routes whatever the dashboard: on a free port, not
        # Dask's 8787, which another cluster on this machine may hold; no dashboard itself.
        "dashboard_address": "127.0.0.1:0",
        "silence_logs": logging.CRITICAL,  # a lost worker is the engine's to report
        "host": "127.0.0.1",
        **options,
    }
    n_workers = int(settings["n_workers"])
    threads = int(settings["threads_per_worker"])
    memory = parse_memory_limit(
        settings.get("memory_limit", "auto"),
        threads,
        total_cores=max(1, n_workers * threads),
        logger=logging.getLogger("distributed.worker_memory"),
    )
    settings["memory_limit"] = memory or 0
    if "resources" not in options:
        declared: dict[str, float] = {"CPU": threads}
        if memory:
            declared["MEMORY"] = memory
        settings["resources"] = declared
    settings["scheduler_kwargs"] = {
        "allowed_failures": 0,
        "dashboard": False,
        **settings.get("scheduler_kwargs", {}),
    }
    config: dict[str, object] = {
        "distributed.comm.timeouts.connect": f"{CONNECT_TIMEOUT:g}s",
        # Dask asks glibc to hand freed memory back at once (64 KiB); the steps' numpy and
        # Python allocations then page-fault again and again: measured, a dataframe step's
        # partition took a quarter longer. Set the variable in the environment to keep it.
        "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None,
        # Each worker samples its task thread's stack every 10 ms for the dashboard, which
        # this cluster does not have; the sampler's turns at the GIL slow Python-heavy steps.
        "distributed.worker.profile.enabled": False,
        # Every scheduler, nanny and worker times its event loop 50 times a second, to warn
        # of a blocked loop (logs this cluster silences): measured, two thirds of an idle
        # 2-worker cluster's CPU, taken from the steps when every core runs one.
        "distributed.admin.tick.interval": "1s",
        # Each nanny reads its worker's memory 10 times a second, and every server its
        # machine's counters twice a second: measured, more than half of the rest of an idle
        # cluster's CPU. Twice a second still stops a worker that outgrows its limit.
        "distributed.worker.memory.monitor-interval": "500ms",
        "distributed.admin.system-monitor.interval": "2s",
    }
    if "POLARS_MAX_THREADS" not in os.environ:
        # polars, like the BLAS libraries Dask already limits, gets its worker's threads: a
        # thread per core in every worker would only make them wait for each other
        config["distributed.nanny.pre-spawn-environ.POLARS_MAX_THREADS"] = str(threads)
    leaked: Changes = {}
    try:
        with dask.config.set(config), changes_noted() as leaked:
            start: Any = LocalCluster  # untyped constructor
            cluster = start(**settings)
    except (OSError, TimeoutError) as exc:
        raise ConfigurationError(f"could not start a local Dask cluster: {exc}") from exc
    finally:
        restore(leaked)  # the workers have their copy; a nanny restarting one writes it again
    return cluster, leaked


def _capacities_of(workers: Mapping[str, Mapping[str, Any]]) -> _Capacities:
    declared = frozenset(
        name for info in workers.values() for name in (info.get("resources") or {})
    )
    capacities = []
    threads = 0
    for address, info in workers.items():
        nthreads = int(info.get("nthreads") or 0)
        threads += nthreads
        own: Mapping[str, float] = info.get("resources") or {}
        # a resource some worker declares is one a worker without it does not have
        cpus = own.get("CPU", 0) if "CPU" in declared else nthreads
        limit = int(info.get("memory_limit") or 0) or None
        memory = int(own.get("MEMORY", 0)) if "MEMORY" in declared else limit
        capacities.append(Capacity(name=address, cpus=cpus, memory=memory, gpus=own.get("GPU", 0)))
    return _Capacities(capacities, declared, threads, time.monotonic())


def _required(need: Resources, declared: frozenset[str]) -> dict[str, float] | None:
    """The Dask resources an attempt holds while it runs: those the workers declare."""
    wanted: dict[str, float] = {"CPU": need.cpus, "GPU": need.gpus}
    if need.memory is not None:
        wanted["MEMORY"] = need.memory
    required = {name: amount for name, amount in wanted.items() if name in declared and amount}
    return required or None
