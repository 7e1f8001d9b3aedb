"""Artifact bytes over HTTP: read, check and write blobs of the content-addressed store.

``PUT /api/v1/artifacts/{address}`` stores a body whose SHA-256 is the address (anything else
is refused, so a client cannot file bytes under another blob's address); ``GET`` answers the
bytes, ``HEAD`` whether they are there. The address is the whole identity of a blob, so a
repeated upload is harmless.

Large blobs come in chunks: ``POST /api/v1/uploads`` opens an upload, ``PATCH
/api/v1/uploads/{id}`` with an ``Upload-Offset`` header appends a chunk at that offset (409 with
the offset held if it is not the end), ``HEAD`` says how much is held, and ``POST
.../complete`` with the address checks and stores the whole. Uploads are files under the
server's uploads folder, so an upload survives a restart of the server.
"""

from __future__ import annotations

from pathlib import Path

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from conveyor.core._errors import ArtifactDecryptionError, ArtifactNotFound, ConveyorError
from conveyor.core._hashing import content_address
from conveyor.server._auth import Authenticator
from conveyor.server._uploads import upload_routes
from conveyor.serving._errors import ClientError, client_error_response, error_response
from conveyor.store import ArtifactStore
from conveyor.store.http._routes import PREFIX

_ADDRESS = PREFIX + "/artifacts/{address}"


def artifact_routes(artifacts: ArtifactStore, auth: Authenticator, uploads: Path) -> list[Route]:
    async def blob(request: Request) -> Response:
        address = str(request.path_params["address"])
        try:
            identity = await auth.identify(request)
            if request.method == "PUT":
                identity.require("editor", "storing an artifact")
                return await _put(artifacts, address, await request.body())
            if request.method == "HEAD":
                found = await run_in_threadpool(artifacts.exists, address)
                return Response(status_code=200 if found else 404)
            data = await run_in_threadpool(artifacts.get, address)
        except ClientError as exc:
            return client_error_response(exc)
        except ArtifactNotFound as exc:
            return error_response(404, "ArtifactNotFound", exc.message, exc.details)
        except ArtifactDecryptionError as exc:  # the server's keys, not the client's request
            return error_response(500, type(exc).__name__, exc.message, exc.details)
        except ConveyorError as exc:
            return error_response(400, type(exc).__name__, exc.message, exc.details)
        return Response(data, media_type="application/octet-stream")

    return [
        Route(_ADDRESS, blob, methods=["GET", "HEAD", "PUT"]),
        *upload_routes(artifacts, auth, uploads),
    ]


async def _put(artifacts: ArtifactStore, address: str, data: bytes) -> Response:
    actual = content_address(data)
    if actual != address:
        return error_response(
            400,
            "ArtifactCorrupted",
            f"the body's address is {actual}, not {address}: it was changed in transit or "
            "sent to the wrong address",
            {"address": address, "actual": actual},
        )
    await run_in_threadpool(artifacts.put, data)
    return Response(status_code=204)
