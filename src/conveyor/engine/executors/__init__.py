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
    in_process: bool  # True: values pass between steps as objects, without reloading

    def bind(self, values: ValueStore) -> None: ...

    def submit(self, task: Task) -> Future[Outcome]: ...

    def shutdown(self) -> None: ...


EXECUTORS: dict[str, Callable[[int | None], Executor]] = {
    "threads": ThreadExecutor,
    "processes": ProcessExecutor,
}


def create_executor(kind: str | object | None, workers: int | None) -> Executor:
    if kind is None:
        kind = "threads"
    if isinstance(kind, str):
        try:
            return EXECUTORS[kind](workers)
        except KeyError:
            raise ConfigurationError(
                f"unknown executor {kind!r}; choose one of: {', '.join(EXECUTORS)}",
                executor=kind,
            ) from None
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
