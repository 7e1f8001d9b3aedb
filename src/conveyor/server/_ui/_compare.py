"""Runs side by side: parameters (the ones that differ marked), latest metrics, and each metric's
series of every run overlaid on one chart."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from conveyor.server._auth import Identity
from conveyor.server._ui._charts import Chart, line_chart
from conveyor.server._ui._formats import shown
from conveyor.server._ui._render import render
from conveyor.server._ui._run import MAX_CHARTS, series_of
from conveyor.server._ui._site import Site, bad, context
from conveyor.store import MetadataStore, MetricPoint, RunData, RunRecord

MAX_RUNS: Final = 10


@dataclass(frozen=True)
class Row:
    key: str
    values: list[str]  # one per run, "" where the run has no such value

    @property
    def differs(self) -> bool:
        return len(set(self.values)) > 1


@dataclass(frozen=True)
class Comparison:
    runs: list[RunRecord]
    params: list[Row]
    metrics: list[Row]
    charts: list[Chart]


def compare(store: MetadataStore, run_ids: list[str]) -> Comparison:
    runs = [store.get_run(run_id) for run_id in run_ids]
    data = store.run_data([r.id for r in runs])
    params: list[dict[str, object]] = [{**r.params, **data[r.id].params} for r in runs]
    metric_keys = sorted({key for r in runs for key in data[r.id].metrics})
    histories = {
        key: [store.metric_history(r.id, key) for r in runs] for key in metric_keys[:MAX_CHARTS]
    }
    return Comparison(
        runs,
        [
            Row(key, [shown(p[key]) if key in p else "" for p in params])
            for key in sorted({k for p in params for k in p})
        ],
        [Row(key, _latest(runs, data, key)) for key in metric_keys],
        [
            line_chart(key, [(r.id, series_of(h)) for r, h in zip(runs, series, strict=True)])
            for key, series in histories.items()
            if any(len(h) > 1 for h in series)
        ],
    )


def _latest(runs: list[RunRecord], data: dict[str, RunData], key: str) -> list[str]:
    points: list[MetricPoint | None] = [data[r.id].metrics.get(key) for r in runs]
    return ["" if p is None else shown(p.value) for p in points]


def chosen_runs(request: Request) -> list[str]:
    """The run ids the runs table sent, each once, in the order they were picked."""
    ids = list(dict.fromkeys(i.strip() for i in request.query_params.getlist("run") if i.strip()))
    if len(ids) < 2:
        raise bad(400, "pick at least two runs to compare (tick them in the runs table)")
    if len(ids) > MAX_RUNS:
        raise bad(400, f"at most {MAX_RUNS} runs can be compared at once; {len(ids)} were picked")
    return ids


def compare_routes(site: Site) -> list[BaseRoute]:
    async def compare_page(request: Request, identity: Identity) -> Response:
        run_ids = chosen_runs(request)
        found = await site.read(lambda store: compare(store, run_ids))
        return render("compare.html", context(request, identity, cmp=found))

    return [Route("/ui/compare", site.page(compare_page), methods=["GET"])]
