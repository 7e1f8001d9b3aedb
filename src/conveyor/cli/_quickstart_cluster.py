"""The quickstart's cluster act: the same pipeline on a local Dask cluster, its cache shared."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path

import click

from conveyor.authoring import Pipeline
from conveyor.cli._commands import print_run
from conveyor.core import Settings
from conveyor.engine import RunHook, Workspace


def run_on_a_cluster(
    pipe: Pipeline, settings: Settings, pipeline_file: Path, hook: Callable[[], RunHook]
) -> None:
    click.secho(
        "\n10. The same pipeline on a Dask cluster (conveyor run --executor dask)", bold=True
    )
    if importlib.util.find_spec("distributed") is None:
        click.echo("   Dask is not installed here: pip install 'conveyor[dask]' to see this step")
        return
    from conveyor.engine.executors._dask import DaskExecutor

    click.echo("   a LocalCluster of 2 worker processes; training with n_estimators=300:")
    with DaskExecutor(workers=2) as cluster:
        run = pipe.run(
            n_estimators=300,
            executor=cluster,
            hooks=[hook()],
            settings=settings,
            source=str(pipeline_file),
        ).raise_for_status()
    ran = [s.name for s in run.steps if s.status == "succeeded"]
    cached = [s.name for s in run.steps if s.status == "cached"]
    click.echo(
        f"   ran on the cluster: {', '.join(ran)}; from the local runs' cache: {len(cached)}"
    )
    with Workspace.open(settings) as ws:
        print_run(ws, ws.metadata.get_run(run.id), ws.metadata.step_runs(run.id), False)
