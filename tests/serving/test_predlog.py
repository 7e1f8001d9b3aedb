"""The prediction log: files, schema and values; the bound; flushing on close; write failures;
and predictions made through an app read back with ``read_predictions``."""

from __future__ import annotations

import dataclasses
import json
import logging
import re
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sklearn.linear_model import LogisticRegression
from starlette.testclient import TestClient

import conveyor as cv
from conveyor.data._predlog_read import read_predictions
from conveyor.serving import _predlog as predlog_module
from conveyor.serving import create_app
from conveyor.serving._metrics import ServingMetrics
from conveyor.serving._predlog import LoggedPrediction, PredictionLog
from conveyor.serving._rows import ABSENT
from tests.serving._servers import running, wait_until
from tests.serving.conftest import Registered, wait_loaded

NOON = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def entry(
    rows: list[list[Any]],
    outputs: list[Any],
    *,
    columns: tuple[str, ...] | None = ("a", "b"),
    model: str = "m",
    version: int = 1,
    request_id: str | None = None,
    received_at: datetime = NOON,
) -> LoggedPrediction:
    return LoggedPrediction(
        model=model,
        version=version,
        request_id=request_id or uuid.uuid4().hex,
        protocol="predict",
        received_at=received_at,
        latency_ms=2.5,
        columns=columns,
        rows=rows,
        outputs=outputs,
    )


def new_log(root: Path | str, **kwargs: Any) -> tuple[PredictionLog, ServingMetrics]:
    metrics = ServingMetrics()
    options: dict[str, Any] = {"max_rows": 1000, "flush_seconds": 3600.0, **kwargs}
    return PredictionLog(str(root), metrics=metrics, **options), metrics


def files(root: Path, kind: str = "predictions") -> list[Path]:
    return sorted(root.glob(f"{kind}/*/date=*/*.parquet"))


def sample(metrics: ServingMetrics, name: str, **labels: str) -> float:
    value = metrics.registry.get_sample_value(name, labels)
    return 0.0 if value is None else value


def test_a_file_has_the_layout_schema_and_values(tmp_path: Path) -> None:
    plog, metrics = new_log(tmp_path)
    plog.add(entry([[1.5, "x"], [2.0, "y"]], [0, 1], request_id="r1"))
    plog.add(entry([[3.25, None]], [1], request_id="r2"))
    plog.close()

    (path,) = files(tmp_path)
    assert path.parent.relative_to(tmp_path).as_posix() == "predictions/m/date=2024-05-01"
    assert re.fullmatch(r"\d{8}T\d{6}\.\d{6}Z-\d+-\d{6}-[0-9a-f]{6}\.parquet", path.name)
    assert not list(path.parent.glob(".*"))  # no temporary file left behind
    table = pq.read_table(path)
    assert table.schema.names == [
        "request_id",
        "row",
        "model",
        "version",
        "protocol",
        "received_at",
        "latency_ms",
        "a",
        "b",
        "prediction",
    ]
    types = {f.name: f.type for f in table.schema}
    assert types["request_id"] == pa.string()
    assert types["row"] == pa.int32()
    assert types["version"] == pa.int64()
    assert types["received_at"] == pa.timestamp("us", tz="UTC")
    assert types["latency_ms"] == pa.float64()
    assert types["a"] == pa.float64()
    assert types["b"] == pa.string()
    assert types["prediction"] == pa.int64()
    assert [tuple(row.values()) for row in table.to_pylist()] == [
        ("r1", 0, "m", 1, "predict", NOON, 2.5, 1.5, "x", 0),
        ("r1", 1, "m", 1, "predict", NOON, 2.5, 2.0, "y", 1),
        ("r2", 0, "m", 1, "predict", NOON, 2.5, 3.25, None, 1),
    ]
    features = json.loads(table.schema.metadata[b"conveyor.features"])
    assert features == {"a": "a", "b": "b"}
    assert sample(metrics, "conveyor_prediction_log_rows_total", model="m") == 3


