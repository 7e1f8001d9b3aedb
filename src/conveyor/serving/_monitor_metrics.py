"""Monitor evaluations as Prometheus metrics: the newest evaluation of each monitor watching a
served model, read from the metadata store when ``/metrics`` is scraped.

Only the export lives here. Evaluating monitors belongs to ``conveyor.monitoring``; serving and
monitoring never import each other and meet in the store, so this module reads the JSON-shaped
figures and rules the store keeps and trusts nothing about them beyond their documented shape.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from typing import Final

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.metrics_core import Metric

from conveyor.store import MonitorEvaluation, MonitorStore

log = logging.getLogger("conveyor.serving")

ReadEvaluations = Callable[[], Sequence[MonitorEvaluation]]

_FEATURE: Final = ("monitor", "model", "version", "feature")
_VERSION: Final = ("monitor", "model", "version")
_MONITOR: Final = ("monitor", "model")

# key → (name, help, labels); the names are a public interface (alert rules, dashboards)
GAUGES: Final[Mapping[str, tuple[str, str, tuple[str, ...]]]] = {
    "psi": ("conveyor_drift_psi", "Population stability index of a feature.", _FEATURE),
    "js": (
        "conveyor_drift_js_distance",
        "Jensen-Shannon distance (base 2) of a feature from its reference.",
        _FEATURE,
    ),
    "p_value": (
        "conveyor_drift_p_value",
        "P-value of the feature's drift test (KS or chi-square).",
        _FEATURE,
    ),
    "drifted": ("conveyor_drift_feature_drifted", "1 if the feature is flagged drifted.", _FEATURE),
    "share": (
        "conveyor_drift_share_drifted",
        "Share of the features flagged drifted in the monitor's last window.",
        _VERSION,
    ),
    "metric": (
        "conveyor_live_metric",
        "A model metric on the labelled rows of the monitor's last window.",
        (*_VERSION, "metric"),
    ),
    "labelled": (
        "conveyor_live_labelled_rows",
        "Rows of the monitor's last window that had ground truth.",
        _VERSION,
    ),
    "rule_firing": (
        "conveyor_monitor_alert_firing",
        "1 while a rule of the monitor fires (breached for its required number of windows).",
        ("monitor", "model", "rule"),
    ),
    "firing": ("conveyor_monitor_firing", "1 while any rule of the monitor fires.", _MONITOR),
    "rows": ("conveyor_monitor_window_rows", "Rows in the monitor's last window.", _MONITOR),
    "evaluated": (
        "conveyor_monitor_last_evaluation_timestamp_seconds",
        "When the monitor was last evaluated (Unix time).",
        _MONITOR,
    ),
}
READ_ERRORS: Final = "conveyor_monitor_metrics_read_errors"
_READ_ERRORS_HELP: Final = "Reads of monitor evaluations from the store that failed."
_FIRST_READ_WAIT_S: Final = 30.0


def families(evaluations: Iterable[MonitorEvaluation]) -> list[Metric]:
    """Gauges of the evaluations; a figure that is missing or null is left out, not zero."""
    gauges = {
        key: GaugeMetricFamily(name, doc, labels=labels)
        for key, (name, doc, labels) in GAUGES.items()
    }

    def add(key: str, labels: Sequence[str], value: object) -> None:
        number = _number(value)
        if number is not None:
            gauges[key].add_metric(labels, number)

    for evaluation in evaluations:
        monitor, model = evaluation.monitor, evaluation.model
        version = "" if evaluation.version is None else str(evaluation.version)
        add("firing", (monitor, model), evaluation.status == "firing")
        add("rows", (monitor, model), evaluation.rows)
        add("evaluated", (monitor, model), evaluation.evaluated_at.timestamp())
        for rule, firing in _rules(evaluation.rules).items():
            add("rule_firing", (monitor, model, rule), firing)
        drift = _mapping(evaluation.figures.get("drift"))
        add("share", (monitor, model, version), drift.get("share_drifted"))
        for feature, figures in _mapping(drift.get("features")).items():
            stats = _mapping(figures)
            for key in ("psi", "js", "p_value", "drifted"):
                add(key, (monitor, model, version, str(feature)), stats.get(key))
        performance = _mapping(evaluation.figures.get("performance"))
        add("labelled", (monitor, model, version), performance.get("labelled"))
        for metric, value in _mapping(performance.get("metrics")).items():
            add("metric", (monitor, model, version, str(metric)), value)
    return list(gauges.values())


def _rules(rules: Iterable[Mapping[str, object]]) -> dict[str, bool]:
    # Two entries with the same text would be one series twice, which Prometheus rejects.
    firing: dict[str, bool] = {}
    for entry in rules:
        rule = entry.get("rule")
        if isinstance(rule, str) and rule:
            firing[rule] = firing.get(rule, False) or entry.get("firing") is True
    return firing


def _mapping(value: object) -> Mapping[str, object]:
    return value if isinstance(value, Mapping) else {}


def _number(value: object) -> float | None:
    if isinstance(value, bool | int | float) and not (
        isinstance(value, float) and math.isnan(value)
    ):
        return float(value)
    return None


class MonitorMetrics:
    """A prometheus_client collector of the newest monitor evaluations.

    The store is read at most once every ``ttl_s`` seconds, however many scrapers ask. A read
    that fails is logged and counted, and the values of the last good read are exported.
    """

    def __init__(
        self, read: ReadEvaluations, *, ttl_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._read = read
        self._ttl_s = ttl_s
        self._clock = clock
        self._lock = threading.Lock()
        self._evaluations: Sequence[MonitorEvaluation] = ()
        self._read_at: float | None = None
        self._errors = 0
        self._failing = False

    def describe(self) -> list[Metric]:
        # The registry asks for the names when the collector is registered; answering without
        # collecting keeps it from reading the store then.
        return [*families(()), CounterMetricFamily(READ_ERRORS, _READ_ERRORS_HELP)]

    def collect(self) -> list[Metric]:
        evaluations, errors = self._current()
        counter = CounterMetricFamily(READ_ERRORS, _READ_ERRORS_HELP, value=errors)
        return [*families(evaluations), counter]

    def _current(self) -> tuple[Sequence[MonitorEvaluation], int]:
        # One scrape reads at a time. A scrape that finds a read under way answers with the
        # values it has rather than queueing behind a slow store; only before the first read
        # is there nothing to answer with, so it waits.
        if self._read_at is None:
            acquired = self._lock.acquire(timeout=_FIRST_READ_WAIT_S)
        else:
            acquired = self._lock.acquire(blocking=False)
        if not acquired:
            return self._evaluations, self._errors
        try:
            now = self._clock()
            if self._read_at is None or now - self._read_at >= self._ttl_s:
                self._refresh()
                # also after a failure, so a broken store is not asked again on every scrape
                self._read_at = now
            return self._evaluations, self._errors
        finally:
            self._lock.release()

    def _refresh(self) -> None:
        try:
            self._evaluations = tuple(self._read())
        except Exception as exc:  # /metrics must answer whatever the store does
            self._errors += 1
            if not self._failing:
                log.error("cannot read monitor evaluations for /metrics: %s", exc, exc_info=exc)
            self._failing = True
            return
        if self._failing:
            log.info("reading monitor evaluations for /metrics again")
        self._failing = False


def monitor_metrics(store: MonitorStore, models: Collection[str], ttl_s: float) -> MonitorMetrics:
    """The collector of the evaluations of monitors watching the model names ``models``."""
    names = sorted(set(models))
    return MonitorMetrics(lambda: store.latest_evaluations(models=names), ttl_s=ttl_s)
