"""A monitor's evaluation as one self-contained HTML file: figures, rules, actions, and
charts drawn as inline SVG (no script, no network), so it opens anywhere and can be mailed."""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path

from conveyor.engine import Workspace
from conveyor.store import Folder, MonitorAction, MonitorEvaluation

_W, _H, _PAD = 640, 220, 36
_CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:60em;color:#222}
h1{font-size:1.4em}h2{font-size:1.1em;margin-top:1.6em}
table{border-collapse:collapse;width:100%}td,th{padding:.3em .6em;border-bottom:1px solid #ddd;
text-align:left}td.n{text-align:right;font-variant-numeric:tabular-nums}
.firing{color:#b00020;font-weight:600}.ok{color:#1b7f3b;font-weight:600}
.no_data,.error{color:#8a6d00;font-weight:600}svg{background:#fafafa;border:1px solid #eee}
"""


def render(
    name: str,
    evaluation: MonitorEvaluation,
    history: Sequence[MonitorEvaluation] = (),
    actions: Sequence[MonitorAction] = (),
) -> str:
    """The report of ``evaluation``; ``history`` (newest first) draws the trend charts."""
    e = evaluation
    drift = _mapping(e.figures.get("drift"))
    live = _mapping(e.figures.get("performance"))
    parts = [
        f"<h1>Monitor {_t(name)}: <span class='{_t(e.status)}'>{_t(e.status)}</span></h1>",
        f"<p>{_t(e.model)}@{_t(e.version)} · window {_t(_iso(e.window_start))} → "
        f"{_t(_iso(e.window_end))} · {e.rows:,} rows · evaluated {_t(_iso(e.evaluated_at))}</p>",
        f"<p>{_t(e.message)}</p>",
        "<h2>Rules</h2>",
        _table(
            ["rule", "breached", "windows in a row", "firing", "value", "detail"],
            [
                [
                    r.get("rule"),
                    r.get("breached"),
                    f"{r.get('streak')} / {r.get('for_windows')}",
                    r.get("firing"),
                    r.get("value"),
                    r.get("message"),
                ]
                for r in e.rules
            ],
        ),
    ]
    if drift:
        features = _mapping(drift.get("features"))
        parts += [
            f"<h2>Drift: {_num(drift.get('share_drifted'))} of features "
            f"({_t(drift.get('method'))} threshold {_num(drift.get('threshold'))})</h2>",
            _bars(
                {k: _float(_mapping(v).get("psi")) for k, v in features.items()},
                {k for k, v in features.items() if _mapping(v).get("drifted")},
                _float(drift.get("threshold")) if drift.get("method") == "psi" else None,
                "PSI per feature",
            ),
            _table(
                ["feature", "test", "statistic", "p-value", "PSI", "JS distance", "drifted"],
                [
                    [
                        k,
                        f.get("test"),
                        f.get("statistic"),
                        f.get("p_value"),
                        f.get("psi"),
                        f.get("js"),
                        f.get("drifted"),
                    ]
                    for k, f in ((k, _mapping(v)) for k, v in features.items())
                ],
            ),
        ]
        skipped = _mapping(drift.get("skipped"))
        if skipped:
            parts.append(_table(["not measured", "why"], [[k, v] for k, v in skipped.items()]))
    if live:
        metrics = _mapping(live.get("metrics"))
        parts += [
            f"<h2>Live metrics ({_t(live.get('labelled'))} labelled of {_t(live.get('rows'))} "
            "rows)</h2>",
            _table(["metric", "value"], [[k, v] for k, v in metrics.items()]),
        ]
    older = list(reversed([e, *history]))[-60:]
    shares = [_float(_mapping(h.figures.get("drift")).get("share_drifted")) for h in older]
    if sum(s is not None for s in shares) > 1:
        parts += ["<h2>Share of features drifted, over evaluations</h2>", _line(shares)]
    for metric in _mapping(live.get("metrics")) if live else {}:
        series = [
            _float(_mapping(_mapping(h.figures.get("performance")).get("metrics")).get(metric))
            for h in older
        ]
        if sum(s is not None for s in series) > 1:
            parts += [f"<h2>{_t(metric)}, over evaluations</h2>", _line(series)]
    if actions:
        parts += [
            "<h2>Actions</h2>",
            _table(
                ["action", "status", "detail"],
                [[a.kind, a.status, _detail(a.detail)] for a in actions],
            ),
        ]
    body = "\n".join(parts)
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{_t(name)}: {_t(e.status)}</title><style>{_CSS}</style></head>"
        f"<body>{body}</body></html>"
    )


def store_report(name: str, evaluation: MonitorEvaluation, ws: Workspace) -> str:
    """Write the report beside the artifacts and return where it is (a URL)."""
    history = ws.metadata.evaluations(name, limit=60)[1:]
    actions = ws.metadata.actions(name, evaluation.id)
    folder = Folder(ws.settings.prediction_log_url)
    path = folder.path("monitor-reports", name, f"{evaluation.id}.html")
    folder.write(path, render(name, evaluation, history, actions).encode())
    local = Path(path)
    return local.as_uri() if local.is_absolute() and local.exists() else path


def _bars(
    values: Mapping[str, float | None], flagged: set[str], limit: float | None, title: str
) -> str:
    shown = {k: v for k, v in values.items() if v is not None}
    if not shown:
        return ""
    top = max([*shown.values(), limit or 0.0, 1e-9])
    row = 18
    height = row * len(shown) + 2 * _PAD
    label_w = 160
    span = _W - label_w - _PAD
    items = [f"<text x='{_PAD}' y='20' font-weight='600'>{_t(title)}</text>"]
    for i, (key, value) in enumerate(shown.items()):
        y = _PAD + i * row
        width = max(value / top * span, 1.0)
        colour = "#d0454c" if key in flagged else "#4c78a8"
        items.append(
            f"<text x='{label_w - 6}' y='{y + 12}' text-anchor='end'>{_t(key)[:24]}</text>"
            f"<rect x='{label_w}' y='{y + 2}' width='{width:.1f}' height='{row - 5}' "
            f"fill='{colour}'><title>{_t(key)}: {value:.4g}</title></rect>"
        )
    if limit is not None:
        x = label_w + limit / top * span
        items.append(
            f"<line x1='{x:.1f}' x2='{x:.1f}' y1='{_PAD - 4}' y2='{height - _PAD + 4}' "
            "stroke='#222' stroke-dasharray='4 3'/>"
        )
    return f"<svg width='{_W}' height='{height}' role='img'>{''.join(items)}</svg>"


def _line(series: Sequence[float | None]) -> str:
    points = [(i, v) for i, v in enumerate(series) if v is not None]
    top = max(*(v for _, v in points), 1e-9)
    low = min(*(v for _, v in points), 0.0)
    step = (_W - 2 * _PAD) / max(len(series) - 1, 1)

    def xy(i: int, v: float) -> str:
        y = _H - _PAD - (v - low) / (top - low or 1.0) * (_H - 2 * _PAD)
        return f"{_PAD + i * step:.1f},{y:.1f}"

    path = " ".join(xy(i, v) for i, v in points)
    dots = "".join(
        f"<circle cx='{xy(i, v).split(',')[0]}' cy='{xy(i, v).split(',')[1]}' r='3' "
        f"fill='#4c78a8'><title>{v:.4g}</title></circle>"
        for i, v in points
    )
    axis = f"<text x='4' y='{_PAD}'>{top:.3g}</text><text x='4' y='{_H - _PAD}'>{low:.3g}</text>"
    return (
        f"<svg width='{_W}' height='{_H}' role='img'>{axis}"
        f"<polyline fill='none' stroke='#4c78a8' stroke-width='2' points='{path}'/>{dots}</svg>"
    )


def _table(head: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    header = "".join(f"<th>{_t(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(_cell(v) for v in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{header}</tr></thead><tbody>{body}</tbody></table>"


def _cell(value: object) -> str:
    if isinstance(value, float):
        return f"<td class='n'>{_num(value)}</td>"
    if isinstance(value, bool) or value is None:
        return f"<td>{'yes' if value else ('—' if value is None else 'no')}</td>"
    return f"<td>{_t(value)}</td>"


def _detail(detail: Mapping[str, object]) -> str:
    return ", ".join(f"{k}={v}" for k, v in detail.items())


def _num(value: object) -> str:
    return f"{value:.4g}" if isinstance(value, float) else _t(value)


def _float(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _mapping(value: object) -> Mapping[str, object]:
    return value if isinstance(value, Mapping) else {}


def _iso(value: object) -> str:
    return value.isoformat(timespec="seconds") if isinstance(value, datetime) else "—"


def _t(value: object) -> str:
    return html.escape("—" if value is None else str(value))
