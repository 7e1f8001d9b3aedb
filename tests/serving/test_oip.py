"""The Open Inference Protocol v2: request parsing and errors through the ASGI app, and the real
``tritonclient.http`` client against a real server."""

from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import Any

import numpy as np
import orjson
import pytest
import tritonclient.http as triton
from starlette.testclient import TestClient
from tritonclient.utils import InferenceServerException, deserialize_bytes_tensor

import conveyor
from conveyor.serving import create_app
from conveyor.serving._oip_tensors import input_tensors, output_tensor
from tests.serving._servers import running
from tests.serving.conftest import MODELS, Registered, wait_loaded

ROWS = [0, 1, 19, 20, 21, 30]  # both classes of the breast cancer data


def bc_rows(registered: Registered) -> np.ndarray[Any, Any]:
    rows = registered.bc_X[ROWS]
    assert set(registered.bc_model.predict(rows)) == {0, 1}
    return rows


def matrix(rows: np.ndarray[Any, Any], **extra: object) -> dict[str, Any]:
    tensor = {"name": "input-0", "shape": list(rows.shape), "datatype": "FP64"}
    return {"inputs": [{**tensor, "data": rows.ravel().tolist()}], **extra}


def flowers_columns(registered: Registered, index: list[int]) -> list[dict[str, Any]]:
    frame = registered.flowers_X.iloc[index]
    return [
        {"name": c, "shape": [len(frame)], "datatype": "FP64", "data": frame[c].tolist()}
        for c in frame.columns
    ]


def error_of(answer: Any, status: int, kind: str, field: str) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    body = answer.json()
    assert isinstance(body["error"], str)  # the protocol's own error body
    error: dict[str, Any] = {"message": body["error"], "type": body["type"], **body}
    assert error["type"] == kind
    assert ("the body" if field == "$" else field) in error["message"]
    return error


# -- health and metadata ----------------------------------------------------------------------


def test_health_and_server_metadata(client: TestClient) -> None:
    for path in ("/v2/health/live", "/v2/health/ready", "/v2/models/bc/ready"):
        answer = client.get(path)
        assert (answer.status_code, answer.content) == (200, b"")
    assert client.get("/v2/models/bc/versions/1/ready").status_code == 200
    assert client.get("/v2").json() == {
        "name": "conveyor",
        "version": conveyor.__version__,
        "extensions": ["binary_tensor_data"],
    }


def test_not_ready_before_the_models_load(registered: Registered) -> None:
    app = create_app("bc@production", settings=registered.settings, log_predictions=False)
    client = TestClient(app)  # no lifespan: nothing is loaded
    assert client.get("/v2/health/live").status_code == 200
    error_of(client.get("/v2/health/ready"), 503, "NotReady", "bc")
    error_of(client.get("/v2/models/bc/ready"), 503, "ModelNotReady", "'bc'")
    error_of(
        client.post("/v2/models/bc/infer", json=matrix(np.ones((1, 30)))),
        503,
        "ModelNotReady",
        "'bc'",
    )


def test_model_metadata_from_the_signature(many: TestClient) -> None:
    bc = many.get("/v2/models/bc").json()
    assert bc == {
        "name": "bc",
        "versions": ["1"],
        "platform": "sklearn",
        "inputs": [{"name": "input-0", "datatype": "FP64", "shape": [-1, 30]}],
        "outputs": [
            {"name": "predict", "datatype": "INT64", "shape": [-1]},
            {"name": "predict_proba", "datatype": "FP64", "shape": [-1, 2]},
        ],
    }
    assert many.get("/v2/models/bc/versions/1").json() == bc
    prices = many.get("/v2/models/prices").json()
    assert prices["inputs"] == [
        {"name": "rooms", "datatype": "INT64", "shape": [-1]},
        {"name": "area", "datatype": "FP64", "shape": [-1]},
    ]
    assert prices["outputs"] == [{"name": "predict", "datatype": "FP64", "shape": [-1]}]