def test_a_binary_classifiers_probabilities_follow_the_prediction(tmp_path: Path) -> None:
    plog, _ = new_log(tmp_path)
    scored = entry([[1.0, "x"], [2.0, "y"]], ["yes", "no"], request_id="r1")
    plog.add(dataclasses.replace(scored, scores=[0.75, 0.25], scored_class="yes"))
    plog.add(entry([[3.0, "z"]], ["no"], request_id="r2"))  # logged without a probability
    plog.add(dataclasses.replace(entry([[4.0, "w"]], [1]), scores=[0.5], scored_class=np.int64(1)))
    plog.close()

    (path,) = files(tmp_path)
    table = pq.read_table(path)
    assert table.schema.names[-3:] == ["prediction", "probability", "probability_of"]
    assert table.column("probability").type == pa.float64()
    assert table.column("probability").to_pylist() == [0.75, 0.25, None, 0.5]
    assert table.column("probability_of").to_pylist() == ["yes", "yes", None, "1"]
    frame = read_predictions(str(tmp_path), "m")
    assert frame.columns[-3:] == ["prediction", "probability", "probability_of"]


def test_a_feature_named_like_an_output_is_renamed(tmp_path: Path) -> None:
    plog, _ = new_log(tmp_path)
    plog.add(entry([[0.3, 0.4]], [1], columns=("probability", "probability_of")))
    plog.close()

    (path,) = files(tmp_path)
    names = pq.read_table(path).schema.names
    assert names[-3:] == ["input.probability", "input.probability_of", "prediction"]


def test_different_features_models_and_days_go_to_separate_files(tmp_path: Path) -> None:
    plog, _ = new_log(tmp_path)
    plog.add(entry([[1.0, 2.0]], [0.5], version=1))
    plog.add(entry([[1.0, 2.0, 3.0]], [0.7], columns=("a", "b", "c"), version=2))
    plog.add(entry([[4, 5]], ["yes"], columns=None, model="other"))
    plog.add(entry([[1.0, 2.0]], [0.1], received_at=NOON + timedelta(days=1)))
    plog.close()

    written = sorted(
        (p.parent.parent.name, p.parent.name, tuple(pq.read_table(p).column_names[7:]))
        for p in files(tmp_path)
    )
    assert written == [
        ("m", "date=2024-05-01", ("a", "b", "c", "prediction")),
        ("m", "date=2024-05-01", ("a", "b", "prediction")),
        ("m", "date=2024-05-02", ("a", "b", "prediction")),
        ("other", "date=2024-05-01", ("0", "1", "prediction")),
    ]
    wide = [pq.read_table(p) for p in files(tmp_path) if "c" in pq.read_table(p).column_names]
    assert wide[0].column("version").to_pylist() == [2]
    frame = read_predictions(str(tmp_path), "m")
    assert frame.columns[7:] == ["a", "b", "c", "prediction"]
    assert frame.filter(version=2)["c"].to_list() == [3.0]
    assert frame["c"].null_count() == 2
    assert read_predictions(str(tmp_path), "other")["prediction"].to_list() == ["yes"]


def test_odd_values_are_kept_as_text_and_reserved_names_renamed(tmp_path: Path) -> None:
    columns = ("x", "model", "date", "input.model")
    plog, _ = new_log(tmp_path)
    plog.add(
        entry(
            [[1, "model-x", "2024-01-01", 1], ["two", ABSENT, None, 2]],
            [[0.1, 0.9], [0.8, 0.2]],
            columns=columns,
        )
    )
    plog.add(entry([[2**70, "y", "2024-01-02", 3]], [[0.5, 0.5]], columns=columns))
    plog.close()

    (path,) = files(tmp_path)
    table = pq.read_table(path)
    assert table.column("x").type == pa.string()
    assert table.column("x").to_pylist() == ["1", "two", str(2**70)]
    assert table.column("model").to_pylist() == ["m", "m", "m"]
    assert table.column("input.input.model").to_pylist() == ["model-x", None, "y"]
    assert table.column("input.date").to_pylist() == ["2024-01-01", None, "2024-01-02"]
    assert table.column("input.model").to_pylist() == [1, 2, 3]
    assert table.column("prediction").type == pa.list_(pa.float64())
    features = json.loads(table.schema.metadata[b"conveyor.features"])
    assert features == {
        "x": "x",
        "input.input.model": "model",
        "input.date": "date",
        "input.model": "input.model",
    }


