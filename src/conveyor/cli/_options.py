"""Options that several commands take, defined once so they read and behave the same."""

from __future__ import annotations

import click

params_option = click.option(
    "-p",
    "--param",
    "params",
    multiple=True,
    metavar="KEY=VALUE",
    help="A run parameter; converted to the annotated type. Repeatable.",
)
