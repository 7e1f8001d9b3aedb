"""Monitor definitions, evaluations, alerts and actions in SQL.

``SqlMetadataStore`` delegates its MonitorStore methods here. Evaluations and alerts are
written in one transaction, so an alert never points at an evaluation that is not there.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Sequence
from typing import Any

from sqlalchemy import Engine, bindparam, delete, func, insert, select, update

from conveyor.store import _checks, _monitor_checks
from conveyor.store._monitor_records import (
    MonitorAction,
    MonitorAlert,
    MonitorEvaluation,
    MonitorRecord,
)
from conveyor.store.sql._engine import write_transaction
from conveyor.store.sql._numbering import Run
from conveyor.store.sql._tables import (
    monitor_actions,
    monitor_alerts,
    monitor_evaluations,
    monitors,
)

_MONITOR = [monitors.c[f.name] for f in dataclasses.fields(MonitorRecord)]
_EVALUATION = [monitor_evaluations.c[f.name] for f in dataclasses.fields(MonitorEvaluation)]
_ALERT = [monitor_alerts.c[f.name] for f in dataclasses.fields(MonitorAlert)]
_ACTION = [monitor_actions.c[f.name] for f in dataclasses.fields(MonitorAction)]
_RULES = [f.name for f in dataclasses.fields(MonitorEvaluation)].index("rules")
_m = monitors.c
_e = monitor_evaluations.c


class SqlMonitors:
    """The monitor statements of one store."""

    def __init__(self, engine: Engine, reader: Engine, run: Run) -> None:
        self._engine = engine
        self._reader = reader
        self._run = run
        self._one = select(*_MONITOR).where(_m.name == bindparam("name"))
        self._names = select(_m.name)

    # -- definitions ----------------------------------------------------------------------

    def put(self, record: MonitorRecord) -> MonitorRecord:
        record = _monitor_checks.monitor(record)
        row = {f.name: getattr(record, f.name) for f in dataclasses.fields(record)}

        def action() -> MonitorRecord:
            with write_transaction(self._engine) as connection:
                found = connection.execute(self._one, {"name": record.name}).first()
                if found is None:
                    connection.execute(insert(monitors), row)
                    return record
                created = found[_MONITOR.index(_m.created_at)]
                del row["created_at"]
                connection.execute(update(monitors).where(_m.name == record.name), row)
                return dataclasses.replace(record, created_at=created)

        result: MonitorRecord = self._run(action, "store a monitor")
        return result

    def get(self, name: str) -> MonitorRecord:
        def action() -> MonitorRecord:
            with self._reader.connect() as connection:
                found = connection.execute(self._one, {"name": name}).first()
                if found is None:
                    names = connection.execute(self._names).scalars().all()
                    raise _monitor_checks.monitor_not_found(name, names)
            return MonitorRecord(*found)

        result: MonitorRecord = self._run(action, "read a monitor")
        return result

    def all(self) -> list[MonitorRecord]:
        def action() -> list[MonitorRecord]:
            with self._reader.connect() as connection:
                found = [MonitorRecord(*row) for row in connection.execute(select(*_MONITOR))]
            return sorted(found, key=lambda r: r.name)

        result: list[MonitorRecord] = self._run(action, "list monitors")
        return result

    def delete(self, name: str) -> None:
        def action() -> None:
            with write_transaction(self._engine) as connection:
                gone = connection.execute(delete(monitors).where(_m.name == name)).rowcount
                if not gone:
                    names = connection.execute(self._names).scalars().all()
                    raise _monitor_checks.monitor_not_found(name, names)

        self._run(action, "delete a monitor")

    # -- history --------------------------------------------------------------------------

    def record_evaluation(
        self, evaluation: MonitorEvaluation, alerts: Sequence[MonitorAlert]
    ) -> tuple[MonitorEvaluation, list[MonitorAlert]]:
        evaluation = _monitor_checks.evaluation(evaluation)
        checked = [_monitor_checks.alert(a) for a in alerts]
        row = _row(evaluation)
        row["rules"] = [dict(r) for r in evaluation.rules]

        def action() -> tuple[MonitorEvaluation, list[MonitorAlert]]:
            with write_transaction(self._engine) as connection:
                done = connection.execute(insert(monitor_evaluations), row)
                evaluation_id = int(done.inserted_primary_key[0])  # type: ignore[index]
                stored = []
                for alert in checked:
                    linked = dataclasses.replace(alert, evaluation_id=evaluation_id)
                    added = connection.execute(insert(monitor_alerts), _row(linked))
                    alert_id = int(added.inserted_primary_key[0])  # type: ignore[index]
                    stored.append(dataclasses.replace(linked, id=alert_id))
            return dataclasses.replace(evaluation, id=evaluation_id), stored

        result: tuple[MonitorEvaluation, list[MonitorAlert]] = self._run(
            action, "record a monitor evaluation"
        )
        return result

    def evaluations(self, monitor: str, limit: int) -> list[MonitorEvaluation]:
        query = (
            select(*_EVALUATION)
            .where(_e.monitor == monitor)
            .order_by(_e.id.desc())
            .limit(_checks.limit(limit))
        )
        return self._evaluations(query, "read monitor evaluations")

    def latest_evaluations(self, models: Collection[str] | None) -> list[MonitorEvaluation]:
        newest = select(func.max(_e.id)).group_by(_e.monitor)
        if models is not None:
            newest = newest.where(_e.model.in_(list(models)))
        query = select(*_EVALUATION).where(_e.id.in_(newest.scalar_subquery()))
        found = self._evaluations(query, "read the latest monitor evaluations")
        return sorted(found, key=lambda e: e.monitor)

    def alerts(self, monitor: str | None, limit: int) -> list[MonitorAlert]:
        query = select(*_ALERT).order_by(monitor_alerts.c.id.desc())
        if monitor is not None:
            query = query.where(monitor_alerts.c.monitor == monitor)
        query = query.limit(_checks.limit(limit))

        def action() -> list[MonitorAlert]:
            with self._reader.connect() as connection:
                return [MonitorAlert(*row) for row in connection.execute(query)]

        result: list[MonitorAlert] = self._run(action, "read monitor alerts")
        return result

    def record_action(self, record: MonitorAction) -> MonitorAction:
        record = _monitor_checks.action(record)
        row = _row(record)

        def action() -> int:
            with write_transaction(self._engine) as connection:
                done = connection.execute(insert(monitor_actions), row)
                return int(done.inserted_primary_key[0])  # type: ignore[index]

        action_id: int = self._run(action, "record a monitor action")
        return dataclasses.replace(record, id=action_id)

    def actions(self, monitor: str, evaluation_id: int | None) -> list[MonitorAction]:
        query = select(*_ACTION).where(monitor_actions.c.monitor == monitor)
        if _checks.whole_or_none(evaluation_id, "evaluation_id") is not None:
            query = query.where(monitor_actions.c.evaluation_id == evaluation_id)

        def action() -> list[MonitorAction]:
            with self._reader.connect() as connection:
                found = connection.execute(query.order_by(monitor_actions.c.id))
                return [MonitorAction(*row) for row in found]

        result: list[MonitorAction] = self._run(action, "read monitor actions")
        return result

    def _evaluations(self, query: Any, what: str) -> list[MonitorEvaluation]:
        def action() -> list[MonitorEvaluation]:
            with self._reader.connect() as connection:
                return [_evaluation(row) for row in connection.execute(query)]

        result: list[MonitorEvaluation] = self._run(action, what)
        return result


def _row(record: Any) -> dict[str, Any]:
    row = {f.name: getattr(record, f.name) for f in dataclasses.fields(record)}
    del row["id"]  # assigned by the database
    return row


def _evaluation(row: Sequence[Any]) -> MonitorEvaluation:
    values = list(row)
    values[_RULES] = tuple(values[_RULES])
    return MonitorEvaluation(*values)
