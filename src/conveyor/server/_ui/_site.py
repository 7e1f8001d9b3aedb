"""What every page of the web UI shares: who is signed in (the session cookie, checked like an
API token), the form token that guards each change, and the one place where an error becomes a
page (4xx naming what was wrong; 500 only for a fault of the server, without internals).

A page handler gets the request and the identity and returns a response; it runs its store
calls in a worker thread (the store is synchronous) through ``Site.read``.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final, TypeVar
from urllib.parse import parse_qs, quote, urlsplit

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from conveyor.core._actor import acting_as
from conveyor.core._errors import ConveyorError, RegistryError, StoreError
from conveyor.server._auth import Authenticator, Identity, Refused
from conveyor.server._ui._render import render
from conveyor.serving._errors import ClientError
from conveyor.store import MetadataStore

log = logging.getLogger("conveyor.server.ui")

COOKIE: Final = "conveyor_session"
COOKIE_PATH: Final = "/ui"  # the API never sees it, so it can never act on it
LOGIN: Final = "/ui/login"
_FORM_LIMIT: Final = 64 * 1024
_CSRF_LABEL: Final = b"conveyor web UI form"

T = TypeVar("T")
Handler = Callable[[Request, Identity], Awaitable[Response]]
Fields = Mapping[str, str]
ActionHandler = Callable[[Request, Identity, Fields], Awaitable[Response]]


def form_token(session: str) -> str:
    """The token a page's forms carry: derived from the session's secret, which another site
    cannot read (the cookie is HttpOnly), so it cannot forge a form this server accepts."""
    return hmac.new(session.encode(), _CSRF_LABEL, hashlib.sha256).hexdigest()


def bad(status: int, message: str, kind: str = "BadRequest") -> ClientError:
    return ClientError(status, kind, message)


@dataclass(frozen=True)
class Site:
    store: MetadataStore
    auth: Authenticator
    protected: frozenset[str]

    async def read(self, work: Callable[[MetadataStore], T]) -> T:
        """``work(store)`` in a worker thread."""
        return await run_in_threadpool(work, self.store)

    async def change(self, identity: Identity, work: Callable[[MetadataStore], T]) -> T:
        """``work(store)`` in a worker thread, audited as done by ``identity``."""

        def acting(store: MetadataStore) -> T:
            with acting_as(identity.name):
                return work(store)

        return await run_in_threadpool(acting, self.store)

    def page(self, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        """A GET endpoint for signed-in users; anyone else is sent to the login page."""

        async def endpoint(request: Request) -> Response:
            try:
                identity = await self.auth.identify_cookie(request, COOKIE)
            except Refused as exc:
                return self._refused(request, exc)
            return await self._answer(request, identity, lambda: handler(request, identity))

        return endpoint

    def action(self, handler: ActionHandler) -> Callable[[Request], Awaitable[Response]]:
        """A POST endpoint: signed in, and carrying the session's form token."""

        async def endpoint(request: Request) -> Response:
            try:
                identity = await self.auth.identify_cookie(request, COOKIE)
            except Refused as exc:
                return self._refused(request, exc)

            async def checked() -> Response:
                fields = await form(request)
                check_form_token(request, fields)
                return await handler(request, identity, fields)

            return await self._answer(request, identity, checked)

        return endpoint

    async def _answer(
        self, request: Request, identity: Identity, make: Callable[[], Awaitable[Response]]
    ) -> Response:
        try:
            return await make()
        except ClientError as exc:
            return error_page(request, identity, exc.status, exc.message)
        except ConveyorError as exc:
            return error_page(request, identity, status_of(exc), exc.message)
        except Exception:
            log.exception("%s %s failed", request.method, request.url.path)
            return error_page(request, identity, 500, "the server failed; its log says why")

    def _refused(self, request: Request, exc: Refused) -> Response:
        if exc.status != 401:
            return error_page(request, None, exc.status, exc.message, exc.headers)
        had_session = COOKIE in request.cookies
        target = _back_to(request)
        where = f"{LOGIN}?next={quote(target, safe='')}" + ("&expired=1" if had_session else "")
        response = RedirectResponse(where, status_code=303)
        if had_session:  # a revoked or expired token: forget it
            response.delete_cookie(COOKIE, path=COOKIE_PATH)
        return response


def _back_to(request: Request) -> str:
    """The page to return to after signing in: this one, or for a form sent from a page (a
    change cannot be replayed through a login) the page it was sent from."""
    if request.method in ("GET", "HEAD"):
        return request.url.path + (f"?{request.url.query}" if request.url.query else "")
    referer = urlsplit(request.headers.get("referer", ""))
    same_site = referer.netloc in ("", request.url.netloc)
    return referer.path if same_site and referer.path.startswith("/ui/") else "/ui/runs"


def context(request: Request, identity: Identity | None, **values: Any) -> dict[str, Any]:
    """What every template gets besides its own values: who is signed in and the form token."""
    session = request.cookies.get(COOKIE, "")
    return {
        "me": identity,
        "csrf": form_token(session) if identity is not None and session else "",
        "path": request.url.path,
        **values,
    }


def error_page(
    request: Request,
    identity: Identity | None,
    status: int,
    message: str,
    headers: Mapping[str, str] | None = None,
) -> Response:
    titles = {400: "Bad request", 403: "Not allowed", 404: "Not found", 409: "Refused"}
    title = titles.get(status, "Too many attempts" if status == 429 else "Error")
    values = context(request, identity, status=status, title=title, message=message)
    return render("error.html", values, status, headers)


def status_of(exc: ConveyorError) -> int:
    """The status of an error the store or the registry raised: what the API answers too."""
    if type(exc).__name__.endswith("NotFound"):
        return 404
    if isinstance(exc, StoreError | RegistryError):
        return 409  # the state refused it: nothing to roll back to, a name taken…
    return 400


async def form(request: Request) -> dict[str, str]:
    """The fields of a submitted form (the last value of each), at most 64 KiB of them."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/x-www-form-urlencoded":
        raise bad(400, "send the page's form: application/x-www-form-urlencoded")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > _FORM_LIMIT:
            raise bad(413, "the form is too large")
    try:
        parsed = parse_qs(body.decode(), keep_blank_values=True, max_num_fields=100)
    except (UnicodeDecodeError, ValueError) as exc:
        raise bad(400, f"the form could not be read: {exc}") from None
    return {key: values[-1] for key, values in parsed.items()}


def check_form_token(request: Request, fields: Fields) -> None:
    session = request.cookies.get(COOKIE, "")
    given = fields.get("csrf", "")
    if not given or not session or not hmac.compare_digest(given, form_token(session)):
        raise bad(
            403,
            "this form's security token is missing or out of date: reload the page and try again",
            "CsrfRefused",
        )
