"""Line charts and timelines as geometry for inline SVG: scales, ticks, paths and bars.

Pure: numbers in, coordinates and labels out; the templates draw them. Values that are not
finite (NaN, ±inf) break a line instead of bending the scale.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

WIDTH = 520
HEIGHT = 200
LEFT, RIGHT, TOP, BOTTOM = 56, 12, 12, 28
SERIES_CLASSES = 8  # CSS classes s0 … s7 colour the lines of a chart


@dataclass(frozen=True, slots=True)
class Tick:
    at: float  # pixel position on its axis
    label: str


@dataclass(frozen=True, slots=True)
class Dot:
    x: float
    y: float
    tooltip: str


@dataclass(frozen=True, slots=True)
class Line:
    label: str
    css: str
    path: str
    dots: tuple[Dot, ...]


@dataclass(frozen=True, slots=True)
class Chart:
    title: str
    lines: tuple[Line, ...]
    x_ticks: tuple[Tick, ...]
    y_ticks: tuple[Tick, ...]
    threshold: float | None = None  # pixel height of a reference line, if any
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    bottom: int = HEIGHT - BOTTOM
    right: int = WIDTH - RIGHT


Series = tuple[str, Sequence[tuple[float, float]]]  # a label and its (x, y) points


def line_chart(
    title: str,
    series: Sequence[Series],
    *,
    x_label: Callable[[float], str] | None = None,
    x_time: bool = False,
    threshold: float | None = None,
) -> Chart:
    """One chart of several lines sharing both axes; ``threshold`` draws a reference line.
    ``x_label`` writes an x value (a step, a time) for the axis and the tooltips; with
    ``x_time`` the x values are seconds since the epoch, ticked at whole minutes, hours, days."""
    x_label = x_label or number
    finite = [(x, y) for _, points in series for x, y in points if _finite(x) and _finite(y)]
    ys = [y for _, y in finite] + ([threshold] if threshold is not None else [])
    xs = [x for x, _ in finite]
    x_lo, x_hi = _span(xs)
    y_lo, y_hi = _span(ys)
    y_steps = ticks(y_lo, y_hi)
    y_lo, y_hi = min(y_lo, y_steps[0]), max(y_hi, y_steps[-1])

    x_steps = time_ticks(x_lo, x_hi) if x_time else ticks(x_lo, x_hi, 5)

    def px(x: float) -> float:
        return LEFT + (x - x_lo) / (x_hi - x_lo) * (WIDTH - LEFT - RIGHT)

    def py(y: float) -> float:
        return HEIGHT - BOTTOM - (y - y_lo) / (y_hi - y_lo) * (HEIGHT - TOP - BOTTOM)

    lines = []
    for index, (label, points) in enumerate(series):
        path, dots = [], []
        pen_up = True
        for x, y in sorted(points, key=lambda p: p[0]):
            if not (_finite(x) and _finite(y)):
                pen_up = True
                continue
            path.append(f"{'M' if pen_up else 'L'}{px(x):.1f},{py(y):.1f}")
            dots.append(
                Dot(round(px(x), 1), round(py(y), 1), f"{label}: {number(y)} at {x_label(x)}")
            )
            pen_up = False
        lines.append(Line(label, f"s{index % SERIES_CLASSES}", " ".join(path), tuple(dots)))
    return Chart(
        title,
        tuple(lines),
        tuple(Tick(round(px(x), 1), x_label(x)) for x in _inside(x_steps, x_lo, x_hi)),
        tuple(Tick(round(py(y), 1), number(y)) for y in y_steps),
        None if threshold is None or not _finite(threshold) else round(py(threshold), 1),
    )


def ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """Round values from at most ``lo`` to at least ``hi``, about ``count`` of them."""
    if hi <= lo:
        return [lo]
    raw = (hi - lo) / max(count - 1, 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    start = math.floor(lo / step) * step
    found = []
    value = start
    while value < hi + step * 1e-9:
        found.append(round(value, 12))
        value += step
    if found[-1] < hi:
        found.append(round(value, 12))
    return found


_TIME_STEPS = (60, 300, 900, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 86400, 7 * 86400)


def time_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """Whole minutes, hours or days (UTC) from ``lo`` to ``hi``, at most about ``count``."""
    step = next((s for s in _TIME_STEPS if (hi - lo) / s <= count), _TIME_STEPS[-1])
    while (hi - lo) / step > 2 * count:  # spans of months: whole weeks, fewer of them
        step *= 2
    first = math.ceil(lo / step) * step
    return [float(first + i * step) for i in range(int((hi - first) // step) + 1)]


def number(value: float) -> str:
    """A value for a human: 4 significant digits, thousands grouped, no float noise."""
    if not _finite(value):
        return str(value)
    if value != 0 and (abs(value) >= 1e7 or abs(value) < 1e-3):
        return f"{value:.3g}"
    if float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.4g}" if abs(value) >= 1 else f"{value:.4g}"


# -- timelines --------------------------------------------------------------------------------

ROW_H = 22
LABEL_W = 150


@dataclass(frozen=True, slots=True)
class Bar:
    label: str
    css: str
    x: float
    width: float
    y: float
    tooltip: str


@dataclass(frozen=True, slots=True)
class Timeline:
    bars: tuple[Bar, ...]
    ticks: tuple[Tick, ...]
    width: int
    height: int
    label_w: int = LABEL_W
    row_h: int = ROW_H


def timeline(items: Sequence[tuple[str, str, float, float]], width: int = 760) -> Timeline:
    """Bars of (label, css class, start, end) with start and end in seconds from time 0."""
    span = max([end for *_, end in items] + [1e-3])
    axis = ticks(0.0, span, 6)
    scale = (width - LABEL_W - RIGHT) / max(axis[-1], 1e-9)
    bars = tuple(
        Bar(
            label,
            css,
            round(LABEL_W + start * scale, 1),
            round(max((end - start) * scale, 2.0), 1),  # an instant still shows
            row * ROW_H + 4,
            f"{label}: {css}, {seconds(end - start)} (from {seconds(start)})",
        )
        for row, (label, css, start, end) in enumerate(items)
    )
    return Timeline(
        bars,
        tuple(Tick(round(LABEL_W + t * scale, 1), seconds(t)) for t in axis),
        width,
        len(items) * ROW_H + BOTTOM,
    )


def seconds(value: float) -> str:
    """A duration for a human: ``850 ms``, ``12.5 s``, ``3 min 20 s``, ``2 h 5 min``."""
    if not _finite(value):
        return "–"
    if value < 1:
        return f"{value * 1000:.0f} ms"
    if value < 60:
        return f"{value:.3g} s"
    minutes, secs = divmod(round(value), 60)
    if minutes < 60:
        return f"{minutes} min {secs} s" if secs else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"


def _inside(values: Sequence[float], lo: float, hi: float) -> list[float]:
    slack = (hi - lo) * 1e-9
    return [v for v in values if lo - slack <= v <= hi + slack] or [lo, hi]


def _span(values: Sequence[float]) -> tuple[float, float]:
    if not values:
        return 0.0, 1.0
    lo, hi = min(values), max(values)
    if hi == lo:  # a flat line sits in the middle of a small band
        pad = abs(lo) * 0.05 or 0.5
        return lo - pad, hi + pad
    return lo, hi


def _finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)