def test_a_float_feature_keeps_its_type_in_later_files(tmp_path: Path) -> None:
    plog, _ = new_log(tmp_path, flush_seconds=0.05)
    plog.start()
    plog.add(entry([[1.5, "a"]], [0.5]))
    wait_until(lambda: len(files(tmp_path)) == 1, 30, "no first file")
    # whole numbers only, then nulls only, in a feature that held floats
    plog.add(entry([[2, "b"]], [1], received_at=NOON + timedelta(seconds=1)))
    plog.add(entry([[None, None]], [None], received_at=NOON + timedelta(seconds=2)))
    plog.close()

    later = [pq.read_table(p) for p in files(tmp_path)][1:]
    assert later
    for table in later:
        assert table.schema.field("a").type == pa.float64()
        assert table.schema.field("prediction").type == pa.float64()
    frame = read_predictions(str(tmp_path), "m")
    assert frame["a"].to_list() == [1.5, 2.0, None]


def test_a_full_buffer_is_written_before_flush_seconds(tmp_path: Path) -> None:
    plog, _ = new_log(tmp_path, max_rows=20)  # files of 10 rows
    plog.start()
    try:
        for i in range(10):
            plog.add(entry([[float(i), "x"]], [i]))
        wait_until(lambda: files(tmp_path), 30, "the writer did not write a full buffer")
    finally:
        plog.close()
    assert sum(pq.read_metadata(p).num_rows for p in files(tmp_path)) == 10


def test_rows_are_written_every_flush_seconds(tmp_path: Path) -> None:
    plog, _ = new_log(tmp_path, flush_seconds=0.05)
    plog.start()
    try:
        plog.add(entry([[1.0, "x"]], [1]))
        wait_until(lambda: files(tmp_path), 30, "the writer did not flush")
        assert plog.buffered_rows == 0
    finally:
        plog.close()


def test_beyond_the_bound_rows_are_dropped_counted_and_warned_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    plog, metrics = new_log(tmp_path, max_rows=5)
    with caplog.at_level(logging.WARNING, logger="conveyor.serving"):
        plog.add(entry([[1.0, "x"]] * 4, [0] * 4))
        plog.add(entry([[1.0, "x"]] * 2, [0] * 2))  # 6 > 5: dropped
        plog.add(entry([[1.0, "x"]], [0]))  # 5: fits
        plog.add(entry([[1.0, "x"]] * 3, [0] * 3, model="n"))
    assert sample(metrics, "conveyor_prediction_log_dropped_total", model="m") == 2
    assert sample(metrics, "conveyor_prediction_log_dropped_total", model="n") == 3
    warnings = [r for r in caplog.records if "buffer is full" in r.getMessage()]
    assert len(warnings) == 1
    plog.close()
    assert sum(pq.read_metadata(p).num_rows for p in files(tmp_path)) == 5


def test_close_writes_everything_once_and_later_rows_are_dropped(tmp_path: Path) -> None:
    plog, metrics = new_log(tmp_path)
    plog.start()
    for i in range(7):
        plog.add(entry([[float(i), "x"]], [i]))
    plog.close()
    plog.close()
    assert sum(pq.read_metadata(p).num_rows for p in files(tmp_path)) == 7
    plog.add(entry([[1.0, "x"]], [1]))
    assert sample(metrics, "conveyor_prediction_log_dropped_total", model="m") == 1
    assert len(files(tmp_path)) == 1


