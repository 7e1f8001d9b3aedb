"""In-memory adapters of both ports: shipped test doubles that behave like the real stores.

They accept, reject, order and round-trip data exactly as ``SqlMetadataStore`` and
``FsspecArtifactStore`` do (the contract suites run against all of them); only durability is
missing. Nothing here touches disk or imports SQLAlchemy or fsspec.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from datetime import datetime
from typing import Any, cast

from conveyor.core._errors import ArtifactNotFound, RunNotFound, StoreError
from conveyor.core._hashing import content_address
from conveyor.store import _audit_entries, _checks, _search
from conveyor.store._encryption import unverified_error
from conveyor.store._memory_access import MemoryAccess
from conveyor.store._memory_monitors import MemoryMonitors
from conveyor.store._memory_schedules import MemorySchedules
from conveyor.store._records import (
    ArtifactRecord,
    DatasetVersionRecord,
    RunRecord,
    RunStatus,
    StepRunRecord,
    WriteBatch,
)
from conveyor.store._tracking_records import (
    AliasMove,
    FieldKind,
    GateDecision,
    LoggedArtifact,
    MetricPoint,
    ModelSummary,
    ModelVersionRecord,
    RunData,
    RunQuery,
    RunTable,
    TrackingBatch,
)


class MemoryArtifactStore:
    """Blobs in a dict, keyed by content address. ``get`` verifies, like the file store."""

    def __init__(self) -> None:
        self._blobs: dict[str, bytes] = {}

    def put(self, data: bytes) -> str:
        address = content_address(data)
        self._blobs.setdefault(address, bytes(data))  # identical bytes are stored once
        return address

    def get(self, address: str) -> bytes:
        data = self.get_raw(address)
        if content_address(data) != address:
            raise unverified_error(address, data)  # damaged, or encrypted and no key given
        return data

    def exists(self, address: str) -> bool:
        return _checks.address(address) in self._blobs

    def get_raw(self, address: str, limit: int | None = None) -> bytes:
        """The stored bytes (the first ``limit`` of them), not verified."""
        try:
            data = self._blobs[_checks.address(address)]
        except KeyError:
            raise ArtifactNotFound(address) from None
        return data if limit is None else data[:limit]

    def put_raw(self, address: str, data: bytes) -> None:
        """``data`` at ``address`` as they are, replacing any blob there."""
        self._blobs[_checks.address(address)] = bytes(data)

    def addresses(self) -> Iterator[str]:
        """Every stored address, by address (a snapshot: writes meanwhile are not seen)."""
        return iter(sorted(self._blobs))


@dataclasses.dataclass(slots=True)
class _StoredStepRun:
    seq: int  # insertion order: the tie-break after finished_at, as in the SQL store
    pipeline: str
    record: StepRunRecord


@dataclasses.dataclass(slots=True)
class _Tracked:
    """What has been logged for one run."""

    params: dict[str, _checks.Tracked] = dataclasses.field(default_factory=dict)
    tags: dict[str, _checks.Tracked] = dataclasses.field(default_factory=dict)
    history: dict[str, list[tuple[MetricPoint, int]]] = dataclasses.field(default_factory=dict)
    latest: dict[str, MetricPoint] = dataclasses.field(default_factory=dict)
    artifacts: dict[str, LoggedArtifact] = dataclasses.field(default_factory=dict)


class MemoryMetadataStore(MemoryMonitors, MemorySchedules, MemoryAccess):
    """The whole metadata store in dicts, behind one lock.

    Records are normalised on the way in (UTC datetimes, values through JSON) and copied on the
    way out, so callers see what a SQL round-trip would give them and cannot alter stored state.
    """

    def __init__(self) -> None:
        MemoryMonitors.__init__(self)
        MemorySchedules.__init__(self)
        MemoryAccess.__init__(self)
        self._lock = threading.Lock()
        self._runs: dict[str, RunRecord] = {}
        self._artifacts: dict[str, ArtifactRecord] = {}
        self._step_runs: dict[str, _StoredStepRun] = {}
        self._by_run: dict[str, list[_StoredStepRun]] = {}
        self._by_key: dict[str, list[_StoredStepRun]] = {}
        self._datasets: dict[str, list[DatasetVersionRecord]] = {}  # versions 1, 2, … in order
        self._seq = 0
        self._tracked: dict[str, _Tracked] = {}
        self._metric_seq = 0
        self._models: dict[str, list[ModelVersionRecord]] = {}  # versions 1, 2, … in order
        self._aliases: dict[str, dict[str, tuple[int, datetime]]] = {}  # version, updated_at
        self._moves: list[AliasMove] = []  # seq is the position + 1
        self._decisions: list[GateDecision] = []  # id is the position + 1

    def create_run(self, run: RunRecord) -> None:
        stored = _normalise_run(run)
        params = _checks.run_params(stored.params)
        with self._lock:
            if stored.id in self._runs:
                raise StoreError(f"run {stored.id} already exists", run_id=stored.id)
            self._runs[stored.id] = stored
            self._tracked[stored.id] = _Tracked(params=params)

    def commit(self, batch: WriteBatch) -> None:
        artifacts = [_normalise_artifact(a) for a in batch.artifacts]
        step_runs = [_normalise_step_run(s) for s in batch.step_runs]
        with self._lock:
            # Check everything before changing anything: the batch is one transaction.
            batch_artifacts = {a.id for a in artifacts}
            seen: set[str] = set()
            dupes = set()
            for s in step_runs:
                if s.id in self._step_runs or s.id in seen:
                    dupes.add(s.id)
                seen.add(s.id)
            missing_runs = {s.run_id for s in step_runs} - self._runs.keys()
            linked = {link.artifact_id for s in step_runs for link in (*s.inputs, *s.outputs)}
            missing_artifacts = linked - batch_artifacts - self._artifacts.keys()
            if dupes or missing_runs or missing_artifacts:
                raise _checks.commit_rejected(
                    missing_runs=missing_runs,
                    missing_artifacts=missing_artifacts,
                    duplicate_step_runs=dupes,
                )
            for artifact in artifacts:
                self._artifacts.setdefault(artifact.id, artifact)  # inserted if absent
            for s in step_runs:
                self._seq += 1
                stored = _StoredStepRun(self._seq, self._runs[s.run_id].pipeline, s)
                self._step_runs[s.id] = stored
                self._by_run.setdefault(s.run_id, []).append(stored)
                if s.cache_key is not None:
                    self._by_key.setdefault(s.cache_key, []).append(stored)

    def heartbeat(self, run_id: str, at: datetime) -> None:
        at = _checks.utc(at, "heartbeat_at")
        self._update_run(run_id, heartbeat_at=at)

    def finish_run(
        self, run_id: str, status: RunStatus, finished_at: datetime, error: str | None = None
    ) -> None:
        _checks.run_status(status)
        at = _checks.utc(finished_at, "finished_at")
        error = _checks.text_or_none(error, "error")
        self._update_run(run_id, status=status, finished_at=at, error=error)

    def get_run(self, run_id: str) -> RunRecord:
        with self._lock:
            found = _resolve("run", run_id, self._runs, RunNotFound)
            return _copy_run(self._runs[found])

    def list_runs(
        self, *, pipeline: str | None = None, status: RunStatus | None = None, limit: int = 50
    ) -> list[RunRecord]:
        if status is not None:
            _checks.run_status(status)
        with self._lock:
            runs = [
                r
                for r in self._runs.values()
                if (pipeline is None or r.pipeline == pipeline)
                and (status is None or r.status == status)
            ]
        runs.sort(key=lambda r: (r.started_at, r.id), reverse=True)
        return [_copy_run(r) for r in runs[: max(_checks.cap(limit, "limit"), 0)]]

    def step_runs(self, run_id: str) -> list[StepRunRecord]:
        with self._lock:
            stored = list(self._by_run.get(run_id, ()))
        return _finished_order(stored)

    def find_cached(self, cache_key: str) -> StepRunRecord | None:
        with self._lock:
            candidates = [
                s for s in self._by_key.get(cache_key, ()) if s.record.status == "succeeded"
            ]
        return _newest(candidates)

    def last_step_run(self, pipeline: str, step: str) -> StepRunRecord | None:
        with self._lock:
            candidates = [
                s
                for s in self._step_runs.values()
                if s.pipeline == pipeline
                and s.record.step == step
                and s.record.status in ("succeeded", "failed")
                and s.record.cache_key is not None
            ]
        return _newest(candidates)

    def get_artifact(self, artifact_id: str) -> ArtifactRecord:
        with self._lock:
            found = _resolve("artifact", artifact_id, self._artifacts, ArtifactNotFound)
            artifact = self._artifacts[found]
        return dataclasses.replace(artifact, meta=_copy_json(artifact.meta))

    def get_artifacts(self, artifact_ids: Collection[str]) -> dict[str, ArtifactRecord]:
        with self._lock:
            found = {i: self._artifacts[i] for i in set(artifact_ids) if i in self._artifacts}
        return {i: dataclasses.replace(a, meta=_copy_json(a.meta)) for i, a in found.items()}

    def producers(self, artifact_id: str) -> list[StepRunRecord]:
        with self._lock:
            stored = [
                s
                for s in self._step_runs.values()
                if s.record.status in ("succeeded", "cached")
                and any(link.artifact_id == artifact_id for link in s.record.outputs)
            ]
        return _finished_order(stored)

    def register_dataset_version(
        self,
        name: str,
        artifact: ArtifactRecord,
        *,
        created_at: datetime,
        rows: int | None = None,
        run_id: str | None = None,
        description: str = "",
        meta: Mapping[str, object] | None = None,
    ) -> DatasetVersionRecord:
        record = _checks.new_dataset_version(
            name,
            artifact,
            created_at=created_at,
            rows=rows,
            run_id=run_id,
            description=description,
            meta=meta,
        )
        stored_artifact = _normalise_artifact(artifact)
        with self._lock:
            versions = self._datasets.setdefault(record.name, [])
            record = dataclasses.replace(record, version=len(versions) + 1)
            self._artifacts.setdefault(stored_artifact.id, stored_artifact)  # inserted if absent
            versions.append(record)
        return _copy_dataset_version(record)

    def get_dataset_version(self, name: str, version: int | None = None) -> DatasetVersionRecord:
        _checks.dataset_version(version)
        with self._lock:
            versions = list(self._datasets.get(name, ()))
        if versions and version is None:
            return _copy_dataset_version(versions[-1])
        if version is not None and 1 <= version <= len(versions):
            return _copy_dataset_version(versions[version - 1])
        raise _checks.dataset_not_found(name, version, (v.version for v in versions))

    def list_dataset_versions(self, name: str | None = None) -> list[DatasetVersionRecord]:
        with self._lock:
            if name is None:
                found = [v for n in sorted(self._datasets) for v in self._datasets[n]]
            else:
                found = list(self._datasets.get(name, ()))
        return [_copy_dataset_version(v) for v in found]

    # -- tracking -------------------------------------------------------------------------

    def log_batch(self, batch: TrackingBatch) -> None:
        run_id = batch.run_id
        params = _checks.tracked_pairs(batch.params, "param")
        tags = _checks.tracked_pairs(batch.tags, "tag")
        rows, latest, _ = _checks.metric_rows(run_id, batch.metrics)
        logged = _checks.logged_artifacts(run_id, batch.artifacts)
        with self._lock:
            tracked = self._tracked.get(run_id)
            if tracked is None:
                raise RunNotFound(run_id)
            missing = {a.artifact_id for a in logged.values()} - self._artifacts.keys()
            if missing:
                raise _checks.unknown_artifacts(missing)
            tracked.params.update(params)
            tracked.tags.update(tags)
            history = tracked.history
            for _, key, value, step, timestamp, step_name in rows:
                self._metric_seq += 1
                point = MetricPoint(key, value, step, timestamp, step_name)
                history.setdefault(key, []).append((point, self._metric_seq))
            for key, (_, _, value, step, timestamp, step_name) in latest.items():
                current = tracked.latest.get(key)
                if (
                    current is None
                    or step > current.step
                    or (step == current.step and timestamp >= current.timestamp)
                ):
                    tracked.latest[key] = MetricPoint(key, value, step, timestamp, step_name)
            tracked.artifacts.update(logged)

    def run_data(self, run_ids: Collection[str]) -> dict[str, RunData]:
        empty = _Tracked()
        with self._lock:
            return {run_id: _run_data(self._tracked.get(run_id, empty)) for run_id in set(run_ids)}

    def metric_history(self, run_id: str, key: str) -> list[MetricPoint]:
        with self._lock:
            tracked = self._tracked.get(run_id)
            points = list(tracked.history.get(key, ())) if tracked is not None else []
        points.sort(key=lambda p: (p[0].step, p[0].timestamp, p[1]))
        return [point for point, _ in points]

    def logged_artifacts(self, run_id: str) -> list[LoggedArtifact]:
        with self._lock:
            tracked = self._tracked.get(run_id)
            found = list(tracked.artifacts.values()) if tracked is not None else []
        return sorted(found, key=lambda a: a.name)

    def search_table(self, query: RunQuery) -> RunTable:
        found = self.search_runs(query)
        data = self.run_data([r.id for r in found])
        return RunTable(
            runs=[
                (r.id, r.pipeline, r.status, r.started_at, r.finished_at, r.user, r.git_commit)
                for r in found
            ],
            params=[(r.id, k, v) for r in found for k, v in data[r.id].params.items()],
            metrics=[(r.id, k, p.value) for r in found for k, p in data[r.id].metrics.items()],
            tags=[(r.id, k, v) for r in found for k, v in data[r.id].tags.items()],
        )

    def search_runs(self, query: RunQuery) -> list[RunRecord]:
        checked = _search.check_query(query)
        with self._lock:
            found = [
                (run, self._tracked[run.id])
                for run in self._runs.values()
                if (not checked.pipelines or run.pipeline in checked.pipelines)
                and (checked.parent_id is None or run.parent_id == checked.parent_id)
                and not (checked.top_level_only and run.parent_id is not None)
                and all(
                    _search.holds(t, _field(run, self._tracked[run.id], t.kind, t.key))
                    for t in checked.checks
                )
            ]
            ordered = _search.ordered(
                found,
                checked.order_by,
                lambda item, kind, key: _field(item[0], item[1], kind, key),
                lambda item: (item[0].started_at, item[0].id),
            )
        page = ordered[checked.offset : checked.offset + checked.limit]
        return [_copy_run(run) for run, _ in page]

    def child_runs(self, parent_id: str) -> list[RunRecord]:
        with self._lock:
            children = [r for r in self._runs.values() if r.parent_id == parent_id]
        children.sort(key=lambda r: (r.started_at, r.id))
        return [_copy_run(r) for r in children]

    # -- registry -------------------------------------------------------------------------

    def register_model_version(self, record: ModelVersionRecord) -> ModelVersionRecord:
        record = _checks.new_model_version(record)
        with self._lock:
            if record.artifact_id not in self._artifacts:
                raise _checks.unknown_model_artifact(record.name, record.artifact_id)
            versions = self._models.setdefault(record.name, [])
            record = dataclasses.replace(record, version=len(versions) + 1)
            entry = self._audit_checked(_audit_entries.model_registered(record))
            versions.append(record)
            self._audit_append(entry)
        return _copy_model_version(record)

    def get_model_version(self, name: str, version: int | None = None) -> ModelVersionRecord:
        _checks.version_number(version, "model")
        with self._lock:
            versions = list(self._models.get(name, ()))
        if versions and version is None:
            return _copy_model_version(versions[-1])
        if version is not None and 1 <= version <= len(versions):
            return _copy_model_version(versions[version - 1])
        raise _checks.model_not_found(name, version, (v.version for v in versions))

    def list_model_versions(self, name: str) -> list[ModelVersionRecord]:
        with self._lock:
            versions = list(self._models.get(name, ()))
        if not versions:
            raise _checks.model_not_found(name, None, ())
        return [_copy_model_version(v) for v in versions]

    def list_models(self) -> list[ModelSummary]:
        with self._lock:
            summaries = []
            for name in sorted(self._models):
                versions = self._models[name]
                moved = [m.moved_at for m in self._moves if m.name == name]
                summaries.append(
                    ModelSummary(
                        name=name,
                        latest_version=versions[-1].version,
                        versions=len(versions),
                        aliases=self._alias_map(name),
                        updated_at=max([*(v.created_at for v in versions), *moved]),
                    )
                )
        return summaries

    def aliases(self, name: str) -> dict[str, int]:
        with self._lock:
            return self._alias_map(name)

    def move_alias(self, move: AliasMove) -> AliasMove:
        move = _checks.alias_move(move)
        with self._lock:
            versions = self._models.get(move.name, [])
            if not versions or (
                move.version is not None and not 1 <= move.version <= len(versions)
            ):
                raise _checks.model_not_found(
                    move.name, move.version, (v.version for v in versions)
                )
            aliases = self._aliases.setdefault(move.name, {})
            held = aliases.get(move.alias)
            previous = None if held is None else held[0]
            if move.version is None and previous is None:
                raise _checks.no_alias_to_remove(move.name, move.alias)
            stored = dataclasses.replace(move, previous=previous, seq=len(self._moves) + 1)
            entry = self._audit_checked(_audit_entries.alias_moved(stored))
            if move.version is None:
                del aliases[move.alias]
            else:
                aliases[move.alias] = (move.version, move.moved_at)
            self._moves.append(stored)
            self._audit_append(entry)
        return stored

    def alias_history(self, name: str, alias: str | None = None) -> list[AliasMove]:
        with self._lock:
            return [
                m for m in self._moves if m.name == name and (alias is None or m.alias == alias)
            ]

    def record_gate_decision(self, decision: GateDecision) -> GateDecision:
        decision = _checks.gate_decision(decision)
        with self._lock:
            decision = dataclasses.replace(decision, id=len(self._decisions) + 1)
            entry = self._audit_checked(_audit_entries.gate_decided(decision))
            self._decisions.append(decision)
            self._audit_append(entry)
        return _copy_decision(decision)

    def gate_decisions(self, name: str, version: int | None = None) -> list[GateDecision]:
        _checks.version_number(version, "model")
        with self._lock:
            found = [
                d
                for d in self._decisions
                if d.name == name and (version is None or d.version == version)
            ]
        return [_copy_decision(d) for d in found]

    def close(self) -> None:
        """Nothing to release; the data stays readable, as a closed SQL store's file does."""

    def _alias_map(self, name: str) -> dict[str, int]:
        held = self._aliases.get(name, {})
        return {alias: held[alias][0] for alias in sorted(held)}

    def _update_run(self, run_id: str, **changes: Any) -> None:
        with self._lock:
            try:
                run = self._runs[run_id]
            except KeyError:
                raise RunNotFound(run_id) from None
            self._runs[run_id] = dataclasses.replace(run, **changes)


