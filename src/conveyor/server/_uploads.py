"""Chunked, resumable uploads of large artifacts (see ``_artifacts``)."""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Final

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from conveyor.core._errors import ConveyorError
from conveyor.core._hashing import content_address
from conveyor.server._auth import Authenticator
from conveyor.serving._errors import ClientError, client_error_response, error_response
from conveyor.store import ArtifactStore
from conveyor.store.http._artifacts import OFFSET_HEADER
from conveyor.store.http._routes import PREFIX

_ID: Final = re.compile(r"[0-9a-f]{32}")
# ASCII digits only ("²".isdigit() holds, yet int() refuses it), and few enough for any upload
_OFFSET: Final = re.compile(r"[0-9]{1,20}")
Handler = Callable[[Request], Awaitable[Response]]
MAX_UPLOAD_BYTES: Final = 64 * 1024**3


def upload_routes(artifacts: ArtifactStore, auth: Authenticator, folder: Path) -> list[Route]:
    folder.mkdir(parents=True, exist_ok=True)

    async def guarded(request: Request, handle: Handler) -> Response:
        try:
            identity = await auth.identify(request)
            identity.require("editor", "uploading an artifact")
            return await handle(request)
        except ClientError as exc:
            return client_error_response(exc)
        except ConveyorError as exc:
            return error_response(400, type(exc).__name__, exc.message, exc.details)

    async def create(request: Request) -> Response:
        upload = uuid.uuid4().hex
        (folder / upload).touch()
        return JSONResponse({"id": upload}, status_code=201)

    async def chunk(request: Request) -> Response:
        path = _upload(folder, request)
        held = path.stat().st_size
        if request.method == "HEAD":
            return Response(headers={OFFSET_HEADER: str(held)})
        offset = _offset(request)
        if offset != held:
            return Response(status_code=409, headers={OFFSET_HEADER: str(held)})
        body = await request.body()
        if held + len(body) > MAX_UPLOAD_BYTES:
            raise ClientError(
                413, "ConveyorError", f"an upload is at most {MAX_UPLOAD_BYTES} bytes"
            )
        await run_in_threadpool(_append, path, body)
        return Response(status_code=204, headers={OFFSET_HEADER: str(held + len(body))})

    async def complete(request: Request) -> Response:
        path = _upload(folder, request)
        try:
            # orjson refuses lone surrogates, which the answer could not echo back
            address = orjson.loads(await request.body())["address"]
        except (ValueError, KeyError, TypeError):
            address = None
        if not isinstance(address, str):
            raise ClientError(
                400, "ConveyorError", 'complete an upload with {"address": "sha256:..."}'
            )
        data = await run_in_threadpool(path.read_bytes)
        actual = content_address(data)
        if actual != address:
            return error_response(
                400,
                "ArtifactCorrupted",
                f"the uploaded bytes' address is {actual}, not {address}",
                {"address": address, "actual": actual},
            )
        await run_in_threadpool(artifacts.put, data)
        path.unlink(missing_ok=True)
        return Response(status_code=204)

    def route(path: str, handle: Handler, methods: list[str]) -> Route:
        async def endpoint(request: Request) -> Response:
            return await guarded(request, handle)

        return Route(PREFIX + path, endpoint, methods=methods)

    return [
        route("/uploads", create, ["POST"]),
        route("/uploads/{upload}", chunk, ["PATCH", "HEAD"]),
        route("/uploads/{upload}/complete", complete, ["POST"]),
    ]


def _upload(folder: Path, request: Request) -> Path:
    upload = str(request.path_params["upload"])
    path = folder / upload
    if _ID.fullmatch(upload) is None or not path.is_file():
        raise ClientError(
            404, "UploadNotFound", f"no upload {upload!r}: open one with POST {PREFIX}/uploads"
        )
    return path


def _offset(request: Request) -> int:
    text = request.headers.get(OFFSET_HEADER, "")
    if _OFFSET.fullmatch(text) is None:
        raise ClientError(
            400, "ConveyorError", f"a chunk needs an {OFFSET_HEADER} header: the byte it starts at"
        )
    return int(text)


def _append(path: Path, data: bytes) -> None:
    with path.open("ab") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
