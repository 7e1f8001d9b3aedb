"""``conveyor quickstart``: run the wine pipeline twice in a folder of its own and explain what
happened, so a new user sees running, caching, tracking and lineage in one minute."""

from __future__ import annotations

import shutil
import sys
import tempfile
from collections.abc import Callable
from importlib import resources
from pathlib import Path

import click
import pandas as pd

from conveyor import models
from conveyor.cli._commands import print_run
from conveyor.cli._data import diff_tables
from conveyor.cli._models import promote_and_show
from conveyor.cli._progress import LiveDag, PlainLog
from conveyor.cli._quickstart_cluster import run_on_a_cluster
from conveyor.cli._quickstart_loop import close_the_loop
from conveyor.cli._quickstart_serve import serve_and_swap
from conveyor.cli._quickstart_team import share_with_a_team
from conveyor.cli._tracking import compare, show_comparison
from conveyor.core import Settings, load_settings
from conveyor.engine import Workspace, load_pipeline
from conveyor.engine import _datasets as datasets
from conveyor.engine._datasets import profile_of, resolve_ref
from conveyor.registry import Gate
from conveyor.tracking import get_run


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
    v1 = first.outputs["register_model"]
    click.echo(f"   the model is registered as {v1.ref}; promoting it through a gate:")  # type: ignore[attr-defined]
    _promote(v1.version, Gate(min={"accuracy": 0.8}), settings)  # type: ignore[attr-defined]

    click.secho(
        "\n2. Changing one parameter (n_estimators 50 → 200): only the steps after training run",
        bold=True,
    )
    second = pipe.run(
        n_estimators=200, hooks=[hook()], settings=settings, source=str(pipeline_file)
    ).raise_for_status()
    click.echo(f"   scores: {second.outputs['evaluate']}")
    click.echo("   the two runs side by side (conveyor runs compare):")
    runs = [get_run(first.id, settings=settings), get_run(second.id, settings=settings)]
    rows = [row for row in compare(runs) if row.differs]
    show_comparison(runs, [first.status, second.status], rows, only_diff=True)
    v2 = second.outputs["register_model"]
    click.echo(
        f"   {v2.ref} must not be worse than production on the same test rows:"  # type: ignore[attr-defined]
    )
    _promote(v2.version, Gate(min={"accuracy": 0.8, "f1": 0.8}, beat="production"), settings)  # type: ignore[attr-defined]

    click.secho(
        "\n3. A fourth file arrives: only it is cleaned; the steps after it run again", bold=True
    )
    module.deliver(4)
    third = pipe.run(
        n_estimators=200, hooks=[hook()], settings=settings, source=str(pipeline_file)
    ).raise_for_status()
    click.echo(f"   scores: {third.outputs['evaluate']}")
    v3 = third.outputs["register_model"]
    click.echo(f"   the model is registered as {v3.ref}; production stays where it is")  # type: ignore[attr-defined]
    after = datasets.register("wine", third.outputs["combine"], settings=settings)

    _recorded_and_changed(settings, third.id, before.ref, after.ref)

    wines = _load_production(third.outputs["combine"], settings)  # type: ignore[arg-type]

    new_vintage = module.deliver_new_vintage()

    def monitor_and_close_the_loop(url: str) -> None:
        close_the_loop(url, settings, pipeline_file, new_vintage)

    _serve(v3.ref, wines, settings, monitor_and_close_the_loop)  # type: ignore[attr-defined]
    share_with_a_team(folder, settings)
    run_on_a_cluster(pipe, settings, pipeline_file, hook)
    _try_next(folder, first.id, second.id, third.id, after.ref)


def _recorded_and_changed(settings: Settings, run_id: str, before: str, after: str) -> None:
    click.secho("\n4. What conveyor recorded for that run", bold=True)
    with Workspace.open(settings) as ws:
        print_run(ws, ws.metadata.get_run(run_id), ws.metadata.step_runs(run_id), False)

    click.secho(f"\n5. How the data changed: conveyor data diff {before} {after}", bold=True)
    with Workspace.open(settings) as ws:
        old, new = resolve_ref(before, ws), resolve_ref(after, ws)
        diff_tables(old, new, profile_of(old, ws), profile_of(new, ws))


def _promote(version: int, gate: Gate, settings: Settings) -> None:
    reason = "quickstart: passed its gate"
    refused = promote_and_show("wine", version, "production", gate, reason, settings, "   ")
    if refused is not None:
        click.echo(f"   production stays where it was: {refused.message}")


def _load_production(table: pd.DataFrame, settings: Settings) -> pd.DataFrame:
    click.secho("\n6. The production model, loaded by its alias", bold=True)
    production = models.get("wine@production", settings=settings)
    model = models.load("wine@production", settings=settings)
    wines = table.drop(columns="cultivar").head(5)
    wines = wines.assign(
        flavanoid_share=wines["flavanoids"] / wines["total_phenols"],
        color_per_hue=wines["color_intensity"] / wines["hue"],
    )
    predicted = [int(p) for p in model.predict(wines)]  # type: ignore[attr-defined]
    click.echo(f"   {production.ref} predicts cultivars {predicted} for the first five wines")
    return wines


def _serve(
    newest_ref: str, wines: pd.DataFrame, settings: Settings, then: Callable[[str], None]
) -> None:
    newest = models.get(newest_ref, settings=settings)

    def promote_newest() -> int:
        reason = "quickstart: reviewed"
        models.promote("wine", newest.version, "production", reason=reason, settings=settings)
        return newest.version

    records = [{str(k): v for k, v in r.items()} for r in wines.to_dict(orient="records")]
    serve_and_swap(records, settings, promote_newest, then)


def _try_next(folder: Path, first_id: str, second_id: str, third_id: str, dataset_ref: str) -> None:
    click.secho("\nWhat to try next", bold=True)
    click.echo(f"  cd {folder}")
    click.echo("  conveyor run pipeline.py:wine -p n_estimators=200  # all cached: nothing runs")
    click.echo("  conveyor runs list")
    click.echo("  conveyor run pipeline.py:wine -p n_estimators=400 --executor dask  # or ray")
    click.echo(f"  conveyor runs compare {first_id} {second_id}")
    click.echo("  conveyor models show wine            # versions, metrics, aliases")
    click.echo("  conveyor models history wine         # every move of production, and why")
    click.echo("  conveyor models rollback wine --alias production")
    click.echo(f"  conveyor runs show {third_id}")
    click.echo(f"  conveyor lineage {third_id}")
    click.echo("  conveyor serve wine@production      # then: curl localhost:8000/metrics")
    click.echo("  conveyor monitor check wine-drift --html report.html")
    click.echo("  conveyor server   # then open http://127.0.0.1:8080 and log in with a token")
    click.echo("  conveyor data list")
    click.echo(f"  conveyor data show {dataset_ref}")
    click.echo("  edit a step in pipeline.py and run again: it and the steps after it re-run")
