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
import dataclasses
import functools
import ipaddress
import logging
import os
import shutil
import socket
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
from urllib.parse import urlsplit

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
from conveyor.engine.executors._local import TaskPickler, execute_pickled

CONNECT_TIMEOUT = 5.0  # seconds to open a connection to a cluster's address before joining it
_CAPACITY_TTL = 5.0  # seconds a view of the nodes' resources is reused: they rarely change
_WATCH_INTERVAL = 1.0  # seconds between checks that Ray is still up while attempts run
_HEAD_GRACE = 5.0  # seconds the head may not answer before the cluster counts as lost
# Ray sends a task's arguments below this size inline with the task, and puts larger ones in
# its object store on every call: a larger step function is put there once and referenced.
_INLINE_LIMIT = 100 * 1024

P = ParamSpec("P")
T = TypeVar("T")


def attempt_on_worker(
    function: bytes, payload: bytes, step: str, paths: Sequence[str] = ()
) -> Outcome:
    """One attempt in a Ray worker, which names itself by its node's address and its pid.

    ``paths``: the driver's ``sys.path`` when Ray runs on its machine, so that a worker finds
    the modules a pipeline file imports from its own folder, as a worker process would.
    """
    sys.path.extend(p for p in dict.fromkeys(paths) if p not in sys.path)
    try:
        outcome = execute_pickled(function, payload)
    except Exception as exc:  # the task cannot be read here: its module is missing, say
        return Outcome(
            step=step,
            ok=False,
            error=f"{type(exc).__name__}: {exc}",
            traceback=traceback.format_exc(),
            worker=_worker_name(),
        )
    return dataclasses.replace(outcome, worker=_worker_name())


def call_on_worker(
    fn: Callable[..., T], args: tuple[Any, ...], kwargs: dict[str, Any], paths: Sequence[str]
) -> T:
    """A plain call in a Ray worker (``RayExecutor.pool``)."""
    sys.path.extend(p for p in dict.fromkeys(paths) if p not in sys.path)
    return fn(*args, **kwargs)


def prepare_worker() -> None:
    """What every attempt needs, imported before the first one arrives (a second or so)."""
    import cloudpickle  # noqa: F401
    import polars  # noqa: F401
    import pyarrow  # noqa: F401

    import conveyor.data._profile_stats  # noqa: F401


@functools.cache
def _worker_name() -> str:
    ray = _import_ray()  # typed as Any: Ray does not annotate get_node_ip_address
    return f"{ray.util.get_node_ip_address()}:{os.getpid()}"


@functools.cache
def _remote_attempt() -> Any:
    """``attempt_on_worker`` as a Ray remote function. Ray never runs an attempt again by
    itself: the runner retries it, and records each attempt."""
    import ray

    return ray.remote(max_retries=0, retry_exceptions=False)(attempt_on_worker)


@functools.cache
def _remote_call() -> Any:
    import ray

    return ray.remote(max_retries=0, retry_exceptions=False)(call_on_worker)


