"""MLflow's scoring protocol (/invocations, /ping, /health, /version): request formats and
errors through the ASGI app, and every format over HTTP against a real server."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import numpy as np
import pytest
from starlette.testclient import TestClient

import conveyor
from conveyor.serving import create_app
from tests.serving._servers import running
from tests.serving.conftest import MODELS, Registered, wait_loaded

FLOWERS = [0, 60, 120]  # one flower of each class
FORMATS = [
    "dataframe_split",
    "dataframe_split without columns",
    "dataframe_split with index",
    "dataframe_records",
    "instances as rows",
    "instances as objects",
    "inputs as rows",
    "inputs as columns",
]


def bodies(registered: Registered) -> dict[str, tuple[str, dict[str, Any]]]:
    """Each accepted JSON format, as (model, body), for rows of ``expected``."""
    frame = registered.flowers_X.iloc[FLOWERS]
    records = frame.to_dict(orient="records")
    rows = registered.bc_X[:3].tolist()
    return {
        "dataframe_split": (
            "flowers",
            {"dataframe_split": {"columns": list(frame.columns), "data": frame.values.tolist()}},
        ),
        "dataframe_split without columns": ("bc", {"dataframe_split": {"data": rows}}),
        "dataframe_split with index": (
            "flowers",
            {
                "dataframe_split": {
                    "index": FLOWERS,
                    "columns": list(frame.columns)[::-1],
                    "data": frame[frame.columns[::-1]].values.tolist(),
                }
            },
        ),
        "dataframe_records": ("flowers", {"dataframe_records": records}),
        "instances as rows": ("bc", {"instances": rows}),
        "instances as objects": ("flowers", {"instances": records}),
        "inputs as rows": ("bc", {"inputs": rows, "params": {"threshold": 0.5}}),
        "inputs as columns": ("flowers", {"inputs": frame.to_dict(orient="list")}),
    }


def expected(registered: Registered, model: str) -> list[Any]:
    if model == "bc":
        return list(registered.bc_model.predict(registered.bc_X[:3]).tolist())
    return list(registered.flowers_model.predict(registered.flowers_X.iloc[FLOWERS]).tolist())


@pytest.mark.parametrize("name", FORMATS)
def test_each_json_format_predicts_like_the_model(
    many: TestClient, registered: Registered, name: str
) -> None:
    model, body = bodies(registered)[name]
    answer = many.post(f"/invocations?model={model}", json=body)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"predictions": expected(registered, model)}


def test_one_model_needs_no_name(client: TestClient, registered: Registered) -> None:
    rows = registered.bc_X[:3]
    answer = client.post("/invocations", json={"inputs": rows.tolist()})
    assert answer.json() == {"predictions": registered.bc_model.predict(rows).tolist()}
    assert answer.headers["content-type"] == "application/json"


def test_the_model_header(many: TestClient, registered: Registered) -> None:
    _, body = bodies(registered)["dataframe_records"]
    answer = many.post("/invocations", json=body, headers={"X-Conveyor-Model": "flowers"})
    assert answer.json() == {"predictions": [0, 1, 2]}


def test_inputs_as_one_row_of_values(many: TestClient, registered: Registered) -> None:
    row = registered.prices_X.iloc[0]
    body = {"inputs": {"rooms": int(row["rooms"]), "area": float(row["area"])}}
    answer = many.post("/invocations?model=prices", json=body)
    assert answer.status_code == 200, answer.text
    assert np.allclose(
        answer.json()["predictions"], registered.prices_model.predict(registered.prices_X[:1])
    )


def test_csv_with_a_header_row(many: TestClient, registered: Registered) -> None:
    frame = registered.prices_X.head(5)[["area", "rooms"]]
    answer = many.post(
        "/invocations?model=prices",
        content=frame.to_csv(index=False).encode(),
        headers={"Content-Type": "text/csv; charset=utf-8"},
    )
    assert answer.status_code == 200, answer.text
    assert np.allclose(
        answer.json()["predictions"], registered.prices_model.predict(frame[["rooms", "area"]])
    )


def test_no_content_type_is_json(client: TestClient, registered: Registered) -> None:
    answer = client.post(
        "/invocations", content=b'{"instances": [' + b"[1.0" + b", 1.0" * 29 + b"]]}"
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["predictions"] == registered.bc_model.predict(np.ones((1, 30))).tolist()


def test_ping_health_and_version(client: TestClient) -> None:
    for path in ("/ping", "/health"):
        answer = client.get(path)
        assert (answer.status_code, answer.text) == (200, "\n")
    assert client.get("/version").text == conveyor.__version__


def test_not_healthy_before_the_models_load(registered: Registered) -> None:
    app = create_app("bc@production", settings=registered.settings, log_predictions=False)
    client = TestClient(app)  # no lifespan: nothing is loaded
    answer = client.get("/ping")
    assert answer.status_code == 503
    assert answer.json()["error"]["type"] == "NotReady"


def test_requests_are_counted_under_mlflow(client: TestClient) -> None:
    client.post("/invocations", json={"inputs": [[1.0] * 30]})
    text = client.get("/metrics").text
    assert 'conveyor_requests_total{model="bc",protocol="mlflow",status="200",version="1"}' in text


def error_of(answer: Any, status: int, kind: str, field: str) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    error: dict[str, Any] = answer.json()["error"]
    assert error["type"] == kind
    assert field in error["message"]
    return error


@pytest.mark.parametrize(
    ("body", "status", "kind", "field", "named"),
    [
        ({}, 400, "InvalidRequest", "$", "'dataframe_split'"),
        ({"data": [[1.0]]}, 400, "InvalidRequest", "data", "'data'"),
        ({"inputs": [[1.0]], "instances": [[1.0]]}, 400, "InvalidRequest", "$", "'instances'"),
        ({"inputs": [[1.0]], "extra": 1}, 400, "InvalidRequest", "extra", "'extra'"),
        ({"inputs": [[1.0]], "params": [1]}, 400, "InvalidRequest", "params", "'params'"),
        (
            {"dataframe_split": [[1.0]]},
            400,
            "InvalidRequest",
            "dataframe_split",
            "'dataframe_split'",
        ),
        (
            {"dataframe_split": {"data": [[1.0]], "dtype": "f"}},
            400,
            "InvalidRequest",
            "dataframe_split.dtype",
            "'dataframe_split.dtype'",
        ),
        (
            {"dataframe_split": {"columns": ["a"]}},
            400,
            "InvalidRequest",
            "dataframe_split.data",
            "dataframe_split",
        ),
        (
            {"dataframe_split": {"columns": "a", "data": [[1.0]]}},
            400,
            "InvalidRequest",
            "dataframe_split.columns",
            "'dataframe_split.columns'",
        ),
        (
            {"dataframe_split": {"columns": ["a", "b"], "data": [[1.0, 2.0], [1.0]]}},
            400,
            "InvalidRequest",
            "dataframe_split.data[1]",
            "dataframe_split.data[1]",
        ),
        (
            {"dataframe_split": {"index": [0, 1], "data": [[1.0] * 30]}},
            400,
            "InvalidRequest",
            "dataframe_split.index",
            "dataframe_split.index",
        ),
        (
            {"dataframe_records": {"a": 1}},
            400,
            "InvalidRequest",
            "dataframe_records",
            "'dataframe_records'",
        ),
        (
            {"dataframe_records": [{"0": 1.0}, 2]},
            400,
            "InvalidRequest",
            "dataframe_records[1]",
            "dataframe_records[1]",
        ),
        ({"instances": []}, 400, "InvalidRequest", "instances", "'instances'"),
        ({"instances": [1.0, [1.0]]}, 400, "InvalidRequest", "instances[1]", "instances[1]"),
        ({"inputs": {}}, 400, "InvalidRequest", "inputs", "'inputs'"),
        ({"inputs": {"a": [1.0, 2.0], "b": [1.0]}}, 400, "InvalidRequest", "inputs.b", "inputs.b"),
        ({"inputs": {"a": [1.0], "b": 2.0}}, 400, "InvalidRequest", "inputs.b", "inputs.b"),
        ({"inputs": [[1.0] * 29]}, 422, "SignatureMismatch", None, "the model takes 30"),
        ({"dataframe_records": [{"0": 1.0}]}, 422, "SignatureMismatch", None, "missing column(s)"),
        ({"instances": [["x"] + [1.0] * 29]}, 422, "SignatureMismatch", None, "instances[0][0]"),
    ],
)
def test_client_mistakes_get_a_named_4xx(
    client: TestClient, body: object, status: int, kind: str, field: str | None, named: str
) -> None:
    error = error_of(client.post("/invocations", json=body), status, kind, named)
    if field is not None:
        assert error["details"]["field"] == field
    if field == "$":
        assert error["details"]["accepted"] == [
            "dataframe_split",
            "dataframe_records",
            "instances",
            "inputs",
            "params",
        ]


@pytest.mark.parametrize(
    ("content", "headers", "status", "kind", "named"),
    [
        (b"{nope", {}, 400, "MalformedJSON", "the body"),
        (b"", {}, 400, "EmptyBody", "no body"),
        (b"[1, 2]", {}, 400, "InvalidRequest", "JSON object"),
        (b"a,b", {"Content-Type": "text/plain"}, 415, "UnsupportedMediaType", "'text/plain'"),
        (
            b"a=1",
            {"Content-Type": "application/x-www-form-urlencoded"},
            415,
            "UnsupportedMediaType",
            "Content-Type",
        ),
        (b"", {"Content-Type": "text/csv"}, 400, "EmptyBody", "CSV"),
        (b"0,1\n", {"Content-Type": "text/csv"}, 400, "InvalidRequest", "no rows"),
        (b'a,b\n1,"2\n', {"Content-Type": "text/csv"}, 400, "MalformedCSV", "CSV"),
        (b"a,b\n\xff\xfe,1\n", {"Content-Type": "text/csv"}, 400, "MalformedCSV", "CSV"),
        (
            b"a,b\n1,2\n",
            {"Content-Type": "text/csv"},
            422,
            "SignatureMismatch",
            "missing column(s)",
        ),
    ],
)
def test_bodies_that_are_not_usable(
    client: TestClient,
    content: bytes,
    headers: dict[str, str],
    status: int,
    kind: str,
    named: str,
) -> None:
    error = error_of(
        client.post("/invocations", content=content, headers=headers), status, kind, named
    )
    if status == 415:
        assert error["details"]["accepted"] == ["application/json", "text/csv"]


def test_several_models_need_a_name(many: TestClient) -> None:
    body = {"inputs": [[1.0] * 30]}
    error = error_of(many.post("/invocations", json=body), 400, "ModelNotSpecified", "3 models")
    assert error["details"]["models"] == ["bc", "flowers", "prices"]
    error_of(many.post("/invocations?model=nope", json=body), 404, "ModelNotFound", "'nope'")
    clash = many.post("/invocations?model=bc", json=body, headers={"X-Conveyor-Model": "prices"})
    assert error_of(clash, 400, "InvalidRequest", "X-Conveyor-Model")["details"]["field"] == "model"


# -- every format over HTTP against a real server ---------------------------------------------


@pytest.fixture(scope="module")
def server(registered: Registered) -> Iterator[str]:
    app = create_app(MODELS, settings=registered.settings, log_predictions=False)
    with running(app) as url:
        yield url


@pytest.mark.parametrize("name", FORMATS)
def test_over_http_each_format(server: str, registered: Registered, name: str) -> None:
    model, body = bodies(registered)[name]
    answer = httpx.post(f"{server}/invocations", json=body, headers={"X-Conveyor-Model": model})
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"predictions": expected(registered, model)}


def test_over_http_csv_and_missing_content_type(server: str, registered: Registered) -> None:
    frame = registered.flowers_X.iloc[FLOWERS]
    csv = httpx.post(
        f"{server}/invocations?model=flowers",
        content=frame.to_csv(index=False).encode(),
        headers={"Content-Type": "text/csv"},
    )
    assert csv.json() == {"predictions": [0, 1, 2]}
    bare = httpx.post(
        f"{server}/invocations?model=flowers",
        content=b'{"dataframe_records": ' + frame.to_json(orient="records").encode() + b"}",
    )
    assert "content-type" not in bare.request.headers
    assert bare.json() == {"predictions": [0, 1, 2]}
    refused = httpx.post(
        f"{server}/invocations?model=flowers", content=b"x", headers={"Content-Type": "image/png"}
    )
    assert refused.status_code == 415
    assert refused.json()["error"]["type"] == "UnsupportedMediaType"
    assert httpx.get(f"{server}/ping").text == "\n"


def test_a_csv_body_over_the_limit_is_413(registered: Registered) -> None:
    app = create_app(
        "bc@production", settings=registered.settings, log_predictions=False, max_body_bytes=1024
    )
    csv = ",".join(map(str, range(30))) + "\n" + ("1.0," * 29 + "1.0\n") * 20
    with TestClient(app) as client:
        wait_loaded(client)
        answer = client.post(
            "/invocations", content=csv.encode(), headers={"Content-Type": "text/csv"}
        )
    error_of(answer, 413, "BodyTooLarge", "1,024 bytes")


def test_a_columnar_value_is_named_by_its_column(registered: Registered) -> None:
    app = create_app("prices@production", settings=registered.settings, log_predictions=False)
    with TestClient(app) as client:
        wait_loaded(client)
        answer = client.post(
            "/invocations", json={"inputs": {"area": [50.0, 60.0], "rooms": [2, "two"]}}
        )
    assert answer.status_code == 422
    assert "inputs.rooms[1]: expected integer, found string 'two'" in answer.text
