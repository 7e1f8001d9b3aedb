"""``conveyor quickstart``: run the wine pipeline twice in a folder of its own and explain what
happened, so a new user sees running, caching, tracking and lineage in one minute."""

from __future__ import annotations

import shutil
import sys
import tempfile
from importlib import resources
from pathlib import Path

import click

from conveyor.cli import _render
from conveyor.cli._loading import load_pipeline
from conveyor.cli._progress import LiveDag, PlainLog
from conveyor.core import load_settings
from conveyor.engine import Workspace


def quickstart(folder: Path | None) -> None:
    folder = (folder or Path(tempfile.mkdtemp(prefix="conveyor-quickstart-"))).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    pipeline_file = folder / "pipeline.py"
    template = resources.files("conveyor.cli.templates").joinpath("wine.py")
    with resources.as_file(template) as source:
        shutil.copyfile(source, pipeline_file)
    # the quickstart keeps everything in its own folder, whatever the environment says
    settings = load_settings({}, folder)
    pipe, _ = load_pipeline(f"{pipeline_file}:wine")

    def hook() -> LiveDag | PlainLog:
        return LiveDag(sys.stdout) if sys.stdout.isatty() else PlainLog(sys.stdout)

    click.secho(f"\n1. Running the wine pipeline in {folder}", bold=True)
    first = pipe.run(
        n_estimators=50, hooks=[hook()], settings=settings, source=str(pipeline_file)
    ).raise_for_status()
    click.echo(f"   scores: {first.outputs['evaluate']}   data: {first.outputs['profile']}")

    click.secho(
        "\n2. Changing one parameter (n_estimators 50 → 200): only train and evaluate run again",
        bold=True,
    )
    second = pipe.run(
        n_estimators=200, hooks=[hook()], settings=settings, source=str(pipeline_file)
    ).raise_for_status()
    click.echo(f"   scores: {second.outputs['evaluate']}")

    click.secho("\n3. What conveyor recorded for the second run", bold=True)
    with Workspace.open(settings) as ws:
        _render.run_detail(
            ws.metadata.get_run(second.id), ws.metadata.step_runs(second.id), show_traceback=False
        )

    click.secho("\nWhat to try next", bold=True)
    click.echo(f"  cd {folder}")
    click.echo("  conveyor run pipeline.py:wine -p n_estimators=50   # all cached: nothing runs")
    click.echo("  conveyor runs list")
    click.echo(f"  conveyor runs show {second.id}")
    click.echo(f"  conveyor lineage {second.id}")
    click.echo("  edit a step in pipeline.py and run again: it and the steps after it re-run")
