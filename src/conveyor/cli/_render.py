"""Terminal rendering of runs, steps and lineage with Rich (plain text when piped)."""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.tree import Tree

from conveyor.core._json import finite
from conveyor.core._resources import format_bytes
from conveyor.engine import Lineage
from conveyor.store import RunRecord, StepRunRecord
from conveyor.tracking import TrackedRun

# piped output is read by scripts and people alike: wide enough that ids are never cut
_console = Console(highlight=False, width=None if sys.stdout.isatty() else 200)

_STATUS = {
    "succeeded": "green",
    "cached": "cyan",
    "failed": "bold red",
    "crashed": "bold red",
    "worker lost": "bold red",  # an attempt's outcomes
    "timed out": "bold red",
    "skipped": "yellow",
    "running": "magenta",
    # a monitor's verdicts
    "ok": "green",
    "firing": "bold red",
    "no_data": "yellow",
    "error": "yellow",
}


def table(*columns: str, wrapped: Collection[str] = ()) -> Table:
    """A borderless table; the ``wrapped`` columns hold free text that may wrap on a narrow
    terminal, the others (ids, numbers, times) are never cut."""
    grid = Table(box=None, pad_edge=False)
    for column in columns:
        grid.add_column(column, no_wrap=column not in wrapped)
    return grid


def _status(text: str) -> str:
    return f"[{_STATUS.get(text, '')}]{text}[/]"


def _when(at: datetime | None) -> str:
    return at.astimezone().strftime("%Y-%m-%d %H:%M:%S") if at else "-"


def _bytes(n: int | None) -> str:
    return "-" if n is None else format_bytes(n)


def runs_table(runs: Sequence[RunRecord]) -> None:
    if not runs:
        _console.print("no runs yet: `conveyor run FILE[:PIPELINE]` starts one")
        return
    table = Table(box=None, pad_edge=False)
    table.add_column("run", no_wrap=True)
    for column in ("pipeline", "status", "started", "duration", "params"):
        table.add_column(column, no_wrap=column != "params")
    for run in runs:
        duration = (
            f"{(run.finished_at - run.started_at).total_seconds():.2f}s" if run.finished_at else "-"
        )
        params = " ".join(f"{k}={v}" for k, v in run.params.items())
        table.add_row(
            run.id, run.pipeline, _status(run.status), _when(run.started_at), duration, params
        )
    _console.print(table)


def run_detail(
    run: RunRecord,
    steps: Sequence[StepRunRecord],
    show_traceback: bool,
    tracked: TrackedRun | None = None,
    sizes: Mapping[str, int | None] | None = None,
) -> None:
    """The run, where it ran, what it tracked, its steps and the artifacts it logged.

    ``sizes`` maps a logged artifact's id to its size in bytes.
    """
    _console.print(
        f"[bold]run[/] {run.id}  [bold]pipeline[/] {run.pipeline}  "
        f"[bold]status[/] {_status(run.status)}"
    )
    _console.print(
        f"started {_when(run.started_at)}  finished {_when(run.finished_at)}  "
        f"host {run.host} pid {run.pid}"
    )
    if tracked is not None:
        _where(tracked)
    if run.source:
        _console.print(f"source: {run.source}")
    if run.error:
        _console.print(f"[red]error:[/] {run.error}")
    # the pipeline's parameters are recorded with the run; steps may log more
    params = {**run.params, **(tracked.params if tracked else {})}
    for label, values in (
        ("params", params),
        ("metrics", tracked.metrics if tracked else {}),
        ("tags", tracked.tags if tracked else {}),
    ):
        if values:
            pairs = (f"{k}={value_text(v)}" for k, v in sorted(values.items()))
            _console.print(f"[bold]{label}:[/] " + escape("  ".join(pairs)))
    table = Table(box=None, pad_edge=False)
    for column in (
        "step",
        "status",
        "why",
        "wall",
        "cpu",
        "peak mem",
        "rows in/out",
        "bytes in/out",
    ):
        table.add_column(column, no_wrap=column != "why")
    for step in steps:
        why = step.reason or ""
        if step.status == "cached":
            why = f"cache hit (from {step.cached_from})"
        elif step.status == "failed":
            why = f"{step.error}" + (
                f" [after {step.attempts} attempts]" if step.attempts > 1 else ""
            )
        rows = f"{_n(step.rows_in)}/{_n(step.rows_out)}"
        table.add_row(
            step.step,
            _status(step.status),
            why,
            f"{step.duration:.3f}s" if step.status in ("succeeded", "failed") else "-",
            f"{step.cpu_seconds:.3f}s" if step.status in ("succeeded", "failed") else "-",
            _bytes(step.peak_rss_bytes),
            rows,
            f"{_bytes(step.bytes_in)}/{_bytes(step.bytes_out)}",
        )
    _console.print(table)
    _attempts(run, steps)
    if show_traceback:
        for step in steps:
            if step.traceback:
                _console.print(f"[bold red]{step.step}[/]")
                _console.print(step.traceback, markup=False)
    if tracked is not None and tracked.artifacts:
        _logged_artifacts(tracked, sizes or {})
    logged = [s.step for s in steps if s.logs]
    if logged:
        _console.print(f"logs: conveyor runs show {run.id} --logs STEP  ({', '.join(logged)})")