def test_unknown_models_and_versions(many: TestClient) -> None:
    error_of(many.get("/v2/models/nope"), 404, "ModelNotFound", "'nope'")
    error_of(many.get("/v2/models/nope/ready"), 404, "ModelNotFound", "'nope'")
    error_of(many.get("/v2/models/bc/versions/2"), 404, "VersionNotServed", "not 2")
    error_of(many.get("/v2/models/bc/versions/2/ready"), 404, "VersionNotServed", "not 2")
    bad = error_of(many.get("/v2/models/bc/versions/one"), 400, "InvalidRequest", "version")
    assert bad["details"]["field"] == "version"
    body = matrix(np.ones((1, 30)))
    error_of(many.post("/v2/models/bc/versions/2/infer", json=body), 404, "VersionNotServed", "2")
    error_of(many.post("/v2/models/nope/infer", json=body), 404, "ModelNotFound", "'nope'")


# -- inference through the ASGI app -----------------------------------------------------------


def test_one_matrix_tensor_flat_or_nested(client: TestClient, registered: Registered) -> None:
    rows = bc_rows(registered)
    expected = registered.bc_model.predict(rows).tolist()
    flat = client.post("/v2/models/bc/infer", json=matrix(rows, id="req-7"))
    assert flat.status_code == 200, flat.text
    body = flat.json()
    assert body == {
        "model_name": "bc",
        "model_version": "1",
        "id": "req-7",
        "outputs": [{"name": "predict", "datatype": "INT64", "shape": [6], "data": expected}],
    }
    assert flat.headers["x-request-id"] == "req-7"
    nested = matrix(rows)
    nested["inputs"][0]["data"] = rows.tolist()
    answer = client.post("/v2/models/bc/versions/1/infer", json=nested)
    assert answer.json()["outputs"][0]["data"] == expected
    assert "id" not in answer.json()


def test_no_content_type_is_read_as_json(client: TestClient, registered: Registered) -> None:
    rows = bc_rows(registered)
    answer = client.post("/v2/models/bc/infer", content=orjson.dumps(matrix(rows)))
    assert answer.status_code == 200, answer.text
    assert answer.json()["outputs"][0]["data"] == registered.bc_model.predict(rows).tolist()


def test_one_tensor_per_column_in_any_order(many: TestClient, registered: Registered) -> None:
    index = [0, 60, 120]
    expected = registered.flowers_model.predict(registered.flowers_X.iloc[index]).tolist()
    columns = flowers_columns(registered, index)
    columns[0]["shape"] = [3, 1]  # [rows] and [rows, 1] both work
    columns[1]["data"] = [[v] for v in columns[1]["data"]]
    columns[1]["shape"] = [3, 1]
    answer = many.post("/v2/models/flowers/infer", json={"inputs": columns[::-1]})
    assert answer.status_code == 200, answer.text
    assert answer.json()["outputs"][0]["data"] == expected
    assert expected == [0, 1, 2]


def test_integer_and_float_columns_of_a_regressor(many: TestClient, registered: Registered) -> None:
    frame = registered.prices_X.head(4)
    inputs = [
        {"name": "rooms", "shape": [4], "datatype": "INT64", "data": frame["rooms"].tolist()},
        {"name": "area", "shape": [4], "datatype": "FP32", "data": frame["area"].tolist()},
    ]
    answer = many.post("/v2/models/prices/infer", json={"inputs": inputs})
    assert answer.status_code == 200, answer.text
    output = answer.json()["outputs"][0]
    assert (output["datatype"], output["shape"]) == ("FP64", [4])
    assert np.allclose(output["data"], registered.prices_model.predict(frame))


def test_probabilities_when_asked_for(many: TestClient, registered: Registered) -> None:
    index = [0, 60, 120]
    frame = registered.flowers_X.iloc[index]
    body = {
        "inputs": flowers_columns(registered, index),
        "outputs": [{"name": "predict_proba"}, {"name": "predict"}],
    }
    answer = many.post("/v2/models/flowers/infer", json=body)
    assert answer.status_code == 200, answer.text
    proba, predict = answer.json()["outputs"]
    assert (proba["name"], proba["datatype"], proba["shape"]) == ("predict_proba", "FP64", [3, 3])
    assert np.allclose(
        np.reshape(proba["data"], (3, 3)), registered.flowers_model.predict_proba(frame)
    )
    assert predict["data"] == [0, 1, 2]
    only = many.post(
        "/v2/models/flowers/infer",
        json={**body, "outputs": [{"name": "predict_proba"}]},
    )
    assert [o["name"] for o in only.json()["outputs"]] == ["predict_proba"]