def _field(run: RunRecord, tracked: _Tracked, kind: FieldKind, key: str) -> object:
    """The run's value of a query field, as ``_search.holds`` takes it; None if it has none."""
    if kind == "metrics":
        point = tracked.latest.get(key)
        return None if point is None else point.value
    if kind == "params":
        return tracked.params.get(key)
    if kind == "tags":
        return tracked.tags.get(key)
    return run.id if key == "run_id" else getattr(run, key)


def _run_data(tracked: _Tracked) -> RunData:
    return RunData(
        params={k: tracked.params[k][0] for k in sorted(tracked.params)},
        metrics={k: tracked.latest[k] for k in sorted(tracked.latest)},
        tags={k: tracked.tags[k][0] for k in sorted(tracked.tags)},
    )


def _resolve(
    kind: str, ref: str, records: dict[str, Any], not_found: Callable[[str], StoreError]
) -> str:
    """The one stored id equal to ``ref`` or starting with it."""
    if ref in records:
        return ref
    matches = [key for key in records if ref and key.startswith(ref)]
    if not matches:
        raise not_found(ref)
    if len(matches) > 1:
        raise _checks.ambiguous(kind, ref, matches)
    return matches[0]


def _newest(candidates: list[_StoredStepRun]) -> StepRunRecord | None:
    if not candidates:
        return None
    best = max(candidates, key=lambda s: (s.record.finished_at, s.seq))
    return _copy_step_run(best.record)


