"""The Open Inference Protocol v2 (KServe v2, as Triton and ``tritonclient.http`` speak it):
health, server and model metadata, and inference.

``POST /v2/models/{name}[/versions/{v}]/infer`` takes one tensor ``[n, k]`` of whole rows or
one tensor per column (see ``_oip_tensors``), with JSON ``data`` or Triton's binary tensor
extension, and answers the tensor ``predict`` (one value a row) and, when the request's
``outputs`` name it, ``predict_proba`` (``[n, classes]``). A version in the path must be the
one served. Errors carry conveyor's error body, as on every route.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from conveyor.core._version import __version__
from conveyor.serving._body import json_object, parse_json, read_body, read_json, request_id
from conveyor.serving._errors import ClientError, oip_error_response
from conveyor.serving._models import LoadedVersion
from conveyor.serving._oip_tensors import (
    FLOATS,
    NUMBERS,
    NUMPY,
    Tensor,
    datatype_of,
    input_tensors,
    object_of,
    output_tensor,
    refuse_unsupported,
    to_rows,
)
from conveyor.serving._respond import guarded, json_response
from conveyor.serving._rows import invalid, only_fields
from conveyor.serving._service import Service

PROTOCOL = "oip"
PREDICT, PROBA = "predict", "predict_proba"
EXTENSIONS: Final = ("binary_tensor_data",)
HEADER: Final = "Inference-Header-Content-Length"
_REQUEST_KEYS: Final = frozenset({"id", "parameters", "inputs", "outputs"})
_OUTPUT_KEYS: Final = frozenset({"name", "parameters"})
_WHAT: Final = 'an inference request with "inputs"'
_MAX_ID: Final = 128
_DTYPE_DATATYPES: Final[Mapping[str, str]] = {
    np.dtype(code).name: datatype for datatype, code in NUMPY.items()
}


@dataclass(frozen=True, slots=True)
class InferCall:
    """What an inference request asks for."""

    id: str | None
    tensors: list[Tensor]
    outputs: dict[str, bool]  # output name → sent as binary data


# -- health and metadata ----------------------------------------------------------------------


async def live(request: Request) -> Response:
    return Response(status_code=200)


async def ready(request: Request) -> Response:
    service = _service(request)
    if service.ready:
        return Response(status_code=200)
    return oip_error_response(service.not_ready())


async def server_metadata(request: Request) -> Response:
    return json_response(
        {"name": "conveyor", "version": __version__, "extensions": list(EXTENSIONS)}
    )


async def model_metadata(request: Request) -> Response:
    try:
        loaded = _loaded(request)
    except ClientError as exc:
        return oip_error_response(exc)
    return json_response(describe(loaded))


async def model_ready(request: Request) -> Response:
    try:
        _loaded(request)
    except ClientError as exc:
        return oip_error_response(exc)
    return Response(status_code=200)


def describe(loaded: LoadedVersion) -> dict[str, Any]:
    """Model metadata: a model fitted on an array takes one tensor ``[-1, k]``, one fitted on
    named columns a tensor per column (either form is accepted by ``infer``)."""
    specs = list(loaded.signature.get("inputs") or ())
    if loaded.signature.get("format") == "array":
        inputs = [{"name": "input-0", "datatype": array_datatype(specs), "shape": [-1, len(specs)]}]
    else:
        inputs = [
            {"name": str(s["name"]), "datatype": column_datatype(s), "shape": [-1]} for s in specs
        ]
    classes = list(loaded.classes)
    outputs = [{"name": PREDICT, "datatype": datatype_of(classes or [0.0]), "shape": [-1]}]
    if classes and loaded.predictor.has_proba:
        outputs.append({"name": PROBA, "datatype": "FP64", "shape": [-1, len(classes)]})
    return {
        "name": loaded.name,
        "versions": [str(loaded.version)],
        "platform": loaded.flavor,
        "inputs": inputs,
        "outputs": outputs,
    }


def column_datatype(spec: Mapping[str, Any]) -> str:
    """The datatype a signature column is best sent as."""
    found = _DTYPE_DATATYPES.get(str(spec.get("dtype", "")))
    kind = str(spec["type"])
    if found is not None and (kind != "float" or found in FLOATS):
        return found
    return {"float": "FP64", "integer": "INT64", "boolean": "BOOL"}.get(kind, "BYTES")


def array_datatype(specs: Sequence[Mapping[str, Any]]) -> str:
    """The datatype of one tensor holding every column: theirs if they share one."""
    datatypes = {column_datatype(s) for s in specs}
    if len(datatypes) == 1:
        return datatypes.pop()
    return "FP64" if datatypes <= NUMBERS else "BYTES"


# -- inference --------------------------------------------------------------------------------


@guarded(PROTOCOL, render=oip_error_response)
async def infer(request: Request, service: Service, start: float) -> Response:
    served = service.model(request.path_params["name"])
    version = _version(request)
    with service.arriving():
        body, binary = await _read(request, service.options.max_body_bytes)
        call = parse(body, binary)
        loaded = service.loaded(served, version)
        proba = PROBA in call.outputs
        if proba and not loaded.predictor.has_proba:
            field = f"outputs[{list(call.outputs).index(PROBA)}].name"
            raise invalid(
                field,
                f"{field}: model {served.name!r} version {loaded.version} "
                f"({type(loaded.predictor.model).__name__}) gives no class probabilities; "
                f"ask for {PREDICT!r} only",
            )
        rows = to_rows(call.tensors, loaded.signature)
    rid = call.id if call.id and _usable_id(call.id) else request_id(request)
    answer = await service.predict(
        served,
        rows,
        protocol=PROTOCOL,
        request_id=rid,
        received=start,
        proba=proba,
        version=version,
    )
    prediction = answer.prediction
    out: dict[str, Any] = {"model_name": served.name, "model_version": str(prediction.version)}
    if call.id is not None:
        out["id"] = call.id
    tensors, chunks = [], []
    for name, as_binary in call.outputs.items():
        values = prediction.outputs if name == PREDICT else prediction.probabilities
        tensor, data = output_tensor(name, values or [], as_binary)
        tensors.append(tensor)
        chunks.append(data)
    out["outputs"] = tensors
    service.count(served.name, prediction.version, PROTOCOL, 200, start)
    headers = {"x-request-id": rid}
    if not any(as_binary for as_binary in call.outputs.values()):
        return json_response(out, headers=headers)
    header = orjson.dumps(out, option=orjson.OPT_SERIALIZE_NUMPY)
    headers[HEADER] = str(len(header))
    return Response(
        header + b"".join(chunks), media_type="application/octet-stream", headers=headers
    )


def parse(body: dict[str, object], binary: bytes | None) -> InferCall:
    only_fields(body, _REQUEST_KEYS)
    given_id = body.get("id")
    if given_id is not None and not isinstance(given_id, str):
        raise invalid("id", "'id' must be a string")
    parameters = object_of(body.get("parameters"), "parameters")
    binary_output = _flag(parameters, "binary_data_output", "parameters", False)
    tensors = input_tensors(body.get("inputs"), binary)
    return InferCall(given_id, tensors, _outputs(body.get("outputs"), binary_output))


def _outputs(requested: object, binary_output: bool) -> dict[str, bool]:
    if requested is None or requested == []:
        return {PREDICT: binary_output}
    if not isinstance(requested, list):
        raise invalid("outputs", "'outputs' must be a list of objects with a 'name'")
    chosen: dict[str, bool] = {}
    for i, spec in enumerate(requested):
        field = f"outputs[{i}]"
        if not isinstance(spec, dict):
            raise invalid(field, f"{field} must be an object with a 'name'")
        only_fields(spec, _OUTPUT_KEYS, field)
        name = spec.get("name")
        if name not in (PREDICT, PROBA):
            raise invalid(
                f"{field}.name",
                f"{field}.name {name!r:.60} is not an output; the outputs are {PREDICT!r} "
                f"and {PROBA!r} (class probabilities)",
            )
        if name in chosen:
            raise invalid(f"{field}.name", f"{field}.name {name!r} is asked for twice")
        parameters = object_of(spec.get("parameters"), f"{field}.parameters")
        refuse_unsupported(parameters, f"{field}.parameters")
        chosen[str(name)] = _flag(parameters, "binary_data", f"{field}.parameters", binary_output)
    return chosen


def _flag(parameters: dict[str, Any], name: str, field: str, default: bool) -> bool:
    value = parameters.get(name, default)
    if not isinstance(value, bool):
        raise invalid(f"{field}.{name}", f"{field}.{name} must be true or false")
    return value


async def _read(request: Request, max_bytes: int) -> tuple[dict[str, object], bytes | None]:
    """The JSON part of the body, and the binary tensor data after it (None: no header)."""
    declared = request.headers.get(HEADER)
    if declared is None:
        return json_object(await read_json(request, max_bytes), _WHAT), None
    body = await read_body(request, max_bytes, _WHAT)
    size = int(declared) if declared.isascii() and declared.isdigit() else -1
    if not 0 < size <= len(body):
        raise invalid(
            HEADER,
            f"the {HEADER} header ({declared!r:.30}) must be the size in bytes of the JSON "
            f"part of the body, at most {len(body)}",
        )
    return json_object(parse_json(body[:size]), _WHAT), body[size:]


def _usable_id(given: str) -> bool:
    """Whether the request's ``id`` can stand for it in logs and the X-Request-ID header."""
    return len(given) <= _MAX_ID and given.isprintable()