def test_binary_tensors_in_and_out(client: TestClient, registered: Registered) -> None:
    rows = bc_rows(registered).astype(np.float32)
    data = rows.tobytes()
    header = orjson.dumps(
        {
            "id": "b1",
            "inputs": [
                {
                    "name": "input-0",
                    "shape": list(rows.shape),
                    "datatype": "FP32",
                    "parameters": {"binary_data_size": len(data)},
                }
            ],
            "parameters": {"binary_data_output": True},
        }
    )
    answer = client.post(
        "/v2/models/bc/infer",
        content=header + data,
        headers={"Inference-Header-Content-Length": str(len(header))},
    )
    assert answer.status_code == 200, answer.text
    size = int(answer.headers["inference-header-content-length"])
    head = orjson.loads(answer.content[:size])
    (output,) = head["outputs"]
    assert output["parameters"]["binary_data_size"] == 8 * len(rows)
    predicted = np.frombuffer(answer.content[size:], dtype="<i8")
    assert predicted.tolist() == registered.bc_model.predict(rows).tolist()
    assert head["id"] == "b1"


def test_bytes_tensors_both_ways() -> None:
    words = ["rouge", "vert", "été", ""]
    raw = b"".join(struct.pack("<I", len(w.encode())) + w.encode() for w in words)
    spec = {
        "name": "c",
        "shape": [4],
        "datatype": "BYTES",
        "parameters": {"binary_data_size": len(raw)},
    }
    (tensor,) = input_tensors([spec], raw)
    assert tensor.values == words
    described, data = output_tensor("predict", words, binary=True)
    assert described == {
        "name": "predict",
        "datatype": "BYTES",
        "shape": [4],
        "parameters": {"binary_data_size": len(raw)},
    }
    assert [b.decode() for b in deserialize_bytes_tensor(data)] == words
    assert output_tensor("predict", [[1, 2], [3, 4]], binary=False)[0]["shape"] == [2, 2]
    assert output_tensor("predict", [True, False], binary=False)[0]["datatype"] == "BOOL"
    assert output_tensor("predict", [1, 2.5, None], binary=False)[0]["datatype"] == "FP64"


def test_requests_are_counted_under_oip(client: TestClient) -> None:
    client.post("/v2/models/bc/infer", json=matrix(np.ones((2, 30))))
    client.post("/v2/models/bc/infer", json=matrix(np.ones((2, 29))))
    text = client.get("/metrics").text
    assert 'conveyor_requests_total{model="bc",protocol="oip",status="200",version="1"}' in text
    assert 'conveyor_requests_total{model="bc",protocol="oip",status="422",version="1"}' in text


def _bc(**changes: object) -> dict[str, Any]:
    tensor = {"name": "input-0", "shape": [2, 30], "datatype": "FP64", "data": [1.0] * 60}
    return {"inputs": [{**tensor, **changes}]}


def _flowers(**changes: object) -> dict[str, Any]:
    inputs = [
        {"name": n, "shape": [2], "datatype": "FP64", "data": [1.0, 2.0]}
        for n in ("sepal_length", "sepal_width", "petal_length", "petal_width")
    ]
    inputs[1] = {**inputs[1], **changes}
    return {"inputs": inputs}


