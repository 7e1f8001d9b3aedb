"""What one attempt of a step needs from the worker that runs it: ``cv.Resources``."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from conveyor.core._errors import PipelineDefinitionError

_UNITS = {
    "": 1,
    "b": 1,
    "kb": 10**3,
    "mb": 10**6,
    "gb": 10**9,
    "tb": 10**12,
    "kib": 2**10,
    "mib": 2**20,
    "gib": 2**30,
    "tib": 2**40,
}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$")


def parse_bytes(size: int | str) -> int:
    """``"4GB"`` → 4_000_000_000, ``"512MiB"`` → 536_870_912; a whole number is bytes."""
    if isinstance(size, bool):
        raise ValueError(f"a size in bytes or text such as '4GB', got {size!r}")
    if isinstance(size, int):
        if size < 0:
            raise ValueError(f"a size cannot be negative, got {size}")
        return size
    if not isinstance(size, str):
        raise ValueError(f"a size in bytes or text such as '4GB', got {size!r}")
    match = _SIZE.match(size)
    unit = match.group(2).lower() if match else ""
    if match is None or unit not in _UNITS:
        raise ValueError(f"a size such as '512MB' or '4GiB', got {size!r}")
    return int(float(match.group(1)) * _UNITS[unit])


def format_bytes(size: int) -> str:
    """``size`` as a person reads it: ``512 B``, ``1.5 KiB`` … ``3.2 GiB`` (powers of 1024)."""
    value = float(size)
    for unit in ("B", "KiB", "MiB"):
        if value < 1024:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"


@dataclass(frozen=True, slots=True, init=False)
class Resources:
    """``@cv.step(resources=cv.Resources(cpus=2, memory="4GB", gpus=0))``.

    Executors that place work on workers (Dask, Ray, and the local ones for their own
    machine) give each attempt a worker with at least this much, and fail the step at once,
    without retrying, when no worker has it.
    """

    cpus: float
    memory: int | None  # bytes
    gpus: float

    def __init__(self, cpus: float = 1, memory: int | str | None = None, gpus: float = 0) -> None:
        problems = []
        if isinstance(cpus, bool) or not isinstance(cpus, int | float) or not cpus > 0:
            problems.append(f"cpus must be a number > 0, got {cpus!r}")
        elif not math.isfinite(cpus):
            problems.append(f"cpus must be finite, got {cpus!r}")
        if isinstance(gpus, bool) or not isinstance(gpus, int | float) or not 0 <= gpus < math.inf:
            problems.append(f"gpus must be a number >= 0, got {gpus!r}")
        size: int | None = None
        if memory is not None:
            try:
                size = parse_bytes(memory)
            except ValueError as exc:
                problems.append(f"memory must be {exc}")
        if problems:
            raise PipelineDefinitionError("Resources: " + "; ".join(problems))
        object.__setattr__(self, "cpus", cpus)
        object.__setattr__(self, "memory", size)
        object.__setattr__(self, "gpus", gpus)

    def describe(self) -> str:
        return _describe(self.cpus, self.memory, self.gpus)


@dataclass(frozen=True, slots=True)
class Capacity:
    """What one worker offers, as an executor sees it."""

    name: str  # its address or host:pid
    cpus: float
    memory: int | None = None  # bytes; None: not limited or not known
    gpus: float = 0

    def fits(self, need: Resources) -> bool:
        return (
            need.cpus <= self.cpus
            and (need.memory is None or self.memory is None or need.memory <= self.memory)
            and need.gpus <= self.gpus
        )


def unplaceable(step: str, need: Resources, workers: list[Capacity]) -> str | None:
    """Why no worker can run ``step``, or None when one can."""
    if any(worker.fits(need) for worker in workers):
        return None
    if not workers:
        return f"step {step!r} needs {need.describe()}, and the executor has no worker"
    largest = max(workers, key=lambda w: (w.cpus, w.memory or 0, w.gpus))
    offered = _describe(largest.cpus, largest.memory, largest.gpus)
    return (
        f"step {step!r} needs {need.describe()}, more than any worker has "
        f"(the largest, {largest.name}, has {offered})"
    )


def _describe(cpus: float, memory: int | None, gpus: float) -> str:
    parts = [f"{cpus:g} CPU{'' if cpus == 1 else 's'}"]
    if memory is not None:
        parts.append(f"{memory / 2**30:.3g} GiB of memory")
    parts.append(f"{gpus:g} GPU{'' if gpus == 1 else 's'}")
    return ", ".join(parts)