def _finished_order(stored: Iterable[_StoredStepRun]) -> list[StepRunRecord]:
    ordered = sorted(stored, key=lambda s: (s.record.finished_at, s.seq))
    return [_copy_step_run(s.record) for s in ordered]


def _copy_json(value: object) -> Any:
    return _checks.json_copy(value, "value")


def _copy_run(run: RunRecord) -> RunRecord:
    return dataclasses.replace(
        run, params=_copy_json(run.params), environment=_copy_json(run.environment)
    )


def _copy_model_version(record: ModelVersionRecord) -> ModelVersionRecord:
    return dataclasses.replace(
        record,
        metrics=_copy_json(record.metrics),
        signature=_copy_json(record.signature),
        lineage=_copy_json(record.lineage),
        meta=_copy_json(record.meta),
    )


def _copy_decision(decision: GateDecision) -> GateDecision:
    return dataclasses.replace(decision, criteria=tuple(_copy_json(list(decision.criteria))))


def _copy_dataset_version(record: DatasetVersionRecord) -> DatasetVersionRecord:
    return dataclasses.replace(record, meta=_copy_json(record.meta))


def _copy_step_run(record: StepRunRecord) -> StepRunRecord:
    return dataclasses.replace(record, key_parts=_copy_json(record.key_parts))


