"""Evaluating a monitor once: read its window, measure drift and live metrics, decide each
rule with the streak of windows before it, store everything, and act when it starts firing.

Actions run on the transition to firing only: a monitor that stays firing does not retrain
again every window; it must return to ``ok`` first.
"""

from __future__ import annotations

import functools
import json
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from conveyor.core import Settings
from conveyor.core._errors import ConveyorError
from conveyor.core._json import finite
from conveyor.engine import Workspace
from conveyor.monitoring._documents import (
    action_document,
    alert_document,
    evaluation_document,
)
from conveyor.monitoring._drift import DriftReport, drift
from conveyor.monitoring._monitor import Monitor
from conveyor.monitoring._rules import DriftRule, MetricRule, Rule
from conveyor.monitoring._window import Performance, features, performance_of, window
from conveyor.store import MonitorAction, MonitorAlert, MonitorEvaluation

if TYPE_CHECKING:
    import polars as pl

    from conveyor.data import Profile
    from conveyor.registry import ModelVersion

log = logging.getLogger("conveyor.monitoring")


@dataclass(frozen=True)
class Check:
    """One evaluation of a monitor, as stored, with the reports it was decided on.

    Attributes:
        monitor: The monitor's definition at the time.
        evaluation: The stored evaluation (status, rows, figures, each rule's outcome).
        alerts: Rules that started firing in this evaluation.
        actions: What the actions did (empty unless the monitor started firing).
        drift: The drift report of the first drift rule (None without data or drift rules).
        performance: Live metrics (None without metric rules or data).
        history: Earlier evaluations, newest first (for charts).
    """

    monitor: Monitor
    evaluation: MonitorEvaluation
    alerts: list[MonitorAlert]
    actions: list[MonitorAction]
    drift: DriftReport | None = None
    performance: Performance | None = None
    history: list[MonitorEvaluation] = field(default_factory=list)

    @property
    def firing(self) -> bool:
        return self.evaluation.status == "firing"

    def to_dict(self) -> dict[str, object]:
        return {
            "monitor": self.monitor.to_dict(),
            "evaluation": evaluation_document(self.evaluation),
            "alerts": [alert_document(a) for a in self.alerts],
            "actions": [action_document(a) for a in self.actions],
        }


def evaluate(
    name: str,
    *,
    now: datetime | None = None,
    act: bool = True,
    settings: Settings | None = None,
) -> Check:
    """Evaluate the stored monitor ``name`` once and store the evaluation, its alerts and
    what its actions did.

    Args:
        now: The window's end (default: the current time).
        act: Run the actions if the monitor starts firing (``False``: only evaluate).

    Raises:
        MonitorNotFound: no monitor of that name. Anything that goes wrong while measuring
        (the model cannot be resolved, it has no reference profile) is stored as an
        evaluation with status ``error`` and its message, rather than raised.
    """
    from conveyor.monitoring._acting import run_actions
    from conveyor.monitoring._monitor import load

    ws = Workspace.for_api(settings)
    found = load(name, settings=ws.settings)
    end = (now or datetime.now(UTC)).astimezone(UTC)
    history = ws.metadata.evaluations(name, limit=_history_needed(found))
    previous = history[0] if history else None
    measured = _measure(found, end, ws.settings)
    rules = _decide(found, measured, previous)
    status = measured.status
    if status == "ok" and any(r["firing"] for r in rules):
        status = "firing"
    evaluation = MonitorEvaluation(
        monitor=found.name,
        model=found.model_name,
        version=measured.version,
        evaluated_at=datetime.now(UTC),
        window_start=measured.start,
        window_end=end,
        rows=measured.rows,
        status=status,  # type: ignore[arg-type]
        figures=measured.figures(),
        rules=tuple(finite(r) for r in rules),  # type: ignore[misc]
        message=measured.message or _summary(rules, status),
    )
    was_firing = {str(r["rule"]) for r in (previous.rules if previous else ()) if r.get("firing")}
    alerts = [
        MonitorAlert(
            0,
            found.name,
            str(r["rule"]),
            str(r["message"]),
            evaluation.evaluated_at,
            {"value": r.get("value"), "streak": r["streak"]},
        )
        for r in rules
        if r["firing"] and r["rule"] not in was_firing
    ]
    stored, stored_alerts = ws.metadata.record_evaluation(evaluation, alerts)
    for alert in stored_alerts:
        log.warning("monitor %s: %s (%s)", found.name, alert.message, found.model)
    actions: list[MonitorAction] = []
    starts_firing = status == "firing" and (previous is None or previous.status != "firing")
    if act and starts_firing:
        actions = run_actions(found, stored, ws)
    return Check(
        found, stored, stored_alerts, actions, measured.drift, measured.performance, history
    )


@dataclass
class _Measured:
    status: str = "ok"
    message: str = ""
    version: int | None = None
    rows: int = 0
    start: datetime | None = None
    drift: DriftReport | None = None
    drifts: dict[DriftRule, DriftReport] = field(default_factory=dict)
    performance: Performance | None = None

    def figures(self) -> dict[str, object]:
        found: dict[str, object] = {}
        if self.drift is not None:
            report = self.drift.to_dict()
            report.pop("reference_rows", None)
            found["drift"] = finite(report)
        if self.performance is not None:
            found["performance"] = finite(self.performance.to_dict())
        return found


