"""Running a monitor's actions in order, each stored with what it did.

A failing action is recorded and the next one still runs, except that a ``Promote`` after a
``Retrain`` that failed or registered nothing is skipped: there is nothing new to promote.
"""

from __future__ import annotations

import json
import logging
import os
import string
import urllib.parse
from datetime import UTC, datetime
from pathlib import Path

from conveyor.core._errors import ConveyorError, GateFailed
from conveyor.core._http import HttpFailure, send
from conveyor.core._json import finite
from conveyor.engine import Workspace, load_pipeline, run_pipeline
from conveyor.monitoring._actions import Action, Log, Promote, Retrain, Webhook, gate_to_dict
from conveyor.monitoring._monitor import Monitor
from conveyor.store import MonitorAction, MonitorEvaluation

log = logging.getLogger("conveyor.monitoring")
_BACKOFF_S = 0.5


class _Skipped(Exception):
    """An action that had nothing to do; its message says why."""


def run_actions(
    monitor: Monitor, evaluation: MonitorEvaluation, ws: Workspace
) -> list[MonitorAction]:
    done: list[MonitorAction] = []
    retrained: list[int] | None = None  # versions the last Retrain registered
    for action in monitor.actions:
        started = datetime.now(UTC)
        try:
            detail, new_versions = _run(action, monitor, evaluation, ws, retrained)
            status = "succeeded"
            if new_versions is not None:
                retrained = new_versions
        except _Skipped as why:
            detail, status = {"reason": str(why)}, "skipped"
        except Exception as exc:  # an action's failure is its outcome, not the monitor's
            detail = _failure(exc)
            status = "failed"
            if isinstance(action, Retrain):
                retrained = []
        record = MonitorAction(
            evaluation_id=evaluation.id,
            monitor=monitor.name,
            kind=_kind(action),
            status=status,  # type: ignore[arg-type]
            started_at=started,
            finished_at=datetime.now(UTC),
            detail=_plain(detail),
        )
        done.append(ws.metadata.record_action(record))
        log.info("monitor %s: %s %s %s", monitor.name, record.kind, status, record.detail)
    return done


def _run(
    action: Action,
    monitor: Monitor,
    evaluation: MonitorEvaluation,
    ws: Workspace,
    retrained: list[int] | None,
) -> tuple[dict[str, object], list[int] | None]:
    if isinstance(action, Webhook):
        return _webhook(action, alert_body(monitor, evaluation, ws)), None
    if isinstance(action, Log):
        log.warning(
            "monitor %s fired on %s@%s: %s",
            monitor.name,
            evaluation.model,
            evaluation.version,
            evaluation.message,
        )
        return {"message": evaluation.message}, None
    if isinstance(action, Retrain):
        return _retrain(action, monitor, ws)
    return _promote(action, monitor, ws, retrained), None


def alert_body(monitor: Monitor, evaluation: MonitorEvaluation, ws: Workspace) -> dict[str, object]:
    """The JSON a webhook receives: who fired, on which version, why, with what figures."""
    drift = evaluation.figures.get("drift")
    return {
        "monitor": monitor.name,
        "model": evaluation.model,
        "version": evaluation.version,
        "reference": monitor.model,
        "status": evaluation.status,
        "evaluation_id": evaluation.id,
        "evaluated_at": evaluation.evaluated_at.isoformat(),
        "window": {
            "start": evaluation.window_start.isoformat() if evaluation.window_start else None,
            "end": evaluation.window_end.isoformat() if evaluation.window_end else None,
            "rows": evaluation.rows,
        },
        "message": evaluation.message,
        "rules": [dict(r) for r in evaluation.rules],
        "figures": dict(evaluation.figures),
        "drifted": list(drift.get("drifted", [])) if isinstance(drift, dict) else [],
        "link": _link(monitor, evaluation, ws),
    }


def _link(monitor: Monitor, evaluation: MonitorEvaluation, ws: Workspace) -> str:
    """The team server's page for the evaluation when one is configured, else the HTML report
    stored beside the artifacts."""
    ui = os.environ.get("CONVEYOR_UI_URL", "").rstrip("/")
    if ui:
        return f"{ui}/monitors/{monitor.name}/evaluations/{evaluation.id}"
    from conveyor.monitoring._html import store_report

    return store_report(monitor.name, evaluation, ws)


