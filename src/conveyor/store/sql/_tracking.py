"""Params, metric series, tags and logged artifacts of runs in SQL, and searching runs by them.

``SqlMetadataStore`` delegates its TrackingStore methods here. ``log_batch`` is on the hot path
of training loops (a flush carries thousands of points), so metric points skip SQLAlchemy's
per-row work: SQLite gets them as plain tuples through the driver's executemany, PostgreSQL
through COPY (one stream, not one statement per point). The latest point of each key is
picked in Python and upserted once per key, keeping the newer of it and the stored one.
Searches are built by ``_search``; checks and their errors come from ``store._checks``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Connection, Engine, String, Table, and_, bindparam, or_, select, type_coerce
from sqlalchemy.exc import DBAPIError

from conveyor.core._errors import RunNotFound
from conveyor.store import _checks, _search
from conveyor.store._records import RunRecord
from conveyor.store._tracking_records import (
    LoggedArtifact,
    MetricPoint,
    RunData,
    RunQuery,
    RunTable,
    TrackingBatch,
)
from conveyor.store.sql import _rows
from conveyor.store.sql._engine import dialect_insert, write_transaction
from conveyor.store.sql._search import bytewise, search_statement
from conveyor.store.sql._tables import (
    artifacts,
    latest_metrics,
    logged_artifacts,
    metrics,
    params,
    runs,
    tags,
)

Run = Callable[[Callable[[], Any], str], Any]  # SqlMetadataStore._run: serialise, retry, translate

_METRIC_COLUMNS = ("run_id", "key", "value", "step", "timestamp", "step_name")
_IN_CHUNK = 500  # ids per IN (...) list, as in _repository
_latest = latest_metrics.c
_TABLE_COLUMNS = [
    runs.c[name]
    for name in ("id", "pipeline", "status", "started_at", "finished_at", "user", "git_commit")
]
# SQLite keeps times as naive UTC text; read as text, they skip the per-row type processing
_TABLE_TEXT_COLUMNS = [
    type_coerce(c, String()) if c.name in ("started_at", "finished_at") else c
    for c in _TABLE_COLUMNS
]
_VALUE_COLUMNS = [(t.c.run_id, t.c.key, t.c.value) for t in (params, latest_metrics, tags)]
NAN = math.nan
_FEW = 16  # metric points a batch inserts row by row on PostgreSQL; COPY beyond


class SqlTracking:
    """The tracking statements of one store, built once and reused."""

    def __init__(self, engine: Engine, reader: Engine, run: Run) -> None:
        self._engine = engine
        self._reader = reader
        self._run = run
        self._dialect = engine.dialect.name
        upsert: Any = dialect_insert(self._dialect)
        self._upsert_params = _replacing(upsert, params, ("run_id", "key"))
        self._upsert_tags = _replacing(upsert, tags, ("run_id", "key"))
        self._upsert_logged = _replacing(upsert, logged_artifacts, ("run_id", "name"))
        newer = upsert(latest_metrics)
        self._upsert_latest = newer.on_conflict_do_update(
            index_elements=["run_id", "key"],
            set_={name: newer.excluded[name] for name in _METRIC_COLUMNS[2:]},
            # Keep the stored point unless the new one is at a higher step, or at the same
            # step and no older: on a full tie the later write wins, as in the memory store.
            where=or_(
                newer.excluded.step > _latest.step,
                and_(
                    newer.excluded.step == _latest.step,
                    newer.excluded.timestamp >= _latest.timestamp,
                ),
            ),
        )
        quote = engine.dialect.identifier_preparer.quote
        into = f"{quote(metrics.name)} ({', '.join(map(quote, _METRIC_COLUMNS))})"
        mark = "%s" if self._dialect == "postgresql" else "?"
        self._insert_few = f"INSERT INTO {into} VALUES ({', '.join([mark] * len(_METRIC_COLUMNS))})"
        if self._dialect == "postgresql":
            self._insert_metrics = f"COPY {into} FROM STDIN"  # rows keep their order: seq too
        else:
            self._insert_metrics = self._insert_few
        self._at_once: dict[tuple[int, int], str] = {}
        self._driver_error: type[Exception] = engine.dialect.loaded_dbapi.Error
        self._run_exists = select(runs.c.id).where(runs.c.id == bindparam("run_id"))
        self._history = (
            select(
                metrics.c.key,
                metrics.c.value,
                metrics.c.step,
                metrics.c.timestamp,
                metrics.c.step_name,
            )
            .where(metrics.c.run_id == bindparam("run_id"), metrics.c.key == bindparam("key"))
            .order_by(metrics.c.step, metrics.c.timestamp, metrics.c.seq)
        )
        self._logged = select(*_rows.LOGGED_ARTIFACT_COLUMNS).where(
            logged_artifacts.c.run_id == bindparam("run_id")
        )
        self._children = (
            select(*_rows.RUN_COLUMNS)
            .where(runs.c.parent_id == bindparam("parent_id"))
            .order_by(runs.c.started_at, bytewise(runs.c.id, self._dialect))
        )

    # -- writes ---------------------------------------------------------------------------

    def run_param_rows(self, run: RunRecord) -> list[dict[str, Any]]:
        """The params rows of a new run's own parameters (checked before any SQL runs)."""
        copied = cast(dict[str, object], _checks.json_copy(dict(run.params), "params"))
        return _value_rows(run.id, _checks.run_params(copied))

    def write_run_params(self, connection: Connection, rows: list[dict[str, Any]]) -> None:
        """Inside ``create_run``'s transaction, so a run never exists without its params."""
        if rows:
            connection.execute(self._upsert_params, rows)

    def log_batch(self, batch: TrackingBatch) -> None:
        run_id = batch.run_id
        param_rows = _value_rows(run_id, _checks.tracked_pairs(batch.params, "param"))
        tag_rows = _value_rows(run_id, _checks.tracked_pairs(batch.tags, "tag"))
        points, latest, has_nan = _checks.metric_rows(run_id, batch.metrics)
        logged = _checks.logged_artifacts(run_id, batch.artifacts)
        rows: Sequence[tuple[Any, ...]] = points
        if has_nan:
            rows = [_nan_as_null(p) for p in points]
        latest_rows = [
            dict(zip(_METRIC_COLUMNS, _nan_as_null(p), strict=True)) for p in latest.values()
        ]
        logged_rows = [
            {
                name: getattr(a, name)
                for name in ("run_id", "name", "artifact_id", "step_name", "logged_at")
            }
            for a in logged.values()
        ]
        wanted = {a.artifact_id for a in logged.values()}
        if (
            self._dialect == "postgresql"
            and 0 < len(rows) <= _FEW
            and not (param_rows or tag_rows or logged_rows)
        ):
            self._log_points_at_once(run_id, rows, [tuple(r.values()) for r in latest_rows])
            return

        def action() -> None:
            with write_transaction(self._engine) as connection:
                if connection.execute(self._run_exists, {"run_id": run_id}).first() is None:
                    raise RunNotFound(run_id)
                if wanted:
                    found = connection.execute(
                        select(artifacts.c.id).where(artifacts.c.id.in_(sorted(wanted)))
                    ).scalars()
                    missing = wanted - set(found)
                    if missing:
                        raise _checks.unknown_artifacts(missing)
                if param_rows:
                    connection.execute(self._upsert_params, param_rows)
                if tag_rows:
                    connection.execute(self._upsert_tags, tag_rows)
                if rows:
                    self._insert_points(connection, rows)
                if latest_rows:
                    connection.execute(self._upsert_latest, latest_rows)
                if logged_rows:
                    connection.execute(self._upsert_logged, logged_rows)

        self._run(action, "log tracking data")

    def _log_points_at_once(
        self, run_id: str, rows: Sequence[tuple[Any, ...]], latest: Sequence[tuple[Any, ...]]
    ) -> None:
        """A few points of one run (a training loop's step) in one statement, outside any
        transaction: one round trip where BEGIN, the run check, two inserts and COMMIT took
        five. A single statement is atomic on its own; nothing is written if the run is
        missing, since every row is joined to it."""
        sql = self._at_once.get((len(rows), len(latest)))
        if sql is None:
            sql = self._at_once[(len(rows), len(latest))] = _points_statement(
                len(rows), len(latest), self._engine.dialect.identifier_preparer.quote
            )
        values: list[Any] = [run_id]
        for i, row in enumerate(rows):
            values += (i, *row[1:])
        for row in latest:
            values += row[1:]

        def action() -> bool:
            with self._reader.connect() as connection:
                return bool(connection.exec_driver_sql(sql, tuple(values)).scalar())

        if not self._run(action, "log tracking data"):
            raise RunNotFound(run_id)

    def _insert_points(self, connection: Connection, rows: Sequence[tuple[Any, ...]]) -> None:
        if self._dialect != "postgresql" or len(rows) <= _FEW:
            # a COPY costs more round trips to start than a few rows cost to insert
            connection.exec_driver_sql(self._insert_few, rows)
            return
        # COPY is psycopg's own API: the cursor shares the transaction's connection, and its
        # errors are wrapped as SQLAlchemy's would be, for retrying() to translate.
        driver: Any = connection.connection.driver_connection
        try:
            with driver.cursor() as cursor, cursor.copy(self._insert_metrics) as copy:
                write = copy.write_row
                for row in rows:
                    write(row)
        except self._driver_error as exc:
            raise DBAPIError.instance(
                self._insert_metrics, None, exc, self._driver_error, dialect=self._engine.dialect
            ) from exc

    # -- reads ----------------------------------------------------------------------------

    def run_data(self, run_ids: Collection[str]) -> dict[str, RunData]:
        wanted = sorted(set(run_ids))

        def action() -> dict[str, RunData]:
            found_params: dict[str, dict[str, str]] = {}
            found_tags: dict[str, dict[str, str]] = {}
            found_metrics: dict[str, dict[str, MetricPoint]] = {}
            with self._reader.connect() as connection:
                for start in range(0, len(wanted), _IN_CHUNK):
                    chunk = wanted[start : start + _IN_CHUNK]
                    for table, into in ((params, found_params), (tags, found_tags)):
                        query = select(table.c.run_id, table.c.key, table.c.value).where(
                            table.c.run_id.in_(chunk)
                        )
                        for run_id, key, value in connection.execute(query):
                            into.setdefault(run_id, {})[key] = value
                    query = select(_latest.run_id, *(_latest[c] for c in _METRIC_COLUMNS[1:]))
                    for run_id, *point in connection.execute(
                        query.where(_latest.run_id.in_(chunk))
                    ):
                        found_metrics.setdefault(run_id, {})[point[0]] = _rows.metric_point(*point)
            return {
                run_id: RunData(
                    params=_sorted(found_params.get(run_id, {})),
                    metrics=_sorted(found_metrics.get(run_id, {})),
                    tags=_sorted(found_tags.get(run_id, {})),
                )
                for run_id in wanted
            }

        result: dict[str, RunData] = self._run(action, "read tracked values") if wanted else {}
        return result

    def metric_history(self, run_id: str, key: str) -> list[MetricPoint]:
        def action() -> list[MetricPoint]:
            with self._reader.connect() as connection:
                found = connection.execute(self._history, {"run_id": run_id, "key": key})
                return [_rows.metric_point(*row) for row in found]

        result: list[MetricPoint] = self._run(action, "read a metric history")
        return result

    def logged_artifacts(self, run_id: str) -> list[LoggedArtifact]:
        def action() -> list[LoggedArtifact]:
            with self._reader.connect() as connection:
                found = connection.execute(self._logged, {"run_id": run_id})
                records = [LoggedArtifact(*row) for row in found]
            return sorted(records, key=lambda a: a.name)  # by code point, whatever the collation

        result: list[LoggedArtifact] = self._run(action, "read logged artifacts")
        return result

    def search_runs(self, query: RunQuery) -> list[RunRecord]:
        checked = _search.check_query(query)
        if checked.limit == 0:
            return []
        statement = search_statement(checked, self._dialect)

        def action() -> list[RunRecord]:
            with self._reader.connect() as connection:
                return [_rows.run_record(row) for row in connection.execute(statement)]

        result: list[RunRecord] = self._run(action, "search runs")
        return result

    def search_table(self, query: RunQuery) -> RunTable:
        checked = _search.check_query(query)
        if checked.limit == 0:
            return RunTable([], [], [], [])
        sqlite_text = self._dialect == "sqlite"
        statement = search_statement(
            checked, self._dialect, _TABLE_TEXT_COLUMNS if sqlite_text else _TABLE_COLUMNS
        )

        def action() -> RunTable:
            with self._reader.connect() as connection:
                found = [tuple(row) for row in connection.execute(statement)]
                if sqlite_text:  # parsing the stored text directly is many times faster
                    found = [(*row[:3], _utc(row[3]), _utc(row[4]), *row[5:]) for row in found]
                ids = [row[0] for row in found]
                values: list[list[tuple[Any, ...]]] = [[], [], []]
                for start in range(0, len(ids), _IN_CHUNK):
                    chunk = ids[start : start + _IN_CHUNK]
                    for into, (run_id, key, value) in zip(values, _VALUE_COLUMNS, strict=True):
                        rows = connection.execute(
                            select(run_id, key, value).where(run_id.in_(chunk))
                        )
                        into.extend(tuple(row) for row in rows)
            metric_rows = [(r, k, NAN if v is None else v) for r, k, v in values[1]]
            return RunTable(found, values[0], metric_rows, values[2])

        result: RunTable = self._run(action, "search runs")
        return result

    def child_runs(self, parent_id: str) -> list[RunRecord]:
        def action() -> list[RunRecord]:
            with self._reader.connect() as connection:
                found = connection.execute(self._children, {"parent_id": parent_id})
                return [_rows.run_record(row) for row in found]

        result: list[RunRecord] = self._run(action, "read child runs")
        return result


