"""Monitor evaluations on ``/metrics``: the newest evaluation of each monitor watching a served
model, its drift, live metrics and rules as gauges; cached between scrapes; and a store that
fails never breaks the endpoint."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from prometheus_client.samples import Sample
from starlette.testclient import TestClient

from conveyor.core import Settings
from conveyor.engine import Workspace
from conveyor.errors import StoreError
from conveyor.serving import create_app
from conveyor.serving._monitor_metrics import MonitorMetrics, families
from conveyor.store import MonitorEvaluation
from conveyor.testing import settings_for
from tests.serving._churn import register_churn, samples_of
from tests.serving.conftest import wait_loaded

WHEN = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)

FIGURES: dict[str, object] = {
    "drift": {
        "method": "psi",
        "share_drifted": 0.5,
        "drifted": ["age"],
        "features": {
            "age": {
                "test": "ks",
                "statistic": 0.21,
                "p_value": 1e-9,
                "psi": 0.31,
                "js": 0.12,
                "drifted": True,
            },
            "plan": {
                "test": "chi2",
                "statistic": None,
                "p_value": None,
                "psi": 0.02,
                "js": None,
                "drifted": False,
            },
        },
    },
    "performance": {
        "task": "classification",
        "labelled": 812,
        "rows": 1000,
        "metrics": {"accuracy": 0.81, "f1": None},
    },
}
RULES = (
    {"rule": "drift share_of_features>=0.3 psi>0.2", "kind": "drift", "breached": True,
     "streak": 2, "for_windows": 2, "firing": True, "value": 0.5, "message": "drifted"},
    {"rule": "accuracy<0.7", "kind": "metric", "breached": False, "streak": 0,
     "for_windows": 1, "firing": False, "value": 0.81, "message": ""},
)  # fmt: skip


@dataclass(frozen=True)
class Served:
    settings: Settings
    client: TestClient

    def record(self, monitor: str = "churn-drift", model: str = "churn", **fields: object) -> None:
        values: dict[str, object] = {
            "version": 1,
            "evaluated_at": WHEN,
            "window_start": WHEN - timedelta(hours=1),
            "window_end": WHEN,
            "rows": 1000,
            "status": "firing",
            "figures": FIGURES,
            "rules": RULES,
        }
        values.update(fields)
        evaluation = MonitorEvaluation(monitor=monitor, model=model, **values)  # type: ignore[arg-type]
        Workspace.for_api(self.settings).metadata.record_evaluation(evaluation)

    def scrape(self) -> dict[str, list[Sample]]:
        answer = self.client.get("/metrics")
        assert answer.status_code == 200, answer.text
        return samples_of(answer.text)


def value(samples: Mapping[str, list[Sample]], name: str, **labels: str) -> float | None:
    """The value of the one sample of ``name`` with exactly ``labels`` (None: no such sample)."""
    matching = [s.value for s in samples.get(name, []) if s.labels == labels]
    assert len(matching) <= 1, f"{name}{labels} appears {len(matching)} times"
    return matching[0] if matching else None


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[..., Served]]:
    """Starts an app serving ``churn@production`` from a store of the test's own."""
    settings = register_churn(tmp_path / "home")
    with ExitStack() as running:

        def start(**options: object) -> Served:
            app = create_app(
                "churn@production", settings=settings, log_predictions=False, **options
            )
            client = running.enter_context(TestClient(app))
            wait_loaded(client)
            return Served(settings, client)

        yield start


def test_the_newest_evaluation_is_exported_with_its_figures(serve: Callable[..., Served]) -> None:
    served: Served = serve(monitor_metrics_ttl_s=0)
    served.record()
    samples = served.scrape()
    ids = {"monitor": "churn-drift", "model": "churn"}
    age = {**ids, "version": "1", "feature": "age"}
    plan = {**ids, "version": "1", "feature": "plan"}
    assert value(samples, "conveyor_drift_psi", **age) == pytest.approx(0.31)
    assert value(samples, "conveyor_drift_js_distance", **age) == pytest.approx(0.12)
    assert value(samples, "conveyor_drift_p_value", **age) == pytest.approx(1e-9)
    assert value(samples, "conveyor_drift_feature_drifted", **age) == 1
    assert value(samples, "conveyor_drift_psi", **plan) == pytest.approx(0.02)
    assert value(samples, "conveyor_drift_feature_drifted", **plan) == 0
    # a figure that could not be computed is absent, not zero
    assert value(samples, "conveyor_drift_p_value", **plan) is None
    assert value(samples, "conveyor_drift_js_distance", **plan) is None
    version = {**ids, "version": "1"}
    assert value(samples, "conveyor_drift_share_drifted", **version) == 0.5
    assert value(samples, "conveyor_live_metric", **version, metric="accuracy") == 0.81
    assert value(samples, "conveyor_live_metric", **version, metric="f1") is None
    assert value(samples, "conveyor_live_labelled_rows", **version) == 812
    drift_rule, metric_rule = (str(r["rule"]) for r in RULES)
    assert value(samples, "conveyor_monitor_alert_firing", **ids, rule=drift_rule) == 1
    assert value(samples, "conveyor_monitor_alert_firing", **ids, rule=metric_rule) == 0
    assert value(samples, "conveyor_monitor_firing", **ids) == 1
    assert value(samples, "conveyor_monitor_window_rows", **ids) == 1000
    stamp = value(samples, "conveyor_monitor_last_evaluation_timestamp_seconds", **ids)
    assert stamp == WHEN.timestamp()
    assert value(samples, "conveyor_monitor_metrics_read_errors_total") == 0
    # the serving metrics are still there
    assert "conveyor_model_info" in samples


