"""conveyor's own JSON protocol: ``POST /predict`` and ``POST /models/{name}/predict``.

Bodies: ``{"records": [{column: value, ...}, ...]}``, ``{"columns": [...], "data": [[...]]}``
or, for a model that takes positional values, ``{"data": [[...]]}``. Answer:
``{"predictions": [...], "model", "version", "request_id"}``, plus ``probabilities`` and
``classes`` with ``?proba=true``.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from conveyor.serving._body import json_object, read_json, request_id
from conveyor.serving._errors import ClientError
from conveyor.serving._respond import guarded, json_response
from conveyor.serving._rows import Rows, from_records, from_table, invalid, only_fields
from conveyor.serving._service import Service

PROTOCOL = "predict"
_TRUE = frozenset({"1", "true", "yes"})
_FALSE = frozenset({"0", "false", "no", ""})


@guarded(PROTOCOL)
async def predict(request: Request, service: Service, start: float) -> Response:
    served = service.model(request.path_params.get("name"))
    proba = _flag(request, "proba")
    rid = request_id(request)
    with service.arriving():
        body = json_object(
            await read_json(request, service.options.max_body_bytes),
            'with "records", or "columns" and "data"',
        )
        rows = parse(body)
    answer = await service.predict(
        served, rows, protocol=PROTOCOL, request_id=rid, received=start, proba=proba
    )
    prediction = answer.prediction
    out: dict[str, object] = {
        "predictions": prediction.outputs,
        "model": served.name,
        "version": prediction.version,
        "request_id": rid,
    }
    if prediction.probabilities is not None:
        out["probabilities"] = prediction.probabilities
        out["classes"] = list(prediction.classes)
    service.count(served.name, prediction.version, PROTOCOL, 200, start)
    return json_response(out, headers={"x-request-id": rid})


def parse(body: dict[str, object]) -> Rows:
    if "records" in body:
        only_fields(body, {"records"})
        return from_records(body["records"], "records")
    if "data" in body:
        only_fields(body, {"columns", "data"})
        return from_table(body.get("columns"), body["data"])
    raise invalid(
        "$",
        'the body needs "records" (a list of objects) or "data" (a list of rows, with '
        '"columns" naming them)',
        keys=sorted(body),
    )


def _flag(request: Request, name: str) -> bool:
    value = request.query_params.get(name)
    if value is None:
        return False
    lowered = value.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ClientError(
        400,
        "InvalidRequest",
        f"query parameter {name!r} must be true or false, not {value!r}",
        field=name,
    )
