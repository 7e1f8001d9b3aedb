"""Who is asking: a bearer token checked against the store's users and tokens, and the role
that decides what they may do. Failed tokens are limited per client address, so a token cannot
be guessed by trying many.
"""

from __future__ import annotations

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


class Authenticator:
    def __init__(self, check: CheckToken, limit: FailureLimit | None = None) -> None:
        self._check = check
        self.limit = limit or FailureLimit()

    async def identify(self, request: Request) -> Identity:
        client = request.client.host if request.client else "unknown"
        wait = self.limit.wait_s(client)
        if wait > 0:
            raise Refused(
                429,
                "TooManyFailures",
                f"too many refused tokens from {client}; try again in {math.ceil(wait)} s",
                headers={"Retry-After": str(math.ceil(wait))},
            )
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
        try:
            name, role = await run_in_threadpool(self._check, token.strip())
        except ValueError as exc:
            self.limit.failed(client)
            raise Refused(
                401, "AuthenticationFailed", f"token refused: {exc}", {"WWW-Authenticate": "Bearer"}
            ) from None
        return Identity(name, role)


def _article(word: str) -> str:
    return "an" if word[:1] in "aeiou" else "a"