@pytest.mark.parametrize(
    ("model", "body", "status", "kind", "field"),
    [
        ("bc", [1, 2], 400, "InvalidRequest", "$"),
        ("bc", {}, 400, "InvalidRequest", "inputs"),
        ("bc", {"inputs": []}, 400, "InvalidRequest", "inputs"),
        ("bc", {**_bc(), "input": 1}, 400, "InvalidRequest", "input"),
        ("bc", {**_bc(), "id": 7}, 400, "InvalidRequest", "id"),
        ("bc", {**_bc(), "parameters": [1]}, 400, "InvalidRequest", "parameters"),
        (
            "bc",
            {**_bc(), "parameters": {"binary_data_output": "yes"}},
            400,
            "InvalidRequest",
            "parameters.binary_data_output",
        ),
        ("bc", {"inputs": [3]}, 400, "InvalidRequest", "inputs[0]"),
        ("bc", _bc(name=""), 400, "InvalidRequest", "inputs[0].name"),
        (
            "bc",
            _bc(shape=[30], data=[1.0] * 30),
            422,
            "SignatureMismatch",
            "shape [rows, 30]",
        ),
        ("bc", _bc(size=3), 400, "InvalidRequest", "inputs[0].size"),
        ("bc", _bc(shape=[2, 30, 1]), 400, "InvalidRequest", "inputs[0].shape"),
        ("bc", _bc(shape=[0, 30], data=[]), 400, "InvalidRequest", "inputs[0].shape"),
        ("bc", _bc(shape="2x30"), 400, "InvalidRequest", "inputs[0].shape"),
        ("bc", _bc(datatype="BF16"), 400, "InvalidRequest", "inputs[0].datatype"),
        ("bc", _bc(datatype="FLOAT"), 400, "InvalidRequest", "inputs[0].datatype"),
        ("bc", _bc(data=None), 400, "InvalidRequest", "inputs[0].data"),
        ("bc", _bc(data=[1.0] * 59), 400, "InvalidRequest", "inputs[0].data"),
        ("bc", _bc(data=[[1.0] * 30, [1.0] * 29]), 400, "InvalidRequest", "inputs[0].data[1]"),
        (
            "bc",
            _bc(data=[1.0] * 5 + ["x"] + [1.0] * 54),
            400,
            "InvalidRequest",
            "inputs[0].data[5]",
        ),
        (
            "bc",
            _bc(data=[[1.0] * 30, [1.0] * 3 + [True] + [1.0] * 26]),
            400,
            "InvalidRequest",
            "inputs[0].data[1][3]",
        ),
        ("bc", _bc(datatype="INT64", data=[1.5] * 60), 400, "InvalidRequest", "inputs[0].data[0]"),
        ("bc", _bc(datatype="UINT8", data=[-1] * 60), 400, "InvalidRequest", "inputs[0].data[0]"),
        ("bc", _bc(datatype="BOOL", data=[1] * 60), 400, "InvalidRequest", "inputs[0].data[0]"),
        ("bc", _bc(shape=[2, 29], data=[1.0] * 58), 422, "SignatureMismatch", "inputs[0].shape"),
        (
            "bc",
            _bc(datatype="BYTES", data=["1"] * 60),
            422,
            "SignatureMismatch",
            "inputs[0].datatype",
        ),
        ("bc", _bc(data=[None] + [1.0] * 59), 422, "SignatureMismatch", "inputs[0].data[0][0]"),
        (
            "bc",
            _bc(parameters={"shared_memory_region": "r"}),
            400,
            "InvalidRequest",
            "inputs[0].parameters.shared_memory_region",
        ),
        (
            "bc",
            _bc(parameters={"binary_data_size": 480}),
            400,
            "InvalidRequest",
            "inputs[0].parameters.binary_data_size",
        ),
        (
            "bc",
            {
                "inputs": [
                    {
                        "name": "x",
                        "shape": [1, 30],
                        "datatype": "FP64",
                        "parameters": {"binary_data_size": 240},
                    }
                ]
            },
            400,
            "InvalidRequest",
            "inputs[0].parameters.binary_data_size",
        ),
        ("bc", {**_bc(), "outputs": {"name": "predict"}}, 400, "InvalidRequest", "outputs"),
        ("bc", {**_bc(), "outputs": ["predict"]}, 400, "InvalidRequest", "outputs[0]"),
        ("bc", {**_bc(), "outputs": [{"name": "label"}]}, 400, "InvalidRequest", "outputs[0].name"),
        (
            "bc",
            {**_bc(), "outputs": [{"name": "predict"}, {"name": "predict"}]},
            400,
            "InvalidRequest",
            "outputs[1].name",
        ),
        (
            "bc",
            {**_bc(), "outputs": [{"name": "predict", "parameters": {"classification": 2}}]},
            400,
            "InvalidRequest",
            "outputs[0].parameters.classification",
        ),
        (
            "bc",
            {**_bc(), "outputs": [{"name": "predict", "parameters": {"binary_data": 1}}]},
            400,
            "InvalidRequest",
            "outputs[0].parameters.binary_data",
        ),
        ("flowers", _flowers(name="sepal_length"), 400, "InvalidRequest", "inputs[1].name"),
        ("flowers", _flowers(name="sepal"), 422, "SignatureMismatch", "inputs[1].name"),
        ("flowers", _flowers(shape=[3], data=[1.0] * 3), 400, "InvalidRequest", "inputs[1].shape"),
        ("flowers", _flowers(shape=[1, 2]), 400, "InvalidRequest", "inputs[1].shape"),
        (
            "flowers",
            _flowers(datatype="BOOL", data=[True, False]),
            422,
            "SignatureMismatch",
            "inputs[1].datatype",
        ),
        (
            "flowers",
            {"inputs": _flowers()["inputs"][:3]},
            422,
            "SignatureMismatch",
            "'petal_width'",
        ),
        (
            "prices",
            {**_bc(), "outputs": [{"name": "predict_proba"}]},
            400,
            "InvalidRequest",
            "outputs[0].name",
        ),
    ],
)
def test_client_mistakes_get_a_named_4xx(
    many: TestClient, model: str, body: object, status: int, kind: str, field: str
) -> None:
    answer = many.post(f"/v2/models/{model}/infer", json=body)
    error = error_of(answer, status, kind, field)
    if kind == "InvalidRequest":
        assert error["details"]["field"] == field


