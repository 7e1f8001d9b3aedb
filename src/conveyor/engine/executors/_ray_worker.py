"""What runs in a Ray worker: an attempt, a plain call (``RayExecutor.pool``) and the
warm-up, each as a Ray remote function made once per process."""

from __future__ import annotations

import dataclasses
import functools
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from conveyor.engine._attempt import Outcome
from conveyor.engine.executors._cores import claim_cores
from conveyor.engine.executors._local import execute_pickled, warm_up
from conveyor.engine.executors._ray_cluster import import_ray

T = TypeVar("T")


def attempt_on_worker(
    function: bytes,
    payload: bytes,
    step: str,
    paths: Sequence[str] = (),
    cores: tuple[Sequence[frozenset[int]], str] | None = None,
) -> Outcome:
    """One attempt in a Ray worker, which names itself by its node's address and its pid.

    ``paths``: the driver's ``sys.path`` when Ray runs on its machine, so that a worker finds
    the modules a pipeline file imports from its own folder, as a worker process would.
    ``cores``: the core groups of a local instance and the folder of their claims: the worker
    takes a free group the first time (see ``_cores``).
    """
    sys.path.extend(p for p in dict.fromkeys(paths) if p not in sys.path)
    if cores is not None:
        claim_cores(*cores)
    try:
        outcome = execute_pickled(function, payload)
    except Exception as exc:  # the task cannot be read here: its module is missing, say
        return Outcome(
            step=step,
            ok=False,
            error=f"{type(exc).__name__}: {exc}",
            traceback=traceback.format_exc(),
            worker=worker_name(),
        )
    return dataclasses.replace(outcome, worker=worker_name())


def call_on_worker(
    fn: Callable[..., T], args: tuple[Any, ...], kwargs: dict[str, Any], paths: Sequence[str]
) -> T:
    """A plain call in a Ray worker (``RayExecutor.pool``)."""
    sys.path.extend(p for p in dict.fromkeys(paths) if p not in sys.path)
    return fn(*args, **kwargs)


@functools.cache
def worker_name() -> str:
    ray = import_ray()  # typed as Any: Ray does not annotate get_node_ip_address
    return f"{ray.util.get_node_ip_address()}:{os.getpid()}"


@functools.cache
def remote_attempt() -> Any:
    """``attempt_on_worker`` as a Ray remote function. Ray never runs an attempt again by
    itself: the runner retries it, and records each attempt."""
    import ray

    return ray.remote(max_retries=0, retry_exceptions=False)(attempt_on_worker)


@functools.cache
def remote_call() -> Any:
    import ray

    return ray.remote(max_retries=0, retry_exceptions=False)(call_on_worker)


@functools.cache
def remote_prepare() -> Any:
    import ray

    return ray.remote(max_retries=0, num_cpus=1)(warm_up)
