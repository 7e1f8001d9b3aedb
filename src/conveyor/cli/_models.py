"""``conveyor models``: list registered models, show versions, promote and roll back aliases,
and read the history of every move.

The commands parse, call ``conveyor.registry`` and render with Rich (plain text when piped).
Rich and the registry are imported inside the commands, so ``conveyor --help`` stays light;
errors reach ``_app``'s one handler, which prints them and exits 2. A gate that says no is not
a usage error: ``promote`` prints its criteria and exits 1.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from rich.table import Table

    from conveyor.core import Settings
    from conveyor.errors import GateFailed
    from conveyor.registry import Gate, ModelVersion
    from conveyor.store._tracking_records import AliasMove, GateDecision, ModelSummary

_WRAPPED = ("metrics", "why", "note", "aliases")  # free text: wraps on a narrow terminal
_OPS = {">=": "≥", "<=": "≤"}
NOTHING = "—"


@click.group("models")
def models_group() -> None:
    """Registered models: versions, aliases and their history, promotion through gates.

    REF is NAME@VERSION, NAME@ALIAS or NAME@latest. Register versions with
    cv.models.register (or cv.register_model inside a pipeline).
    """


@models_group.command("list", short_help="List registered models.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def models_list(as_json: bool) -> None:
    """Every registered model: its newest version, how many versions, its aliases."""
    from conveyor.registry import list_models

    found = list_models(settings=_settings())
    if as_json:
        click.echo(_json([_summary_json(m) for m in found]))
        return
    _models_table(found)


@models_group.command("show", short_help="Show a model's versions, or one version.")
@click.argument("ref", metavar="NAME|REF")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of tables.")
def models_show(ref: str, as_json: bool) -> None:
    """NAME: every version (flavor, created, run, metrics, aliases held) and the aliases.
    REF (e.g. churn@production, churn@3): that version in detail, with its signature, lineage
    and the gate decisions taken on it."""
    from conveyor.registry import parse_ref

    name, _ = parse_ref(ref)  # a malformed reference is reported before the store is opened
    if "@" in ref:
        _show_version(ref, as_json)
    else:
        _show_model(name, as_json)


@models_group.command("promote", short_help="Point an alias at a version, through a gate.")
@click.argument("name")
@click.argument("version", type=click.IntRange(min=1), metavar="VERSION")
@click.option("-a", "--alias", required=True, help="The alias to move, e.g. production.")
@click.option(
    "--gate",
    "gate_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="A YAML gate (min:, max:, beat:, tolerance:, on:, target:) the version must pass.",
)
@click.option("--reason", default="", help="Why; kept in the alias's history.")
def models_promote(
    name: str, version: int, alias: str, gate_file: Path | None, reason: str
) -> None:
    """Point ALIAS of model NAME at VERSION. With --gate, only if the version passes it: each
    criterion is printed with its figures, and a failed gate exits with status 1."""
    from conveyor.registry import Gate

    gate = Gate.from_yaml(gate_file) if gate_file is not None else None
    refused = promote_and_show(name, version, alias, gate, reason, _settings())
    if refused is not None:
        click.echo(f"error: {refused.message}", err=True)
        click.get_current_context().exit(1)


def promote_and_show(
    name: str,
    version: int,
    alias: str,
    gate: Gate | None,
    reason: str,
    settings: Settings,
    indent: str = "",
) -> GateFailed | None:
    """Promote, printing the gate's criteria (passed or not) and the move; returns the refusal
    when the gate said no, for the caller to report."""
    from conveyor.errors import GateFailed
    from conveyor.registry import decisions, promote

    title = f"{indent}gate for {name}@{version} → {alias}"
    try:
        move = promote(name, version, alias, gate=gate, reason=reason, settings=settings)
    except GateFailed as exc:
        decision = exc.details.get("decision")
        criteria = decision.get("criteria", []) if isinstance(decision, Mapping) else []
        number = decision.get("id") if isinstance(decision, Mapping) else None
        show_criteria(f"{title}: failed", number, criteria)
        return exc
    if move.decision_id is not None:
        taken = [d for d in decisions(name, version, settings=settings) if d.id == move.decision_id]
        if taken:
            show_criteria(f"{title}: passed", taken[0].id, taken[0].criteria)
    show_move(move, indent)
    return None


@models_group.command("rollback", short_help="Move an alias back to its previous version.")
@click.argument("name")
@click.option("-a", "--alias", required=True, help="The alias to move back, e.g. production.")
@click.option("--reason", default="", help="Why; kept in the alias's history.")
def models_rollback(name: str, alias: str, reason: str) -> None:
    """Move ALIAS of model NAME back to the version it held before its latest promotion."""
    from conveyor.registry import rollback

    show_move(rollback(name, alias, reason=reason, settings=_settings()))


@models_group.command("history", short_help="Every move of a model's aliases.")
@click.argument("name")
@click.option("-a", "--alias", default=None, help="Only this alias's moves.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def models_history(name: str, alias: str | None, as_json: bool) -> None:
    """Every move of the model's aliases, oldest first: when, which alias, promotion or
    rollback, from which version to which, who, why, and the gate decision that allowed it."""
    from conveyor.registry import history

    moves = history(name, alias, settings=_settings())
    if as_json:
        click.echo(_json([_move_json(m) for m in moves]))
        return
    _history_table(name, alias, moves)


# -- list ------------------------------------------------------------------------------------


def _models_table(found: Sequence[ModelSummary]) -> None:
    from rich.markup import escape

    from conveyor.cli._render import _console, _when

    if not found:
        _console.print("no models registered yet: cv.models.register(name, model) adds one")
        return
    table = _table("name", "latest", "versions", "aliases", "updated")
    for model in found:
        table.add_row(
            escape(model.name),
            str(model.latest_version),
            str(model.versions),
            escape(_aliases(model.aliases)) or NOTHING,
            _when(model.updated_at),
        )
    _console.print(table)


# -- show ------------------------------------------------------------------------------------


def _show_model(name: str, as_json: bool) -> None:
    from conveyor.registry import aliases, history, versions

    settings = _settings()
    found = versions(name, settings=settings)
    held = aliases(name, settings=settings)
    if as_json:
        payload = {"name": name, "versions": [v.to_dict() for v in found], "aliases": held}
        click.echo(_json(payload))
        return
    _model(name, found, held, history(name, settings=settings))


def _show_version(ref: str, as_json: bool) -> None:
    from conveyor.registry import decisions, get

    settings = _settings()
    version = get(ref, settings=settings)
    taken = decisions(version.name, version.version, settings=settings)
    if as_json:
        payload = {**version.to_dict(), "decisions": [_decision_json(d) for d in taken]}
        click.echo(_json(payload))
        return
    _version(version, taken)


def _model(
    name: str, found: Sequence[ModelVersion], held: Mapping[str, int], moves: Sequence[AliasMove]
) -> None:
    from rich.markup import escape

    from conveyor.cli._render import _console, _when

    _console.print(f"[bold]model[/] {escape(name)}  {len(found)} version(s)")
    table = _table("version", "flavor", "created", "run", "metrics", "aliases")
    for v in found:
        table.add_row(
            str(v.version),
            v.flavor,
            _when(v.created_at),
            v.run_id or "-",
            escape(_metrics(v.metrics)),
            escape(", ".join(v.aliases)),
        )
    _console.print(table)
    if not held:
        _console.print(f"no aliases: conveyor models promote {name} VERSION --alias production")
        return
    latest = {m.alias: m for m in moves}  # history is oldest first: the last move wins
    _console.print("[bold]aliases[/]")
    for alias, version in sorted(held.items()):
        move = latest.get(alias)
        since = f"  since {_when(move.moved_at)} by {move.actor or '?'}" if move else ""
        why = f": {move.reason}" if move and move.reason else ""
        _console.print(f"  {escape(alias)} → {version}{escape(since + why)}")


def _version(version: ModelVersion, taken: Sequence[GateDecision]) -> None:
    from rich.markup import escape

    from conveyor.cli._render import _console, _when

    held = f"  [bold]aliases[/] {escape(', '.join(version.aliases))}" if version.aliases else ""
    _console.print(
        f"[bold]model[/] {escape(version.ref)}  [bold]flavor[/] {version.flavor}  "
        f"[bold]created[/] {_when(version.created_at)}{held}"
    )
    if version.description:
        _console.print(f"description: {escape(version.description)}")
    _console.print(f"artifact: {version.artifact_id}")
    lineage = version.lineage
    run_id = version.run_id or lineage.get("run_id")
    if run_id:
        parts = [f"run {run_id}"]
        parts += [f"{key} {lineage[key]}" for key in ("pipeline",) if lineage.get(key)]
        parts += [f"step {version.step}"] if version.step else []
        _console.print("lineage: " + escape(", ".join(parts)))
    else:
        _console.print("lineage: registered outside a pipeline run")
    _console.print(f"profile: {version.profile_id or NOTHING}")
    if version.metrics:
        grid = _table("metric", "value")
        for key, value in sorted(version.metrics.items()):
            grid.add_row(escape(key), _number(value))
        _console.print(grid)
    inputs = _inputs(version.signature)
    if inputs:
        _console.print(f"[bold]signature[/] ({len(inputs)} inputs)")
        grid = _table("input", "type", "dtype", "nullable")
        for item in inputs:
            grid.add_row(
                escape(str(item.get("name", "?"))),
                escape(str(item.get("type", ""))),
                escape(str(item.get("dtype", ""))),
                "yes" if item.get("nullable") else "no",
            )
        _console.print(grid)
    else:
        _console.print("signature: none (register with reference= to record the inputs)")
    if taken:
        _console.print("[bold]gate decisions[/]")
        for decision in taken:
            verdict = "[green]passed[/]" if decision.passed else "[red]failed[/]"
            _console.print(
                f"  #{decision.id} for {escape(decision.alias)}: {verdict}  "
                f"{_when(decision.decided_at)} by {escape(decision.actor or '?')}"
            )
            _criteria_rows(decision.criteria, indent="    ")


def _inputs(signature: Mapping[str, object]) -> list[Mapping[str, object]]:
    inputs = signature.get("inputs")
    if not isinstance(inputs, list):
        return []
    return [item for item in inputs if isinstance(item, Mapping)]


# -- promote, rollback, history --------------------------------------------------------------


def show_criteria(title: str, number: object, criteria: Iterable[Mapping[str, object]]) -> None:
    from conveyor.cli._render import _console

    suffix = f" (decision {number})" if number else ""
    _console.print(f"[bold]{title}[/]{suffix}")
    _criteria_rows(criteria, indent="  ")


def _criteria_rows(criteria: Iterable[Mapping[str, object]], indent: str) -> None:
    from rich.markup import escape

    from conveyor.cli._render import _console

    table = _table("", "criterion", "value", "needs", "note")
    for c in criteria:
        passed = bool(c.get("passed"))
        mark = "[green]✓[/]" if passed else "[bold red]✗[/]"
        metric = c.get("metric")
        label = str(c.get("criterion", "?"))
        if metric is not None and str(metric) not in label:
            label += f" {metric}"
        value = _number(c["value"]) if c.get("value") is not None else NOTHING
        needs, note = _needs(c), ""
        if not needs or c.get("value") is None:
            note = str(c.get("message", ""))
        table.add_row(f"{indent}{mark}", escape(label), value, escape(needs), escape(note))
    _console.print(table)


def _needs(c: Mapping[str, object]) -> str:
    """What a criterion asks for: ``≥ 0.85``, or ``≥ 0.91 of version 2 (tolerance 0.01)``."""
    op = _OPS.get(str(c.get("op", "")), str(c.get("op", "")))
    if "threshold" in c:
        return f"{op} {_number(c['threshold'])}"
    if "holder_value" in c:
        holder = c.get("holder_value")
        shown = _number(holder) if holder is not None else "missing"
        tolerance = c.get("tolerance")
        slack = (
            f" (tolerance {_number(tolerance)})"
            if isinstance(tolerance, int | float) and tolerance
            else ""
        )
        return f"{op} {shown} of version {c.get('holder_version')}{slack}"
    return ""


def show_move(move: AliasMove, indent: str = "") -> None:
    from rich.markup import escape

    from conveyor.cli._render import _console

    before = NOTHING if move.previous is None else str(move.previous)
    after = NOTHING if move.version is None else str(move.version)
    kind = "" if move.kind == "promote" else f" ({move.kind})"
    _console.print(escape(f"{indent}{move.name}: {move.alias} {before} → {after}{kind}"))


def _history_table(name: str, alias: str | None, moves: Sequence[AliasMove]) -> None:
    from rich.markup import escape

    from conveyor.cli._render import _console, _when

    if not moves:
        what = f"alias {alias!r} of {name!r}" if alias else f"the aliases of {name!r}"
        _console.print(f"{escape(what)} never moved: conveyor models promote moves one")
        return
    table = _table("when", "alias", "kind", "from → to", "who", "why", "gate")
    for move in moves:
        before = NOTHING if move.previous is None else str(move.previous)
        after = NOTHING if move.version is None else str(move.version)
        table.add_row(
            _when(move.moved_at),
            escape(move.alias),
            move.kind,
            f"{before} → {after}",
            escape(move.actor) or "?",
            escape(move.reason),
            f"#{move.decision_id}" if move.decision_id is not None else "-",
        )
    _console.print(table)


# -- JSON ------------------------------------------------------------------------------------


def _summary_json(m: ModelSummary) -> dict[str, object]:
    return {
        "name": m.name,
        "latest_version": m.latest_version,
        "versions": m.versions,
        "aliases": dict(m.aliases),
        "updated_at": m.updated_at.isoformat(),
    }


def _move_json(m: AliasMove) -> dict[str, object]:
    return {
        "name": m.name,
        "alias": m.alias,
        "kind": m.kind,
        "version": m.version,
        "previous": m.previous,
        "moved_at": m.moved_at.isoformat(),
        "actor": m.actor,
        "reason": m.reason,
        "decision_id": m.decision_id,
    }


def _decision_json(d: GateDecision) -> dict[str, object]:
    return {
        "id": d.id,
        "alias": d.alias,
        "passed": d.passed,
        "decided_at": d.decided_at.isoformat(),
        "actor": d.actor,
        "criteria": [dict(c) for c in d.criteria],
    }


# -- formatting ------------------------------------------------------------------------------


def _json(document: object) -> str:
    from conveyor.cli._render import json_text

    return json_text(document)


def _settings() -> Settings:
    from conveyor.cli._commands import settings

    return settings()


def _table(*columns: str) -> Table:
    from conveyor.cli._render import table

    return table(*columns, wrapped=_WRAPPED)


def _aliases(held: Mapping[str, int]) -> str:
    return ", ".join(f"{alias} → {version}" for alias, version in sorted(held.items()))


def _metrics(metrics: Mapping[str, float]) -> str:
    return " ".join(f"{key}={_number(value)}" for key, value in sorted(metrics.items()))


def _number(value: object) -> str:
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.4g}"
    return str(value)
