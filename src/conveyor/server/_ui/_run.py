"""One run: its steps as a graph and a timeline, its parameters, metrics with their charts, each
step's logs and errors, and the artifacts it read, wrote and logged.

Everything is read in one worker thread; metric histories are read for at most
``MAX_CHARTS`` metrics.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from conveyor.server._auth import Identity
from conveyor.server._ui._charts import Chart, Timeline, line_chart, timeline
from conveyor.server._ui._dag import run_graph, step_state
from conveyor.server._ui._graph import Layout
from conveyor.server._ui._render import render
from conveyor.server._ui._site import Site, context
from conveyor.store import (
    ArtifactRecord,
    LoggedArtifact,
    MetadataStore,
    MetricPoint,
    RunData,
    RunRecord,
    StepRunRecord,
)

MAX_CHARTS: Final = 12


@dataclass(frozen=True)
class RunPage:
    run: RunRecord
    steps: list[StepRunRecord]
    data: RunData
    params: dict[str, object]  # logged params (JSON text) over the pipeline's parameters
    logged: list[LoggedArtifact]
    artifacts: dict[str, ArtifactRecord]
    histories: dict[str, list[MetricPoint]]
    children: list[RunRecord]


def read_run(store: MetadataStore, run_id: str) -> RunPage:
    run = store.get_run(run_id)
    steps = store.step_runs(run.id)
    data = store.run_data([run.id])[run.id]
    logged = store.logged_artifacts(run.id)
    addresses = {link.artifact_id for s in steps for link in (*s.inputs, *s.outputs)}
    addresses |= {a.artifact_id for a in logged}
    histories = {
        key: store.metric_history(run.id, key) for key in sorted(data.metrics)[:MAX_CHARTS]
    }
    params: dict[str, object] = {**run.params, **data.params}
    return RunPage(
        run,
        steps,
        data,
        dict(sorted(params.items())),
        logged,
        store.get_artifacts(addresses),
        histories,
        store.child_runs(run.id),
    )


def series_of(points: list[MetricPoint]) -> list[tuple[float, float]]:
    """(x, value) of a metric series: by the step index given to log_metric, or by logging
    order when every point has the same step."""
    if len({p.step for p in points}) > 1:
        return [(float(p.step), p.value) for p in points]
    return [(float(i), p.value) for i, p in enumerate(points)]


def metric_charts(histories: dict[str, list[MetricPoint]]) -> list[Chart]:
    return [
        line_chart(key, [(key, series_of(points))])
        for key, points in histories.items()
        if len(points) > 1
    ]


def step_timeline(run: RunRecord, steps: list[StepRunRecord]) -> Timeline:
    start = min([run.started_at, *(s.started_at for s in steps)])
    ordered = sorted(steps, key=lambda s: (s.started_at, s.finished_at))
    return timeline(
        [
            (
                s.step,
                step_state(s),
                (s.started_at - start).total_seconds(),
                (s.finished_at - start).total_seconds(),
            )
            for s in ordered
        ]
    )


def run_routes(site: Site) -> list[BaseRoute]:
    async def run_page(request: Request, identity: Identity) -> Response:
        run_id = request.path_params["run_id"]
        page = await site.read(lambda store: read_run(store, run_id))
        graph: Layout = run_graph(page.steps)
        values = context(
            request,
            identity,
            page=page,
            run=page.run,
            graph=graph,
            timeline=step_timeline(page.run, page.steps) if page.steps else None,
            charts=metric_charts(page.histories),
            states={s.id: step_state(s) for s in page.steps},
        )
        return render("run.html", values)

    return [Route("/ui/runs/{run_id}", site.page(run_page), methods=["GET"])]
