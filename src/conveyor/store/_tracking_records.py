"""Records of experiment tracking and of the model registry that cross the store seam.

Plain frozen data, like ``_records``: safe to cache, pickle and send over HTTP.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

# -- tracking ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MetricPoint:
    """One logged value of a metric series."""

    key: str
    value: float  # NaN and ±inf are kept as such
    step: int = 0  # the series index given to log_metric(step=...); 0 when not given
    timestamp: float = 0.0  # seconds since the epoch, when it was logged
    step_name: str = ""  # the pipeline step that logged it ("" outside a step)


@dataclass(frozen=True, slots=True)
class LoggedArtifact:
    """An artifact logged with cv.log_artifact / cv.log_figure, outside the step's outputs."""

    run_id: str
    name: str  # file name shown to users, unique within the run (a later log replaces it)
    artifact_id: str
    step_name: str = ""
    logged_at: float = 0.0


@dataclass(frozen=True, slots=True)
class TrackingBatch:
    """What one flush writes for one run. Params and tags are (key, JSON text) pairs.

    A key logged again replaces the earlier value (params, tags); metric points are appended,
    and the latest point of each key (highest step, then newest) is what searches compare.
    """

    run_id: str
    params: tuple[tuple[str, str], ...] = ()
    metrics: tuple[MetricPoint, ...] = ()
    tags: tuple[tuple[str, str], ...] = ()
    artifacts: tuple[LoggedArtifact, ...] = ()


FieldKind = Literal["metrics", "params", "tags", "attributes"]
Operator = Literal["=", "!=", ">", ">=", "<", "<=", "like", "ilike", "in", "not in"]
# attributes a query may name: run columns
ATTRIBUTES: tuple[str, ...] = ("run_id", "pipeline", "status", "started_at", "finished_at", "user")


@dataclass(frozen=True, slots=True)
class Condition:
    """``<kind>.<key> <op> <value>``: all conditions of a query must hold.

    Params and tags are JSON text in the store; a number is compared as a number with params
    whose value is a number, a string as a string. A run without the field never matches.
    """

    kind: FieldKind
    key: str
    op: Operator
    value: float | str | tuple[float | str, ...]


@dataclass(frozen=True, slots=True)
class Ordering:
    kind: FieldKind
    key: str
    descending: bool = False  # runs without the field sort last either way


@dataclass(frozen=True, slots=True)
class RunQuery:
    pipelines: tuple[str, ...] = ()  # empty: every pipeline
    conditions: tuple[Condition, ...] = ()
    order_by: tuple[Ordering, ...] = ()  # then newest first
    max_results: int = 1000
    parent_id: str | None = None  # only the child runs of this run (tuning trials)
    include_children: bool = True
    offset: int = 0  # runs to skip first, in the query's order: pages of a long list


@dataclass(frozen=True, slots=True)
class RunTable:
    """A search's result as rows of plain tuples, for building a table of many runs at once.

    ``runs`` rows are (id, pipeline, status, started_at, finished_at, user, git_commit) in the
    query's order; the other lists are (run_id, key, value) of those runs: params and tags as
    JSON text, metrics as the latest value (NaN for a NaN point).
    """

    runs: list[tuple[str, str, str, datetime, datetime | None, str, str | None]]
    params: list[tuple[str, str, str]]
    metrics: list[tuple[str, str, float]]
    tags: list[tuple[str, str, str]]


@dataclass(frozen=True, slots=True)
class RunData:
    """A run's tracked values: what search_runs and get_run show beside the run record."""

    params: Mapping[str, str] = field(default_factory=dict)  # JSON text
    metrics: Mapping[str, MetricPoint] = field(default_factory=dict)  # latest point per key
    tags: Mapping[str, str] = field(default_factory=dict)  # JSON text


# -- registry ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ModelVersionRecord:
    """One registered version of a named model; versions of a name are numbered 1, 2, 3…"""

    name: str
    version: int
    artifact_id: str  # the saved model (its flavor's native format)
    flavor: str  # "sklearn", "xgboost", "lightgbm", "torch", "python"
    created_at: datetime
    run_id: str | None = None
    step_name: str | None = None
    metrics: Mapping[str, float] = field(default_factory=dict)
    signature: Mapping[str, object] = field(default_factory=dict)  # {"inputs": [{name, type}]}
    profile_id: str | None = None  # the reference data's profile, an artifact
    lineage: Mapping[str, object] = field(default_factory=dict)  # input artifacts, datasets
    description: str = ""
    meta: Mapping[str, object] = field(default_factory=dict)


MoveKind = Literal["promote", "rollback", "remove"]


@dataclass(frozen=True, slots=True)
class AliasMove:
    """One change of an alias: who moved it where, when and why."""

    name: str
    alias: str
    version: int | None  # None: the alias was removed
    previous: int | None  # what it pointed to before (None: it did not exist)
    kind: MoveKind
    moved_at: datetime
    actor: str = ""
    reason: str = ""
    decision_id: int | None = None  # the gate decision that allowed it, if any
    seq: int = 0  # order of moves, assigned by the store


@dataclass(frozen=True, slots=True)
class GateDecision:
    """A gate's verdict on a version for an alias, with every criterion and its figures."""

    name: str
    version: int
    alias: str
    passed: bool
    criteria: tuple[Mapping[str, object], ...]  # {criterion, metric, op, threshold, value, passed}
    decided_at: datetime
    actor: str = ""
    id: int = 0  # assigned by the store


@dataclass(frozen=True, slots=True)
class ModelSummary:
    name: str
    latest_version: int
    versions: int
    aliases: Mapping[str, int]
    updated_at: datetime
