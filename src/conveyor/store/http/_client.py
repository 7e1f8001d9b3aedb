"""The metadata store of a conveyor team server, over its REST API: what the SDK and the CLI use
when ``CONVEYOR_TRACKING_URI`` is set. Each ``MetadataStore`` method is one request (see
``_routes``), so code written against the local store behaves the same against a server, down to
the errors it raises: the server sends the error's type, message and details, and the client
raises that same class.

A request that never reached the server (refused while it restarts, say), or whose connection
broke before an answer came, is sent again with backoff for up to ``retry_seconds``. Every
request carries an ``Idempotency-Key``: a server that already made a change answers a repeat of
it with the first answer instead of making it twice. A server stopped gracefully answers what
it has started before it exits, so a repeat after a restart is of a request it never read.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

import httpx

from conveyor.core import _errors
from conveyor.core._errors import AccessError, ConveyorError, StoreError
from conveyor.store.http._codec import decode, encode, to_json
from conveyor.store.http._retry import retrying
from conveyor.store.http._routes import PREFIX, ROUTES, SERVER_ONLY, Route, is_text

_USER_AGENT: Final = "conveyor-sdk"
IDEMPOTENCY_HEADER: Final = "Idempotency-Key"


@dataclass(frozen=True, slots=True)
class ServerSession:
    user: str
    role: str
    server_version: str
    encrypted: bool  # the server encrypts at rest: send it no value to keep in plaintext
    protected_aliases: tuple[str, ...]


class HttpMetadataStore:
    """The ``MetadataStore`` of the server at ``url`` (``http://host:port``).

    Args:
        url: The server's base URL.
        token: A bearer token (``conveyor tokens create``); None for an open server.
        retry_seconds: How long to keep re-sending a request the server did not receive.
        client: An httpx client to send through instead of a new one (tests pass the
            in-process client of the server's app).
    """

    def __init__(
        self,
        url: str,
        token: str | None = None,
        *,
        retry_seconds: float = 30.0,
        timeout: float = 60.0,
        client: httpx.Client | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        headers = {"User-Agent": _USER_AGENT, "Accept": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self._http = client or httpx.Client(base_url=self.url, timeout=timeout)
        self._http.headers.update(headers)
        self._retry_seconds = retry_seconds

    def __repr__(self) -> str:
        return f"HttpMetadataStore({self.url!r})"

    def close(self) -> None:
        self._http.close()

    def session(self) -> ServerSession:
        """Who this client's token is, and how the server stores what it is sent; raises
        ``AuthenticationFailed`` (with the server's reason) for a token it refuses."""
        response = self._send(self._http.build_request("GET", f"{PREFIX}/session"))
        if response.status_code >= 400:
            raise_for_error(response, self.url)
        try:
            body = response.json()
            return ServerSession(
                user=str(body["user"]),
                role=str(body["role"]),
                server_version=str(body["server_version"]),
                encrypted=bool(body["encrypted"]),
                protected_aliases=tuple(body.get("protected_aliases", ())),
            )
        except (ValueError, KeyError, TypeError):
            raise StoreError(
                f"{self.url} did not answer as a conveyor server "
                f"(GET {PREFIX}/session: {response.text[:200]!r})"
            ) from None

    def call(self, route: Route, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> Any:
        bound = route.signature.bind(self, *args, **kwargs)
        bound.apply_defaults()
        values = {k: v for k, v in bound.arguments.items() if k != "self"}
        # a body holds every argument, the path's too: the path names the resource, the body
        # keeps each value's type (a name that is not text reaches the store as it is)
        rest = {k: v for k, v in values.items() if k not in route.in_path}
        request = self._http.build_request(
            route.verb,
            route.url(values),
            content=_body(route, values) if route.in_body else None,
            params=None if route.in_body else _query(route, rest),
            headers={"Content-Type": "application/json"} if route.in_body else None,
        )
        request.headers[IDEMPOTENCY_HEADER] = uuid.uuid4().hex
        response = self._send(request)
        if response.status_code >= 400:
            raise_for_error(response, self.url)
        return decode(response.content, route.hints["return"])

    def _send(self, request: httpx.Request) -> httpx.Response:
        return retrying(self.url, self._retry_seconds, lambda: self._http.send(request))


def _body(route: Route, values: Mapping[str, Any]) -> bytes:
    try:
        return encode({k: to_json(v, route.hints[k]) for k, v in values.items()})
    except TypeError as exc:
        raise StoreError(f"a value cannot be sent as JSON: {exc}") from None


def _query(route: Route, values: Mapping[str, Any]) -> dict[str, str]:
    """Query parameters: text for an argument typed as text, JSON for any other (so a text
    value given for a number stays text); None is left out."""
    return {
        k: v
        if isinstance(v, str) and is_text(route.hints[k])
        else json.dumps(to_json(v, route.hints[k]))
        for k, v in values.items()
        if v is not None
    }


def raise_for_error(response: httpx.Response, url: str) -> None:
    """Raise the error a 4xx or 5xx answer describes."""
    raise _error(response, url)


def _error(response: httpx.Response, url: str) -> ConveyorError:
    """The error the server described, as the same class the local store would raise."""
    try:
        body = response.json()["error"]
        kind, message, details = str(body["type"]), str(body["message"]), body.get("details")
    except (ValueError, KeyError, TypeError):
        text = response.text[:300]
        return StoreError(
            f"the conveyor server at {url} answered {response.status_code}: {text}",
            status=response.status_code,
        )
    cls = getattr(_errors, kind, None)
    if not (isinstance(cls, type) and issubclass(cls, ConveyorError)):
        cls = StoreError
    error = cls.__new__(cls)
    ConveyorError.__init__(error, message, **(details if isinstance(details, dict) else {}))
    return error


def _method(route: Route) -> Callable[..., Any]:
    def method(self: HttpMetadataStore, *args: Any, **kwargs: Any) -> Any:
        return self.call(route, args, kwargs)

    method.__name__ = route.method
    method.__doc__ = f"{route.verb} /api/v1{route.path}"
    return method


def _server_only(name: str) -> Callable[..., Any]:
    def method(self: HttpMetadataStore, *args: Any, **kwargs: Any) -> Any:
        raise AccessError(
            f"{name} is done by the conveyor server itself and cannot be asked of it",
            method=name,
        )

    method.__name__ = name
    return method


for _route in ROUTES.values():
    setattr(HttpMetadataStore, _route.method, _method(_route))
for _name in SERVER_ONLY:
    if not hasattr(HttpMetadataStore, _name):
        setattr(HttpMetadataStore, _name, _server_only(_name))