def _attempts(run: RunRecord, steps: Sequence[StepRunRecord]) -> None:
    """Each attempt of the steps that were retried or ran outside the run's own process (a
    worker process, Dask or Ray): where it ran and how it ended."""
    here = f"{run.host}:{run.pid}"
    shown = [
        s
        for s in steps
        if len(s.attempt_log) > 1 or any(a.worker not in ("", here) for a in s.attempt_log)
    ]
    if not shown:
        return
    table = Table(box=None, pad_edge=False, title="attempts", title_justify="left")
    for column in ("step", "attempt", "worker", "outcome", "wall", "error"):
        table.add_column(column, no_wrap=column != "error")
    for step in shown:
        for attempt in step.attempt_log:
            table.add_row(
                step.step,
                str(attempt.number),
                attempt.worker or "-",
                _status(attempt.status),
                f"{attempt.duration:.3f}s",
                escape(attempt.error or ""),
            )
    _console.print(table)


def _where(tracked: TrackedRun) -> None:
    env = tracked.environment
    parts = [f"user {escape(tracked.user)}"] if tracked.user else []
    if tracked.git_commit:
        dirty = " (dirty)" if tracked.git_dirty else ""
        parts.append(f"git {tracked.git_commit[:12]}{dirty}")
    python = env.get("python")
    if python:
        implementation = env.get("implementation")
        parts.append(f"python {python}" + (f" ({implementation})" if implementation else ""))
    if env.get("platform"):
        parts.append(escape(str(env["platform"])))
    if parts:
        _console.print("  ".join(parts))
    packages = env.get("packages")
    if isinstance(packages, Mapping) and packages:
        listed = ", ".join(f"{name} {version}" for name, version in sorted(packages.items()))
        _console.print(f"packages: {escape(listed)}")


def _logged_artifacts(tracked: TrackedRun, sizes: Mapping[str, int | None]) -> None:
    table = Table(box=None, pad_edge=False, title="logged artifacts", title_justify="left")
    for column in ("name", "size", "step", "artifact"):
        table.add_column(column, no_wrap=True)
    for artifact in sorted(tracked.artifacts, key=lambda a: (a.step_name, a.name)):
        table.add_row(
            escape(artifact.name),
            _bytes(sizes.get(artifact.artifact_id)),
            escape(artifact.step_name) or "-",
            f"{artifact.artifact_id[:19]}…",
        )
    _console.print(table)


def value_text(value: object) -> str:
    """A tracked value as people read it: numbers to six significant digits, text as is."""
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.6g}"
    if isinstance(value, str):
        return value
    if isinstance(value, bool | int):
        return str(value)
    return json.dumps(value, sort_keys=True, default=str)


def json_text(document: object) -> str:
    """``document`` as strict JSON: NaN and infinities, which JSON lacks, become null."""
    return json.dumps(finite(document), indent=2, default=str, allow_nan=False)


def _n(value: int | None) -> str:
    return "-" if value is None else str(value)


def lineage_tree(graph: Lineage) -> None:
    title = f"run {graph.root}" if graph.run else f"artifact {graph.root}"
    tree = Tree(f"[bold]{title}[/]")
    shown: set[str] = set()
    if graph.run is not None:
        sinks = [s for s in graph.steps.values() if s.run_id == graph.run.id and _is_sink(graph, s)]
        for step in sinks:
            _add_step(tree, graph, step, shown)
    else:
        _add_artifact(tree, graph, graph.root, shown)
    _console.print(tree)


def _is_sink(graph: Lineage, step: StepRunRecord) -> bool:
    outputs = {link.artifact_id for link in step.outputs}
    return not any(
        link.artifact_id in outputs
        for other in graph.steps.values()
        if other.run_id == step.run_id
        for link in other.inputs
    )


def _add_step(parent: Tree, graph: Lineage, step: StepRunRecord, shown: set[str]) -> None:
    label = f"step [bold]{step.step}[/] {_status(step.status)} ({step.id}, run {step.run_id})"
    if step.id in shown:
        parent.add(label + " [dim]↑ shown above[/]")
        return
    shown.add(step.id)
    node = parent.add(label)
    for link in step.outputs:
        record = graph.artifacts.get(link.artifact_id)
        kind = f"{record.type_name}, {_bytes(record.size)}" if record else ""
        node.add(f"[dim]→ {link.name}: {link.artifact_id[:19]}… {kind}[/]")
    for link in step.inputs:
        _add_artifact(node, graph, link.artifact_id, shown, name=link.name, consumer=step)


def _add_artifact(
    parent: Tree,
    graph: Lineage,
    artifact_id: str,
    shown: set[str],
    name: str = "",
    consumer: StepRunRecord | None = None,
) -> None:
    record = graph.artifacts.get(artifact_id)
    kind = f" {record.type_name}, {_bytes(record.size)}" if record else ""
    rows = f", {record.rows} rows" if record and record.rows is not None else ""
    prefix = f"{name} ← " if name else ""
    node = parent.add(f"{prefix}artifact {artifact_id[:19]}…{kind}{rows}")
    producer = graph.producer_of(artifact_id, consumer)
    if producer is not None:
        _add_step(node, graph, producer, shown)
