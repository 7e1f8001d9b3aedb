"""Reading tracked runs back: ``cv.search_runs`` (a DataFrame), ``cv.get_run`` (one run).

Both open the stores once per process (``Workspace.shared``), so a notebook or a service that
searches often pays for connecting once.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from conveyor.core import Settings
from conveyor.core._errors import ConveyorError
from conveyor.engine import StepResult, Workspace
from conveyor.store._tracking_records import LoggedArtifact, RunData, RunQuery
from conveyor.tracking._filter import parse_filter, parse_order_by

if TYPE_CHECKING:
    import pandas as pd

_RUN_FIELDS = ("run_id", "pipeline", "status", "started_at", "finished_at", "user", "git_commit")
_SHOWN = (
    "run_id",
    "pipeline",
    "status",
    "started_at",
    "finished_at",
    "duration",
    "user",
    "git_commit",
)


def search_runs(
    pipeline: str | Sequence[str] | None = None,
    filter: str | None = None,  # the name MLflow users know
    order_by: Sequence[str] | str | None = None,
    max_results: int = 1000,
    *,
    parent_id: str | None = None,
    include_children: bool = True,
    settings: Settings | None = None,
) -> pd.DataFrame:
    """Runs as a DataFrame: one row per run, columns ``run_id``, ``pipeline``, ``status``,
    ``started_at``, ``finished_at``, ``duration``, ``user``, ``git_commit``, then
    ``params.<key>``, ``metrics.<key>`` (the latest value) and ``tags.<key>``.

    Args:
        pipeline: Only runs of this pipeline (or of these pipelines).
        filter: Conditions joined by ``and``, e.g.
            ``"metrics.accuracy > 0.9 and params.n_estimators >= 100"``.
        order_by: e.g. ``["metrics.accuracy desc"]``; then newest first.
        max_results: At most this many rows.
        parent_id: Only the child runs of this run (the trials of a ``cv.tune``).
        include_children: False leaves child runs out.

    Raises:
        ConveyorError: the filter or an ordering cannot be parsed; the message shows where.
    """
    import pandas as pd

    if isinstance(max_results, bool) or not isinstance(max_results, int) or max_results < 1:
        raise ConveyorError(f"max_results must be a positive integer, got {max_results!r}")
    pipelines = (pipeline,) if isinstance(pipeline, str) else tuple(pipeline or ())
    orders = [order_by] if isinstance(order_by, str) else list(order_by or ())
    query = RunQuery(
        pipelines=pipelines,
        conditions=parse_filter(filter or ""),
        order_by=parse_order_by(orders),
        max_results=max_results,
        parent_id=parent_id,
        include_children=include_children,
    )
    table = _workspace(settings).metadata.search_table(query)
    columns: dict[str, list[object]] = {
        name: [row[i] for row in table.runs] for i, name in enumerate(_RUN_FIELDS)
    }
    columns["duration"] = [
        None if row[4] is None else _seconds(row[4] - row[3]) for row in table.runs
    ]
    position = {row[0]: i for i, row in enumerate(table.runs)}
    tracked: dict[str, list[object]] = {}
    count = len(table.runs)
    texts: list[tuple[str, list[tuple[str, str, str]]]] = [
        ("params.", table.params),
        ("tags.", table.tags),
    ]
    for prefix, rows in texts:
        for run_id, key, text in rows:
            _column(tracked, prefix + key, count)[position[run_id]] = _decoded(text)
    for run_id, key, number in table.metrics:
        _column(tracked, "metrics." + key, count)[position[run_id]] = number
    frame = pd.DataFrame(
        {**{k: columns[k] for k in _SHOWN}, **{k: tracked[k] for k in sorted(tracked)}}
    )
    for name in (k for k in tracked if k.startswith("metrics.")):
        frame[name] = frame[name].astype("float64")
    return frame


@dataclass(frozen=True)
class TrackedRun:
    """A run with everything tracked about it. ``metric_history(key)`` has every point."""

    id: str
    pipeline: str
    status: str
    started_at: datetime
    finished_at: datetime | None
    params: Mapping[str, object]
    metrics: Mapping[str, float]  # the latest value of each
    tags: Mapping[str, object]
    steps: tuple[StepResult, ...]
    artifacts: tuple[LoggedArtifact, ...]
    user: str = ""
    host: str = ""
    git_commit: str | None = None
    git_dirty: bool | None = None
    environment: Mapping[str, object] = field(default_factory=dict)
    parent_id: str | None = None
    error: str | None = None
    _settings: Settings | None = field(default=None, repr=False, compare=False)

    @property
    def duration(self) -> float | None:
        return None if self.finished_at is None else _seconds(self.finished_at - self.started_at)

    def metric_history(self, key: str) -> pd.DataFrame:
        """Every logged point of ``key``: columns ``step``, ``value``, ``timestamp`` (UTC) and
        ``step_name`` (the pipeline step that logged it), by step then time."""
        import pandas as pd

        points = _workspace(self._settings).metadata.metric_history(self.id, key)
        if not points and key not in self.metrics:
            known = ", ".join(sorted(self.metrics)) or "none"
            raise ConveyorError(
                f"run {self.id} has no metric {key!r}; its metrics: {known}", key=key
            )
        return pd.DataFrame(
            {
                "step": pd.array([p.step for p in points], dtype="int64"),
                "value": pd.array([p.value for p in points], dtype="float64"),
                "timestamp": pd.to_datetime([p.timestamp for p in points], unit="s", utc=True),
                "step_name": [p.step_name for p in points],
            }
        )


def get_run(run_id: str, *, settings: Settings | None = None) -> TrackedRun:
    """The run (a unique prefix of its id will do), with its params, latest metrics, tags,
    steps and logged artifacts.

    Raises:
        RunNotFound: no run has this id.
    """
    store = _workspace(settings).metadata
    run = store.get_run(run_id)
    data = store.run_data([run.id]).get(run.id, RunData())
    return TrackedRun(
        id=run.id,
        pipeline=run.pipeline,
        status=run.status,
        started_at=run.started_at,
        finished_at=run.finished_at,
        params={k: _decoded(v) for k, v in data.params.items()},
        metrics={k: p.value for k, p in data.metrics.items()},
        tags={k: _decoded(v) for k, v in data.tags.items()},
        steps=tuple(StepResult.from_record(s) for s in store.step_runs(run.id)),
        artifacts=tuple(store.logged_artifacts(run.id)),
        user=run.user,
        host=run.host,
        git_commit=run.git_commit,
        git_dirty=run.git_dirty,
        environment=run.environment,
        parent_id=run.parent_id,
        error=run.error,
        _settings=settings,
    )


def _workspace(settings: Settings | None) -> Workspace:
    return Workspace.for_api(settings)


def _column(columns: dict[str, list[object]], name: str, rows: int) -> list[object]:
    column = columns.get(name)
    if column is None:
        column = columns[name] = [None] * rows
    return column


def _decoded(text: str) -> object:
    try:
        return json.loads(text)
    except ValueError:
        return text


def _seconds(delta: timedelta) -> float:
    return delta.total_seconds()
