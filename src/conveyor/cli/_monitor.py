"""``conveyor monitor``: apply monitors from YAML, evaluate one now, list them, read their
history.

``check`` prints a table in the terminal, JSON with ``--json``, and writes a self-contained
HTML report with ``--html``. It exits 0 whatever the verdict unless ``--fail-on-alert`` asks
for 1 when the monitor is firing (for cron jobs and CI).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from rich.table import Table

    from conveyor.core import Settings
    from conveyor.monitoring import Check
    from conveyor.store import MonitorEvaluation

NOTHING = "—"
_WRAPPED = ("message", "detail", "rule")  # free text: wraps on a narrow terminal


@click.group("monitor")
def monitor_group() -> None:
    """Monitors: drift and live metrics of a served model, with rules that fire actions.

    Define them with cv.monitor(...) or in YAML (`conveyor monitor apply monitor.yaml`);
    `conveyor scheduler` evaluates them on their intervals, `conveyor monitor check` now.
    """


@monitor_group.command("apply", short_help="Create or replace monitors from a YAML file.")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
def monitor_apply(file: Path) -> None:
    """FILE holds one monitor (a mapping) or several (a list, or YAML documents separated by
    ---). Every monitor is checked before any is stored."""
    from conveyor.monitoring import Monitor, save

    documents = _read_yaml(file)
    found = [Monitor.from_dict(d, base=file.resolve().parent) for d in documents]
    names = [m.name for m in found]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        from conveyor.errors import MonitoringError

        raise MonitoringError(f"{file} defines {', '.join(twice)} more than once")
    for one in found:
        save(one, settings=_settings())
        click.echo(
            f"applied {one.name}: {one.model}, window {one.to_dict()['window']}, "
            f"every {one.to_dict()['every']}, {len(one.rules)} rule(s), "
            f"{len(one.actions)} action(s)"
        )


@monitor_group.command("check", short_help="Evaluate a monitor now and print the report.")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of tables.")
@click.option(
    "--html",
    "html_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also write a self-contained HTML report with charts to this file.",
)
@click.option("--no-act", is_flag=True, help="Evaluate and store, but run no action.")
@click.option("--fail-on-alert", is_flag=True, help="Exit 1 when the monitor is firing.")
def monitor_check(
    name: str, as_json: bool, html_path: Path | None, no_act: bool, fail_on_alert: bool
) -> None:
    """Evaluate monitor NAME once over its window: drift per feature, live metrics, each
    rule's verdict; store it, and run the actions if the monitor starts firing."""
    from conveyor.monitoring import evaluate, render_html

    check = evaluate(name, act=not no_act, settings=_settings())
    if html_path is not None:
        page = render_html(name, check.evaluation, check.history, check.actions)
        html_path.write_text(page, encoding="utf-8")
    if as_json:
        click.echo(_json(check.to_dict()))
    else:
        show_check(check)
        if html_path is not None:
            click.echo(f"report: {html_path}")
    if fail_on_alert and check.firing:
        raise SystemExit(1)


