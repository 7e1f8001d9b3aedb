"""Frozen records that cross the store seam: what callers get back, never ORM rows.

Plain data only; safe to cache, pickle and send over HTTP.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

RunStatus = Literal["running", "succeeded", "failed", "crashed"]
StepStatus = Literal["succeeded", "failed", "cached", "skipped"]

RUN_STATUSES: tuple[str, ...] = ("running", "succeeded", "failed", "crashed")
STEP_STATUSES: tuple[str, ...] = ("succeeded", "failed", "cached", "skipped")
AttemptStatus = Literal["succeeded", "failed", "timed out", "worker lost"]
ATTEMPT_STATUSES: tuple[str, ...] = ("succeeded", "failed", "timed out", "worker lost")


@dataclass(frozen=True, slots=True)
class ArtifactRecord:
    """A stored value. ``id`` is the content address of its bytes; equal bytes, one record."""

    id: str
    materializer: str  # the format: "json", "parquet", "npy", "joblib", "cloudpickle"
    type_name: str  # the Python type it loads back as, e.g. "pandas.DataFrame"
    size: int  # bytes
    created_at: datetime
    rows: int | None = None
    inline: bytes | None = None  # small payloads live in the metadata store, not as files
    meta: Mapping[str, object] = field(default_factory=dict)  # schema, columns, …: JSON-able


@dataclass(frozen=True, slots=True)
class ArtifactLink:
    """One input or output of a step run: its name there and the artifact."""

    name: str  # an input's parameter name, or an output's position ("0", "1", …; "out" if single)
    artifact_id: str


@dataclass(frozen=True, slots=True)
class RunRecord:
    id: str
    pipeline: str
    status: RunStatus
    started_at: datetime
    params: Mapping[str, object] = field(default_factory=dict)  # JSON-able renderings
    source: str = ""  # the file the pipeline came from, if any
    targets: tuple[str, ...] = ()
    finished_at: datetime | None = None
    heartbeat_at: datetime | None = None
    host: str = ""
    pid: int = 0
    error: str | None = None
    parent_id: str | None = None  # the run that started this one (a tuning trial's study run)
    user: str = ""
    git_commit: str | None = None  # of the pipeline's source, when it is in a git work tree
    git_dirty: bool | None = None  # uncommitted changes in that work tree
    environment: Mapping[str, object] = field(default_factory=dict)  # python, packages, platform


@dataclass(frozen=True, slots=True)
class AttemptRecord:
    """One attempt of a step: where it ran and how it ended."""

    number: int  # 1, 2, … in the order they started
    worker: str  # host:pid, or the executor's address of the worker (tcp://… on Dask)
    status: AttemptStatus
    duration: float = 0.0  # wall seconds, as the worker measured them
    error: str | None = None


@dataclass(frozen=True, slots=True)
class StepRunRecord:
    """One step of one run: how it went, what it read and wrote, and what it cost."""

    id: str
    run_id: str
    step: str
    status: StepStatus
    started_at: datetime
    finished_at: datetime
    cache_key: str | None = None
    key_parts: Mapping[str, str] = field(default_factory=dict)  # code, version, params, inputs…
    cached_from: str | None = None  # the step run whose outputs a cache hit reused
    reason: str | None = None  # why it executed rather than being a cache hit
    attempts: int = 0
    duration: float = 0.0  # wall seconds
    cpu_seconds: float = 0.0
    peak_rss_bytes: int | None = None
    rows_in: int | None = None
    rows_out: int | None = None
    bytes_in: int = 0
    bytes_out: int = 0
    error: str | None = None
    traceback: str | None = None
    logs: str = ""
    inputs: tuple[ArtifactLink, ...] = ()
    outputs: tuple[ArtifactLink, ...] = ()
    attempt_log: tuple[AttemptRecord, ...] = ()  # each attempt that ran, oldest first


@dataclass(frozen=True, slots=True)
class WriteBatch:
    """What one transaction writes: artifacts (inserted if absent) and finished step runs."""

    artifacts: tuple[ArtifactRecord, ...] = ()
    step_runs: tuple[StepRunRecord, ...] = ()


@dataclass(frozen=True, slots=True)
class DatasetVersionRecord:
    """One registered version of a named dataset: an immutable pointer to a stored artifact.

    Versions of a name are numbered 1, 2, 3… in the order they were registered.
    """

    name: str
    version: int
    artifact_id: str  # the dataset's manifest artifact
    created_at: datetime
    rows: int | None = None
    run_id: str | None = None  # the run whose step registered it, if any
    description: str = ""
    meta: Mapping[str, object] = field(default_factory=dict)  # columns, dtypes, profile: JSON-able
