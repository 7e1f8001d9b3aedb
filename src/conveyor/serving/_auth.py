"""API keys: ``Authorization: Bearer KEY`` or ``X-API-Key: KEY`` on every route but the probes.

A plain ASGI middleware (no per-request task or body copy), comparing keys in constant time.
"""

from __future__ import annotations

import hmac
from collections.abc import Sequence
from typing import Final

from starlette.types import ASGIApp, Receive, Scope, Send

from conveyor.serving._errors import error_body

OPEN_PATHS: Final = frozenset({"/healthz", "/readyz", "/v2/health/live", "/v2/health/ready"})


class ApiKeyMiddleware:
    def __init__(self, app: ASGIApp, keys: Sequence[str]) -> None:
        self.app = app
        self.keys = [k.encode() for k in keys]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.keys or scope["path"] in OPEN_PATHS:
            await self.app(scope, receive, send)
            return
        given = _presented(scope["headers"])
        if given is not None and self._known(given):
            await self.app(scope, receive, send)
            return
        message = (
            "this server needs an API key: send 'Authorization: Bearer KEY' or 'X-API-Key: KEY'"
            if given is None
            else "the API key is not valid"
        )
        body = error_body("Unauthorized", message)
        await send(
            {
                "type": "http.response.start",
                "status": 401,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"www-authenticate", b'Bearer realm="conveyor"'),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    def _known(self, given: bytes) -> bool:
        # every key is compared, so the time taken does not tell which one nearly matched
        matched = False
        for key in self.keys:
            matched |= hmac.compare_digest(given, key)
        return matched


def _presented(headers: list[tuple[bytes, bytes]]) -> bytes | None:
    for name, value in headers:
        if name == b"authorization":
            scheme, _, token = value.partition(b" ")
            if scheme.lower() == b"bearer" and token.strip():
                return token.strip()
        elif name == b"x-api-key" and value.strip():
            return value.strip()
    return None
