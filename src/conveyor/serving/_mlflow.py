"""MLflow's scoring protocol, so clients of ``mlflow models serve`` work unchanged:
``POST /invocations``, and ``GET /ping``, ``/health`` and ``/version``.

``/invocations`` takes a JSON object with exactly one of ``dataframe_split``,
``dataframe_records``, ``instances`` or ``inputs`` (and optionally ``params``, which the
models served here take none of), or ``Content-Type: text/csv`` with a header row, and answers
``{"predictions": [...]}``. A request without a Content-Type is read as JSON. With several
models served, ``?model=NAME`` or the ``X-Conveyor-Model`` header says which one.
"""

from __future__ import annotations

import io
from typing import Any, Final

import pandas as pd
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from conveyor.core._version import __version__
from conveyor.serving._body import json_object, read_body, read_json, request_id
from conveyor.serving._errors import ClientError, client_error_response
from conveyor.serving._respond import guarded, json_response
from conveyor.serving._rows import (
    Rows,
    column_names,
    from_records,
    from_table,
    invalid,
    only_fields,
)
from conveyor.serving._service import Service

PROTOCOL = "mlflow"
FORMATS: Final = ("dataframe_split", "dataframe_records", "instances", "inputs")
MODEL_HEADER: Final = "x-conveyor-model"
JSON, CSV = "application/json", "text/csv"
_SPLIT_KEYS: Final = frozenset({"columns", "data", "index"})
_WHAT: Final = f"with one of {', '.join(FORMATS)}"


@guarded(PROTOCOL, model_of=lambda request: _model_name(request))  # noqa: PLW0108 (defined below)
async def invocations(request: Request, service: Service, start: float) -> Response:
    served = service.model(
        _model_name(request), how="name one with ?model=NAME or the X-Conveyor-Model header"
    )
    csv = _is_csv(request.headers.get("content-type"))
    rid = request_id(request)
    with service.arriving():
        limit = service.options.max_body_bytes
        if csv:
            rows = parse_csv(await read_body(request, limit, "CSV with a header row"))
        else:
            rows = parse(json_object(await read_json(request, limit), _WHAT))
    answer = await service.predict(served, rows, protocol=PROTOCOL, request_id=rid, received=start)
    prediction = answer.prediction
    service.count(served.name, prediction.version, PROTOCOL, 200, start)
    return json_response({"predictions": prediction.outputs}, headers={"x-request-id": rid})


async def ping(request: Request) -> Response:
    """MLflow's health check: 200 with a newline once the models are loaded."""
    service: Service = request.app.state.service
    if service.ready:
        return Response("\n", media_type=JSON)
    return client_error_response(service.not_ready())


async def version(request: Request) -> Response:
    return Response(__version__, media_type="text/plain")


def parse(body: dict[str, object]) -> Rows:
    formats = [key for key in FORMATS if key in body]
    unknown = sorted(set(body) - {*FORMATS, "params"})
    if len(formats) != 1 or unknown:
        given = f"it has {', '.join(map(repr, body))}" if body else "it is empty"
        raise invalid(
            unknown[0] if unknown else "$",
            f"the body must have exactly one of {', '.join(map(repr, FORMATS))} (and "
            f"optionally 'params'); {given}",
            accepted=[*FORMATS, "params"],
        )
    if "params" in body and not isinstance(body["params"], dict):
        raise invalid("params", "'params' must be an object of parameter → value")
    (key,) = formats
    value = body[key]
    if key == "dataframe_split":
        return _split(value)
    if key == "dataframe_records":
        return from_records(value, key)
    if key == "inputs" and isinstance(value, dict):
        return _columnar(value, key)
    return _listed(value, key)


