"""Checks of monitor records before either adapter stores them, and the not-found error."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import cast

from conveyor.core._errors import MonitorNotFound, StoreError
from conveyor.store import _checks
from conveyor.store._monitor_records import (
    ACTION_STATUSES,
    EVALUATION_STATUSES,
    MonitorAction,
    MonitorAlert,
    MonitorEvaluation,
    MonitorRecord,
)

_MODEL_REF_MAX = 255


def monitor(record: MonitorRecord) -> MonitorRecord:
    if not isinstance(record.model, str) or not 0 < len(record.model) <= _MODEL_REF_MAX:
        raise StoreError(
            f"a monitor's model is a reference like 'churn@production', got {record.model!r}"
        )
    checked = dataclasses.replace(
        record,
        name=_checks.monitor_name(record.name),
        spec=_json_mapping(record.spec, "spec"),
        created_at=_checks.utc(record.created_at, "created_at"),
        updated_at=_checks.utc(record.updated_at, "updated_at"),
    )
    return _checks.fields(checked)


def evaluation(record: MonitorEvaluation) -> MonitorEvaluation:
    if record.status not in EVALUATION_STATUSES:
        raise StoreError(
            f"unknown evaluation status {record.status!r}; one of {', '.join(EVALUATION_STATUSES)}"
        )
    if isinstance(record.rows, bool) or not isinstance(record.rows, int) or record.rows < 0:
        raise StoreError(f"rows must be a whole number >= 0, got {record.rows!r}")
    rules = _checks.json_copy([dict(r) for r in record.rules], "rules")
    checked = dataclasses.replace(
        record,
        monitor=_checks.monitor_name(record.monitor),
        model=_checks.model_name(record.model),
        version=_checks.version_number(record.version, "model"),
        evaluated_at=_checks.utc(record.evaluated_at, "evaluated_at"),
        window_start=_checks.utc_or_none(record.window_start, "window_start"),
        window_end=_checks.utc_or_none(record.window_end, "window_end"),
        figures=_json_mapping(record.figures, "figures"),
        rules=tuple(cast(list[dict[str, object]], rules)),
        id=0,
    )
    return _checks.fields(checked)


def alert(record: MonitorAlert) -> MonitorAlert:
    checked = dataclasses.replace(
        record,
        monitor=_checks.monitor_name(record.monitor),
        rule=_text(record.rule, "rule"),
        message=_text(record.message, "message"),
        raised_at=_checks.utc(record.raised_at, "raised_at"),
        figures=_json_mapping(record.figures, "figures"),
        id=0,
    )
    return _checks.fields(checked)


def action(record: MonitorAction) -> MonitorAction:
    if record.status not in ACTION_STATUSES:
        raise StoreError(
            f"unknown action status {record.status!r}; one of {', '.join(ACTION_STATUSES)}"
        )
    if not isinstance(record.kind, str) or not 0 < len(record.kind) <= 32:
        raise StoreError(f"an action's kind is 1 to 32 characters, got {record.kind!r}")
    checked = dataclasses.replace(
        record,
        monitor=_checks.monitor_name(record.monitor),
        started_at=_checks.utc(record.started_at, "started_at"),
        finished_at=_checks.utc(record.finished_at, "finished_at"),
        detail=_json_mapping(record.detail, "detail"),
        id=0,
    )
    return _checks.fields(checked)


def monitor_not_found(name: str, existing: Iterable[str]) -> MonitorNotFound:
    names = sorted(existing)
    return MonitorNotFound(
        f"no monitor named {name!r}; monitors: {_checks.listing(names)} (`conveyor monitor list`)",
        name=name,
        monitors=names,
    )


def _json_mapping(value: Mapping[str, object], what: str) -> dict[str, object]:
    if not isinstance(value, Mapping):
        raise StoreError(f"{what} must be a mapping, got {type(value).__name__}")
    return cast(dict[str, object], _checks.json_copy(dict(value), what))


def _text(value: str, what: str) -> str:
    if not isinstance(value, str):
        raise StoreError(f"{what} must be a string, got {value!r}")
    return value
