"""conveyor's own protocol (/predict) and the operating routes, through the ASGI app."""

from __future__ import annotations

import numpy as np
import pytest
from starlette.testclient import TestClient

from conveyor.serving import create_app
from tests.serving.conftest import Registered, wait_loaded


def test_positional_rows_match_the_local_model(client: TestClient, registered: Registered) -> None:
    rows = registered.bc_X[:5]
    answer = client.post("/predict", json={"data": rows.tolist()})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["predictions"] == registered.bc_model.predict(rows).tolist()
    assert (body["model"], body["version"]) == ("bc", 1)
    assert answer.headers["x-request-id"] == body["request_id"]


def test_records_in_any_column_order(many: TestClient, registered: Registered) -> None:
    frame = registered.flowers_X.iloc[[0, 60, 120]]
    records = [dict(reversed(list(r.items()))) for r in frame.to_dict(orient="records")]
    answer = many.post("/models/flowers/predict", json={"records": records})
    assert answer.status_code == 200, answer.text
    assert answer.json()["predictions"] == registered.flowers_model.predict(frame).tolist()


def test_columns_and_data(many: TestClient, registered: Registered) -> None:
    frame = registered.prices_X.head(3)
    body = {"columns": list(frame.columns), "data": frame.to_numpy().tolist()}
    answer = many.post("/models/prices/predict", json=body)
    assert answer.status_code == 200, answer.text
    expected = registered.prices_model.predict(frame)
    assert np.allclose(answer.json()["predictions"], expected)


def test_probabilities_on_request(many: TestClient, registered: Registered) -> None:
    frame = registered.flowers_X.iloc[[0, 100]]
    answer = many.post(
        "/models/flowers/predict?proba=true", json={"records": frame.to_dict(orient="records")}
    )
    body = answer.json()
    assert body["classes"] == [0, 1, 2]
    assert np.allclose(body["probabilities"], registered.flowers_model.predict_proba(frame))


def test_a_regressor_has_no_probabilities(many: TestClient) -> None:
    answer = many.post(
        "/models/prices/predict?proba=true", json={"records": [{"rooms": 2, "area": 50.0}]}
    )
    assert answer.status_code == 400
    assert answer.json()["error"]["type"] == "ProbabilitiesNotAvailable"


def test_the_client_request_id_is_kept(client: TestClient) -> None:
    answer = client.post(
        "/predict", json={"data": [[1.0] * 30]}, headers={"X-Request-ID": "order-42"}
    )
    assert answer.json()["request_id"] == "order-42"


@pytest.mark.parametrize(
    ("body", "status", "kind", "named"),
    [
        (b"{not json", 400, "MalformedJSON", "line 1 column 2"),
        (b"", 400, "EmptyBody", "no body"),
        (b"[1, 2]", 400, "InvalidRequest", "JSON object"),
        (b'{"rows": []}', 400, "InvalidRequest", '"records"'),
        (b'{"data": [[1]], "extra": 1}', 400, "InvalidRequest", "'extra'"),
        (b'{"data": [[1, 2]]}', 422, "SignatureMismatch", "the model takes 30"),
        (b'{"records": [{"0": 1}]}', 422, "SignatureMismatch", "missing column(s)"),
    ],
)
def test_client_mistakes_get_a_named_4xx(
    client: TestClient, body: bytes, status: int, kind: str, named: str
) -> None:
    answer = client.post("/predict", content=body)
    assert answer.status_code == status, answer.text
    error = answer.json()["error"]
    assert error["type"] == kind
    assert named in error["message"]


def test_nan_where_the_signature_allows_none(client: TestClient) -> None:
    answer = client.post("/predict", content=b'{"data": [[NaN' + b", 1.0" * 29 + b"]]}")
    # JSON has no NaN; a body that uses it is malformed, and said so
    assert answer.status_code == 400
    answer = client.post("/predict", json={"data": [[None] + [1.0] * 29]})
    assert answer.status_code == 422
    assert "data[0][0]: expected float, found a missing value" in answer.json()["error"]["message"]


