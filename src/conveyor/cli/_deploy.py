"""``conveyor deploy``: print or write the files conveyor ships for operating a server, the
Prometheus alert rules and scrape config and the Grafana dashboard.

The files are package data under ``conveyor/deploy/`` (``deploy/`` in the repository links to
that folder), so an installed conveyor has the same files as its source tree.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Final

import click

# what → the files it writes, the first being the one printed
FILES: Final = {
    "prometheus-rules": ("prometheus/alerts.yml",),
    # the config names alerts.yml by a relative path, so it is written beside it
    "prometheus-config": ("prometheus/prometheus.yml", "prometheus/alerts.yml"),
    "grafana-dashboard": ("grafana/conveyor.json",),
    "all": ("prometheus/alerts.yml", "prometheus/prometheus.yml", "grafana/conveyor.json"),
}


def shipped(path: str) -> str:
    """The text of a shipped file, by its path under ``conveyor/deploy/``."""
    return resources.files("conveyor").joinpath("deploy", path).read_text(encoding="utf-8")


@click.command("deploy")
@click.argument("what", type=click.Choice(list(FILES)))
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Write the file(s) into this folder instead of printing.",
)
@click.option("--force", is_flag=True, help="With --out: replace files that differ.")
def deploy_command(what: str, out: Path | None, force: bool) -> None:
    """Print or write the Prometheus alert rules, an example Prometheus config that scrapes
    `conveyor serve`, or the Grafana dashboard.

    \b
    Examples:
      conveyor deploy prometheus-rules > alerts.yml
      conveyor deploy prometheus-config --out /etc/prometheus   # with alerts.yml beside it
      conveyor deploy all --out monitoring/
    """
    paths = FILES[what]
    if out is None:
        if what == "all":
            raise click.UsageError("`deploy all` writes several files: give --out DIR")
        click.echo(shipped(paths[0]), nl=False)
        return
    targets = {out / Path(p).name: shipped(p) for p in paths}
    changed = [t for t, text in targets.items() if t.exists() and t.read_text("utf-8") != text]
    if changed and not force:
        names = ", ".join(str(t) for t in changed)
        raise click.UsageError(f"{names} exists and differs; add --force to replace it")
    out.mkdir(parents=True, exist_ok=True)
    for target, text in targets.items():
        target.write_text(text, encoding="utf-8")
        click.echo(f"wrote {target}", err=True)
