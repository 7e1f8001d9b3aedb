"""Reading a request body as JSON, within the size limit, with errors a client can act on."""

from __future__ import annotations

import uuid

import orjson
from starlette.requests import Request

from conveyor.serving._errors import ClientError

_MAX_REQUEST_ID = 128


async def read_json(request: Request, max_bytes: int) -> object:
    """The body parsed as JSON. No Content-Type is required: some clients (tritonclient) send
    none; a body that is not JSON is a 400 whatever its type."""
    return parse_json(await read_body(request, max_bytes, "a JSON object"))


async def read_body(request: Request, max_bytes: int, what: str) -> bytes:
    """The whole body, or a 413 as soon as it is over ``max_bytes``; ``what`` says what it
    should hold, for the empty-body error."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise _too_large(int(declared), max_bytes)
    chunks = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise _too_large(size, max_bytes)
        chunks.append(chunk)
    body = b"".join(chunks)
    if not body.strip():
        raise ClientError(400, "EmptyBody", f"the request has no body; send {what}")
    return body


def parse_json(data: bytes, field: str = "$") -> object:
    """``data`` parsed as JSON, or a 400 naming where it stops being JSON."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise ClientError(
            400,
            "MalformedJSON",
            f"{'the body' if field == '$' else field} is not valid JSON: {exc.msg} at line "
            f"{exc.lineno} column {exc.colno}",
            field=field,
            line=exc.lineno,
            column=exc.colno,
        ) from None


def json_object(body: object, what: str) -> dict[str, object]:
    if not isinstance(body, dict):
        raise ClientError(
            400, "InvalidRequest", f"the body must be a JSON object ({what})", field="$"
        )
    return body


def request_id(request: Request) -> str:
    """The client's ``X-Request-ID`` when it is a sensible one, else a new id."""
    given = request.headers.get("x-request-id")
    if given and len(given) <= _MAX_REQUEST_ID and given.isprintable():
        return given
    return uuid.uuid4().hex


def _too_large(size: int, limit: int) -> ClientError:
    return ClientError(
        413,
        "BodyTooLarge",
        f"the body has more than {limit:,} bytes (at least {size:,}); send fewer rows per "
        "request or raise the server's max_body_bytes",
        limit=limit,
    )
