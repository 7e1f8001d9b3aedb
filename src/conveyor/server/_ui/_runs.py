"""The pipelines page and the runs table: filters, sort, and pages read one at a time.

A page of runs is one ``search_table`` call for ``per_page + 1`` runs at an offset (the extra
run says whether there is a next page, so nothing counts every run). The pipelines are found
by skipping from one name to the next in the run index, one small query per pipeline, so a
store of 100,000 runs is never read whole.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from conveyor.core._errors import ConveyorError
from conveyor.server._auth import Identity
from conveyor.server._ui._query import PER_PAGE_CHOICES, RunsView, runs_view
from conveyor.server._ui._render import render
from conveyor.server._ui._site import Site, context
from conveyor.store import (
    RUN_STATUSES,
    Condition,
    MetadataStore,
    Ordering,
    RunQuery,
    RunRecord,
    RunTable,
)

MAX_PIPELINES: Final = 500
SHOWN_KEYS: Final = 6  # metric and param columns of the table, the most common on the page


@dataclass(frozen=True)
class RunRow:
    id: str
    pipeline: str
    status: str
    started_at: datetime
    finished_at: datetime | None
    user: str
    params: dict[str, str] = field(default_factory=dict)  # JSON text
    metrics: dict[str, float] = field(default_factory=dict)


def latest_per_pipeline(store: MetadataStore, limit: int = MAX_PIPELINES) -> list[RunRecord]:
    """The newest run of each pipeline, by pipeline name: one indexed query per pipeline."""
    found: list[RunRecord] = []
    below: str | None = None
    by_name = (Ordering("attributes", "pipeline", descending=True),)
    while len(found) < limit:
        before = () if below is None else (Condition("attributes", "pipeline", "<", below),)
        newest = store.search_runs(RunQuery(conditions=before, order_by=by_name, max_results=1))
        if not newest:
            break
        found.append(newest[0])
        below = newest[0].pipeline
    return found[::-1]


def table_rows(table: RunTable) -> list[RunRow]:
    rows = {
        run_id: RunRow(run_id, pipeline, status, started, finished, user)
        for run_id, pipeline, status, started, finished, user, _ in table.runs
    }
    for run_id, key, text in table.params:
        rows[run_id].params[key] = text
    for run_id, key, value in table.metrics:
        rows[run_id].metrics[key] = value
    return list(rows.values())


def common_keys(maps: Sequence[Mapping[str, object]], first: str = "") -> list[str]:
    """The keys most runs of the page have (then by name), ``first`` ahead of the others."""
    counts = Counter(key for values in maps for key in values)
    keys = sorted(counts, key=lambda k: (-counts[k], k))[:SHOWN_KEYS]
    if first and first in counts and first not in keys:
        keys = [first, *keys[: SHOWN_KEYS - 1]]
    return keys


class PipelineNames:
    """The pipelines' names for the runs page's filter, read again at most every ``keep_s``:
    reading them costs a query per pipeline, and they change only when a new pipeline runs."""

    def __init__(self, site: Site, keep_s: float = 10.0) -> None:
        self._site = site
        self._keep_s = keep_s
        self._names: list[str] | None = None
        self._read_at = 0.0

    async def get(self) -> list[str]:
        now = time.monotonic()
        if self._names is None or now - self._read_at > self._keep_s:
            self._names = [r.pipeline for r in await self._site.read(latest_per_pipeline)]
            self._read_at = now
        return self._names


def runs_routes(site: Site) -> list[BaseRoute]:
    names = PipelineNames(site)

    async def pipelines(request: Request, identity: Identity) -> Response:
        latest = await site.read(latest_per_pipeline)
        return render("pipelines.html", context(request, identity, pipelines=latest))

    async def runs(request: Request, identity: Identity) -> Response:
        view = runs_view(request.query_params)
        try:
            query = view.query()
        except ConveyorError as exc:  # a filter that does not parse: the form shows why
            return await _runs_page(names, request, identity, view, None, exc.message)

        def search(store: MetadataStore) -> RunTable:
            return store.search_table(query)

        try:
            table = await site.read(search)
        except ConveyorError as exc:  # a key the store refuses (sort by a bad key…)
            return await _runs_page(names, request, identity, view, None, exc.message)
        return await _runs_page(names, request, identity, view, table, "")

    return [
        Route("/ui/pipelines", site.page(pipelines), methods=["GET"]),
        Route("/ui/runs", site.page(runs), methods=["GET"]),
    ]


async def _runs_page(
    names: PipelineNames,
    request: Request,
    identity: Identity,
    view: RunsView,
    table: RunTable | None,
    problem: str,
) -> Response:
    rows = table_rows(table) if table is not None else []
    has_next = len(rows) > view.per_page
    rows = rows[: view.per_page]
    past_the_end = table is not None and not rows and view.page > 1
    sorted_key = view.sort.partition(".")[2]
    status = 400 if problem else 404 if past_the_end else 200
    values = context(
        request,
        identity,
        view=view,
        rows=rows,
        has_next=has_next,
        past_the_end=past_the_end,
        problem=problem,
        statuses=RUN_STATUSES,
        per_page_choices=PER_PAGE_CHOICES,
        pipelines=await names.get(),
        metric_keys=common_keys([r.metrics for r in rows], sorted_key),
        param_keys=common_keys([r.params for r in rows], sorted_key),
    )
    return render("runs.html", values, status)
