"""Events the engine emits while a run progresses; subscribers match ``engine.RunHook``.

Plain frozen records only: who listens (the CLI's live view, an exporter) is not known here.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RunStarted:
    run_id: str
    pipeline: str
    steps: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class StepStarted:
    run_id: str
    step: str
    attempt: int


@dataclass(frozen=True, slots=True)
class StepFinished:
    run_id: str
    step: str
    status: str  # "succeeded" | "failed" | "cached" | "skipped"
    seconds: float
    cache_hit: bool
    error: str | None = None
    reason: str | None = None  # why it ran instead of being a cache hit


@dataclass(frozen=True, slots=True)
class RunFinished:
    run_id: str
    status: str
    seconds: float