def test_values_the_signature_refuses_name_their_column(many: TestClient) -> None:
    inputs = [
        {"name": "area", "shape": [2], "datatype": "FP64", "data": [9.0, 12.0]},
        {"name": "rooms", "shape": [2], "datatype": "FP64", "data": [2.0, 1.5]},
    ]
    answer = many.post("/v2/models/prices/infer", json={"inputs": inputs})
    error = error_of(answer, 422, "SignatureMismatch", "inputs[1].data[1]: expected integer")
    (problem,) = error["details"]["problems"]
    assert (problem["column"], problem["value"]) == ("rooms", 1.5)


@pytest.mark.parametrize(
    ("body", "header", "field"),
    [
        (b'{"inputs": []}', "100", "Inference-Header-Content-Length"),
        (b'{"inputs": []}', "ten", "Inference-Header-Content-Length"),
        (b'{"inputs": [] junk', "18", "$"),
    ],
)
def test_a_bad_binary_header_is_named(
    client: TestClient, body: bytes, header: str, field: str
) -> None:
    answer = client.post(
        "/v2/models/bc/infer", content=body, headers={"Inference-Header-Content-Length": header}
    )
    assert answer.status_code == 400, answer.text
    error = answer.json()
    assert error["details"]["field"] == field
    assert error["type"] in ("InvalidRequest", "MalformedJSON")


def test_binary_sizes_must_add_up(client: TestClient) -> None:
    data = np.ones((1, 30)).tobytes()

    def send(size: int, extra: bytes = b"") -> Any:
        tensor = {"name": "x", "shape": [1, 30], "datatype": "FP64"}
        header = orjson.dumps({"inputs": [{**tensor, "parameters": {"binary_data_size": size}}]})
        return client.post(
            "/v2/models/bc/infer",
            content=header + data + extra,
            headers={"Inference-Header-Content-Length": str(len(header))},
        )

    assert send(len(data)).status_code == 200
    error_of(send(len(data) - 8, b""), 400, "InvalidRequest", "binary_data_size")
    error_of(send(len(data) + 8), 400, "InvalidRequest", "binary_data_size")
    error_of(send(len(data), b"\0" * 8), 400, "InvalidRequest", "Inference-Header-Content-Length")


def test_malformed_json_and_empty_body(client: TestClient) -> None:
    error_of(client.post("/v2/models/bc/infer", content=b"{nope"), 400, "MalformedJSON", "body")
    error_of(client.post("/v2/models/bc/infer", content=b""), 400, "EmptyBody", "body")


# -- the real tritonclient against a real server ----------------------------------------------


@pytest.fixture(scope="module")
def triton_client(registered: Registered) -> Iterator[triton.InferenceServerClient]:
    app = create_app(MODELS, settings=registered.settings, log_predictions=False)
    with running(app) as url:
        client = triton.InferenceServerClient(url=url.removeprefix("http://"))
        try:
            yield client
        finally:
            client.close()


def test_tritonclient_health_and_metadata(triton_client: triton.InferenceServerClient) -> None:
    assert triton_client.is_server_live()
    assert triton_client.is_server_ready()
    assert triton_client.is_model_ready("bc")
    assert triton_client.is_model_ready("bc", "1")
    assert not triton_client.is_model_ready("bc", "2")
    assert not triton_client.is_model_ready("nope")
    assert triton_client.get_server_metadata()["name"] == "conveyor"
    metadata = triton_client.get_model_metadata("flowers", "1")
    assert [i["name"] for i in metadata["inputs"]] == [
        "sepal_length",
        "sepal_width",
        "petal_length",
        "petal_width",
    ]
    with pytest.raises(InferenceServerException) as raised:
        triton_client.get_model_metadata("nope")
    assert raised.value.status() == "404"
    assert "no model 'nope' is served here" in str(raised.value)