def test_a_failed_write_keeps_the_rows_and_retries(tmp_path: Path) -> None:
    root = tmp_path / "store"
    root.write_text("a file where the log's folder should be")
    plog, metrics = new_log(root, max_rows=10, flush_seconds=0.05)
    plog.start()
    try:
        plog.add(entry([[1.0, "x"]] * 6, [1] * 6, request_id="kept"))
        wait_until(
            lambda: sample(metrics, "conveyor_prediction_log_write_failures_total") >= 1,
            30,
            "the write did not fail",
        )
        assert plog.buffered_rows == 6
        plog.add(entry([[2.0, "y"]] * 5, [2] * 5))  # 6 kept + 5 > 10: dropped
        assert sample(metrics, "conveyor_prediction_log_dropped_total", model="m") == 5
        root.unlink()
        root.mkdir()
        wait_until(lambda: files(root), 30, "the rows were not written once the store recovered")
    finally:
        plog.close()
    frame = read_predictions(str(root), "m")
    assert frame["request_id"].to_list() == ["kept"] * 6
    assert frame["row"].to_list() == list(range(6))
    assert sample(metrics, "conveyor_prediction_log_rows_total", model="m") == 6


def test_rows_that_cannot_be_written_at_close_are_counted_as_dropped(tmp_path: Path) -> None:
    root = tmp_path / "store"
    root.write_text("not a folder")
    plog, metrics = new_log(root)
    plog.add(entry([[1.0, "x"]] * 3, [1] * 3))
    plog.close()
    assert sample(metrics, "conveyor_prediction_log_dropped_total", model="m") == 3
    assert sample(metrics, "conveyor_prediction_log_write_failures_total") == 1


def test_a_disabled_log_does_nothing(tmp_path: Path) -> None:
    plog, metrics = new_log(tmp_path, enabled=False, flush_seconds=0.01)
    plog.start()
    plog.add(entry([[1.0, "x"]], [1], request_id="r"))
    plog.close()
    assert not list(tmp_path.iterdir())
    assert plog.buffered_rows == 0
    assert plog.model_of("r") is None
    assert sample(metrics, "conveyor_prediction_log_dropped_total", model="m") == 0


