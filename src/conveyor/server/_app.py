"""The team server's ASGI app: the REST API over one metadata store and artifact store."""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from conveyor.core._errors import AuthenticationFailed
from conveyor.core._version import __version__
from conveyor.server._api import store_routes
from conveyor.server._artifacts import artifact_routes
from conveyor.server._auth import Authenticator, CheckToken
from conveyor.server._openapi import openapi_route
from conveyor.server._replies import Replies
from conveyor.server._ui import ui_routes
from conveyor.serving._errors import ClientError, client_error_response
from conveyor.store import ArtifactStore, MetadataStore, authenticate
from conveyor.store.http._routes import PREFIX

PROTECTED_ALIASES: Final = ("production",)


def token_checker(store: MetadataStore) -> CheckToken:
    """Tokens checked against ``store``'s users and tokens."""

    def check(token: str) -> tuple[str, str]:
        try:
            user = authenticate(store, token, datetime.now(UTC))
        except AuthenticationFailed as exc:
            raise ValueError(exc.message) from None
        return user.name, user.role

    return check


def create_server_app(
    store: MetadataStore,
    artifacts: ArtifactStore,
    check_token: CheckToken,
    *,
    uploads: Path,
    protected_aliases: Collection[str] = PROTECTED_ALIASES,
    close_store: bool = False,
    encrypted: bool = False,
) -> Starlette:
    """The API over ``store`` and ``artifacts``.

    Args:
        check_token: A token's user and role; raises ValueError saying why it is refused.
        uploads: The folder of chunked uploads in progress (kept across restarts).
        protected_aliases: Aliases only an admin may move (``production``).
        close_store: Close the store when the app shuts down.
        encrypted: Whether ``artifacts`` encrypts at rest: clients then keep no value in the
            metadata store, where it would rest in plaintext.
    """
    auth = Authenticator(check_token)

    async def healthz(_: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def session(request: Request) -> Response:
        """Who the token is, and what a client must know of this server before using it."""
        try:
            identity = await auth.identify(request)
        except ClientError as exc:
            return client_error_response(exc)
        return JSONResponse(
            {
                "user": identity.name,
                "role": identity.role,
                "server_version": __version__,
                "api": PREFIX,
                "encrypted": encrypted,
                "protected_aliases": sorted(protected_aliases),
            }
        )

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        yield
        if close_store:
            store.close()

    routes = [
        Route("/healthz", healthz),
        openapi_route(),
        Route(f"{PREFIX}/session", session),
        *store_routes(store, auth, frozenset(protected_aliases), Replies()),
        *artifact_routes(artifacts, auth, uploads),
        *ui_routes(store, auth, protected_aliases),
    ]
    return Starlette(routes=routes, lifespan=lifespan)
