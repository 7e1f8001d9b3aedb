"""The model registry's pages: every model, and one model's versions, aliases with their
history, and gate decisions with every figure; with forms to promote and roll back.

Moving an alias needs the editor role, and a protected alias (``production``) the admin role,
as in the API; anyone else gets a 403 page saying which role it needs.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from conveyor.core._errors import ConveyorError
from conveyor.server._auth import ROLES, Identity
from conveyor.server._ui import _moves
from conveyor.server._ui._render import render
from conveyor.server._ui._site import Fields, Site, bad, context
from conveyor.store import (
    AliasMove,
    GateDecision,
    MetadataStore,
    ModelVersionRecord,
    check_alias_name,
    role_to_promote,
)


@dataclass(frozen=True)
class ModelPage:
    name: str
    versions: list[ModelVersionRecord]  # newest first
    aliases: dict[str, int]
    history: list[AliasMove]  # newest first
    decisions: list[GateDecision]  # newest first
    previous: dict[str, int | None]  # alias → where a rollback would move it

    def aliases_of(self, version: int) -> list[str]:
        return sorted(a for a, v in self.aliases.items() if v == version)


def read_model(store: MetadataStore, name: str) -> ModelPage:
    versions = store.list_model_versions(name)
    return ModelPage(
        name,
        versions[::-1],
        dict(sorted(store.aliases(name).items())),
        store.alias_history(name)[::-1],
        store.gate_decisions(name)[::-1],
        _moves.previous_versions(store, name),
    )


def models_routes(site: Site) -> list[BaseRoute]:
    async def models(request: Request, identity: Identity) -> Response:
        found = await site.read(lambda store: store.list_models())
        return render("models.html", context(request, identity, models=found))

    async def model(request: Request, identity: Identity) -> Response:
        name = request.path_params["name"]
        page = await site.read(lambda store: read_model(store, name))
        values = context(
            request,
            identity,
            page=page,
            moved=request.query_params.get("moved", ""),
            may_edit=_at_least(identity, "editor"),
            may_move={a: _may_move(site, identity, a) for a in page.aliases},
            protected=sorted(site.protected),
        )
        return render("model.html", values)

    async def promote(request: Request, identity: Identity, fields: Fields) -> Response:
        name = request.path_params["name"]
        alias = _alias(site, identity, fields, "promoting")
        version = _version(fields.get("version", ""))
        beat = fields.get("gate") == "beat"
        await site.change(
            identity,
            lambda store: _moves.promote(
                store,
                name,
                version,
                alias,
                actor=identity.name,
                reason=fields.get("reason", "").strip(),
                beat_holder=beat,
            ),
        )
        return _back(name, alias)

    async def rollback(request: Request, identity: Identity, fields: Fields) -> Response:
        name = request.path_params["name"]
        alias = _alias(site, identity, fields, "rolling back")
        reason = fields.get("reason", "").strip()
        await site.change(
            identity,
            lambda store: _moves.rollback(store, name, alias, actor=identity.name, reason=reason),
        )
        return _back(name, alias)

    return [
        Route("/ui/models", site.page(models), methods=["GET"]),
        Route("/ui/models/{name}", site.page(model), methods=["GET"]),
        Route("/ui/models/{name}/promote", site.action(promote), methods=["POST"]),
        Route("/ui/models/{name}/rollback", site.action(rollback), methods=["POST"]),
    ]


def _may_move(site: Site, identity: Identity, alias: str) -> bool:
    return _at_least(identity, role_to_promote(alias, site.protected))


def _at_least(identity: Identity, role: str) -> bool:
    return ROLES.index(identity.role) >= ROLES.index(role)


def _alias(site: Site, identity: Identity, fields: Fields, doing: str) -> str:
    """The form's alias, if it is one and ``identity`` may move it (else a 400 or 403)."""
    alias = fields.get("alias", "").strip()
    if not alias:
        raise bad(400, "name the alias to move")
    try:
        check_alias_name(alias)
    except ConveyorError as exc:
        raise bad(400, exc.message) from None
    what = f"{doing} {'the protected alias' if alias in site.protected else 'alias'} {alias!r}"
    identity.require(role_to_promote(alias, site.protected), what)
    return alias


def _version(text: str) -> int:
    text = text.strip()
    if not (text.isascii() and text.isdigit() and 0 < len(text) <= 9) or int(text) < 1:
        raise bad(400, f"a version is a number from 1 up, not {text!r}")
    return int(text)


def _back(name: str, alias: str) -> Response:
    return RedirectResponse(
        f"/ui/models/{quote(name, safe='')}?moved={quote(alias, safe='')}#aliases", status_code=303
    )
