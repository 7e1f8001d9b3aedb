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
from conveyor.cli._data import diff_tables
from conveyor.cli._loading import load_pipeline
from conveyor.cli._progress import LiveDag, PlainLog
from conveyor.core import load_settings
from conveyor.engine import Workspace
from conveyor.engine import _datasets as datasets
from conveyor.engine._datasets import profile_of, resolve_ref


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

    module = sys.modules[pipe.fn.__module__]
    module.deliver(3)  # the first three of four deliveries of wine measurements

    click.secho(f"\n1. Running the wine pipeline in {folder} on 3 files of data", bold=True)
    first = pipe.run(
        n_estimators=50, hooks=[hook()], settings=settings, source=str(pipeline_file)
    ).raise_for_status()
    click.echo(f"   scores: {first.outputs['evaluate']}   data: {first.outputs['profile']}")
    before = datasets.register("wine", first.outputs["combine"], settings=settings)
    click.echo(f"   the cleaned table is registered as dataset version {before.ref}")

    click.secho(
        "\n2. Changing one parameter (n_estimators 50 → 200): only train and evaluate run again",
        bold=True,
    )
    second = pipe.run(
        n_estimators=200, hooks=[hook()], settings=settings, source=str(pipeline_file)
    ).raise_for_status()
    click.echo(f"   scores: {second.outputs['evaluate']}")

    click.secho(
        "\n3. A fourth file arrives: only it is cleaned; the steps after it run again", bold=True
    )
    module.deliver(4)
    third = pipe.run(
        n_estimators=200, hooks=[hook()], settings=settings, source=str(pipeline_file)
    ).raise_for_status()
    click.echo(f"   scores: {third.outputs['evaluate']}")
    after = datasets.register("wine", third.outputs["combine"], settings=settings)

    click.secho("\n4. What conveyor recorded for that run", bold=True)
    with Workspace.open(settings) as ws:
        _render.run_detail(
            ws.metadata.get_run(third.id), ws.metadata.step_runs(third.id), show_traceback=False
        )

    click.secho(
        f"\n5. How the data changed: conveyor data diff {before.ref} {after.ref}", bold=True
    )
    with Workspace.open(settings) as ws:
        old, new = resolve_ref(before.ref, ws), resolve_ref(after.ref, ws)
        diff_tables(old, new, profile_of(old, ws), profile_of(new, ws))

    click.secho("\nWhat to try next", bold=True)
    click.echo(f"  cd {folder}")
    click.echo("  conveyor run pipeline.py:wine -p n_estimators=200  # all cached: nothing runs")
    click.echo("  conveyor runs list")
    click.echo(f"  conveyor runs show {third.id}")
    click.echo(f"  conveyor lineage {third.id}")
    click.echo("  conveyor data list")
    click.echo(f"  conveyor data show {after.ref}")
    click.echo("  edit a step in pipeline.py and run again: it and the steps after it re-run")
