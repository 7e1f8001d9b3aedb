"""``POST /feedback``: labels stored under the right model before the answer, the checks on the
body, and labels joined back to the logged predictions on request id."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import polars as pl
import pytest
from starlette.testclient import TestClient

from conveyor.data._predlog_files import LogFolder
from conveyor.data._predlog_read import read_feedback, read_predictions
from conveyor.serving import create_app
from conveyor.serving._feedback import MAX_ITEMS
from tests.serving.conftest import Registered, wait_loaded


@pytest.fixture
def two_models(registered: Registered) -> Iterator[TestClient]:
    """A client of an app serving bc and flowers, logging its predictions."""
    app = create_app(
        ["bc@production", "flowers@production"],
        settings=registered.settings,
        log_predictions=True,
        prediction_log_flush_s=3600,
    )
    with TestClient(app) as client:
        wait_loaded(client)
        yield client


def rid() -> str:
    return uuid.uuid4().hex


def labels_of(registered: Registered, model: str, ids: list[str]) -> pl.DataFrame:
    frame = read_feedback(registered.settings.artifacts, model)
    return frame.filter(pl.col("request_id").is_in(ids))


def error(answer: Any) -> dict[str, Any]:
    body: dict[str, Any] = answer.json()["error"]
    return body


def test_a_label_is_stored_before_the_answer(client: TestClient, registered: Registered) -> None:
    before = datetime.now(UTC)
    r = rid()
    answer = client.post("/feedback", json={"request_id": r, "label": 1})
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"accepted": 1}
    stored = labels_of(registered, "bc", [r])  # the only model served: filed under it
    assert stored.to_dicts() == [
        {
            "request_id": r,
            "label": "1",
            "label_number": 1.0,
            "model": "bc",
            "received_at": stored["received_at"][0],
        }
    ]
    assert stored["received_at"][0] >= before
    metrics = client.get("/metrics").text
    assert 'conveyor_feedback_rows_total{model="bc"}' in metrics


def test_a_batch_keeps_labels_of_every_type(client: TestClient, registered: Registered) -> None:
    ids = [rid() for _ in range(5)]
    labels: list[Any] = [0, 2.5, "malignant", True, [1, 0]]
    items = [{"request_id": i, "label": v} for i, v in zip(ids, labels, strict=True)]
    answer = client.post("/feedback", json={"feedback": items})
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"accepted": 5}
    stored = {row["request_id"]: row for row in labels_of(registered, "bc", ids).to_dicts()}
    assert [stored[i]["label"] for i in ids] == ["0", "2.5", '"malignant"', "true", "[1,0]"]
    assert [stored[i]["label_number"] for i in ids] == [0.0, 2.5, None, 1.0, None]


def test_labels_are_filed_under_the_model_that_answered(
    two_models: TestClient, registered: Registered
) -> None:
    flowers_id, named_id, unknown_id = rid(), rid(), rid()
    records = registered.flowers_X.iloc[:1].to_dict(orient="records")
    answer = two_models.post(
        "/models/flowers/predict", json={"records": records}, headers={"x-request-id": flowers_id}
    )
    assert answer.status_code == 200, answer.text
    answer = two_models.post(
        "/feedback",
        json={
            "feedback": [
                {"request_id": flowers_id, "label": 2},
                {"request_id": named_id, "label": 1, "model": "bc"},
                {"request_id": unknown_id, "label": 0},
            ]
        },
    )
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"accepted": 3}
    assert labels_of(registered, "flowers", [flowers_id])["label"].to_list() == ["2"]
    assert labels_of(registered, "bc", [named_id])["model"].to_list() == ["bc"]
    assert labels_of(registered, "_unknown", [unknown_id])["model"].to_list() == ["_unknown"]


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"label": 1}, 400, "request_id"),
        ({"request_id": "r"}, 400, "label"),
        ({"request_id": "", "label": 1}, 400, "request_id"),
        ({"request_id": 7, "label": 1}, 400, "request_id"),
        ({"request_id": "r" * 129, "label": 1}, 400, "request_id"),
        ({"request_id": "r", "label": None}, 400, "label"),
        ({"request_id": "r", "label": {"class": 1}}, 400, "label"),
        ({"request_id": "r", "label": 1, "model": 3}, 400, "model"),
        ({"request_id": "r", "label": 1, "model": "nope"}, 422, "model"),
        ({"request_id": "r", "label": 1, "extra": True}, 400, "extra"),
        ({"feedback": []}, 400, "feedback"),
        ({"feedback": {"request_id": "r", "label": 1}}, 400, "feedback"),
        ({"feedback": [{"request_id": "r", "label": 1}], "label": 2}, 400, "label"),
        (
            {
                "feedback": [{"request_id": str(i), "label": 1} for i in range(3)]
                + [{"request_id": "x"}]
            },
            400,
            "feedback[3].label",
        ),
        ({"feedback": [{"request_id": "a", "label": 1}, "b"]}, 400, "feedback[1]"),
        ({"feedback": [{"request_id": None, "label": 1}]}, 400, "feedback[0].request_id"),
        ([{"request_id": "r", "label": 1}], 400, "$"),
    ],
)
def test_a_bad_body_names_the_field(
    client: TestClient, registered: Registered, body: object, status: int, field: str
) -> None:
    answer = client.post("/feedback", json=body)
    assert answer.status_code == status, answer.text
    assert error(answer)["details"]["field"] == field
    assert field in error(answer)["message"] or field == "$"


def test_a_bad_batch_stores_nothing(client: TestClient, registered: Registered) -> None:
    good = rid()
    body = {"feedback": [{"request_id": good, "label": 1}, {"request_id": rid()}]}
    assert client.post("/feedback", json=body).status_code == 400
    assert labels_of(registered, "bc", [good]).is_empty()


def test_too_many_items_are_refused(client: TestClient) -> None:
    items = [{"request_id": "r", "label": 1}] * (MAX_ITEMS + 1)
    answer = client.post("/feedback", json={"feedback": items})
    assert answer.status_code == 400
    assert error(answer)["details"]["limit"] == MAX_ITEMS


def test_a_body_that_is_not_json_is_refused(client: TestClient) -> None:
    answer = client.post("/feedback", content=b"{not json")
    assert answer.status_code == 400
    assert error(answer)["type"] == "MalformedJSON"


def test_a_store_failure_answers_503(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*args: object) -> str:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(LogFolder, "write", fail)
    answer = client.post("/feedback", json={"request_id": rid(), "label": 1})
    assert answer.status_code == 503
    assert error(answer)["type"] == "FeedbackNotStored"
    assert "No space left" in error(answer)["message"]


def test_feedback_joins_the_logged_predictions(registered: Registered) -> None:
    app = create_app(
        "bc@production",
        settings=registered.settings,
        log_predictions=True,
        prediction_log_flush_s=3600,
    )
    X, y = registered.bc_X[:8], registered.bc_model.predict(registered.bc_X[:8])
    ids = [rid() for _ in range(4)]
    with TestClient(app) as client:
        wait_loaded(client)
        for i, request_id in enumerate(ids):
            rows = X[2 * i : 2 * i + 2].tolist()
            answer = client.post(
                "/predict", json={"data": rows}, headers={"x-request-id": request_id}
            )
            assert answer.status_code == 200, answer.text
        # the truth is known per request here: the first row's class, said twice for one id
        truth = {request_id: int(y[2 * i]) for i, request_id in enumerate(ids)}
        items = [{"request_id": r, "label": label} for r, label in truth.items()]
        assert client.post("/feedback", json={"feedback": items}).status_code == 200
        fixed = {"request_id": ids[0], "label": 1 - truth[ids[0]]}
        assert client.post("/feedback", json=fixed).status_code == 200
        truth[ids[0]] = 1 - truth[ids[0]]

    predictions = read_predictions(registered.settings.artifacts, "bc").filter(
        pl.col("request_id").is_in(ids), row=0
    )
    labels = (
        read_feedback(registered.settings.artifacts, "bc")
        .filter(pl.col("request_id").is_in(ids))
        .unique("request_id", keep="last", maintain_order=True)
    )
    joined = predictions.join(labels, on="request_id", how="inner")
    assert joined.height == 4
    assert dict(zip(joined["request_id"], joined["label_number"], strict=True)) == {
        r: float(label) for r, label in truth.items()
    }
    assert dict(zip(joined["request_id"], joined["prediction"], strict=True)) == {
        r: int(y[2 * i]) for i, r in enumerate(ids)
    }
    hits = (joined["prediction"].cast(pl.Float64) == joined["label_number"]).sum()
    assert hits == 3  # one label was corrected against the model
