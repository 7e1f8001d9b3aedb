"""Converting between frozen records and table rows, in both directions.

Inputs are checked here (aware datetimes, known statuses) so a bad record fails before any SQL
runs. Which rows to read or write, and when, is ``_repository``'s business.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from typing import Any

from conveyor.store import _checks
from conveyor.store._records import (
    ArtifactLink,
    ArtifactRecord,
    AttemptRecord,
    DatasetVersionRecord,
    RunRecord,
    StepRunRecord,
)
from conveyor.store._tracking_records import (
    AliasMove,
    GateDecision,
    LoggedArtifact,
    MetricPoint,
    ModelVersionRecord,
)
from conveyor.store.sql._tables import (
    alias_moves,
    artifacts,
    dataset_versions,
    gate_decisions,
    logged_artifacts,
    model_versions,
    runs,
    step_runs,
)

# Columns selected in the records' field order, so a row converts without a lookup per field.
_RUN_FIELDS = [f.name for f in dataclasses.fields(RunRecord)]
_STEP_FIELDS = [
    f.name for f in dataclasses.fields(StepRunRecord) if f.name not in ("inputs", "outputs")
]
_ARTIFACT_FIELDS = [f.name for f in dataclasses.fields(ArtifactRecord)]
RUN_COLUMNS = [runs.c[name] for name in _RUN_FIELDS]
STEP_COLUMNS = [step_runs.c[name] for name in _STEP_FIELDS]
ARTIFACT_COLUMNS = [artifacts.c[name] for name in _ARTIFACT_FIELDS]
_DATASET_FIELDS = [f.name for f in dataclasses.fields(DatasetVersionRecord)]
DATASET_VERSION_COLUMNS = [dataset_versions.c[name] for name in _DATASET_FIELDS]
_TARGETS = _RUN_FIELDS.index("targets")
_MODEL_FIELDS = [f.name for f in dataclasses.fields(ModelVersionRecord)]
MODEL_VERSION_COLUMNS = [model_versions.c[name] for name in _MODEL_FIELDS]
_MOVE_FIELDS = [f.name for f in dataclasses.fields(AliasMove)]
ALIAS_MOVE_COLUMNS = [alias_moves.c[name] for name in _MOVE_FIELDS]
_DECISION_FIELDS = [f.name for f in dataclasses.fields(GateDecision)]
GATE_DECISION_COLUMNS = [gate_decisions.c[name] for name in _DECISION_FIELDS]
_CRITERIA = _DECISION_FIELDS.index("criteria")
_LOGGED_FIELDS = [f.name for f in dataclasses.fields(LoggedArtifact)]
LOGGED_ARTIFACT_COLUMNS = [logged_artifacts.c[name] for name in _LOGGED_FIELDS]
NAN = float("nan")


def run_row(run: RunRecord) -> dict[str, Any]:
    _checks.fields(run)
    return {
        "id": run.id,
        "pipeline": run.pipeline,
        "status": _checks.run_status(run.status),
        "started_at": _checks.utc(run.started_at, "started_at"),
        "finished_at": _checks.utc_or_none(run.finished_at, "finished_at"),
        "heartbeat_at": _checks.utc_or_none(run.heartbeat_at, "heartbeat_at"),
        "params": dict(run.params),
        "source": run.source,
        "targets": list(run.targets),
        "host": run.host,
        "pid": run.pid,
        "error": run.error,
        "parent_id": run.parent_id,
        "user": run.user,
        "git_commit": run.git_commit,
        "git_dirty": run.git_dirty,
        "environment": dict(run.environment),
    }


def step_run_row(record: StepRunRecord) -> dict[str, Any]:
    _checks.fields(record)
    row = {name: getattr(record, name) for name in _STEP_FIELDS}
    row["status"] = _checks.step_status(record.status)
    row["started_at"] = _checks.utc(record.started_at, "started_at")
    row["finished_at"] = _checks.utc(record.finished_at, "finished_at")
    row["key_parts"] = dict(record.key_parts)
    row["attempt_log"] = _checks.attempt_log(record) or None
    row["run_ref"] = record.run_id
    return row


def link_rows(record: StepRunRecord) -> list[dict[str, Any]]:
    return [
        {
            "step_run_id": record.id,
            "direction": direction,
            "position": position,
            "name": _checks.fields(link).name,
            "artifact_id": link.artifact_id,
        }
        for direction, links in (("in", record.inputs), ("out", record.outputs))
        for position, link in enumerate(links)
    ]


def artifact_row(artifact: ArtifactRecord) -> dict[str, Any]:
    _checks.fields(artifact)
    return {
        "id": artifact.id,
        "materializer": artifact.materializer,
        "type_name": artifact.type_name,
        "size": artifact.size,
        "created_at": _checks.utc(artifact.created_at, "created_at"),
        "rows": artifact.rows,
        "inline": artifact.inline,
        "meta": dict(artifact.meta),
    }


def dataset_version_row(record: DatasetVersionRecord) -> dict[str, Any]:
    """The row of a record that ``_checks.new_dataset_version`` built (and so checked)."""
    row = {name: getattr(record, name) for name in _DATASET_FIELDS}
    row["meta"] = dict(record.meta)
    return row


def run_record(row: Sequence[Any]) -> RunRecord:
    values = list(row)
    values[_TARGETS] = tuple(values[_TARGETS])
    return RunRecord(*values)


def with_links(
    rows: Sequence[Sequence[Any]], link_rows: Iterable[Sequence[Any]]
) -> list[StepRunRecord]:
    """Step run records with their links, which arrive sorted by step run, direction, position."""
    links: dict[str, tuple[list[ArtifactLink], list[ArtifactLink]]] = {}
    for step_run_id, direction, name, artifact_id in link_rows:
        inputs, outputs = links.setdefault(step_run_id, ([], []))
        (inputs if direction == "in" else outputs).append(ArtifactLink(name, artifact_id))
    none: tuple[list[ArtifactLink], list[ArtifactLink]] = ([], [])
    records = []
    for row in rows:
        inputs, outputs = links.get(row[0], none)
        fields = dict(zip(_STEP_FIELDS, row, strict=True))
        fields["attempt_log"] = tuple(AttemptRecord(**a) for a in fields["attempt_log"] or ())
        records.append(StepRunRecord(**fields, inputs=tuple(inputs), outputs=tuple(outputs)))
    return records


def metric_point(
    key: str, value: float | None, step: int, timestamp: float, name: str
) -> MetricPoint:
    """A stored point; a NULL value is NaN (see ``_tables.metrics``)."""
    return MetricPoint(key, NAN if value is None else value, step, timestamp, name)


def model_version_row(record: ModelVersionRecord) -> dict[str, Any]:
    """The row of a record that ``_checks.new_model_version`` built (and so checked)."""
    row = {name: getattr(record, name) for name in _MODEL_FIELDS}
    for name in ("metrics", "signature", "lineage", "meta"):
        row[name] = dict(row[name])
    return row


def model_version_record(row: Sequence[Any]) -> ModelVersionRecord:
    return ModelVersionRecord(*row)


def alias_move_row(move: AliasMove) -> dict[str, Any]:
    row = {name: getattr(move, name) for name in _MOVE_FIELDS}
    del row["seq"]  # assigned by the database
    return row


def alias_move_record(row: Sequence[Any]) -> AliasMove:
    return AliasMove(*row)


def gate_decision_row(decision: GateDecision) -> dict[str, Any]:
    row = {name: getattr(decision, name) for name in _DECISION_FIELDS}
    row["criteria"] = [dict(c) for c in decision.criteria]
    del row["id"]  # assigned by the database
    return row


def gate_decision_record(row: Sequence[Any]) -> GateDecision:
    values = list(row)
    values[_CRITERIA] = tuple(values[_CRITERIA])
    return GateDecision(*values)
