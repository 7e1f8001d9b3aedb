"""``create_app``: the server as an ASGI application, for ``conveyor serve`` and for users who
mount it in their own stack."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import AsyncIterator, Sequence

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from conveyor.core import Settings
from conveyor.serving import _feedback, _mlflow, _native, _oip, _ops
from conveyor.serving._auth import ApiKeyMiddleware
from conveyor.serving._errors import error_response
from conveyor.serving._options import ServingOptions
from conveyor.serving._service import Service
from conveyor.serving._swap import Watcher

log = logging.getLogger("conveyor.serving")


def create_app(
    models: str | Sequence[str],
    *,
    settings: Settings | None = None,
    options: ServingOptions | None = None,
    **overrides: object,
) -> Starlette:
    """An ASGI app serving ``models`` (``"churn@production"``, or several references).

    Args:
        models: References to serve; each follows its alias (or ``latest``) and hot-swaps
            when it moves. A reference to a fixed version (``churn@3``) stays on it.
        settings: The store to read models from (default: the environment's).
        options: Batching, limits, API keys and the prediction log; keyword arguments such
            as ``max_batch_size=32`` override single fields.

    The app loads its models in the background once it starts: ``/readyz`` answers 503
    until every model is loaded.
    """
    refs = [models] if isinstance(models, str) else list(models)
    options = dataclasses.replace(options or ServingOptions(), **overrides)  # type: ignore[arg-type]
    service = Service(refs, options, settings)
    watcher = Watcher(service)

    async def start() -> None:
        await service.start()
        watcher.start()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        starting = asyncio.create_task(start(), name="load-models")
        try:
            yield
        finally:
            if not starting.done():
                starting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await starting
            await watcher.stop()
            await service.stop()

    middleware = [Middleware(ApiKeyMiddleware, keys=list(options.api_keys))]
    app = Starlette(
        routes=routes(),
        middleware=middleware if options.api_keys else [],
        lifespan=lifespan,
        exception_handlers={HTTPException: _http_error, Exception: _server_error},
    )
    app.state.service = service
    return app


def routes() -> list[Route]:
    post, get = ["POST"], ["GET"]
    return [
        Route("/predict", _native.predict, methods=post),
        Route("/models/{name}/predict", _native.predict, methods=post),
        Route("/healthz", _ops.healthz, methods=get),
        Route("/readyz", _ops.readyz, methods=get),
        Route("/metrics", _ops.metrics, methods=get),
        Route("/models", _ops.models, methods=get),
        Route("/admin/reload", _ops.reload, methods=post),
        *_oip.ROUTES,
        *_mlflow.ROUTES,
        *_feedback.ROUTES,
    ]


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        message = f"no route {request.url.path!r}; see GET /models for what is served"
        return error_response(404, "NotFound", message, {"path": request.url.path})
    if exc.status_code == 405:
        return error_response(
            405,
            "MethodNotAllowed",
            f"{request.method} is not allowed on {request.url.path}",
            {"path": request.url.path},
            headers=exc.headers,
        )
    return error_response(exc.status_code, "HTTPError", str(exc.detail))


async def _server_error(request: Request, exc: Exception) -> Response:
    log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(500, "InternalError", f"the server failed: {type(exc).__name__}")
