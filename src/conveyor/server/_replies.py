"""Answers to changes, remembered by their ``Idempotency-Key`` for a while: a client that lost
an answer sends the request again, and gets the first answer instead of the change made twice.

Kept in the server's memory: a repeat reaches the process that made the change, because a
server stopped gracefully answers every request it has started before it exits.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Final

from starlette.responses import Response

KEEP_S: Final = 600.0
MAX_KEPT: Final = 10_000


@dataclass(frozen=True)
class _Reply:
    status: int
    body: bytes
    media_type: str | None
    at: float


class Replies:
    def __init__(self, keep_s: float = KEEP_S, max_kept: int = MAX_KEPT) -> None:
        self._keep_s = keep_s
        self._max_kept = max_kept
        self._done: OrderedDict[str, _Reply] = OrderedDict()
        self._pending: dict[str, asyncio.Future[_Reply]] = {}

    async def once(self, key: str | None, make: Callable[[], Awaitable[Response]]) -> Response:
        """``make()``'s response, or the one it gave for ``key`` before."""
        if not key:
            return await make()
        self._forget_old()
        if key in self._done:
            return _response(self._done[key])
        if key in self._pending:  # the first is still being made: wait for its answer
            return _response(await asyncio.shield(self._pending[key]))
        future: asyncio.Future[_Reply] = asyncio.get_running_loop().create_future()
        self._pending[key] = future
        try:
            response = await make()
            reply = _Reply(
                response.status_code, bytes(response.body), response.media_type, time.monotonic()
            )
            if response.status_code < 500:  # a fault of the server may go better next time
                self._done[key] = reply
                while len(self._done) > self._max_kept:
                    self._done.popitem(last=False)
            future.set_result(reply)
            return response
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: waiting repeats re-raise it, nobody else logs it
            raise
        finally:
            del self._pending[key]

    def _forget_old(self) -> None:
        cutoff = time.monotonic() - self._keep_s
        while self._done and next(iter(self._done.values())).at < cutoff:
            self._done.popitem(last=False)


def _response(reply: _Reply) -> Response:
    return Response(reply.body, status_code=reply.status, media_type=reply.media_type)