def test_a_body_over_the_limit_is_413(registered: Registered) -> None:
    app = create_app(
        "prices@production",
        settings=registered.settings,
        log_predictions=False,
        max_body_bytes=4096,
    )
    rows = [{"rooms": 1, "area": 1.0}] * 200
    with TestClient(app) as client:
        wait_loaded(client)
        answer = client.post("/predict", json={"records": rows})
    assert answer.status_code == 413
    assert answer.json()["error"]["type"] == "BodyTooLarge"


def test_several_models_need_a_name(many: TestClient) -> None:
    answer = many.post("/predict", json={"data": [[1.0] * 30]})
    assert answer.status_code == 400
    assert "/models/NAME/predict" in answer.json()["error"]["message"]
    unknown = many.post("/models/nope/predict", json={"data": [[1.0]]})
    assert unknown.status_code == 404
    assert unknown.json()["error"]["details"]["models"] == ["bc", "flowers", "prices"]


def test_wrong_method_and_route_are_json_errors(client: TestClient) -> None:
    assert client.get("/predict").json()["error"]["type"] == "MethodNotAllowed"
    assert client.get("/nowhere").status_code == 404


def test_a_bad_query_flag_is_named(client: TestClient) -> None:
    answer = client.post("/predict?proba=maybe", json={"data": [[1.0] * 30]})
    assert answer.status_code == 400
    assert "'proba'" in answer.json()["error"]["message"]


def test_probes_and_model_listing(many: TestClient) -> None:
    assert many.get("/healthz").json() == {"status": "ok"}
    ready = many.get("/readyz").json()
    assert ready["ready"] is True
    listed = {m["model"]: m for m in many.get("/models").json()["models"]}
    assert listed["flowers"]["version"] == 1
    # the forest's trees are called directly once they matched its own answers on the sample
    assert (listed["bc"]["fast_path"], listed["flowers"]["fast_path"]) == (True, False)
    assert [i["name"] for i in listed["prices"]["inputs"]] == ["rooms", "area"]


def test_not_ready_until_loaded(registered: Registered) -> None:
    app = create_app("bc@production", settings=registered.settings, log_predictions=False)
    client = TestClient(app)  # no lifespan: nothing is loaded
    assert client.get("/readyz").status_code == 503
    answer = client.post("/predict", json={"data": [[1.0] * 30]})
    assert answer.status_code == 503
    assert answer.json()["error"]["type"] == "ModelNotReady"
    assert client.get("/healthz").status_code == 200


def test_metrics_count_requests_batches_and_classes(client: TestClient) -> None:
    client.post("/predict", json={"data": [[1.0] * 30, [2.0] * 30]})
    client.post("/predict", json={"data": [[1.0]]})
    text = client.get("/metrics").text
    assert 'conveyor_requests_total{model="bc",protocol="predict",status="200",version="1"}' in text
    assert 'conveyor_requests_total{model="bc",protocol="predict",status="422",version="1"}' in text
    assert 'conveyor_batch_size_count{model="bc"}' in text
    assert 'conveyor_predictions_total{class_="' in text
    assert (
        'conveyor_model_info{flavor="sklearn",model="bc",ref="bc@production",version="1"} 1.0'
        in text
    )
    assert 'conveyor_model_load_seconds{model="bc",version="1"}' in text
    assert "conveyor_request_duration_seconds_bucket" in text
    assert "conveyor_queue_seconds_bucket" in text


def test_a_forest_gives_its_own_labels_and_probabilities(
    client: TestClient, registered: Registered
) -> None:
    rows = registered.bc_X[15:25]  # both classes
    body = client.post("/predict?proba=true", json={"data": rows.tolist()}).json()
    assert body["predictions"] == registered.bc_model.predict(rows).tolist()
    assert body["probabilities"] == registered.bc_model.predict_proba(rows).tolist()
    assert sorted(set(body["predictions"])) == [0, 1]