def _measure(found: Monitor, end: datetime, settings: Settings) -> _Measured:
    measured = _Measured()
    try:
        version = _version(found, settings)
        measured.version = version.version
        frame = window(found.model, found.window, now=end, settings=settings)
    except ConveyorError as exc:
        measured.status, measured.message = "error", str(exc)
        return measured
    measured.rows = frame.height
    measured.start = _window_start(found, frame, end)
    if frame.height < found.min_rows:
        measured.status = "no_data"
        measured.message = (
            f"{frame.height} rows in the window, fewer than min_rows={found.min_rows}: "
            "nothing decided"
        )
        return measured
    try:
        _drifts(found, version, frame, measured, settings)
        if any(isinstance(r, MetricRule) for r in found.rules):
            measured.performance = performance_of(frame, found.model, None, settings)
    except ConveyorError as exc:
        measured.status, measured.message = "error", str(exc)
    return measured


def _version(found: Monitor, settings: Settings) -> ModelVersion:
    from conveyor.registry import get

    return get(found.model, settings=settings)


def _drifts(
    found: Monitor,
    version: ModelVersion,
    frame: pl.DataFrame,
    measured: _Measured,
    settings: Settings,
) -> None:
    drift_rules = [r for r in found.rules if isinstance(r, DriftRule)]
    if not drift_rules:
        return
    reference = _reference(version, settings)
    current = features(frame)
    for rule in drift_rules:
        report = drift(
            reference,
            current,
            method=rule.method,  # type: ignore[arg-type]
            threshold=rule.threshold,
            columns=rule.columns,
        )
        measured.drifts[rule] = report
        if measured.drift is None:
            measured.drift = report


def _reference(version: ModelVersion, settings: Settings) -> Profile:
    if version.profile_id is None:
        raise ConveyorError(
            f"{version.name}@{version.version} was registered without reference data, so "
            "drift cannot be measured: register it with reference=<training data>"
        )
    return _profile(version.profile_id, settings)


@functools.lru_cache(maxsize=32)
def _profile(profile_id: str, settings: Settings) -> Profile:
    """A reference profile, decoded once per process: its id is the hash of its content, so
    it never changes, and a scheduler evaluating every few seconds need not decode it again."""
    from conveyor.data import Profile

    data = Workspace.for_api(settings).values.artifacts.get(profile_id)
    return Profile.from_dict(json.loads(data))


def _decide(
    found: Monitor, measured: _Measured, previous: MonitorEvaluation | None
) -> list[dict[str, object]]:
    before = {str(r["rule"]): r for r in (previous.rules if previous else ())}
    decided = []
    for rule in found.rules:
        label = rule.describe()
        streak_before = int(before.get(label, {}).get("streak", 0) or 0)  # type: ignore[call-overload]
        breached, value, message = _outcome(rule, measured)
        # a window that decides nothing leaves the streak for the next one that does
        streak = streak_before if breached is None else (streak_before + 1 if breached else 0)
        firing = bool(breached) and streak >= rule.for_windows
        decided.append(
            {
                "rule": label,
                "kind": "drift" if isinstance(rule, DriftRule) else "metric",
                "breached": breached,
                "streak": streak,
                "for_windows": rule.for_windows,
                "firing": firing,
                "value": value,
                "message": message,
            }
        )
    return decided


def _outcome(rule: Rule, measured: _Measured) -> tuple[bool | None, float | None, str]:
    if measured.status != "ok":
        return None, None, measured.message
    if isinstance(rule, DriftRule):
        report = measured.drifts[rule]
        if not report.features:
            return None, None, "no feature could be measured"
        share = report.share_drifted
        shown = ", ".join(report.drifted) or "none"
        return (
            share >= rule.share_of_features,
            share,
            f"{len(report.drifted)} of {len(report.features)} features drifted "
            f"({share:.0%}; {rule.method} threshold {rule.threshold:g}): {shown}",
        )
    live = measured.performance
    if live is None or live.labelled < rule.min_labelled:
        labelled = 0 if live is None else live.labelled
        return None, None, f"{labelled} labelled rows, fewer than {rule.min_labelled}"
    value = live.metrics.get(rule.metric)
    if value is None:
        return None, None, _unmeasured(rule.metric, live.task)
    breached = rule.breached(value)
    verb = "is" if breached else "is not"
    return (
        breached,
        value,
        f"{rule.metric} {value:.4g} {verb} {rule.op} {rule.threshold:g} "
        f"on {live.labelled} labelled rows",
    )


def _unmeasured(metric: str, task: str) -> str:
    if metric == "auc" and task == "classification":
        return (
            "auc needs logged probabilities of a binary classifier and labels of both "
            "classes in the window"
        )
    return f"{metric} is not measured for a {task} model"


def _summary(rules: list[dict[str, object]], status: str) -> str:
    if status == "firing":
        return "; ".join(str(r["message"]) for r in rules if r["firing"])
    held = [r for r in rules if r["breached"]]
    if held:
        return "; ".join(
            f"{r['message']} (window {r['streak']} of {r['for_windows']})" for r in held
        )
    return "; ".join(str(r["message"]) for r in rules)


def _window_start(found: Monitor, frame: pl.DataFrame, end: datetime) -> datetime | None:
    if isinstance(found.window, timedelta):
        return end - found.window
    if not frame.height:
        return None
    first: datetime = frame.get_column("received_at").min()  # type: ignore[assignment]
    return first if first.tzinfo else first.replace(tzinfo=UTC)


def _history_needed(found: Monitor) -> int:
    return max(20, *(r.for_windows for r in found.rules))
