"""Turning an answer or an error into a response, counted in the metrics either way."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from conveyor.serving._errors import ClientError, client_error_response, error_response
from conveyor.serving._service import Service

log = logging.getLogger("conveyor.serving")

Handler = Callable[[Request, Service, float], Awaitable[Response]]


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY),
        status_code=status,
        media_type="application/json",
        headers=headers,
    )


def guarded(protocol: str) -> Callable[[Handler], Callable[[Request], Awaitable[Response]]]:
    """Wraps a predict route: a ``ClientError`` becomes its 4xx JSON body, anything else a
    500 with no traceback in it; every answer is counted by model, version and status."""

    def wrap(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            service: Service = request.app.state.service
            start = time.perf_counter()
            model = request.path_params.get("name") or _only_model(service)
            try:
                return await handler(request, service, start)
            except ClientError as exc:
                service.count(model, _version(service, model), protocol, exc.status, start)
                return client_error_response(exc)
            except Exception as exc:
                log.exception("%s request for %s failed", protocol, model)
                service.count(model, _version(service, model), protocol, 500, start)
                return error_response(
                    500,
                    "InternalError",
                    f"the server failed to answer: {type(exc).__name__}: {exc}",
                )

        endpoint.__name__ = handler.__name__
        return endpoint

    return wrap


def _only_model(service: Service) -> str:
    return next(iter(service.models)) if len(service.models) == 1 else ""


def _version(service: Service, model: str) -> int | str:
    served = service.models.get(model)
    current = served.current if served is not None else None
    return "" if current is None else current.version