def _webhook(action: Webhook, body: dict[str, object]) -> dict[str, object]:
    import urllib.request

    headers = {"Content-Type": "application/json", "User-Agent": "conveyor-monitor"}
    headers.update({k: _expand(v) for k, v in action.headers.items()})
    data = json.dumps(body, default=str).encode()
    request = urllib.request.Request(action.url, data=data, headers=headers, method="POST")
    shown = _shown(action.url)
    try:
        send(request, timeout=action.timeout, retries=action.retries, backoff=_BACKOFF_S)
    except HttpFailure as failure:
        raise ConveyorError(
            f"webhook {shown}: {failure.problem}", url=shown, status_code=failure.status
        ) from None
    return {"url": shown}


def _shown(url: str) -> str:
    """A webhook's URL as stored and shown: its host only, since chat and paging services put
    the secret in the path."""
    parts = urllib.parse.urlsplit(url)
    host = parts.netloc.rsplit("@", 1)[-1]
    return f"{parts.scheme}://{host}/…" if parts.path.strip("/") else f"{parts.scheme}://{host}"


def _expand(value: str) -> str:
    try:
        return string.Template(value).substitute(os.environ)
    except KeyError as exc:
        raise ConveyorError(
            f"webhook header names the environment variable {exc.args[0]}, which is not set"
        ) from exc


def _retrain(
    action: Retrain, monitor: Monitor, ws: Workspace
) -> tuple[dict[str, object], list[int]]:
    pipeline, path = load_pipeline(action.pipeline)
    started = datetime.now(UTC)
    values = pipeline.params(dict(action.params))  # checked and converted like `conveyor run -p`
    run = run_pipeline(
        pipeline.build(**values), params=values, settings=ws.settings, source=str(path)
    )
    detail: dict[str, object] = {
        "pipeline": action.pipeline,
        "params": dict(action.params),
        "run_id": run.id,
        "run_status": run.status,
    }
    if run.status != "succeeded":
        failed = "; ".join(f"{s.name}: {s.error}" for s in run.failed_steps)
        raise ConveyorError(f"retraining run {run.id} {run.status}: {failed}", **detail)
    registered = [
        r.version
        for r in ws.metadata.list_model_versions(monitor.model_name)
        if r.run_id == run.id or (r.run_id is None and r.created_at >= started)
    ]
    detail["registered_versions"] = registered
    return detail, registered


def _promote(
    action: Promote, monitor: Monitor, ws: Workspace, retrained: list[int] | None
) -> dict[str, object]:
    from conveyor.registry import promote
    from conveyor.registry._gate import Gate

    name = monitor.model_name
    if retrained is not None:
        if not retrained:
            raise _Skipped("the retraining before it registered no new version")
        candidate = max(retrained)
    else:
        candidate = max(r.version for r in ws.metadata.list_model_versions(name))
    holder = ws.metadata.aliases(name).get(action.alias)
    if holder == candidate:
        raise _Skipped(f"{name}@{candidate} already holds {action.alias!r}")
    gate = None
    if action.gate is not None:  # a file named by the gate is read now, when it is used
        gate = Gate.from_dict(gate_to_dict(action.gate), base=Path.cwd())
    detail: dict[str, object] = {
        "model": name,
        "version": candidate,
        "alias": action.alias,
        "previous": holder,
    }
    try:
        move = promote(
            name,
            candidate,
            action.alias,
            gate=gate,
            reason=f"monitor {monitor.name} fired",
            actor=f"monitor:{monitor.name}",
            settings=ws.settings,
        )
    except GateFailed as exc:
        raise ConveyorError(exc.message, **{**detail, **exc.details}) from exc
    detail["moved"] = True
    detail["decision_id"] = move.decision_id
    return detail


def _failure(exc: BaseException) -> dict[str, object]:
    detail: dict[str, object] = {"error": f"{type(exc).__name__}: {exc}"}
    if isinstance(exc, ConveyorError):
        detail.update({k: v for k, v in exc.details.items() if k not in detail})
    return detail


def _kind(action: Action) -> str:
    return type(action).__name__.lower()


def _plain(detail: dict[str, object]) -> dict[str, object]:
    plain: object = json.loads(json.dumps(finite(detail), default=str))
    return plain  # type: ignore[return-value]
