"""The ``conveyor`` command: parse, call the library, print. Errors are mapped in ``main``."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from conveyor.cli._access import audit_command, tokens_group, users_group
from conveyor.cli._data import data_group
from conveyor.cli._deploy import deploy_command
from conveyor.cli._keys import keys_group
from conveyor.cli._models import models_group
from conveyor.cli._monitor import monitor_group
from conveyor.cli._options import params_option
from conveyor.cli._schedule import schedule_group, scheduler_command
from conveyor.cli._serve import serve_command
from conveyor.cli._server import server_command


class _Group(click.Group):
    def invoke(self, ctx: click.Context) -> object:
        from conveyor.core._errors import ConveyorError, RunFailed  # not needed for --help

        try:
            return super().invoke(ctx)
        except RunFailed as exc:
            click.echo(f"error: {exc.message}", err=True)
            ctx.exit(1)
        except ConveyorError as exc:
            click.echo(f"error: {exc.message}", err=True)
            ctx.exit(2)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="conveyor")
def app() -> None:
    """conveyor: pipelines, tracking and lineage for machine learning.

    Data lives in CONVEYOR_HOME (default ./.conveyor): a SQLite database and an artifact
    folder, unless CONVEYOR_DB_URL or CONVEYOR_ARTIFACTS point elsewhere.
    """


@app.command("run")
@click.argument("ref", metavar="FILE[:PIPELINE]")
@params_option
@click.option("--no-cache", is_flag=True, help="Execute every step even if cached.")
@click.option(
    "--workers", type=click.IntRange(min=1), default=None, help="How many steps may run at once."
)
@click.option(
    "--executor",
    type=click.Choice(["threads", "processes", "dask", "ray"]),
    default=None,
    help="Where steps run: threads or worker processes here, or a Dask or Ray cluster. "
    "Default: steps in threads, cv.map partitions in worker processes.",
)
@click.option(
    "--address",
    default=None,
    metavar="ADDRESS",
    help="The Dask scheduler (tcp://host:8786) or Ray cluster (ray://host:10001) to run on. "
    "Default with dask or ray: a local cluster sized to this machine.",
)
@click.option(
    "-t",
    "--target",
    "targets",
    multiple=True,
    metavar="STEP",
    help="Run only this step and what it needs. Repeatable.",
)
def run_command(
    ref: str,
    params: tuple[str, ...],
    no_cache: bool,
    workers: int | None,
    executor: str | None,
    address: str | None,
    targets: tuple[str, ...],
) -> None:
    """Run a pipeline defined in a Python file."""
    from conveyor.cli._commands import run_pipeline_file

    run_pipeline_file(ref, params, no_cache, workers, executor, targets, address)


@app.group("runs")
def runs_group() -> None:
    """List and inspect runs."""


@runs_group.command("list")
@click.option("--pipeline", default=None, help="Only runs of this pipeline.")
@click.option(
    "--status", type=click.Choice(["running", "succeeded", "failed", "crashed"]), default=None
)
@click.option("-n", "--limit", type=click.IntRange(min=1), default=20, show_default=True)
def runs_list(pipeline: str | None, status: str | None, limit: int) -> None:
    """The newest runs first."""
    from conveyor.cli._commands import list_runs

    list_runs(pipeline, status, limit)


@runs_group.command("show")
@click.argument("run_id")
@click.option("--logs", "logs_of", metavar="STEP", default=None, help="Print this step's logs.")
@click.option("--traceback", "show_traceback", is_flag=True, help="Print failed steps' tracebacks.")
def runs_show(run_id: str, logs_of: str | None, show_traceback: bool) -> None:
    """A run: where it ran (user, git commit, Python, packages), its parameters, latest
    metrics and tags, its steps (ran or cached and why, time, memory, rows and bytes) and the
    artifacts it logged."""
    from conveyor.cli._commands import show_run

    show_run(run_id, logs_of, show_traceback)


@runs_group.command("compare")
@click.argument("run_ids", nargs=-1, required=True, metavar="RUN_ID RUN_ID [RUN_ID ...]")
@click.option("--only-diff", is_flag=True, help="Only the rows whose values differ.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def runs_compare(run_ids: tuple[str, ...], only_diff: bool, as_json: bool) -> None:
    """Runs side by side: each parameter, then each metric (its latest value).

    A row whose values differ is marked ≠; for metrics whose better direction is known
    (accuracy, f1, roc_auc… higher; loss, rmse, mae… lower) the best value is marked ★. A unique
    prefix of a run id will do.
    """
    from conveyor.cli._tracking import compare_runs

    compare_runs(run_ids, only_diff, as_json)


@app.command("lineage")
@click.argument("ref", metavar="RUN_ID|ARTIFACT_ID")
def lineage_command(ref: str) -> None:
    """The steps and artifacts upstream of a run or an artifact."""
    from conveyor.cli._commands import show_lineage

    show_lineage(ref)


app.add_command(data_group)
app.add_command(models_group)
app.add_command(monitor_group)
app.add_command(serve_command)
app.add_command(server_command)
app.add_command(schedule_group)
app.add_command(scheduler_command)
app.add_command(deploy_command)
app.add_command(users_group)
app.add_command(tokens_group)
app.add_command(audit_command)
app.add_command(keys_group)


@app.command("quickstart")
@click.option(
    "--dir",
    "folder",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where to work (default: a new temporary folder).",
)
def quickstart_command(folder: Path | None) -> None:
    """Run a real pipeline on a bundled dataset and show what conveyor recorded."""
    from conveyor.cli._quickstart import quickstart

    quickstart(folder)


def main() -> None:
    """Entry point of the ``conveyor`` script."""
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    try:
        app(standalone_mode=True)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)
