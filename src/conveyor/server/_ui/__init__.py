"""The team server's web UI: pages rendered on the server from Jinja templates, with a little
hand-written CSS and JavaScript served from this package (no build step, nothing from a CDN).

Pages live under ``/ui``: pipelines and runs, a run (its graph, timeline, metrics, logs and
artifacts), run comparison, an artifact's lineage, models (promote, roll back), monitors. They
read the same store as the API, and sign in with the same API tokens.
"""

from __future__ import annotations

from collections.abc import Collection

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from conveyor.server._auth import Authenticator, Identity
from conveyor.server._ui._compare import compare_routes
from conveyor.server._ui._lineage import lineage_routes
from conveyor.server._ui._models import models_routes
from conveyor.server._ui._monitors import monitors_routes
from conveyor.server._ui._render import STATIC
from conveyor.server._ui._run import run_routes
from conveyor.server._ui._runs import runs_routes
from conveyor.server._ui._session import session_routes
from conveyor.server._ui._site import Site, error_page
from conveyor.store import MetadataStore


def ui_routes(
    store: MetadataStore, auth: Authenticator, protected_aliases: Collection[str]
) -> list[BaseRoute]:
    """Every route of the web UI, and its static files under ``/ui/static``."""
    site = Site(store, auth, frozenset(protected_aliases))

    async def no_such_page(request: Request, identity: Identity) -> Response:
        return error_page(request, identity, 404, f"there is no page {request.url.path}")

    return [
        *session_routes(site),
        *runs_routes(site),
        *run_routes(site),
        *compare_routes(site),
        *lineage_routes(site),
        *models_routes(site),
        *monitors_routes(site),
        Mount("/ui/static", StaticFiles(directory=STATIC), name="ui-static"),
        Route("/ui/{rest:path}", site.page(no_such_page), methods=["GET"]),
    ]


__all__ = ["ui_routes"]
