"""The JSON error body every route answers with, and the client error that carries it.

A client's mistake is a ``ClientError`` (a 4xx with ``{"error": {"type", "message",
"details"}}`` naming what was wrong); anything else that escapes a route is a server fault and
answers 500 with the same body shape and no traceback.
"""

from __future__ import annotations

from collections.abc import Mapping

import orjson
from starlette.responses import Response


class ClientError(Exception):
    """A request the server cannot serve as sent: bad JSON, wrong columns, unknown model…"""

    def __init__(self, status: int, kind: str, message: str, **details: object) -> None:
        super().__init__(message)
        self.status = status
        self.kind = kind
        self.message = message
        self.details = details
        self.headers: dict[str, str] = {}  # e.g. WWW-Authenticate, Retry-After


def error_body(kind: str, message: str, details: Mapping[str, object] | None = None) -> bytes:
    body = {"error": {"type": kind, "message": message, "details": dict(details or {})}}
    return orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY, default=str)


def error_response(
    status: int,
    kind: str,
    message: str,
    details: Mapping[str, object] | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    return Response(
        error_body(kind, message, details),
        status_code=status,
        media_type="application/json",
        headers=dict(headers or {}),
    )


def client_error_response(exc: ClientError, headers: Mapping[str, str] | None = None) -> Response:
    return error_response(
        exc.status, exc.kind, exc.message, exc.details, exc.headers | dict(headers or {})
    )


def oip_error_response(exc: ClientError) -> Response:
    """The Open Inference Protocol's error body: ``{"error": "<message>"}``, which clients
    such as tritonclient read as a string; the type and details ride beside it."""
    body = {"error": exc.message, "type": exc.kind, "details": exc.details}
    return Response(
        orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY, default=str),
        status_code=exc.status,
        media_type="application/json",
    )
