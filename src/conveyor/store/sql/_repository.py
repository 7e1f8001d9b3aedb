"""SqlMetadataStore: the MetadataStore port on SQLite or PostgreSQL, with SQLAlchemy Core.

Statements are built once per store and reused, so SQLAlchemy's compiled cache serves every
call; the engine calls find_cached once per step and commit every few steps. Rows become
frozen records before they leave (``_rows``); errors become StoreError. Connecting and retries
are in ``_engine``, migrations in ``_migrate``, the schema in ``_tables``; dataset versions,
tracking, the registry, users and tokens, and the audit log are delegates (``_datasets``,
``_tracking``, ``_registry``, ``_access``, ``_audit``).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    Select,
    bindparam,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from conveyor.core._errors import ArtifactNotFound, RunNotFound, StoreError
from conveyor.store import _checks
from conveyor.store._access_records import AuditEntry, Role, TokenRecord, UserRecord
from conveyor.store._monitor_records import (
    MonitorAction,
    MonitorAlert,
    MonitorEvaluation,
    MonitorRecord,
)
from conveyor.store._records import (
    ArtifactRecord,
    DatasetVersionRecord,
    RunRecord,
    RunStatus,
    StepRunRecord,
    WriteBatch,
)
from conveyor.store._schedule_records import (
    FireStatus,
    LeaseRecord,
    ScheduleFire,
    ScheduleRecord,
)
from conveyor.store._tracking_records import (
    AliasMove,
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
from conveyor.store.sql import _rows
from conveyor.store.sql._access import SqlAccess
from conveyor.store.sql._audit import SqlAudit
from conveyor.store.sql._datasets import SqlDatasetVersions
from conveyor.store.sql._engine import (
    DIALECTS,
    create_engine,
    dialect_insert,
    is_sqlite_memory,
    parse_url,
    read_engine,
    retrying,
    safe_url,
    write_transaction,
)
from conveyor.store.sql._migrate import migrate
from conveyor.store.sql._monitors import SqlMonitors
from conveyor.store.sql._registry import SqlRegistry
from conveyor.store.sql._schedules import SqlSchedules
from conveyor.store.sql._tables import artifacts, runs, step_run_artifacts, step_runs
from conveyor.store.sql._tracking import SqlTracking

T = TypeVar("T")

_LINK_COLUMNS = [
    step_run_artifacts.c.step_run_id,
    step_run_artifacts.c.direction,
    step_run_artifacts.c.name,
    step_run_artifacts.c.artifact_id,
]
_LINK_ORDER = [
    step_run_artifacts.c.step_run_id,
    step_run_artifacts.c.direction,  # "in" sorts before "out"
    step_run_artifacts.c.position,
]
_PREFIX_CANDIDATES = _checks.AMBIGUOUS_SHOWN + 1  # enough to tell that there are more
# The dialects conveyor supports, with their INSERT … ON CONFLICT DO NOTHING.


_IN_CHUNK = 500  # ids per IN (...) list: well under every backend's parameter limit


class SqlMetadataStore:
    """Runs, step runs, artifacts, lineage, dataset versions, tracked values and the model
    registry in SQLite or PostgreSQL.

    Open it with ``SqlMetadataStore.open(url)``, which creates or migrates the schema. Safe to
    share between threads; several processes may write the same database at once.
    """

    def __init__(self, engine: Engine, url: str) -> None:
        self._engine = engine
        self._reader = read_engine(engine)
        self._url = url
        # An in-memory SQLite database is one shared connection: one caller at a time.
        self._serial: contextlib.AbstractContextManager[Any] = (
            threading.Lock()
            if engine.dialect.name == "sqlite" and is_sqlite_memory(engine.url)
            else contextlib.nullcontext()
        )
        insert_for_dialect: Any = dialect_insert(engine.dialect.name)
        self._insert_artifacts = insert_for_dialect(artifacts).on_conflict_do_nothing(
            index_elements=["id"]
        )
        # The pipeline name is copied from the run inside the INSERT (one statement, no read);
        # an unknown run leaves it NULL and the insert fails, as the foreign key would.
        self._insert_step_runs = insert(step_runs).values(
            pipeline=select(runs.c.pipeline)
            .where(runs.c.id == bindparam("run_ref"))
            .scalar_subquery()
        )
        self._insert_links = insert(step_run_artifacts)
        self._datasets = SqlDatasetVersions(engine, self._reader, self._run, self._insert_artifacts)
        self._tracking = SqlTracking(engine, self._reader, self._run)
        self._registry = SqlRegistry(engine, self._reader, self._run)
        self._monitors = SqlMonitors(engine, self._reader, self._run)
        self._schedules = SqlSchedules(engine, self._reader, self._run)
        self._access = SqlAccess(engine, self._reader, self._run)
        self._audit = SqlAudit(engine, self._reader, self._run)
        self._insert_run = insert(runs)
        self._find_cached = _with_its_links(
            select(*_rows.STEP_COLUMNS)
            .where(step_runs.c.cache_key == bindparam("key"), step_runs.c.status == "succeeded")
            .order_by(step_runs.c.finished_at.desc(), step_runs.c.seq.desc())
            .limit(1)
        )
        self._last_step_run = _with_its_links(
            select(*_rows.STEP_COLUMNS)
            .where(
                step_runs.c.pipeline == bindparam("pipeline"),
                step_runs.c.step == bindparam("step"),
                _status_is("succeeded", "failed"),
                step_runs.c.cache_key.is_not(None),
            )
            .order_by(step_runs.c.finished_at.desc(), step_runs.c.seq.desc())
            .limit(1)
        )
        self._steps_of_run = (
            select(*_rows.STEP_COLUMNS)
            .where(step_runs.c.run_id == bindparam("run_id"))
            .order_by(step_runs.c.finished_at, step_runs.c.seq)
        )
        self._links_of_run = (
            select(*_LINK_COLUMNS)
            .join(step_runs, step_runs.c.id == step_run_artifacts.c.step_run_id)
            .where(step_runs.c.run_id == bindparam("run_id"))
            .order_by(*_LINK_ORDER)
        )
        producer_ids = (
            select(step_run_artifacts.c.step_run_id)
            .where(
                step_run_artifacts.c.artifact_id == bindparam("artifact_id"),
                step_run_artifacts.c.direction == "out",
            )
            .scalar_subquery()
        )
        self._producers = (
            select(*_rows.STEP_COLUMNS)
            .where(
                step_runs.c.id.in_(producer_ids),
                _status_is("succeeded", "cached"),
            )
            .order_by(step_runs.c.finished_at, step_runs.c.seq)
        )
        self._links_of_producers = (
            select(*_LINK_COLUMNS)
            .where(step_run_artifacts.c.step_run_id.in_(producer_ids))
            .order_by(*_LINK_ORDER)
        )

    @classmethod
    def open(cls, url: str) -> SqlMetadataStore:
        """Connect to ``url``, creating or migrating the schema to the current revision.

        Args:
            url: ``sqlite:///path/to/conveyor.db`` or ``postgresql+psycopg://user@host/db``.
        """
        parsed = parse_url(url)
        shown = safe_url(parsed)
        if parsed.get_backend_name() not in DIALECTS:
            raise StoreError(
                f"conveyor keeps metadata in SQLite or PostgreSQL; {shown} is neither",
                url=shown,
            )
        try:
            engine = retrying(lambda: create_engine(parsed), shown, "connect")
        except ImportError as exc:  # the driver is an optional extra
            raise StoreError(
                f"cannot open {shown}: the database driver is not installed ({exc}); "
                "for PostgreSQL install conveyor[postgres]",
                url=shown,
            ) from exc

        def migrated() -> None:
            migrate(engine, parsed)

        try:
            retrying(migrated, shown, "migrate the schema")
        except BaseException:
            engine.dispose()
            raise
        return cls(engine, shown)

    def __repr__(self) -> str:
        return f"SqlMetadataStore({self._url!r})"

    # -- writes ---------------------------------------------------------------------------

    def create_run(self, run: RunRecord) -> None:
        row = _rows.run_row(run)
        params = self._tracking.run_param_rows(run)

        def action() -> None:
            with write_transaction(self._engine) as connection:
                connection.execute(self._insert_run, row)
                self._tracking.write_run_params(connection, params)

        try:
            self._run(action, "create a run")
        except StoreError as exc:
            if isinstance(exc.__cause__, IntegrityError) and self._run_exists(run.id):
                raise StoreError(f"run {run.id} already exists", run_id=run.id) from exc
            raise

    def commit(self, batch: WriteBatch) -> None:
        artifact_rows = [_rows.artifact_row(a) for a in batch.artifacts]
        step_rows = [_rows.step_run_row(s) for s in batch.step_runs]
        link_rows = [row for s in batch.step_runs for row in _rows.link_rows(s)]

        def action() -> None:
            with write_transaction(self._engine) as connection:
                if artifact_rows:
                    connection.execute(self._insert_artifacts, artifact_rows)
                if step_rows:
                    connection.execute(self._insert_step_runs, step_rows)
                if link_rows:
                    connection.execute(self._insert_links, link_rows)

        try:
            self._run(action, "commit")
        except StoreError as exc:
            if isinstance(exc.__cause__, IntegrityError):
                raise self._explain_rejection(batch) from exc
            raise

    def heartbeat(self, run_id: str, at: datetime) -> None:
        self._update_run(run_id, heartbeat_at=_checks.utc(at, "heartbeat_at"))

    def finish_run(
        self, run_id: str, status: RunStatus, finished_at: datetime, error: str | None = None
    ) -> None:
        self._update_run(
            run_id,
            status=_checks.run_status(status),
            finished_at=_checks.utc(finished_at, "finished_at"),
            error=_checks.text_or_none(error, "error"),
        )

    # -- reads ----------------------------------------------------------------------------

    def get_run(self, run_id: str) -> RunRecord:
        def action() -> RunRecord:
            with self._reader.connect() as connection:
                found = self._resolve(connection, runs.c.id, "run", run_id, RunNotFound)
                row = connection.execute(select(*_rows.RUN_COLUMNS).where(runs.c.id == found)).one()
            return _rows.run_record(row)

        return self._run(action, "read a run")

    def list_runs(
        self, *, pipeline: str | None = None, status: RunStatus | None = None, limit: int = 50
    ) -> list[RunRecord]:
        query = select(*_rows.RUN_COLUMNS).order_by(runs.c.started_at.desc(), runs.c.id.desc())
        if pipeline is not None:
            query = query.where(runs.c.pipeline == pipeline)
        if status is not None:
            query = query.where(runs.c.status == _checks.run_status(status))
        query = query.limit(max(_checks.cap(limit, "limit"), 0))

        def action() -> list[RunRecord]:
            with self._reader.connect() as connection:
                return [_rows.run_record(row) for row in connection.execute(query)]

        return self._run(action, "list runs")

    def step_runs(self, run_id: str) -> list[StepRunRecord]:
        return self._step_runs(self._steps_of_run, self._links_of_run, {"run_id": run_id})

    def find_cached(self, cache_key: str) -> StepRunRecord | None:
        return self._one_step_run(self._find_cached, {"key": cache_key})

    def last_step_run(self, pipeline: str, step: str) -> StepRunRecord | None:
        return self._one_step_run(self._last_step_run, {"pipeline": pipeline, "step": step})

    def get_artifact(self, artifact_id: str) -> ArtifactRecord:
        def action() -> ArtifactRecord:
            with self._reader.connect() as connection:
                found = self._resolve(
                    connection, artifacts.c.id, "artifact", artifact_id, ArtifactNotFound
                )
                row = connection.execute(
                    select(*_rows.ARTIFACT_COLUMNS).where(artifacts.c.id == found)
                ).one()
            return ArtifactRecord(*row)

        return self._run(action, "read an artifact")

    def get_artifacts(self, artifact_ids: Collection[str]) -> dict[str, ArtifactRecord]:
        wanted = sorted(set(artifact_ids))

        def action() -> dict[str, ArtifactRecord]:
            found: dict[str, ArtifactRecord] = {}
            with self._reader.connect() as connection:
                for start in range(0, len(wanted), _IN_CHUNK):
                    chunk = wanted[start : start + _IN_CHUNK]
                    rows = connection.execute(
                        select(*_rows.ARTIFACT_COLUMNS).where(artifacts.c.id.in_(chunk))
                    )
                    for row in rows:
                        record = ArtifactRecord(*row)
                        found[record.id] = record
            return found

        return self._run(action, "read artifacts") if wanted else {}

    def producers(self, artifact_id: str) -> list[StepRunRecord]:
        return self._step_runs(
            self._producers, self._links_of_producers, {"artifact_id": artifact_id}
        )

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
        return self._datasets.register(record, _rows.artifact_row(artifact))

    def get_dataset_version(self, name: str, version: int | None = None) -> DatasetVersionRecord:
        return self._datasets.get(name, version)

    def list_dataset_versions(self, name: str | None = None) -> list[DatasetVersionRecord]:
        return self._datasets.list(name)

    # -- tracking -------------------------------------------------------------------------

    def log_batch(self, batch: TrackingBatch) -> None:
        self._tracking.log_batch(batch)

    def run_data(self, run_ids: Collection[str]) -> dict[str, RunData]:
        return self._tracking.run_data(run_ids)

    def metric_history(self, run_id: str, key: str) -> list[MetricPoint]:
        return self._tracking.metric_history(run_id, key)

    def logged_artifacts(self, run_id: str) -> list[LoggedArtifact]:
        return self._tracking.logged_artifacts(run_id)

    def search_runs(self, query: RunQuery) -> list[RunRecord]:
        return self._tracking.search_runs(query)

    def search_table(self, query: RunQuery) -> RunTable:
        return self._tracking.search_table(query)

    def child_runs(self, parent_id: str) -> list[RunRecord]:
        return self._tracking.child_runs(parent_id)

    # -- registry -------------------------------------------------------------------------

    def register_model_version(self, record: ModelVersionRecord) -> ModelVersionRecord:
        return self._registry.register(record)

    def get_model_version(self, name: str, version: int | None = None) -> ModelVersionRecord:
        return self._registry.get(name, version)

    def list_model_versions(self, name: str) -> list[ModelVersionRecord]:
        return self._registry.list_versions(name)

    def list_models(self) -> list[ModelSummary]:
        return self._registry.list_models()

    def aliases(self, name: str) -> dict[str, int]:
        return self._registry.aliases(name)

    def move_alias(self, move: AliasMove) -> AliasMove:
        return self._registry.move_alias(move)

    def alias_history(self, name: str, alias: str | None = None) -> list[AliasMove]:
        return self._registry.alias_history(name, alias)

    def record_gate_decision(self, decision: GateDecision) -> GateDecision:
        return self._registry.record_gate_decision(decision)

    def gate_decisions(self, name: str, version: int | None = None) -> list[GateDecision]:
        return self._registry.gate_decisions(name, version)

    # -- monitors (delegated) ------------------------------------------------------------

    def put_monitor(self, record: MonitorRecord) -> MonitorRecord:
        return self._monitors.put(record)

    def get_monitor(self, name: str) -> MonitorRecord:
        return self._monitors.get(name)

    def list_monitors(self) -> list[MonitorRecord]:
        return self._monitors.all()

    def delete_monitor(self, name: str) -> None:
        self._monitors.delete(name)

    def record_evaluation(
        self, evaluation: MonitorEvaluation, alerts: Sequence[MonitorAlert] = ()
    ) -> tuple[MonitorEvaluation, list[MonitorAlert]]:
        return self._monitors.record_evaluation(evaluation, alerts)

    def evaluations(self, monitor: str, limit: int = 100) -> list[MonitorEvaluation]:
        return self._monitors.evaluations(monitor, limit)

    def latest_evaluations(self, models: Collection[str] | None = None) -> list[MonitorEvaluation]:
        return self._monitors.latest_evaluations(models)

    def alerts(self, monitor: str | None = None, limit: int = 100) -> list[MonitorAlert]:
        return self._monitors.alerts(monitor, limit)

    def record_action(self, action: MonitorAction) -> MonitorAction:
        return self._monitors.record_action(action)

    def actions(self, monitor: str, evaluation_id: int | None = None) -> list[MonitorAction]:
        return self._monitors.actions(monitor, evaluation_id)

    # -- schedules (delegated) -----------------------------------------------------------

    def add_schedule(
        self, record: ScheduleRecord, seen_files: Collection[str] = ()
    ) -> ScheduleRecord:
        return self._schedules.add(record, seen_files)

    def get_schedule(self, ref: str) -> ScheduleRecord:
        return self._schedules.get(ref)

    def list_schedules(self) -> list[ScheduleRecord]:
        return self._schedules.all()

    def delete_schedule(self, ref: str) -> ScheduleRecord:
        return self._schedules.delete(ref)

    def seen_files(self, schedule_id: str) -> set[str]:
        return self._schedules.seen(schedule_id)

    def record_fire(
        self,
        fire: ScheduleFire,
        *,
        handled_until: datetime | None = None,
        seen_files: Collection[str] = (),
    ) -> ScheduleFire:
        return self._schedules.record_fire(fire, handled_until, seen_files)

    def update_fire(self, fire: ScheduleFire) -> ScheduleFire:
        return self._schedules.update_fire(fire)

    def fires(
        self, schedule_id: str | None = None, *, status: FireStatus | None = None, limit: int = 100
    ) -> list[ScheduleFire]:
        return self._schedules.fires(schedule_id, status, limit)

    def acquire_lease(
        self, lease: LeaseRecord, now: datetime, *, replacing: str | None = None
    ) -> LeaseRecord:
        return self._schedules.acquire_lease(lease, now, replacing)

    def renew_lease(self, name: str, holder: str, expires_at: datetime) -> bool:
        return self._schedules.renew_lease(name, holder, expires_at)

    def release_lease(self, name: str, holder: str) -> None:
        self._schedules.release_lease(name, holder)

    def get_lease(self, name: str) -> LeaseRecord | None:
        return self._schedules.get_lease(name)

    # -- users, tokens and the audit log (delegated) --------------------------------------

    def add_user(self, record: UserRecord) -> UserRecord:
        return self._access.add_user(record)

    def get_user(self, name: str) -> UserRecord:
        return self._access.get_user(name)

    def list_users(self) -> list[UserRecord]:
        return self._access.list_users()

    def set_role(self, name: str, role: Role, *, at: datetime) -> UserRecord:
        return self._access.set_role(name, role, at)

    def set_disabled(self, name: str, disabled: bool, *, at: datetime) -> UserRecord:
        return self._access.set_disabled(name, disabled, at)

    def remove_user(self, name: str, *, at: datetime) -> UserRecord:
        return self._access.remove_user(name, at)

    def add_token(self, record: TokenRecord) -> TokenRecord:
        return self._access.add_token(record)

    def token_by_hash(self, token_hash: str) -> TokenRecord | None:
        return self._access.token_by_hash(token_hash)

    def list_tokens(self, user: str | None = None) -> list[TokenRecord]:
        return self._access.list_tokens(user)

    def revoke_token(self, token_id: str, *, at: datetime) -> TokenRecord:
        return self._access.revoke_token(token_id, at)

    def touch_token(self, token_id: str, last_used_at: datetime) -> None:
        self._access.touch_token(token_id, last_used_at)

    def record_audit(self, entry: AuditEntry) -> AuditEntry:
        return self._audit.record(entry)

    def audit(
        self,
        *,
        actor: str | None = None,
        target: str | None = None,
        action: str | None = None,
        since: datetime | None = None,
        limit: int = 100,
    ) -> list[AuditEntry]:
        return self._audit.query(actor, target, action, since, limit)

    def close(self) -> None:
        self._engine.dispose()

    # -- internals ------------------------------------------------------------------------

    def _run(self, action: Callable[[], T], what: str) -> T:
        with self._serial:
            return retrying(action, self._url, what)

    def _one_step_run(self, query: Select[Any], params: dict[str, str]) -> StepRunRecord | None:
        def action() -> StepRunRecord | None:
            with self._reader.connect() as connection:
                rows = connection.execute(query, params).all()
            if not rows:
                return None
            links = [(row[0], *row[-3:]) for row in rows if row[-3] is not None]
            return _rows.with_links([rows[0][:-3]], links)[0]

        return self._run(action, "read step runs")

    def _step_runs(
        self, steps: Select[Any], links: Select[Any], params: dict[str, str]
    ) -> list[StepRunRecord]:
        def action() -> list[StepRunRecord]:
            # Links are committed with their step run, so every step run read here finds its
            # links in the second query; links of step runs committed in between are ignored.
            with self._reader.connect() as connection:
                rows = connection.execute(steps, params).all()
                link_rows = connection.execute(links, params).all() if rows else []
            return _rows.with_links(rows, link_rows)

        return self._run(action, "read step runs")

    def _update_run(self, run_id: str, **values: object) -> None:
        statement = update(runs).where(runs.c.id == run_id).values(**values)

        def action() -> int:
            with write_transaction(self._engine) as connection:
                return connection.execute(statement).rowcount

        if self._run(action, "update a run") == 0:
            raise RunNotFound(run_id)

    def _resolve(
        self,
        connection: Connection,
        column: Any,
        kind: str,
        ref: str,
        not_found: Callable[[str], StoreError],
    ) -> str:
        """The one id equal to ``ref`` or starting with it (case-sensitively, on every backend)."""
        if connection.execute(select(column).where(column == ref)).first() is not None:
            return ref
        if not ref:
            raise not_found(ref)
        matches = (
            connection.execute(
                select(column)
                .where(column.startswith(ref, autoescape=True))
                .where(func.substr(column, 1, len(ref)) == ref)  # LIKE ignores case on SQLite
                .order_by(column)
                .limit(_PREFIX_CANDIDATES)
            )
            .scalars()
            .all()
        )
        if not matches:
            raise not_found(ref)
        if len(matches) > 1:
            raise _checks.ambiguous(kind, ref, matches)
        return str(matches[0])

    def _run_exists(self, run_id: str) -> bool:
        def action() -> bool:
            with self._reader.connect() as connection:
                return (
                    connection.execute(select(runs.c.id).where(runs.c.id == run_id)).first()
                    is not None
                )

        return self._run(action, "read a run")

    def _explain_rejection(self, batch: WriteBatch) -> StoreError:
        """Why the database refused a batch, in the same terms the memory store uses."""
        run_ids = {s.run_id for s in batch.step_runs}
        step_ids = [s.id for s in batch.step_runs]
        linked = {link.artifact_id for s in batch.step_runs for link in (*s.inputs, *s.outputs)}

        def action() -> tuple[set[str], set[str], set[str]]:
            with self._reader.connect() as connection:
                found_runs = _existing(connection, runs.c.id, run_ids)
                found_artifacts = _existing(connection, artifacts.c.id, linked)
                stored_steps = _existing(connection, step_runs.c.id, step_ids)
            return found_runs, found_artifacts, stored_steps

        found_runs, found_artifacts, stored_steps = self._run(action, "commit")
        in_batch = {a.id for a in batch.artifacts}
        repeated = {i for i in step_ids if step_ids.count(i) > 1}
        return _checks.commit_rejected(
            missing_runs=run_ids - found_runs,
            missing_artifacts=linked - found_artifacts - in_batch,
            duplicate_step_runs=stored_steps | repeated,
        )


def _status_is(*statuses: str) -> ColumnElement[bool]:
    # Not IN (...): SQLAlchemy re-renders an IN list's SQL on every execution.
    return or_(*(step_runs.c.status == status for status in statuses))


def _with_its_links(one_step_run: Select[Any]) -> Select[Any]:
    """``one_step_run`` (a query for at most one row) joined to its links: one round trip,
    one row per link (or one row with NULL link columns), links in order."""
    found = one_step_run.subquery()
    link = step_run_artifacts
    return (
        select(found, link.c.direction, link.c.name, link.c.artifact_id)
        .select_from(found.outerjoin(link, link.c.step_run_id == found.c.id))
        .order_by(link.c.direction, link.c.position)
    )


def _existing(connection: Connection, column: Any, ids: Iterable[str]) -> set[str]:
    wanted = sorted(set(ids))
    if not wanted:
        return set()
    return set(connection.execute(select(column).where(column.in_(wanted))).scalars())
