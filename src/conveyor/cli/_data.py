"""``conveyor data``: list registered dataset versions, show one table's schema and profile,
diff two tables.

The commands parse, call ``conveyor.engine``'s dataset functions and render with Rich (plain
text when piped). Rich and the engine are imported inside the commands, so ``conveyor --help``
stays light; errors reach ``_app``'s one handler, which prints them and exits 2.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from rich.table import Table

    from conveyor.core import Settings
    from conveyor.data._profile import ColumnProfile, Profile
    from conveyor.data._profile_diff import Change, ColumnDiff, ProfileDiff
    from conveyor.engine._datasets import DatasetVersion, TableRef

# What counts as a big change in `data diff`: highlighted, and listed at the end.
PSI_MODERATE = 0.1
PSI_BIG = 0.2
NULLS_BIG = 0.05  # a change of 5 points in the share of nulls
MEAN_BIG = 0.5  # a shift of the mean by half the reference's standard deviation
ROWS_BIG = 0.2  # 20 % more or fewer rows
TOP_SHOWN = 5
_WRAPPED = ("description", "top values", "categories")  # free text: wraps on a narrow terminal


@click.group("data")
def data_group() -> None:
    """Registered datasets and table artifacts: versions, schemas, profiles and changes.

    REF is NAME@VERSION, NAME@latest, a bare NAME (its latest version) or an artifact id
    (sha256:…, or a unique prefix of it). Register versions with cv.datasets.register.
    """


@data_group.command("list", short_help="List registered dataset versions.")
@click.argument("name", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def data_list(name: str | None, as_json: bool) -> None:
    """Registered dataset versions: every dataset's, or NAME's."""
    from conveyor.core._errors import DatasetNotFound
    from conveyor.engine import Workspace
    from conveyor.engine._datasets import versions

    with Workspace.open(_settings()) as ws:
        found = versions(name, workspace=ws)
    if name is not None and not found:
        raise DatasetNotFound(
            f"no dataset named {name!r} is registered; `conveyor data list` shows the datasets",
            name=name,
        )
    if as_json:
        click.echo(json.dumps([_version_json(v) for v in found], indent=2))
        return
    _versions_table(found)


@data_group.command("show", short_help="Show a table's schema and profile.")
@click.argument("ref", metavar="REF")
@click.option("--json", "as_json", is_flag=True, help="Print the profile as JSON.")
def data_show(ref: str, as_json: bool) -> None:
    """A table's schema and profile: per column its dtype, nulls, range and moments or its
    most frequent values."""
    from conveyor.engine import Workspace
    from conveyor.engine._datasets import profile_of, resolve_ref

    with Workspace.open(_settings()) as ws:
        table = resolve_ref(ref, ws)
        profile = profile_of(table, ws)
    if as_json:
        payload = {"ref": table.label, "artifact_id": table.artifact.id}
        click.echo(json.dumps({**payload, "profile": profile.to_dict()}, indent=2))
        return
    _show(table, profile)


@data_group.command("diff", short_help="Compare two tables: schema, profile, drift.")
@click.argument("before", metavar="REF")
@click.argument("after", metavar="REF")
@click.option("--json", "as_json", is_flag=True, help="Print the changes as JSON.")
def data_diff(before: str, after: str, as_json: bool) -> None:
    """What changed from the first table to the second: columns added and removed, dtypes,
    row count, and per column nulls, mean, spread, categories and PSI (drift)."""
    from conveyor.engine import Workspace
    from conveyor.engine._datasets import profile_of, resolve_ref

    with Workspace.open(_settings()) as ws:
        a, b = resolve_ref(before, ws), resolve_ref(after, ws)
        old, new = profile_of(a, ws), profile_of(b, ws)
    if as_json:
        diff = old.diff(new)
        click.echo(json.dumps({"before": a.label, "after": b.label, **diff.to_dict()}, indent=2))
        return
    diff_tables(a, b, old, new)


def diff_tables(a: TableRef, b: TableRef, old: Profile, new: Profile) -> None:
    """Print what changed from table ``a`` to table ``b`` (schema, profile, drift)."""
    _diff(a, b, old, new, old.diff(new))


# -- list ------------------------------------------------------------------------------------


def _versions_table(found: Sequence[DatasetVersion]) -> None:
    from rich.markup import escape

    from conveyor.cli._render import _console, _when

    if not found:
        _console.print("no datasets registered yet: cv.datasets.register(name, data) adds one")
        return
    table = _table("name", "version", "rows", "columns", "created", "run", "description")
    for v in found:
        table.add_row(
            v.name,
            str(v.version),
            _count(v.rows),
            str(len(v.columns)),
            _when(v.created_at),
            v.run_id or "-",
            escape(v.description),
        )
    _console.print(table)


def _version_json(v: DatasetVersion) -> dict[str, object]:
    return {
        "name": v.name,
        "version": v.version,
        "ref": v.ref,
        "artifact_id": v.artifact_id,
        "created_at": v.created_at.isoformat(),
        "rows": v.rows,
        "columns": v.columns,
        "run_id": v.run_id,
        "description": v.description,
    }


# -- show ------------------------------------------------------------------------------------


def _show(table: TableRef, profile: Profile) -> None:
    from rich.markup import escape

    from conveyor.cli._render import _console, _when

    artifact = table.artifact
    if table.version is not None:
        v = table.version
        _console.print(f"[bold]dataset[/] {v.ref}  [bold]artifact[/] {artifact.id}")
        _console.print(f"created {_when(v.created_at)}  run {v.run_id or '-'}")
        if v.description:
            _console.print(f"description: {escape(v.description)}")
    else:
        _console.print(f"[bold]artifact[/] {artifact.id}  ({artifact.type_name})")
    _console.print(f"{_count(profile.rows)} rows, {len(profile.columns)} columns")
    grid = _table("column", "dtype", "nullable", "nulls", "min", "max", "mean", "std", "top values")
    for column in profile.columns.values():
        grid.add_row(
            escape(column.name),
            column.dtype,
            "yes" if column.nulls else "no",
            _percent(column.null_fraction),
            escape(_num(column.min)),
            escape(_num(column.max)),
            _num(column.mean),
            _num(column.std),
            escape(_top(column)),
        )
    _console.print(grid)


def _top(column: ColumnProfile) -> str:
    shown = [f"{_cut(value)} ({count})" for value, count in column.top[:TOP_SHOWN]]
    more = (column.distinct or 0) - len(shown)
    if more > 0:
        shown.append(f"… {more} more")
    return ", ".join(shown)


# -- diff ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Finding:
    """One big change, listed after the table."""

    column: str
    text: str


def _diff(a: TableRef, b: TableRef, old: Profile, new: Profile, diff: ProfileDiff) -> None:
    from rich.markup import escape

    from conveyor.cli._render import _console

    findings: list[_Finding] = []
    _console.print(f"[bold]{escape(a.label)}[/] → [bold]{escape(b.label)}[/]")
    rows = _arrow(diff.rows, _count)
    relative = diff.rows.relative
    if relative is not None and abs(relative) >= ROWS_BIG:
        findings.append(_Finding("rows", rows))
        rows = f"[bold yellow]{rows}[/]"
    _console.print(f"rows: {rows}")

    schema = list(_schema_changes(old, new, diff))
    if schema:
        _console.print("[bold]schema[/]")
        for line in schema:
            _console.print(f"  {escape(line)}")
        findings.append(_Finding("schema", _schema_summary(diff)))
    else:
        _console.print("schema: unchanged")

    if diff.columns:
        grid = _table("column", "nulls", "mean", "std", "min", "max", "categories", "psi")
        for column in diff.columns.values():
            grid.add_row(*_diff_row(column, findings))
        _console.print(grid)

    if findings:
        _console.print("[bold red]big changes[/]")
        by_column: dict[str, list[str]] = {}
        for finding in findings:
            by_column.setdefault(finding.column, []).append(finding.text)
        for label, texts in by_column.items():
            _console.print(f"  ! {escape(label)}: {escape('; '.join(texts))}")
    else:
        _console.print(
            f"no big changes (every PSI below {PSI_BIG}, null shares within "
            f"{NULLS_BIG * 100:.0f} points, means within {MEAN_BIG} sd)"
        )


def _schema_changes(old: Profile, new: Profile, diff: ProfileDiff) -> Iterator[str]:
    for name in diff.added:
        yield f"+ {name} ({new.columns[name].dtype}) added"
    for name in diff.removed:
        yield f"- {name} ({old.columns[name].dtype}) removed"
    for name in diff.dtype_changes:
        column = diff.columns[name]
        yield f"~ {name}: {column.dtype.before} → {column.dtype.after}"


def _schema_summary(diff: ProfileDiff) -> str:
    parts = [
        f"added {_names(diff.added)}" if diff.added else "",
        f"removed {_names(diff.removed)}" if diff.removed else "",
        f"changed dtype of {_names(diff.dtype_changes)}" if diff.dtype_changes else "",
    ]
    return "; ".join(p for p in parts if p)


def _names(names: Sequence[str], shown: int = TOP_SHOWN) -> str:
    more = f" and {len(names) - shown} more" if len(names) > shown else ""
    return ", ".join(names[:shown]) + more


def _diff_row(column: ColumnDiff, findings: list[_Finding]) -> list[str]:
    from rich.markup import escape

    name = column.name
    nulls = _arrow(column.null_fraction, _percent)
    moved = column.null_fraction.absolute
    if moved is not None and abs(moved) >= NULLS_BIG:
        findings.append(_Finding(name, f"nulls {nulls}"))
        nulls = f"[bold yellow]{nulls}[/]"

    mean = _arrow(column.mean, _num) if column.mean is not None else ""
    shift = _mean_shift(column)
    if shift is not None and column.mean is not None and column.mean.changed:
        mean += f" ({shift:+.2f} sd)"
        if abs(shift) >= MEAN_BIG:
            findings.append(_Finding(name, f"mean {mean}"))
            mean = f"[bold yellow]{mean}[/]"

    categories = []
    if column.new_categories:
        categories.append("new: " + ", ".join(_cut(c) for c in column.new_categories))
    if column.missing_categories:
        categories.append("missing: " + ", ".join(_cut(c) for c in column.missing_categories))
    if categories:
        findings.append(_Finding(name, "; ".join(categories)))

    psi = "" if column.psi is None else f"{column.psi:.3f}"
    if column.psi is not None and column.psi >= PSI_BIG:
        findings.append(_Finding(name, f"distribution shifted (PSI {psi})"))
        psi = f"[bold red]{psi} shifted[/]"
    elif column.psi is not None and column.psi >= PSI_MODERATE:
        psi = f"[yellow]{psi}[/]"

    return [
        escape(name),
        nulls,
        mean,
        _arrow(column.std, _num) if column.std is not None else "",
        escape(_arrow(column.min, _num)) if column.min is not None else "",
        escape(_arrow(column.max, _num)) if column.max is not None else "",
        escape("; ".join(categories)),
        psi,
    ]


def _mean_shift(column: ColumnDiff) -> float | None:
    """How far the mean moved, in standard deviations of the reference."""
    if column.mean is None or column.std is None:
        return None
    moved, spread = column.mean.absolute, column.std.before
    if moved is None or not isinstance(spread, int | float) or not spread > 0:
        return None
    shift = moved / float(spread)
    return shift if math.isfinite(shift) else None


# -- formatting ------------------------------------------------------------------------------


def _settings() -> Settings:
    from conveyor.cli._commands import settings

    return settings()


def _table(*columns: str) -> Table:
    from conveyor.cli._render import table

    return table(*columns, wrapped=_WRAPPED)


def _arrow(change: Change, show: Callable[[object], str]) -> str:
    """``before → after``, or the one value when they look the same."""
    before, after = show(change.before), show(change.after)
    if before == after:
        return before
    relative = change.relative
    tail = f" ({relative:+.1%})" if show is _count and relative is not None else ""
    return f"{before} → {after}{tail}"


def _count(value: object) -> str:
    return "-" if value is None else f"{value:,}" if isinstance(value, int) else str(value)


def _percent(value: object) -> str:
    return f"{float(value):.1%}" if isinstance(value, int | float) else ""


def _num(value: object) -> str:
    """A number with about four significant digits, without an exponent where it fits."""
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, float):
        return str(value)  # ints, and dates as ISO text
    if not math.isfinite(value) or value == 0:
        return str(value) if value else "0"
    magnitude = math.floor(math.log10(abs(value)))
    if not -3 <= magnitude < 7:
        return f"{value:.3e}"
    text = f"{value:.{max(0, 3 - magnitude)}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def _cut(value: str, width: int = 30) -> str:
    return value if len(value) <= width else value[: width - 1] + "…"