def _split(value: object) -> Rows:
    field = "dataframe_split"
    if not isinstance(value, dict):
        raise invalid(field, f"'{field}' must be an object with 'data' and optionally 'columns'")
    only_fields(value, _SPLIT_KEYS, field)
    if "data" not in value:
        raise invalid(f"{field}.data", f"{field} needs 'data', a list of rows")
    columns = value.get("columns")
    if columns is not None:
        column_names(columns, f"{field}.columns")
    rows = from_table(columns, value["data"], f"{field}.data")
    index = value.get("index")
    if index is not None and (not isinstance(index, list) or len(index) != len(rows)):
        raise invalid(
            f"{field}.index", f"{field}.index must be a list of one label per row ({len(rows)})"
        )
    return rows


def _listed(value: object, field: str) -> Rows:
    """``instances`` or ``inputs`` as a list: of objects (records), of rows, or of single
    values (one a row)."""
    if not isinstance(value, list) or not value:
        raise invalid(field, f"'{field}' must be a non-empty list of rows or of objects")
    if isinstance(value[0], dict):
        return from_records(value, field)
    if isinstance(value[0], list):
        return from_table(None, value, field)
    for i, item in enumerate(value):
        if isinstance(item, list | dict):
            raise invalid(
                f"{field}[{i}]", f"{field}[{i}] is a list or object, but {field}[0] is a value"
            )
    return Rows(None, [[item] for item in value], field)


def _columnar(value: dict[str, Any], field: str) -> Rows:
    """``inputs`` as an object of column → list of values (or → value, for one row)."""
    if not value:
        raise invalid(field, f"'{field}' must name at least one column")
    columns = list(value.values())
    if not any(isinstance(c, list) for c in columns):
        return Rows(tuple(value), [columns], field, keyed=True)
    first = next(iter(value))
    for name, column in value.items():
        if not isinstance(column, list) or not column:
            raise invalid(
                f"{field}.{name}",
                f"{field}.{name} must be a non-empty list of values, one a row, like "
                f"{field}.{first}",
            )
        if len(column) != len(columns[0]):
            raise invalid(
                f"{field}.{name}",
                f"{field}.{name} has {len(column)} values; {field}.{first} has {len(columns[0])}",
            )
    rows = [list(row) for row in zip(*columns, strict=True)]
    return Rows(tuple(value), rows, field, cells=tuple(f"{field}.{name}" for name in value))


def parse_csv(body: bytes) -> Rows:
    """Rows of a CSV body, typed as pandas reads them (as MLflow does)."""
    try:
        frame = pd.read_csv(io.BytesIO(body))
    except ValueError as exc:  # pandas' parser errors and UnicodeDecodeError are ValueErrors
        raise ClientError(
            400, "MalformedCSV", f"the body is not valid CSV: {exc}".strip(), field="$"
        ) from None
    if frame.empty:
        raise invalid("$", "the CSV has a header row but no rows")
    columns = tuple(str(c) for c in frame.columns)
    rows = frame.astype(object).where(frame.notna(), None).to_numpy().tolist()
    return Rows(columns, rows, "csv")


def _is_csv(content_type: str | None) -> bool:
    """Whether the body is CSV (else JSON); any other declared type is a 415."""
    mime = (content_type or "").partition(";")[0].strip().lower()
    if mime in ("", JSON):
        return False
    if mime == CSV:
        return True
    raise ClientError(
        415,
        "UnsupportedMediaType",
        f"Content-Type {mime!r} is not accepted on /invocations; send {JSON} (or no "
        f"Content-Type) or {CSV}",
        field="Content-Type",
        accepted=[JSON, CSV],
    )


def _model_name(request: Request) -> str | None:
    by_query = request.query_params.get("model")
    by_header = request.headers.get(MODEL_HEADER)
    if by_query is not None and by_header is not None and by_query != by_header:
        raise ClientError(
            400,
            "InvalidRequest",
            f"?model={by_query} and the X-Conveyor-Model header ({by_header}) name different "
            "models; send one",
            field="model",
        )
    return by_query if by_query is not None else by_header


ROUTES: list[Route] = [
    Route("/invocations", invocations, methods=["POST"]),
    Route("/ping", ping, methods=["GET"]),
    Route("/health", ping, methods=["GET"]),
    Route("/version", version, methods=["GET"]),
]
