"""A core of its own for each worker of a pool that fills the machine.

With a worker per core, a worker's threads (its own, polars', Arrow's) hand work to each other
many times per step. Left to float, a thread woken by its neighbour often waits behind the
other worker on that one's core while its own core goes idle: measured on a 2-core machine,
2 workers left a tenth of the cores idle; pinned, a twentieth. So when the workers split the
allowed cores evenly, each takes one group of them. A worker claims a group by locking a file
named after it (held until the process ends, so a replacement worker finds the group free)
and sets the affinity of every thread it has; threads started later inherit it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Sequence
from typing import Final, NamedTuple

# The claims of this process: kept open, the locks last as long as the process.
_held: list[int] = []
_LINUX_TASKS: Final = "/proc/self/task"


def core_groups(workers: int) -> tuple[frozenset[int], ...] | None:
    """The allowed cores of this machine split into ``workers`` equal groups, in order; None
    when they cannot be split so (fewer workers than two, or a remainder) or the platform
    sets no affinity."""
    if workers < 2 or not hasattr(os, "sched_getaffinity"):
        return None
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) < workers or len(cores) % workers:
        return None
    size = len(cores) // workers
    return tuple(frozenset(cores[i * size : (i + 1) * size]) for i in range(workers))


class Claims(NamedTuple):
    """A pool's core groups and the folder of the files its workers lock to claim them."""

    groups: tuple[frozenset[int], ...]
    folder: str


def new_claims(workers: int, folder: str | None = None) -> Claims | None:
    """The claims of a pool of ``workers`` (in ``folder``, else a new temporary one); None
    when the workers do not split the cores evenly (see ``core_groups``)."""
    groups = core_groups(workers)
    if groups is None:
        return None
    if folder is None:
        folder = tempfile.mkdtemp(prefix="conveyor-cores-")
    else:
        os.makedirs(folder, exist_ok=True)
    return Claims(groups, folder)


def drop_claims(claims: Claims | None) -> None:
    """Remove the claims' folder once the pool is shut down; its workers' locks end with them."""
    if claims is not None:
        shutil.rmtree(claims.folder, ignore_errors=True)


def claim_cores(groups: Sequence[frozenset[int]], folder: str) -> frozenset[int] | None:
    """In a worker: take the first group no living worker of the pool holds (by locking
    ``<folder>/cores-<i>``) and pin this process's threads to it. The group, or None when every
    group is held or this process already holds one."""
    import fcntl

    if _held:
        return None
    for i, group in enumerate(groups):
        try:
            fd = os.open(os.path.join(folder, f"cores-{i}"), os.O_CREAT | os.O_RDWR, 0o600)
        except OSError:  # the pool is gone (its folder with it): run unpinned
            return None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            continue
        _held.append(fd)
        _pin_threads(group)
        return group
    return None


def _pin_threads(group: frozenset[int]) -> None:
    try:
        threads = [int(name) for name in os.listdir(_LINUX_TASKS)]
    except OSError:
        threads = [0]
    for thread in threads:
        with contextlib.suppress(OSError):  # a thread that has just ended
            os.sched_setaffinity(thread, group)
