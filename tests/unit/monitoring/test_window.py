"""Windows of the prediction log and live performance from feedback, on files written by the
serving prediction log itself."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from sklearn.metrics import roc_auc_score

from conveyor.core import Settings
from conveyor.data._predlog_files import FEEDBACK, LogFolder
from conveyor.errors import ConveyorError
from conveyor.monitoring import drift, features, performance, window
from conveyor.monitoring._window import parse_window
from conveyor.serving._metrics import ServingMetrics
from conveyor.serving._predlog import LoggedPrediction, PredictionLog
from conveyor.serving._predlog_arrow import feedback_table
from conveyor.testing import settings_for

NOON = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return settings_for(tmp_path / "home")


def log(settings: Settings, entries: list[dict[str, Any]]) -> list[str]:
    plog = PredictionLog(
        settings.artifacts, metrics=ServingMetrics(), max_rows=10_000, flush_seconds=3600.0
    )
    ids = []
    for e in entries:
        rid = e.get("request_id") or uuid.uuid4().hex
        ids.append(rid)
        plog.add(
            LoggedPrediction(
                model="churn",
                version=e.get("version", 1),
                request_id=rid,
                protocol="predict",
                received_at=e["at"],
                latency_ms=1.0,
                columns=("age", "plan"),
                rows=e["rows"],
                outputs=e["outputs"],
                scores=e.get("scores"),
                scored_class=e.get("of"),
            )
        )
    plog.close()
    return ids


def label(settings: Settings, pairs: list[tuple[str, Any]], at: datetime = NOON) -> None:
    table = feedback_table([r for r, _ in pairs], [v for _, v in pairs], "churn", at)
    LogFolder(settings.artifacts).write(FEEDBACK, "churn", at.date(), table)


def test_a_duration_window_holds_the_requests_received_in_it(settings: Settings) -> None:
    log(
        settings,
        [
            {"at": NOON - timedelta(hours=2), "rows": [[50, "pro"]], "outputs": [0]},
            {"at": NOON - timedelta(minutes=30), "rows": [[30, "free"]], "outputs": [1]},
            {
                "at": NOON - timedelta(minutes=10),
                "rows": [[31, "free"], [32, "pro"]],
                "outputs": [1, 0],
            },
        ],
    )
    frame = window("churn@production", "1h", now=NOON, settings=settings)
    assert frame["age"].to_list() == [30, 31, 32]
    assert features(frame).columns == ["age", "plan"]
    assert window("churn", timedelta(hours=3), now=NOON, settings=settings).height == 4
    assert window("churn", 2, now=NOON, settings=settings)["age"].to_list() == [31, 32]
    assert window("other", "1h", now=NOON, settings=settings).height == 0


def test_drift_is_measured_on_a_window(settings: Settings) -> None:
    rows = [[20 + i % 10, "free"] for i in range(200)]
    log(settings, [{"at": NOON - timedelta(minutes=5), "rows": rows, "outputs": [0] * 200}])
    reference = pl.DataFrame({"age": [60 + i % 10 for i in range(200)], "plan": ["free"] * 200})
    report = drift(reference, features(window("churn", "1h", now=NOON, settings=settings)))
    assert report.drifted == ["age"]


def test_classification_metrics_use_the_latest_label_of_each_request(
    settings: Settings,
) -> None:
    ids = log(
        settings,
        [
            {"at": NOON - timedelta(minutes=m), "rows": [[30, "free"]], "outputs": [p]}
            for m, p in ((40, 1), (30, 0), (20, 1), (10, 1))
        ]
        + [{"at": NOON - timedelta(minutes=5), "rows": [[1, "a"], [2, "b"]], "outputs": [0, 1]}],
    )
    label(settings, [(ids[0], 1), (ids[1], 1), (ids[2], 0)], at=NOON - timedelta(minutes=3))
    label(settings, [(ids[2], 1), (ids[4], [0, 0])], at=NOON - timedelta(minutes=1))
    result = performance("churn", "1h", now=NOON, settings=settings)
    # labelled: ids[0] 1/1, ids[1] 1/0, ids[2] 1/1 (the later label), ids[4] rows 0/0 and 0/1
    assert (result.task, result.labelled, result.rows) == ("classification", 5, 6)
    assert result.metrics["accuracy"] == pytest.approx(3 / 5)
    assert result.metrics["f1"] == pytest.approx(2 * 2 / (2 * 2 + 1 + 1))


def test_auc_is_measured_on_the_logged_probabilities(settings: Settings) -> None:
    scored = [(0.9, 1), (0.8, 0), (0.7, 1), (0.35, 1), (0.3, 0), (0.1, 0)]
    entries = [
        {"at": NOON - timedelta(minutes=50 - i), "rows": [[30, "free"]], "outputs": [int(p > 0.5)]}
        | {"scores": [p], "of": 1}
        for i, (p, _) in enumerate(scored)
    ]
    # a request the model logged no probability for counts for accuracy, not for AUC
    entries.append({"at": NOON - timedelta(minutes=5), "rows": [[30, "free"]], "outputs": [1]})
    ids = log(settings, entries)
    label(settings, [(rid, truth) for rid, (_, truth) in zip(ids, scored, strict=False)])
    label(settings, [(ids[-1], 0)])

    result = performance("churn", "1h", now=NOON + timedelta(minutes=1), settings=settings)

    assert result.labelled == 7
    truth = [t for _, t in scored]
    assert result.metrics["auc"] == pytest.approx(roc_auc_score(truth, [p for p, _ in scored]))
    assert result.metrics["auc"] == pytest.approx(7 / 9)
    assert result.metrics["accuracy"] == pytest.approx(4 / 7)
    frame = window("churn", "1h", now=NOON + timedelta(minutes=1), settings=settings)
    assert frame.columns[-3:] == ["prediction", "probability", "probability_of"]
    assert features(frame).columns == ["age", "plan"]


def test_auc_of_text_classes_scores_the_class_the_model_named(settings: Settings) -> None:
    # the logged probability is of "yes"; a label "no" is the other class
    ids = log(
        settings,
        [
            {"at": NOON - timedelta(minutes=30), "rows": [[30, "free"], [31, "pro"]]}
            | {"outputs": ["yes", "no"], "scores": [0.2, 0.6], "of": "yes"},
        ],
    )
    label(settings, [(ids[0], ["no", "yes"])])
    result = performance("churn", "1h", now=NOON, settings=settings)
    assert result.metrics["auc"] == 1.0
    assert result.metrics["accuracy"] == 0.0


def test_no_auc_without_both_classes_or_without_probabilities(settings: Settings) -> None:
    ids = log(
        settings,
        [
            {"at": NOON - timedelta(minutes=30), "rows": [[30, "free"]], "outputs": [1]}
            | {"scores": [0.9], "of": 1},
            {"at": NOON - timedelta(minutes=20), "rows": [[30, "free"]], "outputs": [0]},
        ],
    )
    label(settings, [(ids[0], 1), (ids[1], 0)])
    result = performance("churn", "1h", now=NOON, settings=settings)
    assert result.labelled == 2
    assert "auc" not in result.metrics  # the scored rows hold one class only
    assert result.metrics["accuracy"] == 1.0


def test_regression_metrics(settings: Settings) -> None:
    ids = log(
        settings,
        [
            {"at": NOON - timedelta(minutes=m), "rows": [[30, "free"]], "outputs": [p]}
            for m, p in ((30, 10.5), (20, 20.0))
        ],
    )
    label(settings, [(ids[0], 12.5), (ids[1], 19.0)])
    result = performance("churn", "1h", now=NOON + timedelta(minutes=1), settings=settings)
    assert result.task == "regression"
    assert result.metrics["rmse"] == pytest.approx(((4 + 1) / 2) ** 0.5)
    assert result.metrics["mae"] == pytest.approx(1.5)


def test_no_label_gives_no_metrics(settings: Settings) -> None:
    log(settings, [{"at": NOON - timedelta(minutes=5), "rows": [[30, "free"]], "outputs": [1]}])
    result = performance("churn", "1h", now=NOON, settings=settings)
    assert (result.metrics, result.labelled, result.rows) == ({}, 0, 1)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30m", timedelta(minutes=30)),
        ("1h", timedelta(hours=1)),
        (" 2d ", timedelta(days=2)),
        ("1.5h", timedelta(minutes=90)),
        (500, 500),
        (timedelta(seconds=5), timedelta(seconds=5)),
    ],
)
def test_windows_are_durations_or_row_counts(text: Any, expected: Any) -> None:
    assert parse_window(text) == expected


@pytest.mark.parametrize("bad", ["", "1 hour", "0h", "-1h", 0, -3, True, 1.5, timedelta(0)])
def test_a_bad_window_is_refused_with_its_value(bad: Any) -> None:
    with pytest.raises(ConveyorError, match="window"):
        parse_window(bad)


def test_feedback_from_before_the_window_is_not_read(settings: Settings) -> None:
    ids = log(
        settings, [{"at": NOON - timedelta(minutes=5), "rows": [[30, "free"]], "outputs": [1]}]
    )
    label(settings, [(ids[0], 1)])
    old = Path(settings.artifacts) / "feedback" / "churn" / "date=2020-01-01"
    old.mkdir(parents=True)
    (old / "unreadable.parquet").write_bytes(b"not parquet")  # would fail if it were read
    result = performance("churn", "1h", now=NOON + timedelta(minutes=1), settings=settings)
    assert (result.labelled, result.metrics["accuracy"]) == (1, 1.0)