def test_a_newer_evaluation_replaces_the_old_values(serve: Callable[..., Served]) -> None:
    served: Served = serve(monitor_metrics_ttl_s=0)
    served.record()
    assert value(served.scrape(), "conveyor_monitor_firing", monitor="churn-drift", model="churn")
    calm = {
        "drift": {"method": "psi", "share_drifted": 0.0, "drifted": [],
                  "features": {"age": {"psi": 0.01, "js": 0.02, "p_value": 0.7,
                                       "drifted": False}}},
    }  # fmt: skip
    later = WHEN + timedelta(hours=1)
    rules = [{**RULES[0], "breached": False, "streak": 0, "firing": False}]
    served.record(version=2, evaluated_at=later, rows=40, status="ok", figures=calm, rules=rules)
    samples = served.scrape()
    ids = {"monitor": "churn-drift", "model": "churn"}
    assert value(samples, "conveyor_monitor_firing", **ids) == 0
    assert value(samples, "conveyor_monitor_window_rows", **ids) == 40
    assert value(samples, "conveyor_monitor_last_evaluation_timestamp_seconds", **ids) == (
        later.timestamp()
    )
    assert value(samples, "conveyor_monitor_alert_firing", **ids, rule=RULES[0]["rule"]) == 0
    assert value(samples, "conveyor_drift_psi", **ids, version="2", feature="age") == 0.01
    # nothing of the first evaluation is left: not its version, feature, metrics or rules
    assert [s.labels for s in samples["conveyor_drift_psi"]] == [
        {**ids, "version": "2", "feature": "age"}
    ]
    assert value(samples, "conveyor_drift_share_drifted", **ids, version="1") is None
    assert "conveyor_live_metric" not in samples
    assert "conveyor_live_labelled_rows" not in samples
    assert len(samples["conveyor_monitor_alert_firing"]) == 1


def test_every_monitor_of_a_served_model_is_exported_and_no_other(
    serve: Callable[..., Served],
) -> None:
    served: Served = serve(monitor_metrics_ttl_s=0)
    served.record("churn-drift")
    served.record("churn-accuracy", status="ok", figures={}, rules=(), version=None)
    served.record("fraud-drift", model="fraud")  # a model this server does not serve
    samples = served.scrape()
    monitors = {s.labels["monitor"] for s in samples["conveyor_monitor_firing"]}
    assert monitors == {"churn-drift", "churn-accuracy"}
    assert not [s for name in samples for s in samples[name] if s.labels.get("model") == "fraud"]
    assert value(samples, "conveyor_monitor_firing", monitor="churn-accuracy", model="churn") == 0


def test_scrapes_within_the_ttl_reuse_what_was_read(serve: Callable[..., Served]) -> None:
    served: Served = serve(monitor_metrics_ttl_s=3600)
    served.record("churn-drift")
    assert len(served.scrape()["conveyor_monitor_firing"]) == 1
    served.record("churn-accuracy", status="ok")
    assert len(served.scrape()["conveyor_monitor_firing"]) == 1  # not read again yet


