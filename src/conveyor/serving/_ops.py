"""Routes for operating the server: probes, metrics, the served models and forced reloads."""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import Response

from conveyor.serving._errors import ClientError, client_error_response
from conveyor.serving._respond import json_response
from conveyor.serving._service import Service


def _service(request: Request) -> Service:
    service: Service = request.app.state.service
    return service


async def healthz(request: Request) -> Response:
    """Liveness: the process answers."""
    return json_response({"status": "ok"})


async def readyz(request: Request) -> Response:
    """Readiness: every model has a version loaded."""
    service = _service(request)
    body = {"ready": service.ready, "models": [_describe(service, n) for n in service.models]}
    return json_response(body, status=200 if service.ready else 503)


async def metrics(request: Request) -> Response:
    # off the event loop: a scrape may read monitor evaluations from the metadata store
    data, content_type = await asyncio.to_thread(_service(request).metrics.render)
    return Response(data, media_type=content_type)


async def models(request: Request) -> Response:
    service = _service(request)
    return json_response({"models": [_describe(service, n) for n in service.models]})


async def reload(request: Request) -> Response:
    """Read every alias now and load the versions they point to, retrying failed ones."""
    service = _service(request)
    name = request.query_params.get("model")
    try:
        names = [service.model(name).name] if name else list(service.models)
    except ClientError as exc:
        return client_error_response(exc)
    results = [await service.refresh(n, force=True) for n in names]
    failed = any(r["error"] for r in results)
    return json_response({"models": results}, status=500 if failed else 200)


def _describe(service: Service, name: str) -> dict[str, object]:
    served = service.models[name]
    current = served.current
    return {
        "model": name,
        "ref": served.ref,
        "version": None if current is None else current.version,
        "flavor": None if current is None else current.flavor,
        "fast_path": current is not None and current.fast_path,
        "ready": current is not None,
        "problem": served.problem,
        "swaps": served.swaps,
        "inputs": [] if current is None else list(current.signature.get("inputs") or []),
    }
