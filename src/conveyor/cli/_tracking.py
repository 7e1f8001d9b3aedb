"""``conveyor runs compare``: runs side by side, parameter by parameter and metric by metric.

Building the comparison (``compare``) is pure, so what counts as a difference and which value
is best can be tested without a store; reading the runs and printing them are kept at the two
ends. Loaded by ``_app`` only when the command runs, like the rest of the command code.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

import click
from rich.markup import escape
from rich.table import Table

from conveyor.cli._commands import settings
from conveyor.cli._render import _console, _status, json_text, value_text
from conveyor.core._errors import ConveyorError
from conveyor.engine import Workspace, reconcile
from conveyor.registry._gate import HIGHER_IS_BETTER, LOWER_IS_BETTER
from conveyor.tracking import TrackedRun, get_run

# The gate leaves "loss" out because a training loss says little about a candidate model;
# side by side, lower is still better.
_LOWER = LOWER_IS_BETTER | {"loss"}
# "val_loss", "test_accuracy", "eval/f1": the direction is the bare metric's
_PREFIXES = ("train_", "val_", "valid_", "validation_", "test_", "eval_")
MISSING = "—"
DIFFERS = "≠"
BEST = "★"
# "run-" and 8 hex digits of the creation time in ms tell apart runs started a minute or more
# apart; runs closer in time get longer prefixes

Kind = Literal["params", "metrics"]


@dataclass(frozen=True, slots=True)
class Row:
    """One parameter or metric across the compared runs."""

    kind: Kind
    key: str
    values: tuple[object, ...]  # None where the run lacks it
    present: tuple[bool, ...]
    differs: bool
    best: frozenset[int]  # positions of the best value; empty when no direction is known
    higher_is_better: bool | None


def compare(runs: Sequence[TrackedRun]) -> list[Row]:
    """Every parameter, then every metric, that any of ``runs`` has, sorted by key."""
    rows = []
    for kind in ("params", "metrics"):
        tables: list[Mapping[str, object]] = [
            run.params if kind == "params" else run.metrics for run in runs
        ]
        for key in sorted({k for table in tables for k in table}):
            values = tuple(table.get(key) for table in tables)
            present = tuple(key in table for table in tables)
            differs = not all(present) or len({_same(v) for v in values}) > 1
            direction = direction_of(key) if kind == "metrics" else None
            best = _best(values, direction) if differs else frozenset()
            rows.append(Row(kind, key, values, present, differs, best, direction))
    return rows


def direction_of(metric: str) -> bool | None:
    """True when higher is better, False when lower is, None when not known."""
    name = metric.rsplit("/", 1)[-1].rsplit(".", 1)[-1].lower()
    for prefix in _PREFIXES:
        if name.startswith(prefix):
            name = name.removeprefix(prefix)
            break
    if name in HIGHER_IS_BETTER:
        return True
    if name in _LOWER:
        return False
    return None


def _same(value: object) -> object:
    """What two values are compared by: 3 and 3.0 are the same, and so are two NaNs."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return "nan" if math.isnan(value) else float(value)
    return json.dumps(value, sort_keys=True, default=str)


def _best(values: Sequence[object], higher_is_better: bool | None) -> frozenset[int]:
    numbers = {
        i: float(v)
        for i, v in enumerate(values)
        if isinstance(v, int | float) and not isinstance(v, bool) and not math.isnan(v)
    }
    if higher_is_better is None or len(numbers) < 2:  # one value is not a winner
        return frozenset()
    top = max(numbers.values()) if higher_is_better else min(numbers.values())
    return frozenset(i for i, v in numbers.items() if v == top)


# -- the command ------------------------------------------------------------------------------


def compare_runs(run_ids: Sequence[str], only_diff: bool, as_json: bool) -> None:
    if len(run_ids) < 2:
        raise click.UsageError("give at least two runs to compare")
    current = settings()
    with Workspace.open(current) as ws:
        records = [ws.metadata.get_run(run_id) for run_id in run_ids]
        # a run still marked running may have died: show the status `runs list` would
        records = reconcile(ws.metadata, records, datetime.now(UTC))
    ids = [r.id for r in records]
    if len(set(ids)) < len(ids):
        repeated = sorted({i for i in ids if ids.count(i) > 1})
        raise ConveyorError(
            f"the same run was given twice ({', '.join(repeated)}); compare different runs",
            runs=repeated,
        )
    tracked = [get_run(run_id, settings=current) for run_id in ids]
    statuses = [r.status for r in records]
    rows = [row for row in compare(tracked) if row.differs or not only_diff]
    if as_json:
        click.echo(json_text(comparison_json(tracked, statuses, rows)))
        return
    show_comparison(tracked, statuses, rows, only_diff)


def comparison_json(
    runs: Sequence[TrackedRun], statuses: Sequence[str], rows: Sequence[Row]
) -> dict[str, object]:
    """``{"runs", "params", "metrics", "differs", "best"}``; a value a run lacks is null, and
    so is a NaN or infinite metric (JSON has no such numbers)."""
    return {
        "runs": [
            {
                "id": run.id,
                "pipeline": run.pipeline,
                "status": status,
                "started_at": run.started_at.isoformat(),
                "finished_at": run.finished_at.isoformat() if run.finished_at else None,
                "duration": run.duration,
                "user": run.user,
                "git_commit": run.git_commit,
            }
            for run, status in zip(runs, statuses, strict=True)
        ],
        "params": {r.key: list(r.values) for r in rows if r.kind == "params"},
        "metrics": {r.key: list(r.values) for r in rows if r.kind == "metrics"},
        "differs": {
            kind: [r.key for r in rows if r.kind == kind and r.differs]
            for kind in ("params", "metrics")
        },
        "best": {r.key: [runs[i].id for i in sorted(r.best)] for r in rows if r.best},
    }


def show_comparison(
    runs: Sequence[TrackedRun], statuses: Sequence[str], rows: Sequence[Row], only_diff: bool
) -> None:
    table = Table(box=None, pad_edge=False)
    table.add_column("", no_wrap=True)  # the difference marker
    table.add_column("", no_wrap=True)
    # whole ids: a shorter prefix that tells these runs apart may match others in the store
    for run, status in zip(runs, statuses, strict=True):
        table.add_column(f"{run.id}\n{escape(run.pipeline)}\n{_status(status)}", no_wrap=True)
    for kind in ("params", "metrics"):
        chosen = [r for r in rows if r.kind == kind]
        if chosen:
            table.add_row("", f"[bold]{kind}[/]")
        for row in chosen:
            table.add_row(*_cells(row))
    _console.print(table)
    if not rows:
        what = "differ" if only_diff else "were tracked"
        _console.print(f"no parameters or metrics {what}")
    elif any(r.differs for r in rows):
        _console.print(
            f"{DIFFERS} differs between the runs  {BEST} best (↑ higher is better, ↓ lower)"
        )


def _cells(row: Row) -> list[str]:
    arrow = {True: " ↑", False: " ↓", None: ""}[row.higher_is_better]
    key = f"  {escape(row.key)}{arrow}"
    cells = []
    for i, (value, present) in enumerate(zip(row.values, row.present, strict=True)):
        text = escape(value_text(value)) if present else MISSING
        if i in row.best:
            text = f"[bold green]{text} {BEST}[/]"
        elif row.differs:
            text = f"[bold yellow]{text}[/]"
        cells.append(text)
    if row.differs:
        return [f"[bold yellow]{DIFFERS}[/]", f"[bold yellow]{key}[/]", *cells]
    return ["", key, *cells]
