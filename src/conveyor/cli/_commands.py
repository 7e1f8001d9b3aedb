"""What each command does once its arguments are parsed: call the library, render the result."""

from __future__ import annotations

import os
import sys
from datetime import UTC, datetime
from pathlib import Path

import click

from conveyor.cli import _render
from conveyor.cli._progress import LiveDag, PlainLog
from conveyor.core import Settings, load_settings
from conveyor.core._errors import PipelineDefinitionError, RunNotFound
from conveyor.engine import Run, Workspace, lineage, load_pipeline, reconcile
from conveyor.engine.executors import create_executor
from conveyor.store import RunRecord, StepRunRecord
from conveyor.tracking import get_run


def settings() -> Settings:
    return load_settings(os.environ, Path.cwd())


def parse_params(items: tuple[str, ...]) -> dict[str, str]:
    params: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise PipelineDefinitionError(f"-p takes KEY=VALUE, got {item!r}", parameter=item)
        params[key.strip()] = value
    return params


def run_pipeline_file(
    ref: str,
    raw_params: tuple[str, ...],
    no_cache: bool,
    workers: int | None,
    executor: str | None,
    targets: tuple[str, ...],
    address: str | None = None,
) -> Run:
    pipe, path = load_pipeline(ref)
    params = pipe.params(pipe.convert(parse_params(raw_params)))
    hook = LiveDag(sys.stdout) if sys.stdout.isatty() else PlainLog(sys.stdout)
    # a name is the run's to start and close; an executor joined at an address is ours
    chosen = executor if address is None else create_executor(executor, workers, address)
    try:
        run = pipe.run(
            targets=list(targets) or None,
            no_cache=no_cache,
            workers=workers,
            executor=chosen,
            hooks=[hook],
            settings=settings(),
            source=str(path.resolve()),
            **params,
        )
    finally:
        if not isinstance(chosen, str | None):
            chosen.shutdown()
    run.raise_for_status()
    click.echo(f"see the steps: conveyor runs show {run.id}")
    return run


def list_runs(pipeline: str | None, status: str | None, limit: int) -> None:
    with Workspace.open(settings()) as ws:
        now = datetime.now(UTC)
        if status in ("running", "crashed"):
            # a "running" run may have crashed: reconcile those before filtering
            reconcile(
                ws.metadata,
                ws.metadata.list_runs(pipeline=pipeline, status="running", limit=10_000),
                now,
            )
        runs = ws.metadata.list_runs(pipeline=pipeline, status=status, limit=limit)  # type: ignore[arg-type]
        _render.runs_table(reconcile(ws.metadata, runs, now))


def show_run(run_id: str, logs_of: str | None, show_traceback: bool) -> None:
    with Workspace.open(settings()) as ws:
        run = reconcile(ws.metadata, [ws.metadata.get_run(run_id)], datetime.now(UTC))[0]
        steps = ws.metadata.step_runs(run.id)
        if logs_of is not None:
            chosen = [s for s in steps if s.step == logs_of]
            if not chosen:
                names = ", ".join(s.step for s in steps) or "none"
                raise RunNotFound(f"{run.id}:{logs_of} (steps of this run: {names})")
            click.echo(chosen[0].logs or f"(step {logs_of!r} printed and logged nothing)")
            return
        print_run(ws, run, steps, show_traceback)


def print_run(
    ws: Workspace, run: RunRecord, steps: list[StepRunRecord], show_traceback: bool
) -> None:
    """The run, what it tracked, its steps, and its logged artifacts with their sizes."""
    tracked = get_run(run.id, settings=ws.settings)
    logged = ws.metadata.get_artifacts([a.artifact_id for a in tracked.artifacts])
    sizes = {address: record.size for address, record in logged.items()}
    _render.run_detail(run, steps, show_traceback, tracked, sizes)


def show_lineage(ref: str) -> None:
    with Workspace.open(settings()) as ws:
        _render.lineage_tree(lineage(ws.metadata, ref))