def test_a_failing_store_does_not_break_metrics(
    serve: Callable[..., Served], monkeypatch: pytest.MonkeyPatch
) -> None:
    served: Served = serve(monitor_metrics_ttl_s=0)
    served.record()
    ids = {"monitor": "churn-drift", "model": "churn"}
    assert value(served.scrape(), "conveyor_monitor_firing", **ids) == 1
    store = Workspace.for_api(served.settings).metadata

    def broken(models: object = None) -> list[MonitorEvaluation]:
        raise StoreError("the database is gone")

    monkeypatch.setattr(store, "latest_evaluations", broken)
    for failures in (1, 2):
        samples = served.scrape()
        assert value(samples, "conveyor_monitor_metrics_read_errors_total") == failures
        assert value(samples, "conveyor_monitor_firing", **ids) == 1  # the last values read
        assert "conveyor_model_info" in samples
    monkeypatch.undo()
    served.record(status="ok", evaluated_at=WHEN + timedelta(hours=1))
    samples = served.scrape()
    assert value(samples, "conveyor_monitor_firing", **ids) == 0
    assert value(samples, "conveyor_monitor_metrics_read_errors_total") == 2


def test_a_store_failing_from_the_start_exports_only_the_error(
    serve: Callable[..., Served], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    settings = settings_for(tmp_path / "home")
    store = Workspace.for_api(settings).metadata

    def broken(models: object = None) -> list[MonitorEvaluation]:
        raise RuntimeError("not a ConveyorError either")

    monkeypatch.setattr(store, "latest_evaluations", broken)
    served: Served = serve(monitor_metrics_ttl_s=0)
    samples = served.scrape()
    assert value(samples, "conveyor_monitor_metrics_read_errors_total") == 1
    assert "conveyor_monitor_firing" not in samples
    assert "conveyor_model_info" in samples


def test_with_several_workers_the_evaluations_are_exported_once(
    serve: Callable[..., Served], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    served: Served = serve(monitor_metrics_ttl_s=0)
    served.record()
    folder = tmp_path / "multiprocess"
    folder.mkdir()
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(folder))
    samples = served.scrape()
    assert value(samples, "conveyor_monitor_firing", monitor="churn-drift", model="churn") == 1


def test_malformed_figures_are_skipped_not_fatal() -> None:
    evaluation = MonitorEvaluation(
        monitor="m",
        model="churn",
        version=None,
        evaluated_at=WHEN,
        window_start=None,
        window_end=None,
        rows=0,
        status="error",
        figures={
            "drift": {"share_drifted": "high", "features": ["age"]},
            "performance": {"labelled": None, "metrics": {"accuracy": float("nan")}},
        },
        rules=(
            {"rule": "a", "firing": False},
            {"rule": "a", "firing": True},  # the same text twice: one series, firing
            {"firing": True},  # no rule text: nothing to label it with
        ),
    )
    exported = {f.name: f.samples for f in families([evaluation])}
    assert [s.value for s in exported["conveyor_monitor_alert_firing"]] == [1.0]
    assert exported["conveyor_monitor_firing"][0].value == 0
    for name in ("conveyor_drift_psi", "conveyor_drift_share_drifted", "conveyor_live_metric"):
        assert exported[name] == []


def _evaluation(rows: int) -> MonitorEvaluation:
    return MonitorEvaluation("m", "churn", 1, WHEN, None, None, rows, "ok")


def _rows_exported(collector: MonitorMetrics) -> list[float]:
    found = {f.name: f.samples for f in collector.collect()}
    return [s.value for s in found["conveyor_monitor_window_rows"]]


def test_many_scrapers_read_the_store_once_per_ttl() -> None:
    now = 0.0
    reads: list[float] = []

    def read() -> list[MonitorEvaluation]:
        reads.append(now)
        return [_evaluation(len(reads))]

    collector = MonitorMetrics(read, ttl_s=5, clock=lambda: now)
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: _rows_exported(collector), range(32)))
    assert reads == [0.0]
    assert answers == [[1.0]] * 32
    now = 4.9
    assert _rows_exported(collector) == [1.0]
    now = 5.0
    assert _rows_exported(collector) == [2.0]
    assert reads == [0.0, 5.0]


def test_a_scrape_during_a_slow_read_answers_with_the_last_values() -> None:
    now = 0.0
    reading, release = threading.Event(), threading.Event()
    reads = 0

    def read() -> list[MonitorEvaluation]:
        nonlocal reads
        reads += 1
        if reads == 2:
            reading.set()
            release.wait(timeout=60)
        return [_evaluation(reads)]

    collector = MonitorMetrics(read, ttl_s=1, clock=lambda: now)
    assert _rows_exported(collector) == [1.0]
    now = 2.0
    slow = threading.Thread(target=collector.collect)
    slow.start()
    try:
        assert reading.wait(timeout=60)
        assert _rows_exported(collector) == [1.0]  # does not queue behind the slow read
    finally:
        release.set()
        slow.join()
    assert _rows_exported(collector) == [2.0]