@functools.cache
def _remote_prepare() -> Any:
    import ray

    return ray.remote(max_retries=0, num_cpus=1)(prepare_worker)


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
    defaults above.

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
        self, address: str | None = None, *, workers: int | None = None, **init_options: Any
    ) -> None:
        ray = _import_ray()
        if address == "local":
            address = None
        self.address = address
        self.local = False  # True: Ray was started here, on this machine, and stops with us
        self._owned = False  # ray.init was called here
        self._temp_dir: str | None = None
        if address is not None:
            _check_reachable(address)
        if ray.is_initialized():
            _check_same_cluster(ray, address)
        elif address is None:
            self._start(ray, workers, init_options)
        else:
            _join(ray, address, init_options)
            self._owned = True
        # ray.init was called here: disconnect when shut down, collected, or at exit at last
        self._release = weakref.finalize(self, _release, self._temp_dir) if self._owned else None
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
        self._head = _head_address(ray)
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
            prepare = _remote_prepare()
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

    def _start(self, ray: Any, workers: int | None, init_options: Mapping[str, Any]) -> None:
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
            raise ExecutorLost(f"could not start a local Ray instance: {_text(exc)}") from exc
        self.local = self._owned = True

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
            self._function(function), payload, task.step, self._driver_paths()
        )
        self._follow(ref, result, f"step {task.step!r}", task.step)

    def _call(
        self, fn: Callable[..., T], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Future[T]:
        result: Future[T] = Future()
        label = f"{getattr(fn, '__qualname__', 'a call')}()"
        try:
            self._check_usable()
            ref = _remote_call().remote(fn, args, kwargs, self._driver_paths())
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
            remote = self._remotes[resources] = _remote_attempt().options(**options)
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
            ray = _import_ray()  # typed as Any: Ray does not annotate nodes()
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
            return self._mark_lost(_text(exc))
        if not ray.is_initialized():
            return self._mark_lost(f"Ray was shut down in this process ({_text(exc)})")
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
                f"{label}: the Ray worker running it{where} was lost: {_text(exc)}",
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
            if self._head is None or _answers(self._head):
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


def _release(temp_dir: str | None) -> None:
    """Disconnect from Ray, which stops an instance started here, ending the tasks it ran
    for us on a cluster; and remove the instance's folder."""
    import ray

    with contextlib.suppress(Exception):
        ray.shutdown()
    if temp_dir is not None:
        shutil.rmtree(temp_dir, ignore_errors=True)


def _import_ray() -> Any:
    try:
        import ray
    except ImportError as exc:
        raise ConfigurationError(
            "the ray executor needs Ray: pip install 'conveyor[ray]'", missing="ray"
        ) from exc
    return ray


def _check_reachable(address: str) -> None:
    """Fail at once when nothing answers at ``address``: joining it, Ray would retry for
    minutes and then exit the process."""
    target = _host_port(address)
    if target is None:
        return  # "auto", or not host:port: Ray looks it up, or says what is wrong with it
    host, port = target
    hosts = [host]
    if _is_loopback(host):  # Ray joins a head on this machine at its node address
        hosts.append(_import_ray().util.get_node_ip_address())
    problems = []
    for candidate in hosts:
        try:
            with socket.create_connection((candidate, port), timeout=CONNECT_TIMEOUT):
                return
        except OSError as exc:
            problems.append(_text(exc))
    raise ConfigurationError(
        f"cannot reach a Ray cluster at {address}: {problems[0]}", address=address
    )


def _head_address(ray: Any) -> tuple[str, int] | None:
    """Where the cluster's control store (GCS) listens, or None when not known here (a
    ``ray://`` client)."""
    try:
        return _host_port(str(ray.get_runtime_context().gcs_address))
    except Exception:  # no such attribute in client mode
        return None


def _host_port(address: str) -> tuple[str, int] | None:
    try:
        parts = urlsplit("//" + address.removeprefix("ray://"))
        host, port = parts.hostname, parts.port
    except ValueError:
        return None
    return (host, port) if host is not None and port is not None else None


def _answers(address: tuple[str, int]) -> bool:
    try:
        with socket.create_connection(address, timeout=_WATCH_INTERVAL):
            return True
    except OSError:
        return False


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _check_same_cluster(ray: Any, address: str | None) -> None:
    if address is None or address == "auto":
        return
    joined = str(ray.get_runtime_context().gcs_address)
    if _canonical(address) != _canonical(joined):
        raise ConfigurationError(
            f"this process is already connected to the Ray cluster at {joined}, not "
            f"{address}; RayExecutor() without an address uses that connection",
            address=address,
            connected=joined,
        )


def _canonical(address: str) -> str:
    """``host:port`` as Ray joins it: a loopback host is this machine's node address."""
    target = _host_port(address)
    if target is None:
        return address
    host, port = target
    if _is_loopback(host):
        host = _import_ray().util.get_node_ip_address()
    return f"{host}:{port}"


def _join(ray: Any, address: str, init_options: Mapping[str, Any]) -> None:
    options: dict[str, Any] = {"log_to_driver": False, "logging_level": logging.ERROR}
    try:
        ray.init(address=address, **{**options, **init_options})
    except (Exception, SystemExit) as exc:  # Ray exits the process when it cannot connect
        with contextlib.suppress(Exception):
            ray.shutdown()
        if isinstance(exc, ValueError | TypeError):
            raise ConfigurationError(
                f"cannot join the Ray cluster at {address}: {exc}", address=address
            ) from exc
        raise ExecutorLost(
            f"could not join the Ray cluster at {address}: {_text(exc)}", address=address
        ) from exc


def _text(exc: BaseException) -> str:
    """An error as one line: its type, and the first line of its message."""
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__
