"""Who is asking: a token checked against the store's users and tokens, and the role that
decides what they may do. The API reads the token from the ``Authorization: Bearer`` header; the
web UI from the session cookie its login page set. Failed tokens are limited per client address
whichever way they came, so a token cannot be guessed by trying many.
"""

from __future__ import annotations

import hashlib
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Final

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from conveyor.serving._errors import ClientError

ROLES: Final = ("viewer", "editor", "admin")


class Refused(ClientError):
    """A request the server will not serve for who sent it: 401, 403 or 429."""

    def __init__(
        self,
        status: int,
        kind: str,
        message: str,
        headers: Mapping[str, str] | None = None,
        **details: object,
    ) -> None:
        super().__init__(status, kind, message, **details)
        self.headers = dict(headers or {})


@dataclass(frozen=True)
class Identity:
    name: str
    role: str

    def require(self, role: str, what: str) -> None:
        if ROLES.index(self.role) < ROLES.index(role):
            raise Refused(
                403,
                "PermissionDenied",
                f"{what} needs the {role} role; {self.name} is {_article(self.role)} {self.role}",
                user=self.name,
                role=self.role,
                needed=role,
            )


# token → (user name, role); raises ValueError with the reason for a token it refuses
CheckToken = Callable[[str], tuple[str, str]]


@dataclass
class FailureLimit:
    """At most ``failures`` refused tokens per client address within ``window_s``."""

    failures: int = 10
    window_s: float = 60.0
    clock: Callable[[], float] = time.monotonic
    _seen: dict[str, deque[float]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def wait_s(self, client: str) -> float:
        """Seconds ``client`` must wait before trying again (0: it may try now)."""
        with self._lock:
            recent = self._recent(client)
            if not recent:
                self._seen.pop(client, None)  # forget clients with nothing recent
                return 0.0
            if len(recent) < self.failures:
                return 0.0
            return max(0.0, recent[0] + self.window_s - self.clock())

    def failed(self, client: str) -> None:
        with self._lock:
            self._recent(client).append(self.clock())

    def _recent(self, client: str) -> deque[float]:
        recent = self._seen.setdefault(client, deque())
        cutoff = self.clock() - self.window_s
        while recent and recent[0] <= cutoff:
            recent.popleft()
        return recent


# A token accepted is taken at its word for this long before the store is asked again: a
# request then costs one store call, not three. A change of users or tokens made through this
# server applies at once (``forget``); one made directly on the store, within this time.
REMEMBER_S: Final = 5.0
_REMEMBERED_MAX: Final = 10_000


class Authenticator:
    def __init__(
        self,
        check: CheckToken,
        limit: FailureLimit | None = None,
        *,
        remember_s: float = REMEMBER_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._check = check
        self.limit = limit or FailureLimit()
        self._remember_s = remember_s
        self._clock = clock
        # keyed by a digest, so that no token lingers in the server's memory as it was sent
        self._accepted: dict[bytes, tuple[Identity, float]] = {}

    def forget(self) -> None:
        """Check every token with the store again at its next use."""
        self._accepted.clear()

    async def identify(self, request: Request) -> Identity:
        """The holder of the request's bearer token (the API's way)."""
        client = self._client_may_try(request)
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Refused(
                401,
                "AuthenticationFailed",
                "this server needs a token: send 'Authorization: Bearer <token>' "
                "(CONVEYOR_TOKEN for the SDK and CLI; `conveyor tokens create` makes one)",
                headers={"WWW-Authenticate": "Bearer"},
            )
        return await self._checked(client, token.strip())

    async def identify_cookie(self, request: Request, cookie: str) -> Identity:
        """The holder of the token in the session cookie named ``cookie`` (the web UI's way)."""
        client = self._client_may_try(request)
        token = request.cookies.get(cookie, "").strip()
        if not token:
            raise Refused(401, "AuthenticationFailed", "not signed in")
        # a page is not worth remembering a token for: its session ends at once when revoked
        return await self._checked(client, token, remember=False)

    async def identify_token(self, request: Request, token: str) -> Identity:
        """The holder of ``token``, as typed into the web UI's login page."""
        client = self._client_may_try(request)
        if not token.strip():
            raise Refused(401, "AuthenticationFailed", "paste a token to sign in")
        return await self._checked(client, token.strip(), remember=False)

    def _client_may_try(self, request: Request) -> str:
        client = request.client.host if request.client else "unknown"
        wait = self.limit.wait_s(client)
        if wait > 0:
            raise Refused(
                429,
                "TooManyFailures",
                f"too many refused tokens from {client}; try again in {math.ceil(wait)} s",
                headers={"Retry-After": str(math.ceil(wait))},
            )
        return client

    async def _checked(self, client: str, token: str, *, remember: bool = True) -> Identity:
        digest = hashlib.sha256(token.encode()).digest()
        now = self._clock()
        accepted = self._accepted.get(digest) if remember else None
        if accepted is not None and accepted[1] > now:
            return accepted[0]
        try:
            name, role = await run_in_threadpool(self._check, token)
        except ValueError as exc:
            self.limit.failed(client)
            raise Refused(
                401, "AuthenticationFailed", f"token refused: {exc}", {"WWW-Authenticate": "Bearer"}
            ) from None
        identity = Identity(name, role)
        if remember and self._remember_s > 0:
            if len(self._accepted) >= _REMEMBERED_MAX:
                self._accepted.clear()
            self._accepted[digest] = (identity, now + self._remember_s)
        return identity


def _article(word: str) -> str:
    return "an" if word[:1] in "aeiou" else "a"
