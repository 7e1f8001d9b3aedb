"""The MonitorStore part of the in-memory metadata store (a base of MemoryMetadataStore)."""

from __future__ import annotations

import copy
import dataclasses
import threading
from collections.abc import Collection, Sequence
from typing import TypeVar

from conveyor.store import _checks, _monitor_checks
from conveyor.store._monitor_records import (
    MonitorAction,
    MonitorAlert,
    MonitorEvaluation,
    MonitorRecord,
)

_R = TypeVar("_R")


class MemoryMonitors:
    """Monitors and their history in lists, behind one lock; records are copied on the way out."""

    def __init__(self) -> None:
        self._monitor_lock = threading.Lock()
        self._monitors: dict[str, MonitorRecord] = {}
        self._evaluations: list[MonitorEvaluation] = []  # id is the position + 1
        self._alerts: list[MonitorAlert] = []
        self._actions: list[MonitorAction] = []

    def put_monitor(self, record: MonitorRecord) -> MonitorRecord:
        record = _monitor_checks.monitor(record)
        with self._monitor_lock:
            existing = self._monitors.get(record.name)
            if existing is not None:
                record = dataclasses.replace(record, created_at=existing.created_at)
            self._monitors[record.name] = record
        return _copied(record)

    def get_monitor(self, name: str) -> MonitorRecord:
        with self._monitor_lock:
            found = self._monitors.get(name)
            if found is None:
                raise _monitor_checks.monitor_not_found(name, self._monitors)
        return _copied(found)

    def list_monitors(self) -> list[MonitorRecord]:
        with self._monitor_lock:
            return [_copied(self._monitors[name]) for name in sorted(self._monitors)]

    def delete_monitor(self, name: str) -> None:
        with self._monitor_lock:
            if self._monitors.pop(name, None) is None:
                raise _monitor_checks.monitor_not_found(name, self._monitors)

    def record_evaluation(
        self, evaluation: MonitorEvaluation, alerts: Sequence[MonitorAlert] = ()
    ) -> tuple[MonitorEvaluation, list[MonitorAlert]]:
        evaluation = _monitor_checks.evaluation(evaluation)
        checked = [_monitor_checks.alert(a) for a in alerts]
        with self._monitor_lock:
            evaluation = dataclasses.replace(evaluation, id=len(self._evaluations) + 1)
            self._evaluations.append(evaluation)
            stored = []
            for alert in checked:
                linked = dataclasses.replace(
                    alert, evaluation_id=evaluation.id, id=len(self._alerts) + 1
                )
                self._alerts.append(linked)
                stored.append(linked)
        return _copied(evaluation), [_copied(a) for a in stored]

    def evaluations(self, monitor: str, limit: int = 100) -> list[MonitorEvaluation]:
        _checks.limit(limit)
        with self._monitor_lock:
            found = [e for e in reversed(self._evaluations) if e.monitor == monitor][:limit]
        return [_copied(e) for e in found]

    def latest_evaluations(self, models: Collection[str] | None = None) -> list[MonitorEvaluation]:
        wanted = None if models is None else set(models)
        latest: dict[str, MonitorEvaluation] = {}
        with self._monitor_lock:
            for evaluation in self._evaluations:
                if wanted is None or evaluation.model in wanted:
                    latest[evaluation.monitor] = evaluation
        return [_copied(latest[name]) for name in sorted(latest)]

    def alerts(self, monitor: str | None = None, limit: int = 100) -> list[MonitorAlert]:
        _checks.limit(limit)
        with self._monitor_lock:
            found = [a for a in reversed(self._alerts) if monitor in (None, a.monitor)][:limit]
        return [_copied(a) for a in found]

    def record_action(self, action: MonitorAction) -> MonitorAction:
        action = _monitor_checks.action(action)
        with self._monitor_lock:
            action = dataclasses.replace(action, id=len(self._actions) + 1)
            self._actions.append(action)
        return _copied(action)

    def actions(self, monitor: str, evaluation_id: int | None = None) -> list[MonitorAction]:
        _checks.whole_or_none(evaluation_id, "evaluation_id")
        with self._monitor_lock:
            found = [
                a
                for a in self._actions
                if a.monitor == monitor and evaluation_id in (None, a.evaluation_id)
            ]
        return [_copied(a) for a in found]


def _copied(record: _R) -> _R:
    return copy.deepcopy(record)
