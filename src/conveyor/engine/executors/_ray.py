"""The Ray executor: step attempts run as Ray tasks, on a Ray instance started for the run or
on a cluster joined by address.

Only attempts travel: the pickled step function and task go to a Ray worker, which reads its
inputs from and writes its outputs to the artifact store, and sends back a small ``Outcome``.
Ray's own failures are translated here into conveyor's (``WorkerLost``, ``ExecutorLost``,
``InsufficientResources``); retries, caching and records stay with the runner. Ray is imported
inside the methods, so conveyor imports without the extra.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import shutil
import sys
import tempfile
import threading
import time
import traceback
import weakref
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Executor as FuturesExecutor
from concurrent.futures import Future, InvalidStateError
from typing import Any, ParamSpec, TypeVar

from conveyor.core import Resources
from conveyor.core._errors import (
    ConfigurationError,
    ConveyorError,
    ExecutorLost,
    InsufficientResources,
    WorkerLost,
)
from conveyor.core._resources import Capacity, unplaceable
from conveyor.engine._attempt import Outcome, Task
from conveyor.engine._values import ValueStore
from conveyor.engine.executors._cores import Claims, new_claims
from conveyor.engine.executors._environ import Changes, changes_noted, restore
from conveyor.engine.executors._local import TaskPickler
from conveyor.engine.executors._ray_cluster import (
    answers,
    check_reachable,
    check_same_cluster,
    head_address,
    import_ray,
    join,
    one_line,
)
from conveyor.engine.executors._ray_worker import remote_attempt, remote_call, remote_prepare

_CAPACITY_TTL = 5.0  # seconds a view of the nodes' resources is reused: they rarely change
_WATCH_INTERVAL = 1.0  # seconds between checks that Ray is still up while attempts run
_HEAD_GRACE = 5.0  # seconds the head may not answer before the cluster counts as lost
# Ray sends a task's arguments below this size inline with the task, and puts larger ones in
# its object store on every call: a larger step function is put there once and referenced.
_INLINE_LIMIT = 100 * 1024

P = ParamSpec("P")
T = TypeVar("T")


class RayExecutor:
    """Runs each step attempt as a Ray task.

    Without ``address`` it starts a Ray instance on this machine with ``workers`` CPUs
    (default: one per core), without a dashboard and without forwarding the workers' output
    (each attempt's output is captured into its step's logs), in a temporary folder of its
    own, and stops it on ``shutdown`` (or, failing that, once the executor is collected or
    the process exits). If this process has already called ``ray.init``, that connection is
    used instead, and left up.

    With ``address`` (``host:port`` of a cluster's head, ``ray://host:port`` with
    ``ray[client]``, or ``auto``) it joins that cluster, and leaves it on ``shutdown``, which
    ends the tasks it still runs there. ``workers``, if given, caps how many attempts run at
    once; else it is the cluster's CPUs. The nodes must reach the run's artifact store
    (s3://, or a folder they all mount at the same path) and import the modules the steps
    are defined in (when every node is this machine, a worker also gets this process'
    ``sys.path``, as a worker process would). ``init_options`` go to ``ray.init``, over the
    defaults above. The workers of an instance started here that split the machine's cores
    evenly each claim their own share with their first attempt (``pin=False``: they don't).

    Each attempt is a task that Ray never retries, holding one CPU or the step's
    ``cv.Resources`` (``num_cpus``, ``memory``, ``num_gpus``): a worker that dies running it
    fails the attempt with ``WorkerLost``, which the runner retries within the step's
    ``retries``. A step that no alive node has the resources for fails at once with
    ``InsufficientResources`` rather than wait, as Ray would, for a node that may never come
    (on an autoscaling cluster, start nodes that fit before the run). If Ray goes away, the
    attempts running and every later one fail with ``ExecutorLost``.
    """

    in_process = False

    def __init__(
        self,
        address: str | None = None,
        *,
        workers: int | None = None,
        pin: bool = True,
        **init_options: Any,
    ) -> None:
        ray = import_ray()
        if address == "local":
            address = None
        self.address = address
        self.local = False  # True: Ray was started here, on this machine, and stops with us
        self._owned = False  # ray.init was called here
        self._temp_dir: str | None = None
        self._cores: Claims | None = None
        if address is not None:
            check_reachable(address)
        changes: Changes = {}  # what ray.init wrote into this process' environment
        if ray.is_initialized():
            check_same_cluster(ray, address)
        elif address is None:
            with changes_noted() as changes:
                self._start(ray, workers, init_options, pin=pin)
        else:
            with changes_noted() as changes:
                join(ray, address, init_options)
            self._owned = True
        # ray.init was called here: disconnect when shut down, collected, or at exit at last
        self._release = (
            weakref.finalize(self, _release, self._temp_dir, changes) if self._owned else None
        )
        self._pickler = TaskPickler()
        self._lock = threading.Lock()
        self._running: dict[Future[Any], Any] = {}  # the future of each task → its ObjectRef
        self._functions: dict[int, tuple[bytes, Any]] = {}  # large pickled functions, put once
        self._remotes: dict[Resources | None, Any] = {}  # the remote function with its options
        self._capacity = (time.monotonic(), capacities_of(ray.nodes()))
        self.workers = workers or max(1, int(sum(node.cpus for node in self._capacity[1])))
        here = ray.util.get_node_ip_address()
        self._same_machine = self.local or all(n.name == here for n in self._capacity[1])
        self._paths: tuple[str, ...] = ()
        self._head = head_address(ray)
        self._lost: ExecutorLost | None = None
        self._closed = False
        self._started = False
        self._closing = threading.Event()
        self._watching = False

    def bind(self, values: ValueStore) -> None:
        pass

    def start(self) -> None:
        """Have the workers import what an attempt needs now, and return at once: a caller
        that knows work is coming (the partitions of a map) overlaps that with its own."""
        if self._started or self._closed:
            return
        self._started = True
        with contextlib.suppress(Exception):  # only a head start: an attempt imports them too
            prepare = remote_prepare()
            for _ in range(self.workers):
                prepare.remote()

    def pool(self) -> FuturesExecutor:
        """The cluster as a ``concurrent.futures`` executor of plain calls (``cv.tune``'s
        trials), each a Ray task of one CPU that Ray does not retry."""
        return _CallPool(self)

    def __enter__(self) -> RayExecutor:
        return self

    def __exit__(self, *_: object) -> None:
        self.shutdown()

    def submit(self, task: Task) -> Future[Outcome]:
        result: Future[Outcome] = Future()
        try:
            self._submit(task, result)
        except Exception as exc:  # never raised: a failure to run is the future's exception
            _settle(result, error=self._translate(f"step {task.step!r}", task.step, exc))
        return result

    def shutdown(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._closing.set()
        with self._lock:
            running = list(self._running.items())
            self._running.clear()
        for future, _ in running:
            future.cancel()  # nobody waits for them once the executor is shut down
        import ray

        if self._release is not None:
            self._release()
        elif ray.is_initialized():
            for _, ref in running:  # tasks still running: a step's that timed out, say
                with contextlib.suppress(Exception):
                    ray.cancel(ref, force=True)

    # -- starting ------------------------------------------------------------------------------

    def _start(
        self, ray: Any, workers: int | None, init_options: Mapping[str, Any], *, pin: bool
    ) -> None:
        options: dict[str, Any] = {
            "address": "local",  # a new instance, not one found through RAY_ADDRESS
            "num_cpus": workers or os.cpu_count() or 1,
            "include_dashboard": False,
            "log_to_driver": False,
            "logging_level": logging.ERROR,
            **init_options,
        }
        if "_temp_dir" not in options:
            # short: Ray's socket paths under it must fit in 107 characters
            self._temp_dir = options["_temp_dir"] = tempfile.mkdtemp(prefix="conveyor-ray-")
        try:
            ray.init(**options)
        except (Exception, SystemExit) as exc:  # Ray exits the process when it cannot start
            with contextlib.suppress(Exception):
                ray.shutdown()
            if self._temp_dir is not None:
                shutil.rmtree(self._temp_dir, ignore_errors=True)
            if isinstance(exc, ValueError | TypeError):
                raise ConfigurationError(
                    f"cannot start Ray with these options: {exc}", options=sorted(init_options)
                ) from exc
            raise ExecutorLost(f"could not start a local Ray instance: {one_line(exc)}") from exc
        self.local = self._owned = True
        if pin and self._temp_dir is not None:  # the claims go when the instance does
            self._cores = new_claims(
                int(options["num_cpus"]), os.path.join(self._temp_dir, "cores")
            )

    # -- submitting ----------------------------------------------------------------------------

    def _submit(self, task: Task, result: Future[Outcome]) -> None:
        self._check_usable()
        if task.resources is not None:
            reason = unplaceable(task.step, task.resources, self._capacities())
            if reason is not None:
                raise InsufficientResources(
                    reason, step=task.step, resources=task.resources.describe()
                )
        try:
            function, payload = self._pickler.dumps(task)
        except Exception as exc:  # the step holds something that cannot be pickled
            error = (
                f"step {task.step!r} cannot be sent to a Ray worker: {type(exc).__name__}: {exc}"
            )
            failed = Outcome(
                step=task.step,
                ok=False,
                error=error,
                traceback=traceback.format_exc(),
                retryable=False,  # it would fail the same way every time
            )
            _settle(result, failed)
            return
        ref = self._remote(task.resources).remote(
            self._function(function), payload, task.step, self._driver_paths(), self._cores
        )
        self._follow(ref, result, f"step {task.step!r}", task.step)

    def _call(
        self, fn: Callable[..., T], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Future[T]:
        result: Future[T] = Future()
        label = f"{getattr(fn, '__qualname__', 'a call')}()"
        try:
            self._check_usable()
            ref = remote_call().remote(fn, args, kwargs, self._driver_paths())
            self._follow(ref, result, label)
        except Exception as exc:  # like submit: the future's exception
            _settle(result, error=self._translate(label, None, exc))
        return result

    def _check_usable(self) -> None:
        import ray

        if self._lost is not None:
            raise ExecutorLost(self._lost.message, **self._lost.details)
        if self._closed:
            raise ExecutorLost("the Ray executor was shut down; a run needs a new one")
        if not ray.is_initialized():
            raise self._mark_lost("Ray was shut down in this process")

    def _follow(self, ref: Any, result: Future[Any], label: str, step: str | None = None) -> None:
        """Complete ``result`` with the task's value or translated failure, watching Ray
        until it completes."""
        with self._lock:
            self._running[result] = ref
            start_watch = not self._watching
            self._watching = True
        if start_watch:
            threading.Thread(target=self._watch, name="conveyor-ray-watch", daemon=True).start()
        # Ray calls back on its own thread: only plain Python there, no call into Ray
        ref.future().add_done_callback(functools.partial(self._deliver, label, step, result))

    def _remote(self, resources: Resources | None) -> Any:
        remote = self._remotes.get(resources)
        if remote is None:
            options: dict[str, Any] = {"num_cpus": 1}
            if resources is not None:
                options = {"num_cpus": resources.cpus, "num_gpus": resources.gpus}
                if resources.memory is not None:
                    options["memory"] = resources.memory
            remote = self._remotes[resources] = remote_attempt().options(**options)
        return remote

    def _function(self, function: bytes) -> Any:
        """The pickled function, or a reference to it in Ray's object store if it is large."""
        if len(function) < _INLINE_LIMIT:
            return function
        import ray

        with self._lock:
            known = self._functions.get(id(function))
        if known is None or known[0] is not function:
            known = (function, ray.put(function))  # outside the lock, which Ray's callbacks take
            with self._lock:
                self._functions[id(function)] = known
        return known[1]

    def _driver_paths(self) -> tuple[str, ...]:
        if not self._same_machine:
            return ()  # this machine's folders mean nothing on another one
        if list(self._paths) != sys.path:
            self._paths = tuple(sys.path)
        return self._paths

    def _capacities(self) -> list[Capacity]:
        now = time.monotonic()
        if now - self._capacity[0] > _CAPACITY_TTL:
            ray = import_ray()  # typed as Any: Ray does not annotate nodes()
            self._capacity = (now, capacities_of(ray.nodes()))
        return self._capacity[1]

    # -- results -------------------------------------------------------------------------------

    def _deliver(
        self, label: str, step: str | None, result: Future[Any], done: Future[Any]
    ) -> None:
        with self._lock:
            self._running.pop(result, None)
        try:
            value = done.result()
        except BaseException as exc:  # how Ray reports that the task did not run to its end
            _settle(result, error=self._translate(label, step, exc))
        else:
            _settle(result, value)

    def _translate(self, label: str, step: str | None, exc: BaseException) -> BaseException:
        """Ray's failure as conveyor's. ``label`` names the work in messages: the step, or
        the function a ``pool`` call ran."""
        import ray
        from ray import exceptions as rex

        if isinstance(exc, ConveyorError):
            return exc
        if isinstance(exc, rex.RayTaskError):  # the function raised: its own error, as is
            cause = getattr(exc, "cause", None)
            return cause if isinstance(cause, BaseException) else exc
        if isinstance(exc, rex.RaySystemError | rex.LocalRayletDiedError | ConnectionError):
            return self._mark_lost(one_line(exc))
        if not ray.is_initialized():
            return self._mark_lost(f"Ray was shut down in this process ({one_line(exc)})")
        if isinstance(exc, rex.ObjectLostError):
            with self._lock:
                self._functions.clear()  # a function put there may be gone: put it again
        if isinstance(
            exc,
            rex.WorkerCrashedError | rex.NodeDiedError | rex.OutOfMemoryError | rex.ObjectLostError,
        ):
            worker = self._lost_worker()
            where = f" (on {worker})" if worker else ""
            details: dict[str, object] = {"step": step} if step is not None else {}
            return WorkerLost(
                f"{label}: the Ray worker running it{where} was lost: {one_line(exc)}",
                **details,
                worker=worker or "unknown Ray worker",
                error=type(exc).__name__,
            )
        return exc

    def _lost_worker(self) -> str:
        """The node a lost attempt ran on, when the cluster has only one: Ray does not tell
        the driver which worker ran a task, short of asking every worker to say so."""
        nodes = self._capacity[1]
        return nodes[0].name if len(nodes) == 1 else ""

    def _mark_lost(self, reason: str) -> ExecutorLost:
        """The cluster is gone: fail the attempts still running, and every later one."""
        where = self.address or "the local Ray instance"
        lost = ExecutorLost(f"lost the Ray cluster at {where}: {reason}", address=self.address)
        with self._lock:
            if self._lost is None:
                self._lost = lost
            running = list(self._running)
            self._running.clear()
        for future in running:
            _settle(future, error=ExecutorLost(lost.message, **lost.details))
        return lost

    def _watch(self) -> None:
        """While attempts run, check that Ray is still up. Once ``ray.shutdown()`` has run
        behind the executor's back, the futures of its tasks never complete; once the head's
        control store (GCS) stops answering, Ray ends this process after a minute, and tasks
        on the other nodes may never report back before then."""
        import ray

        silent_since: float | None = None
        while not self._closing.wait(_WATCH_INTERVAL):
            with self._lock:
                if not self._running:
                    self._watching = False
                    return
            if not ray.is_initialized():
                self._mark_lost("Ray was shut down in this process")
                continue
            if self._head is None or answers(self._head, _WATCH_INTERVAL):
                silent_since = None
                continue
            now = time.monotonic()
            silent_since = silent_since or now
            if now - silent_since >= _HEAD_GRACE:  # not a restart of a fault-tolerant head
                host, port = self._head
                self._mark_lost(f"its head at {host}:{port} stopped answering")
        with self._lock:
            self._watching = False


class _CallPool(FuturesExecutor):
    """A ``RayExecutor``'s cluster as a ``concurrent.futures`` executor; shutting it down
    leaves the cluster to its ``RayExecutor``."""

    def __init__(self, owner: RayExecutor) -> None:
        self._owner = owner

    def submit(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> Future[T]:
        return self._owner._call(fn, args, kwargs)


def capacities_of(nodes: Sequence[Mapping[str, Any]]) -> list[Capacity]:
    """What each alive node offers, from ``ray.nodes()``."""
    capacities = []
    for node in nodes:
        if not node.get("Alive", node.get("alive", False)):
            continue
        offered: Mapping[str, float] = node.get("Resources", {})
        memory = offered.get("memory")
        capacities.append(
            Capacity(
                name=str(node.get("NodeManagerAddress") or node.get("NodeID", "?")),
                cpus=float(offered.get("CPU", 0)),
                memory=int(memory) if memory is not None else None,
                gpus=float(offered.get("GPU", 0)),
            )
        )
    return capacities


def _settle(future: Future[Any], value: object = None, error: BaseException | None = None) -> None:
    """Complete ``future``, unless it is already: cancelled on shutdown, or failed when the
    cluster went away."""
    with contextlib.suppress(InvalidStateError):
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(value)


def _release(temp_dir: str | None, changes: Changes) -> None:
    """Disconnect from Ray, which stops an instance started here, ending the tasks it ran
    for us on a cluster; remove the instance's folder, and put back the environment."""
    import ray

    with contextlib.suppress(Exception):
        ray.shutdown()
    if temp_dir is not None:
        shutil.rmtree(temp_dir, ignore_errors=True)
    restore(changes)