def test_request_ids_are_remembered_within_a_bound(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(predlog_module, "REMEMBERED", 2)
    plog, _ = new_log(tmp_path)
    for rid, model in [("r1", "a"), ("r2", "b"), ("r3", "a")]:
        plog.add(entry([[1.0, "x"]], [1], request_id=rid, model=model))
    assert [plog.model_of(r) for r in ("r1", "r2", "r3")] == [None, "b", "a"]
    plog.close()


def test_an_object_store_url_is_written_and_read(tmp_path: Path) -> None:
    url = f"memory://predlog-{uuid.uuid4().hex}"
    plog, _ = new_log(url)
    plog.add(entry([[1.0, "x"]], [1], request_id="r1"))
    plog.add(entry([[2.0, "y"]], [0], request_id="r2", received_at=NOON + timedelta(days=1)))
    plog.close()
    frame = read_predictions(url, "m")
    assert frame["request_id"].to_list() == ["r1", "r2"]
    assert read_predictions(url, "m", since=date(2024, 5, 2))["request_id"].to_list() == ["r2"]
    assert read_predictions(url, "m", until=NOON + timedelta(hours=1))["a"].to_list() == [1.0]
    assert read_predictions(url, "nothing").is_empty()


# -- through an app -----------------------------------------------------------------------


def test_predictions_through_the_app_are_logged_on_shutdown(registered: Registered) -> None:
    app = create_app(
        ["bc@production", "flowers@production"],
        settings=registered.settings,
        log_predictions=True,
        prediction_log_flush_s=3600,
    )
    bc_rows = registered.bc_X[:3].tolist()
    flowers = registered.flowers_X.iloc[:2]
    ids = {name: uuid.uuid4().hex for name in ("bc", "flowers")}
    with TestClient(app) as client:
        wait_loaded(client)
        answer = client.post(
            "/models/bc/predict", json={"data": bc_rows}, headers={"x-request-id": ids["bc"]}
        )
        assert answer.status_code == 200, answer.text
        bc_predictions = answer.json()["predictions"]
        records = flowers.to_dict(orient="records")
        answer = client.post(
            "/models/flowers/predict",
            json={"records": records},
            headers={"x-request-id": ids["flowers"]},
        )
        assert answer.status_code == 200, answer.text
        flowers_predictions = answer.json()["predictions"]

    bc = read_predictions(registered.settings.artifacts, "bc").filter(request_id=ids["bc"])
    assert bc["row"].to_list() == [0, 1, 2]
    assert bc["version"].to_list() == [1, 1, 1]
    assert bc["protocol"].to_list() == ["predict"] * 3
    assert bc["prediction"].to_list() == bc_predictions
    assert bc.select([str(i) for i in range(30)]).rows() == [tuple(r) for r in bc_rows]
    assert (bc["latency_ms"] > 0).all()

    got = read_predictions(registered.settings.artifacts, "flowers").filter(
        request_id=ids["flowers"]
    )
    assert got["prediction"].to_list() == flowers_predictions
    assert got.select(list(flowers.columns)).rows() == list(flowers.itertuples(index=False))
    # a binary classifier logs its probability of the second class; three classes do not
    expected = registered.bc_model.predict_proba(registered.bc_X[:3])[:, 1].tolist()
    assert bc["probability"].to_list() == pytest.approx(expected)
    assert bc["probability_of"].to_list() == ["1"] * 3
    assert "probability" not in got.columns


def test_a_binary_model_without_a_native_path_logs_probabilities_too(
    fresh_store: Registered,
) -> None:
    X = fresh_store.flowers_X
    y = (X["petal_length"] > 3).map({True: "long", False: "short"})
    model = LogisticRegression(max_iter=500).fit(X, y)
    cv.models.register("petals", model, reference=X, settings=fresh_store.settings)
    rid = uuid.uuid4().hex
    app = create_app("petals@latest", settings=fresh_store.settings, prediction_log_flush_s=3600)
    with TestClient(app) as client:
        wait_loaded(client)
        records = X.iloc[:4].to_dict(orient="records")
        answer = client.post("/predict", json={"records": records}, headers={"x-request-id": rid})
        assert answer.status_code == 200, answer.text
        assert "probabilities" not in answer.json()  # logged, not answered unless asked

    got = read_predictions(fresh_store.settings.artifacts, "petals")
    assert got["probability"].to_list() == pytest.approx(
        model.predict_proba(X.iloc[:4])[:, 1].tolist()
    )
    assert got["probability_of"].to_list() == ["short"] * 4  # classes_ sorted: long, short


def test_logged_probabilities_can_be_turned_off(fresh_store: Registered) -> None:
    app = create_app(
        "bc@production",
        settings=fresh_store.settings,
        prediction_log_flush_s=3600,
        log_probabilities=False,
    )
    with TestClient(app) as client:
        wait_loaded(client)
        answer = client.post("/predict", json={"data": fresh_store.bc_X[:2].tolist()})
        assert answer.status_code == 200, answer.text

    got = read_predictions(fresh_store.settings.artifacts, "bc")
    assert got.height == 2
    assert "probability" not in got.columns


@pytest.mark.slow
def test_a_real_server_flushes_its_log_when_it_stops(registered: Registered) -> None:
    app = create_app(
        "bc@production",
        settings=registered.settings,
        log_predictions=True,
        prediction_log_flush_s=3600,
    )
    rids = [uuid.uuid4().hex for _ in range(5)]
    expected = {}
    with running(app) as url:
        for i, rid in enumerate(rids):
            answer = httpx.post(
                f"{url}/predict",
                json={"data": [registered.bc_X[i].tolist()]},
                headers={"x-request-id": rid},
                timeout=30,
            )
            assert answer.status_code == 200, answer.text
            expected[rid] = answer.json()["predictions"][0]
    frame = read_predictions(registered.settings.artifacts, "bc").filter(
        pl.col("request_id").is_in(rids)
    )
    assert dict(zip(frame["request_id"], frame["prediction"], strict=True)) == expected
    first = dict(zip(frame["request_id"], frame["0"], strict=True))
    assert first == {rid: float(registered.bc_X[i][0]) for i, rid in enumerate(rids)}