def _normalise_run(run: RunRecord) -> RunRecord:
    _checks.run_status(run.status)
    _checks.fields(run)
    return dataclasses.replace(
        run,
        started_at=_checks.utc(run.started_at, "started_at"),
        finished_at=_checks.utc_or_none(run.finished_at, "finished_at"),
        heartbeat_at=_checks.utc_or_none(run.heartbeat_at, "heartbeat_at"),
        params=cast(dict[str, object], _checks.json_copy(dict(run.params), "params")),
        targets=tuple(cast(list[str], _checks.json_copy(list(run.targets), "targets"))),
        environment=cast(
            dict[str, object], _checks.json_copy(dict(run.environment), "environment")
        ),
    )


def _normalise_step_run(record: StepRunRecord) -> StepRunRecord:
    _checks.step_status(record.status)
    _checks.attempt_log(record)
    _checks.fields(record)
    for link in (*record.inputs, *record.outputs):
        _checks.fields(link)
    return dataclasses.replace(
        record,
        started_at=_checks.utc(record.started_at, "started_at"),
        finished_at=_checks.utc(record.finished_at, "finished_at"),
        key_parts=cast(dict[str, str], _checks.json_copy(dict(record.key_parts), "key_parts")),
        attempt_log=tuple(record.attempt_log),
        inputs=tuple(record.inputs),
        outputs=tuple(record.outputs),
    )


def _normalise_artifact(artifact: ArtifactRecord) -> ArtifactRecord:
    _checks.fields(artifact)
    return dataclasses.replace(
        artifact,
        created_at=_checks.utc(artifact.created_at, "created_at"),
        inline=None if artifact.inline is None else bytes(artifact.inline),
        meta=cast(dict[str, object], _checks.json_copy(dict(artifact.meta), "meta")),
    )
