"""Monitors: each with its newest evaluation, and one monitor's drift per feature over its
evaluations (the measure its drift rule uses, against that rule's threshold), its evaluations,
alerts and actions.

Figures are read as the monitoring package writes them (``figures["drift"]`` holds
``method``, ``threshold``, ``share_drifted`` and ``features`` → {psi, js, p_value, drifted}); a
value missing or not a number is left out of a chart rather than failing the page.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from conveyor.server._auth import Identity
from conveyor.server._ui._charts import Chart, line_chart
from conveyor.server._ui._render import render
from conveyor.server._ui._site import Site, context
from conveyor.store import (
    MetadataStore,
    MonitorAction,
    MonitorAlert,
    MonitorEvaluation,
    MonitorRecord,
)

EVALUATIONS: Final = 100
SHOWN: Final = 50  # alerts, actions and evaluations listed
MAX_FEATURES: Final = 24
_MEASURES: Final = {"psi": "psi", "js": "js", "p_value": "p_value"}


@dataclass(frozen=True)
class MonitorPage:
    monitor: MonitorRecord
    evaluations: list[MonitorEvaluation]  # newest first
    alerts: list[MonitorAlert]
    actions: list[MonitorAction]  # newest first


def read_monitor(store: MetadataStore, name: str) -> MonitorPage:
    return MonitorPage(
        store.get_monitor(name),
        store.evaluations(name, limit=EVALUATIONS),
        store.alerts(name, limit=SHOWN),
        store.actions(name)[::-1][:SHOWN],
    )


def drift_of(evaluation: MonitorEvaluation) -> Mapping[str, object]:
    drift = evaluation.figures.get("drift")
    return drift if isinstance(drift, Mapping) else {}


def features_of(evaluation: MonitorEvaluation) -> Mapping[str, Mapping[str, object]]:
    features = drift_of(evaluation).get("features")
    if not isinstance(features, Mapping):
        return {}
    return {str(k): v for k, v in features.items() if isinstance(v, Mapping)}


def drift_charts(evaluations: Sequence[MonitorEvaluation]) -> list[Chart]:
    """The share of features drifted, then each feature's measure, over the evaluations."""
    oldest_first = list(reversed(evaluations))
    charts = []
    shares = [
        (e.evaluated_at.timestamp(), _number(drift_of(e).get("share_drifted")))
        for e in oldest_first
    ]
    if any(v is not None for _, v in shares):
        charts.append(
            line_chart(
                "share of features drifted", [("share", _known(shares))], x_label=_day, x_time=True
            )
        )
    newest = evaluations[0] if evaluations else None
    drift = drift_of(newest) if newest is not None else {}
    measure = _MEASURES.get(str(drift.get("method")), "psi")
    threshold = _number(drift.get("threshold")) if measure == drift.get("method") else None
    names = list(dict.fromkeys(n for e in oldest_first for n in features_of(e)))[:MAX_FEATURES]
    for name in names:
        points = [
            (e.evaluated_at.timestamp(), _number(features_of(e).get(name, {}).get(measure)))
            for e in oldest_first
        ]
        title = f"{name}: {measure.replace('_', '-')}"
        charts.append(
            line_chart(
                title, [(name, _known(points))], x_label=_day, x_time=True, threshold=threshold
            )
        )
    return charts


def drifted_grid(evaluations: Sequence[MonitorEvaluation], columns: int = 12) -> dict[str, object]:
    """Features × the newest ``columns`` evaluations: drifted or not, at a glance."""
    shown = list(reversed(evaluations[:columns]))
    names = list(dict.fromkeys(n for e in shown for n in features_of(e)))[:MAX_FEATURES]
    cells = {name: [features_of(e).get(name, {}).get("drifted") for e in shown] for name in names}
    return {"evaluations": shown, "cells": cells}


def _known(points: list[tuple[float, float | None]]) -> list[tuple[float, float]]:
    return [(x, y) for x, y in points if y is not None]


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _day(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%m-%d %H:%M")


def monitors_routes(site: Site) -> list[BaseRoute]:
    async def monitors(request: Request, identity: Identity) -> Response:
        def read(store: MetadataStore) -> list[tuple[MonitorRecord, MonitorEvaluation | None]]:
            latest = {e.monitor: e for e in store.latest_evaluations()}
            return [(m, latest.get(m.name)) for m in store.list_monitors()]

        found = await site.read(read)
        return render(
            "monitors.html", context(request, identity, monitors=found, drift_of=drift_of)
        )

    async def monitor(request: Request, identity: Identity) -> Response:
        name = request.path_params["name"]
        page = await site.read(lambda store: read_monitor(store, name))
        values = context(
            request,
            identity,
            page=page,
            charts=drift_charts(page.evaluations),
            grid=drifted_grid(page.evaluations),
            drift_of=drift_of,
        )
        return render("monitor.html", values)

    return [
        Route("/ui/monitors", site.page(monitors), methods=["GET"]),
        Route("/ui/monitors/{name}", site.page(monitor), methods=["GET"]),
    ]