# -- shared by the routes ---------------------------------------------------------------------


def _service(request: Request) -> Service:
    service: Service = request.app.state.service
    return service


def _loaded(request: Request) -> LoadedVersion:
    service = _service(request)
    return service.loaded(service.model(request.path_params["name"]), _version(request))


def _version(request: Request) -> int | None:
    given: str | None = request.path_params.get("version")
    if given is None:
        return None
    if not (given.isascii() and given.isdigit()):
        raise ClientError(
            400,
            "InvalidRequest",
            f"the version in the path must be a whole number, not {given!r:.30}",
            field="version",
        )
    return int(given)


_GET, _POST = ["GET"], ["POST"]
_MODEL, _VERSIONED = "/v2/models/{name}", "/v2/models/{name}/versions/{version}"
ROUTES: list[Route] = [
    Route("/v2/health/live", live, methods=_GET),
    Route("/v2/health/ready", ready, methods=_GET),
    Route("/v2", server_metadata, methods=_GET),
    Route(_MODEL, model_metadata, methods=_GET),
    Route(_VERSIONED, model_metadata, methods=_GET),
    Route(f"{_MODEL}/ready", model_ready, methods=_GET),
    Route(f"{_VERSIONED}/ready", model_ready, methods=_GET),
    Route(f"{_MODEL}/infer", infer, methods=_POST),
    Route(f"{_VERSIONED}/infer", infer, methods=_POST),
]
