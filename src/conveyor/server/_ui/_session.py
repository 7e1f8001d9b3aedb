"""Signing in and out of the web UI.

The login page takes an API token (``conveyor tokens create`` makes one); the server checks it
like any API token (refusals count toward the same per-address limit) and keeps it in a cookie
the page's scripts cannot read (HttpOnly), that no other site's page sends (SameSite=Strict),
and that travels only over HTTPS when the server speaks it.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from conveyor.server._auth import Refused
from conveyor.server._ui._render import render
from conveyor.server._ui._site import (
    COOKIE,
    COOKIE_PATH,
    LOGIN,
    Site,
    check_form_token,
    context,
    error_page,
    form,
)
from conveyor.serving._errors import ClientError

HOME = "/ui/runs"


def session_routes(site: Site) -> list[BaseRoute]:
    async def login_page(request: Request) -> Response:
        expired = request.query_params.get("expired") == "1"
        message = "Your session ended (its token was refused); sign in again." if expired else ""
        return _login(request, message, 200)

    async def login(request: Request) -> Response:
        try:
            fields = await form(request)
        except ClientError as exc:
            return _login(request, exc.message, exc.status)
        try:
            await site.auth.identify_token(request, fields.get("token", ""))
        except Refused as exc:
            return _login(request, exc.message, exc.status, exc.headers, fields.get("next"))
        response = RedirectResponse(_safe_next(fields.get("next")), status_code=303)
        response.set_cookie(
            COOKIE,
            fields["token"].strip(),
            path=COOKIE_PATH,
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )
        return response

    async def logout(request: Request) -> Response:
        try:
            check_form_token(request, await form(request))
        except ClientError as exc:
            return error_page(request, None, exc.status, exc.message)
        response = RedirectResponse(LOGIN, status_code=303)
        response.delete_cookie(COOKIE, path=COOKIE_PATH)
        return response

    async def home(_: Request) -> Response:
        return RedirectResponse(HOME, status_code=303)

    return [
        Route("/", home, methods=["GET"]),
        Route("/ui", home, methods=["GET"]),
        Route("/ui/", home, methods=["GET"]),
        Route(LOGIN, login_page, methods=["GET"]),
        Route(LOGIN, login, methods=["POST"]),
        Route("/ui/logout", logout, methods=["POST"]),
    ]


def _login(
    request: Request,
    message: str,
    status: int,
    headers: dict[str, str] | None = None,
    target: str | None = None,
) -> Response:
    chosen = _safe_next(target or request.query_params.get("next"))
    values = context(request, None, message=message, next=chosen)
    return render("login.html", values, status, headers)


def _safe_next(target: str | None) -> str:
    """Where to go after signing in: a page of this UI, never another site (``//evil``)."""
    if not target or not target.startswith("/ui/") or "\\" in target:
        return HOME
    return HOME if any(ord(c) < 32 for c in target) else target