def _replacing(upsert: Any, table: Table, key: tuple[str, ...]) -> Any:
    """INSERT that replaces the row with the same key: a key logged again wins."""
    statement = upsert(table)
    others = [c.name for c in table.columns if c.name not in key]
    return statement.on_conflict_do_update(
        index_elements=list(key), set_={name: statement.excluded[name] for name in others}
    )


def _value_rows(run_id: str, checked: Mapping[str, _checks.Tracked]) -> list[dict[str, Any]]:
    return [
        {"run_id": run_id, "key": key, "value": value, "num": num, "text": text}
        for key, (value, num, text) in checked.items()
    ]


def _points_statement(points: int, latest: int, quote: Callable[[str], str]) -> str:
    """PostgreSQL's text of ``_log_points_at_once``: the run, when it exists, joined to the
    points (inserted in the order given: ``seq`` is their logging order) and to the latest
    point of each key (upserted as ``_upsert_latest`` does). Parameters: the run id, then
    (ordinal, key, value, step, timestamp, step_name) per point, then the latest rows."""
    typed = "%s::text, %s::double precision, %s::bigint, %s::double precision, %s::text"
    point_rows = ", ".join([f"(%s::int, {typed})"] * points)
    latest_rows = ", ".join([f"({typed})"] * latest)
    names = ", ".join(map(quote, _METRIC_COLUMNS[1:]))
    into = f"run_id, {names}"
    kept = ", ".join(f"{quote(c)} = excluded.{quote(c)}" for c in _METRIC_COLUMNS[2:])
    step, stamp = quote("step"), quote("timestamp")
    table = quote(latest_metrics.name)
    return (
        f"WITH run AS (SELECT id FROM {quote(runs.name)} WHERE id = %s), "
        f"points AS (INSERT INTO {quote(metrics.name)} ({into}) "
        f"SELECT run.id, {names} FROM run, (VALUES {point_rows}) AS p(n, {names}) ORDER BY n), "
        f"latest AS (INSERT INTO {table} ({into}) "
        f"SELECT run.id, {names} FROM run, (VALUES {latest_rows}) AS l({names}) "
        f"ON CONFLICT (run_id, {quote('key')}) DO UPDATE SET {kept} "
        f"WHERE excluded.{step} > {table}.{step} OR (excluded.{step} = {table}.{step} "
        f"AND excluded.{stamp} >= {table}.{stamp})) "
        "SELECT count(*) FROM run"
    )


def _nan_as_null(row: _checks.MetricRow) -> tuple[Any, ...]:
    """NaN is stored as NULL (see ``_tables.metrics``)."""
    return (*row[:2], None, *row[3:]) if math.isnan(row[2]) else row


def _utc(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text).replace(tzinfo=UTC)


def _sorted(values: Mapping[str, Any]) -> dict[str, Any]:
    return {key: values[key] for key in sorted(values)}
