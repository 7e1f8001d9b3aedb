"""Alert rules: what a monitor checks in each window, and how many windows in a row it must
hold before the monitor fires.

A rule is plain data that round-trips through the YAML/JSON shape a monitor is stored in
(``{"drift": {...}}``, ``{"metric": {...}}``); evaluating it is ``_evaluate``'s business.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from conveyor.core._errors import MonitoringError
from conveyor.monitoring._drift import DEFAULT_THRESHOLDS

COMPARISONS: Final[Mapping[str, Callable[[float, float], bool]]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
LIVE_METRICS: Final = ("accuracy", "f1", "auc", "rmse", "mae")
_DRIFT_DEFAULT_PSI: Final = 0.2


@dataclass(frozen=True)
class DriftRule:
    """Breached when at least ``share_of_features`` of the features drifted.

    A feature drifted when its PSI is at least ``psi`` (default 0.2), or its Jensen–Shannon
    distance at least ``js``, or its test's p-value below ``p_value``: give one of the three.

    Args:
        share_of_features: The share (0-1] of measured features that must drift.
        psi: Per-feature PSI threshold.
        js: Per-feature Jensen–Shannon distance threshold.
        p_value: Per-feature p-value threshold.
        columns: Only these features (default: every feature of the reference).
        for_windows: Consecutive breached windows before the monitor fires.
    """

    share_of_features: float = 0.3
    psi: float | None = None
    js: float | None = None
    p_value: float | None = None
    columns: tuple[str, ...] | None = None
    for_windows: int = 1

    def __post_init__(self) -> None:
        _fraction("share_of_features", self.share_of_features, zero_ok=False)
        given = [m for m in DEFAULT_THRESHOLDS if getattr(self, m) is not None]
        if len(given) > 1:
            raise MonitoringError(
                f"DriftRule takes one per-feature threshold, got {', '.join(given)}"
            )
        for name in given:
            _number(f"DriftRule({name}=...)", getattr(self, name))
        if self.columns is not None:
            if isinstance(self.columns, str) or not all(isinstance(c, str) for c in self.columns):
                raise MonitoringError("DriftRule(columns=...) takes a list of column names")
            object.__setattr__(self, "columns", tuple(self.columns))
        at_least_one("for_windows", self.for_windows)

    @property
    def method(self) -> str:
        return next((m for m in DEFAULT_THRESHOLDS if getattr(self, m) is not None), "psi")

    @property
    def threshold(self) -> float:
        value = getattr(self, self.method)
        return _DRIFT_DEFAULT_PSI if value is None else float(value)

    def describe(self) -> str:
        sign = "<" if self.method == "p_value" else ">="
        scope = f" of {', '.join(self.columns)}" if self.columns else ""
        return (
            f"drift: share of features{scope} with {self.method} {sign} {self.threshold:g} "
            f">= {self.share_of_features:g}"
        )

    def to_dict(self) -> dict[str, object]:
        body: dict[str, object] = {
            "share_of_features": self.share_of_features,
            self.method: self.threshold,
        }
        if self.columns is not None:
            body["columns"] = list(self.columns)
        if self.for_windows != 1:
            body["for_windows"] = self.for_windows
        return {"drift": body}


@dataclass(frozen=True)
class MetricRule:
    """Breached when a live metric compares with ``threshold`` as ``op`` says, e.g.
    ``MetricRule("accuracy", "<", 0.85)``. Metrics need ``/feedback`` labels: a window with
    fewer than ``min_labelled`` labelled rows does not count.

    Args:
        metric: ``accuracy``, ``f1``, ``auc`` (classification; AUC needs a binary classifier
            whose probabilities the server logged), ``rmse`` or ``mae`` (regression).
        op: ``<``, ``<=``, ``>`` or ``>=``.
        threshold: The bound.
        for_windows: Consecutive breached windows before the monitor fires.
        min_labelled: Labelled rows a window needs for the metric to count.
    """

    metric: str
    op: str
    threshold: float
    for_windows: int = 1
    min_labelled: int = 1

    def __post_init__(self) -> None:
        if self.metric == "roc_auc":  # what training metrics call it
            object.__setattr__(self, "metric", "auc")
        if self.metric not in LIVE_METRICS:
            raise MonitoringError(
                f"unknown live metric {self.metric!r}; one of {', '.join(LIVE_METRICS)}",
                metric=str(self.metric),
            )
        if self.op not in COMPARISONS:
            raise MonitoringError(
                f"MetricRule op {self.op!r} is not one of {', '.join(COMPARISONS)}",
                op=str(self.op),
            )
        _number(f"MetricRule({self.metric!r}) threshold", self.threshold)
        at_least_one("for_windows", self.for_windows)
        at_least_one("min_labelled", self.min_labelled)

    def breached(self, value: float) -> bool:
        return COMPARISONS[self.op](value, self.threshold)

    def describe(self) -> str:
        return f"metric: {self.metric} {self.op} {self.threshold:g}"

    def to_dict(self) -> dict[str, object]:
        body: dict[str, object] = {"name": self.metric, "op": self.op, "threshold": self.threshold}
        if self.for_windows != 1:
            body["for_windows"] = self.for_windows
        if self.min_labelled != 1:
            body["min_labelled"] = self.min_labelled
        return {"metric": body}


Rule = DriftRule | MetricRule


def rules_from_data(data: object) -> tuple[Rule, ...]:
    """Rules from their stored or YAML shape: a list of ``{drift: {...}}``/``{metric: {...}}``."""
    if not isinstance(data, Sequence) or isinstance(data, str) or not data:
        raise MonitoringError("a monitor needs rules: a list such as [{drift: {psi: 0.2}}]")
    return tuple(_rule(item) for item in data)


def _rule(item: object) -> Rule:
    if isinstance(item, DriftRule | MetricRule):
        return item
    kind, body = one_key(item, "rule", ("drift", "metric"))
    try:
        if kind == "drift":
            values = dict(body)
            if "columns" in values and values["columns"] is not None:
                values["columns"] = tuple(values["columns"])  # type: ignore[arg-type]
            return DriftRule(**values)  # type: ignore[arg-type]
        values = dict(body)
        metric = values.pop("name", values.pop("metric", None))
        return MetricRule(metric, **values)  # type: ignore[arg-type]
    except TypeError as exc:
        raise MonitoringError(f"bad {kind} rule {dict(body)!r}: {exc}") from exc


def one_key(item: object, what: str, kinds: Sequence[str]) -> tuple[str, Mapping[str, object]]:
    """``{kind: {fields}}`` split in two; a bare ``kind`` string means no fields."""
    if isinstance(item, str) and item in kinds:
        return item, {}
    if not isinstance(item, Mapping) or len(item) != 1:
        raise MonitoringError(
            f"each {what} is a mapping with one key ({', '.join(kinds)}), got {item!r}"
        )
    kind, body = next(iter(item.items()))
    if kind not in kinds:
        raise MonitoringError(f"unknown {what} {kind!r}; one of {', '.join(kinds)}", kind=str(kind))
    if body is None:
        body = {}
    if not isinstance(body, Mapping):
        raise MonitoringError(f"the {kind} {what}'s fields must be a mapping, got {body!r}")
    return str(kind), body


def _number(what: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise MonitoringError(f"{what} must be a finite number, got {value!r}")


def _fraction(what: str, value: object, *, zero_ok: bool) -> None:
    _number(what, value)
    low_ok = value >= 0 if zero_ok else value > 0  # type: ignore[operator]
    if not (low_ok and value <= 1):  # type: ignore[operator]
        raise MonitoringError(f"{what} must be in (0, 1], got {value!r}")


def at_least_one(what: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise MonitoringError(f"{what} must be a whole number >= 1, got {value!r}")
    return value
