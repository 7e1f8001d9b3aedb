"""Executors behind one Protocol: they run step attempts and nothing else."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future
from typing import Protocol, cast

from conveyor.core._errors import ConfigurationError
from conveyor.engine._attempt import Outcome, Task
from conveyor.engine._values import ValueStore
from conveyor.engine.executors._local import ProcessExecutor as ProcessExecutor
from conveyor.engine.executors._local import ThreadExecutor as ThreadExecutor


class Executor(Protocol):
    """Runs attempts. ``submit`` never raises: a failure to run is the future's exception,
    ``WorkerLost`` (retried within the step's retries), ``InsufficientResources`` (never
    retried) or ``ExecutorLost`` (the run fails; its finished steps stay cached)."""

    in_process: bool  # True: values pass between steps as objects, without reloading

    def bind(self, values: ValueStore) -> None: ...

    def submit(self, task: Task) -> Future[Outcome]: ...

    def shutdown(self) -> None: ...


def _threads(workers: int | None, address: str | None) -> Executor:
    _no_address("threads", address)
    return ThreadExecutor(workers)


def _processes(workers: int | None, address: str | None) -> Executor:
    _no_address("processes", address)
    return ProcessExecutor(workers)


def _dask(workers: int | None, address: str | None) -> Executor:
    from conveyor.engine.executors._dask import DaskExecutor

    return DaskExecutor(address, workers=workers)


def _ray(workers: int | None, address: str | None) -> Executor:
    from conveyor.engine.executors._ray import RayExecutor

    return RayExecutor(address, workers=workers)


def _no_address(kind: str, address: str | None) -> None:
    if address is not None:
        raise ConfigurationError(
            f"an address is for the dask and ray executors, not {kind!r}", address=address
        )


EXECUTORS: dict[str, Callable[[int | None, str | None], Executor]] = {
    "threads": _threads,
    "processes": _processes,
    "dask": _dask,
    "ray": _ray,
}


def create_executor(
    kind: str | object | None, workers: int | None, address: str | None = None
) -> Executor:
    """The executor named ``kind`` (``address``: a Dask scheduler or Ray cluster to join), or
    ``kind`` itself when it is an executor object."""
    if kind is None:
        if address is not None:
            raise ConfigurationError(
                f"an address needs the dask or ray executor, got only {address!r}",
                address=address,
            )
        kind = "threads"
    if isinstance(kind, str):
        try:
            factory = EXECUTORS[kind]
        except KeyError:
            raise ConfigurationError(
                f"unknown executor {kind!r}; choose one of: {', '.join(EXECUTORS)}",
                executor=kind,
            ) from None
        return factory(workers, address)
    if address is not None:
        raise ConfigurationError("an address goes with an executor's name, not an executor object")
    if all(hasattr(kind, m) for m in ("submit", "shutdown", "bind")):
        return cast(Executor, kind)
    raise ConfigurationError(
        f"executor must be a name or an object with submit/bind/shutdown, got {type(kind).__name__}"
    )


def partition_executor(steps: Executor, artifacts: str, workers: int | None) -> Executor:
    """What runs ``cv.map``'s partitions when no executor was chosen for them: worker
    processes, unless the steps already run out of this process, or artifacts live in its
    memory (``memory://``: workers could not read them)."""
    if steps.in_process and artifacts != "memory://":
        return ProcessExecutor(workers)
    return steps


__all__ = [
    "EXECUTORS",
    "Executor",
    "ProcessExecutor",
    "ThreadExecutor",
    "create_executor",
    "partition_executor",
]
