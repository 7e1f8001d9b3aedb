"""Records of monitors that cross the store seam: definitions, evaluations, alerts, actions.

Plain frozen data like ``_records``. Figures and definitions are JSON-shaped mappings so the
store never needs to know a rule or an action; ``conveyor.monitoring`` gives them meaning.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

EvaluationStatus = Literal["ok", "firing", "no_data", "error"]
EVALUATION_STATUSES: tuple[str, ...] = ("ok", "firing", "no_data", "error")
ActionStatus = Literal["succeeded", "failed", "skipped"]
ACTION_STATUSES: tuple[str, ...] = ("succeeded", "failed", "skipped")


@dataclass(frozen=True, slots=True)
class MonitorRecord:
    """A monitor's definition: which model it watches and its window, rules and actions."""

    name: str
    model: str  # "name@alias" or "name@version"
    spec: Mapping[str, object]  # {"window", "every", "rules": [...], "actions": [...]}
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class MonitorEvaluation:
    """One evaluation of a monitor over one window, with every figure it was decided on."""

    monitor: str
    model: str  # the model's name
    version: int | None  # the version the reference came from (None: it could not be resolved)
    evaluated_at: datetime
    window_start: datetime | None
    window_end: datetime | None
    rows: int
    status: EvaluationStatus
    figures: Mapping[str, object] = field(default_factory=dict)  # drift, live metrics
    rules: tuple[Mapping[str, object], ...] = ()  # {rule, breached, streak, firing, message}
    message: str = ""
    id: int = 0  # assigned by the store


@dataclass(frozen=True, slots=True)
class MonitorAlert:
    """A rule that fired in an evaluation."""

    evaluation_id: int
    monitor: str
    rule: str
    message: str
    raised_at: datetime
    figures: Mapping[str, object] = field(default_factory=dict)
    id: int = 0  # assigned by the store


@dataclass(frozen=True, slots=True)
class MonitorAction:
    """What an action did after an alert: a webhook's answer, a retrain's run, a promotion."""

    evaluation_id: int
    monitor: str
    kind: str  # "webhook", "log", "retrain", "promote"
    status: ActionStatus
    started_at: datetime
    finished_at: datetime
    detail: Mapping[str, object] = field(default_factory=dict)
    id: int = 0  # assigned by the store
