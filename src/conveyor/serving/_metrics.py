"""The server's Prometheus metrics, and their text for ``/metrics``.

Each app has its own registry, so two apps in one process (tests, an embedding user) do not
share counters. With ``--workers N`` every worker process writes its values to
``PROMETHEUS_MULTIPROC_DIR`` and ``/metrics`` sums them, as prometheus_client documents.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Final

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from conveyor.serving._batcher import BatchStats
from conveyor.serving._models import LoadedVersion

_LATENCY_BUCKETS: Final = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)
_BATCH_BUCKETS: Final = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)
_VALUE_BUCKETS: Final = (
    -1e6,
    -1e4,
    -1e3,
    -100.0,
    -10.0,
    -1.0,
    0.0,
    1.0,
    10.0,
    100.0,
    1e3,
    1e4,
    1e6,
)
_MAX_CLASSES: Final = 50  # beyond this, counting predictions per class makes too many series


class ServingMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._computed: list[Collector] = []
        r = self.registry
        self.requests = Counter(
            "conveyor_requests",
            "Requests answered, by model, version, protocol and status.",
            ["model", "version", "protocol", "status"],
            registry=r,
        )
        self.latency = Histogram(
            "conveyor_request_duration_seconds",
            "Time from reading a request to answering it.",
            ["model", "protocol"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.batch_size = Histogram(
            "conveyor_batch_size",
            "Rows per predict call.",
            ["model"],
            buckets=_BATCH_BUCKETS,
            registry=r,
        )
        self.batch_requests = Histogram(
            "conveyor_batch_requests",
            "Requests coalesced into one predict call.",
            ["model"],
            buckets=_BATCH_BUCKETS,
            registry=r,
        )
        self.queue = Histogram(
            "conveyor_queue_seconds",
            "Time a request waited for its batch to start.",
            ["model"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.predict = Histogram(
            "conveyor_predict_seconds",
            "Time of one predict call.",
            ["model"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.predictions = Counter(
            "conveyor_predictions",
            "Predicted rows of a classifier, by class.",
            ["model", "version", "class_"],
            registry=r,
        )
        self.values = Histogram(
            "conveyor_prediction_value",
            "Predicted values of a regressor.",
            ["model"],
            buckets=_VALUE_BUCKETS,
            registry=r,
        )
        self.load_seconds = Gauge(
            "conveyor_model_load_seconds",
            "Time to load a version and try it on its sample.",
            ["model", "version"],
            registry=r,
            multiprocess_mode="livemax",
        )
        self.info = Gauge(
            "conveyor_model_info",
            "The version being served (value 1).",
            ["model", "version", "ref", "flavor"],
            registry=r,
            multiprocess_mode="livemax",
        )
        self.swaps = Counter(
            "conveyor_model_swaps",
            "Versions swapped in after the alias moved.",
            ["model"],
            registry=r,
        )
        self.load_failures = Counter(
            "conveyor_model_load_failures",
            "Versions that failed to load or to predict on "
            "their sample; the previous version kept serving.",
            ["model", "version"],
            registry=r,
        )
        self.log_rows = Counter(
            "conveyor_prediction_log_rows",
            "Rows written to the prediction log.",
            ["model"],
            registry=r,
        )
        self.log_dropped = Counter(
            "conveyor_prediction_log_dropped",
            "Rows the prediction log dropped because its buffer was full.",
            ["model"],
            registry=r,
        )

    def served(self, ref: str, loaded: LoadedVersion, replaced: LoadedVersion | None) -> None:
        if replaced is not None:
            self.info.remove(replaced.name, str(replaced.version), ref, replaced.flavor)
        version = str(loaded.version)
        self.info.labels(loaded.name, version, ref, loaded.flavor).set(1)
        self.load_seconds.labels(loaded.name, version).set(loaded.load_seconds)

    def batch(self, stats: BatchStats, loaded_classes: Iterable[object]) -> None:
        name = stats.name
        self.batch_size.labels(name).observe(stats.rows)
        self.batch_requests.labels(name).observe(stats.requests)
        self.predict.labels(name).observe(stats.predict_seconds)
        queue = self.queue.labels(name)
        for seconds in stats.queue_seconds:
            queue.observe(seconds)
        classes = tuple(loaded_classes)
        if classes and len(classes) <= _MAX_CLASSES:
            counts: dict[str, int] = {}
            for output in stats.outputs:
                counts[str(output)] = counts.get(str(output), 0) + 1
            version = str(stats.version)
            for label, count in counts.items():
                self.predictions.labels(name, version, label).inc(count)
        elif not classes:
            values = self.values.labels(name)
            for output in stats.outputs:
                if isinstance(output, int | float):
                    values.observe(float(output))

    def add_computed(self, collector: Collector) -> None:
        """A collector whose values are computed at scrape time rather than counted by this
        process, so with several workers it is exported once, not summed."""
        self.registry.register(collector)
        self._computed.append(collector)

    def render(self) -> tuple[bytes, str]:
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            merged = CollectorRegistry()
            MultiProcessCollector(merged)  # type: ignore[no-untyped-call]
            for collector in self._computed:
                merged.register(collector)
            return generate_latest(merged), CONTENT_TYPE_LATEST
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
