"""A monitor's stored records as JSON documents: what ``--json`` prints and what
``Check.to_dict`` returns, in one shape."""

from __future__ import annotations

from datetime import datetime

from conveyor.store import MonitorAction, MonitorAlert, MonitorEvaluation


def evaluation_document(e: MonitorEvaluation) -> dict[str, object]:
    return {
        "id": e.id,
        "model": e.model,
        "version": e.version,
        "evaluated_at": e.evaluated_at.isoformat(),
        "window_start": _iso(e.window_start),
        "window_end": _iso(e.window_end),
        "rows": e.rows,
        "status": e.status,
        "message": e.message,
        "rules": [dict(r) for r in e.rules],
        "figures": dict(e.figures),
    }


def alert_document(a: MonitorAlert) -> dict[str, object]:
    return {
        "evaluation_id": a.evaluation_id,
        "rule": a.rule,
        "message": a.message,
        "raised_at": a.raised_at.isoformat(),
    }


def action_document(a: MonitorAction) -> dict[str, object]:
    return {
        "evaluation_id": a.evaluation_id,
        "kind": a.kind,
        "status": a.status,
        "started_at": a.started_at.isoformat(),
        "finished_at": a.finished_at.isoformat(),
        "detail": dict(a.detail),
    }


def _iso(at: datetime | None) -> str | None:
    return None if at is None else at.isoformat()