@monitor_group.command("list", short_help="List monitors and their latest verdict.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def monitor_list(as_json: bool) -> None:
    from conveyor.engine import Workspace
    from conveyor.monitoring import list_monitors

    settings = _settings()
    found = list_monitors(settings=settings)
    latest = {e.monitor: e for e in Workspace.for_api(settings).metadata.latest_evaluations()}
    if as_json:
        click.echo(_json([{**m.to_dict(), "latest": _latest(latest.get(m.name))} for m in found]))
        return
    from rich.markup import escape

    from conveyor.cli._render import _console, _when

    if not found:
        _console.print("no monitors yet: cv.monitor(...) or `conveyor monitor apply FILE`")
        return
    table = _table("name", "model", "window", "every", "status", "evaluated", "message")
    for one in found:
        last = latest.get(one.name)
        shown = one.to_dict()
        table.add_row(
            escape(one.name),
            escape(one.model),
            str(shown["window"]),
            str(shown["every"]),
            _status(last.status) if last else NOTHING,
            _when(last.evaluated_at) if last else NOTHING,
            escape(last.message) if last else NOTHING,
        )
    _console.print(table)


@monitor_group.command("show", short_help="Print a monitor's definition as YAML.")
@click.argument("name")
def monitor_show(name: str) -> None:
    import yaml

    from conveyor.monitoring import load

    click.echo(yaml.safe_dump(load(name, settings=_settings()).to_dict(), sort_keys=False))


@monitor_group.command("history", short_help="A monitor's evaluations, alerts and actions.")
@click.argument("name")
@click.option("-n", "--limit", type=click.IntRange(min=1), default=20, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of tables.")
def monitor_history(name: str, limit: int, as_json: bool) -> None:
    from conveyor.engine import Workspace
    from conveyor.monitoring._documents import (
        action_document,
        alert_document,
        evaluation_document,
    )

    store = Workspace.for_api(_settings()).metadata
    store.get_monitor(name)  # MonitorNotFound names the monitors there are
    found = store.evaluations(name, limit=limit)
    actions = store.actions(name)
    if as_json:
        click.echo(
            _json(
                {
                    "evaluations": [evaluation_document(e) for e in found],
                    "alerts": [alert_document(a) for a in store.alerts(name, limit=limit)],
                    "actions": [action_document(a) for a in actions],
                }
            )
        )
        return
    from rich.markup import escape

    from conveyor.cli._render import _console, _when

    if not found:
        _console.print(f"{name} has not been evaluated yet: `conveyor monitor check {name}`")
        return
    by_evaluation: dict[int, list[str]] = {}
    for a in actions:
        by_evaluation.setdefault(a.evaluation_id, []).append(f"{a.kind} {a.status}")
    table = _table("id", "evaluated", "version", "rows", "status", "actions", "message")
    for e in found:
        table.add_row(
            str(e.id),
            _when(e.evaluated_at),
            str(e.version) if e.version is not None else NOTHING,
            f"{e.rows:,}",
            _status(e.status),
            escape(", ".join(by_evaluation.get(e.id, []))) or NOTHING,
            escape(e.message),
        )
    _console.print(table)


@monitor_group.command("delete", short_help="Remove a monitor (its history is kept).")
@click.argument("name")
def monitor_delete(name: str) -> None:
    from conveyor.engine import Workspace

    Workspace.for_api(_settings()).metadata.delete_monitor(name)
    click.echo(f"deleted monitor {name}")


# -- rendering ----------------------------------------------------------------------------


def show_check(check: Check, indent: str = "") -> None:
    from rich.markup import escape
    from rich.padding import Padding

    from conveyor.cli._render import _console

    e = check.evaluation
    version = f"@{e.version}" if e.version is not None else ""
    _console.print(
        f"{indent}{escape(check.monitor.name)}: {_status(e.status)}  "
        f"{escape(e.model)}{version}, {e.rows:,} rows in the window"
    )
    _console.print(indent + escape(e.message))
    rules = _table("rule", "breached", "windows", "firing", "detail")
    for r in e.rules:
        rules.add_row(
            escape(str(r.get("rule"))),
            _yes(r.get("breached")),
            f"{r.get('streak')}/{r.get('for_windows')}",
            "[bold red]yes[/]" if r.get("firing") else "no",
            escape(str(r.get("message", ""))),
        )
    _console.print(Padding(rules, (0, 0, 0, len(indent))))
    report = check.drift
    if report is not None and report.features:
        table = _table("feature", "test", "statistic", "p-value", "PSI", "JS", "drifted")
        for feature in report.features.values():
            table.add_row(
                escape(feature.name),
                feature.test,
                _number(feature.statistic),
                _number(feature.p_value),
                _number(feature.psi),
                _number(feature.js),
                "[bold red]yes[/]" if feature.drifted else "no",
            )
        _console.print(Padding(table, (0, 0, 0, len(indent))))
        for column, why in report.skipped.items():
            _console.print(f"{indent}not measured: {escape(column)}: {escape(why)}")
    if check.performance is not None and check.performance.metrics:
        live = check.performance
        figures = " ".join(f"{k}={_number(v)}" for k, v in live.metrics.items())
        _console.print(f"{indent}live {live.task}: {figures} on {live.labelled:,} labelled rows")
    for action in check.actions:
        detail = ", ".join(f"{k}={v}" for k, v in action.detail.items())
        _console.print(f"{indent}action {action.kind}: {action.status}  {escape(detail)}")


def _latest(evaluation: MonitorEvaluation | None) -> dict[str, object] | None:
    from conveyor.monitoring._documents import evaluation_document

    return None if evaluation is None else evaluation_document(evaluation)


def _read_yaml(file: Path) -> list[Mapping[str, object]]:
    import yaml

    from conveyor.errors import MonitoringError

    try:
        documents = [d for d in yaml.safe_load_all(file.read_text(encoding="utf-8")) if d]
    except OSError as exc:
        raise MonitoringError(f"cannot read {file}: {exc.strerror or exc}") from exc
    except yaml.YAMLError as exc:
        raise MonitoringError(f"{file} is not valid YAML: {exc}") from exc
    found: list[object] = []
    for document in documents:
        found.extend(document if isinstance(document, list) else [document])
    if not found:
        raise MonitoringError(f"{file} defines no monitor")
    for item in found:
        if not isinstance(item, Mapping):
            raise MonitoringError(f"{file}: each monitor is a mapping (name:, model:, ...)")
    return found  # type: ignore[return-value]


def _status(status: str) -> str:
    from conveyor.cli._render import _status as shown

    return shown(status)


def _yes(value: object) -> str:
    return NOTHING if value is None else ("yes" if value else "no")


def _number(value: object) -> str:
    from conveyor.cli._models import _number as shown

    return shown(value)


def _json(document: object) -> str:
    from conveyor.cli._render import json_text

    return json_text(document)


def _table(*columns: str) -> Table:
    from conveyor.cli._render import table

    return table(*columns, wrapped=_WRAPPED)


def _settings() -> Settings:
    from conveyor.cli._commands import settings

    return settings()
