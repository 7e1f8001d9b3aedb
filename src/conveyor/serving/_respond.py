"""Turning an answer or an error into a response, counted in the metrics either way."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from conveyor.serving._errors import ClientError, client_error_response
from conveyor.serving._service import Service

log = logging.getLogger("conveyor.serving")

Handler = Callable[[Request, Service, float], Awaitable[Response]]
Render = Callable[[ClientError], Response]


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY),
        status_code=status,
        media_type="application/json",
        headers=headers,
    )


def guarded(
    protocol: str,
    *,
    model_of: Callable[[Request], str | None] | None = None,
    render: Render = client_error_response,
) -> Callable[[Handler], Callable[[Request], Awaitable[Response]]]:
    """Wraps a predict route: a ``ClientError`` becomes its 4xx JSON body (``render``), anything
    else a 500 with no traceback in it; every answer is counted by model, version and status.
    ``model_of`` names the model a request is for, where the path does not."""

    def wrap(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            service: Service = request.app.state.service
            start = time.perf_counter()
            model = request.path_params.get("name") or _only_model(service)
            try:
                return await handler(request, service, start)
            except ClientError as exc:
                model = _named(request, model_of) or model
                service.count(model, _version(service, model), protocol, exc.status, start)
                return render(exc)
            except Exception as exc:
                log.exception("%s request for %s failed", protocol, model)
                service.count(model, _version(service, model), protocol, 500, start)
                return render(
                    ClientError(
                        500,
                        "InternalError",
                        f"the server failed to answer: {type(exc).__name__}: {exc}",
                    )
                )

        endpoint.__name__ = handler.__name__
        return endpoint

    return wrap


def _named(request: Request, model_of: Callable[[Request], str | None] | None) -> str | None:
    if model_of is None:
        return None
    try:
        return model_of(request)
    except ClientError:  # the request named its model in two ways: count it as unnamed
        return None


def _only_model(service: Service) -> str:
    return next(iter(service.models)) if len(service.models) == 1 else ""


def _version(service: Service, model: str) -> int | str:
    served = service.models.get(model)
    current = served.current if served is not None else None
    return "" if current is None else current.version