@pytest.mark.parametrize("binary", [False, True])
@pytest.mark.parametrize("datatype", ["FP64", "FP32"])
def test_tritonclient_infer_matches_the_model(
    triton_client: triton.InferenceServerClient,
    registered: Registered,
    binary: bool,
    datatype: str,
) -> None:
    rows = bc_rows(registered).astype(np.float64 if datatype == "FP64" else np.float32)
    tensor = triton.InferInput("input-0", list(rows.shape), datatype)
    tensor.set_data_from_numpy(rows, binary_data=binary)
    outputs = [
        triton.InferRequestedOutput("predict", binary_data=binary),
        triton.InferRequestedOutput("predict_proba", binary_data=binary),
    ]
    result = triton_client.infer("bc", [tensor], outputs=outputs, request_id=f"r-{binary}")
    assert result.as_numpy("predict").tolist() == registered.bc_model.predict(rows).tolist()
    assert np.allclose(result.as_numpy("predict_proba"), registered.bc_model.predict_proba(rows))
    response = result.get_response()
    assert (response["id"], response["model_version"]) == (f"r-{binary}", "1")


def test_tritonclient_defaults_ask_for_binary_output(
    triton_client: triton.InferenceServerClient, registered: Registered
) -> None:
    rows = bc_rows(registered)
    tensor = triton.InferInput("input-0", list(rows.shape), "FP64")
    tensor.set_data_from_numpy(rows)  # binary input, and no outputs: binary output
    result = triton_client.infer("bc", [tensor], model_version="1")
    assert result.as_numpy("predict").tolist() == registered.bc_model.predict(rows).tolist()
    assert "binary_data_size" in result.get_output("predict")["parameters"]


@pytest.mark.parametrize("binary", [False, True])
def test_tritonclient_one_tensor_per_column(
    triton_client: triton.InferenceServerClient, registered: Registered, binary: bool
) -> None:
    frame = registered.prices_X.iloc[10:15]
    rooms = triton.InferInput("rooms", [5, 1], "INT64")
    rooms.set_data_from_numpy(frame[["rooms"]].to_numpy(np.int64), binary_data=binary)
    area = triton.InferInput("area", [5], "FP64")
    area.set_data_from_numpy(frame["area"].to_numpy(np.float64), binary_data=binary)
    result = triton_client.infer("prices", [area, rooms])
    assert np.allclose(result.as_numpy("predict"), registered.prices_model.predict(frame))


def test_tritonclient_sees_client_errors(
    triton_client: triton.InferenceServerClient, registered: Registered
) -> None:
    rows = registered.bc_X[:2]
    tensor = triton.InferInput("input-0", list(rows.shape), "FP64")
    tensor.set_data_from_numpy(rows, binary_data=False)
    with pytest.raises(InferenceServerException) as raised:
        triton_client.infer("bc", [tensor], model_version="2")
    assert raised.value.status() == "404"
    assert "serves version 1, not 2" in str(raised.value)  # a string, as the protocol says
    narrow = triton.InferInput("input-0", [2, 29], "FP64")
    narrow.set_data_from_numpy(rows[:, :29])
    with pytest.raises(InferenceServerException) as raised:
        triton_client.infer("bc", [narrow])
    assert raised.value.status() == "422"
    assert "inputs[0].shape" in raised.value.message()


def test_a_binary_body_over_the_limit_is_413(registered: Registered) -> None:
    app = create_app(
        "bc@production", settings=registered.settings, log_predictions=False, max_body_bytes=1024
    )
    data = np.ones((8, 30)).tobytes()
    tensor = {"name": "x", "shape": [8, 30], "datatype": "FP64"}
    header = orjson.dumps({"inputs": [{**tensor, "parameters": {"binary_data_size": len(data)}}]})
    with TestClient(app) as client:
        wait_loaded(client)
        answer = client.post(
            "/v2/models/bc/infer",
            content=header + data,
            headers={"Inference-Header-Content-Length": str(len(header))},
        )
    error_of(answer, 413, "BodyTooLarge", "1,024 bytes")
