"""The REST API over one metadata store: a route per store method (``conveyor.store.http``).

Each request is authenticated (``_auth``), checked against the route's role, decoded by the
method's own type hints, and run in a worker thread (the store is synchronous). Errors a client
can act on keep the store's error type, so the SDK raises the same class it would raise on a
local store; a fault of the server answers 500 without internals.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import Mapping
from typing import Any, Final

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route as StarletteRoute

from conveyor.core._actor import acting_as
from conveyor.core._errors import ConveyorError, StoreError
from conveyor.server._auth import Authenticator, Identity
from conveyor.server._replies import Replies
from conveyor.serving._errors import ClientError, client_error_response, error_response
from conveyor.store import AliasMove, MetadataStore
from conveyor.store.http import ROUTES, Route, encode, from_json
from conveyor.store.http._client import IDEMPOTENCY_HEADER
from conveyor.store.http._routes import PREFIX, is_text

log = logging.getLogger("conveyor.server")

_JSON: Final = "application/json"
_PLACEHOLDER: Final = re.compile(r"{(\w+)}")
_ACCESS_CHANGES: Final = frozenset(
    {"revoke_token", "set_role", "set_disabled", "remove_user", "add_token", "add_user"}
)


def store_routes(
    store: MetadataStore, auth: Authenticator, protected: frozenset[str], replies: Replies
) -> list[StarletteRoute]:
    """One Starlette route per store route; routes sharing a path share one endpoint."""
    by_path: dict[str, dict[str, Route]] = {}
    for route in ROUTES.values():
        by_path.setdefault(route.path, {})[route.verb] = route
    # a segment may hold any text, '/' included (":path"), so longer paths are matched first
    ordered = sorted(by_path, key=lambda p: p.count("/"), reverse=True)
    routes = [
        StarletteRoute(
            PREFIX + _PLACEHOLDER.sub(r"{\1:path}", path),
            _endpoint(store, auth, verbs, protected, replies),
            methods=list(verbs),
            name=",".join(r.method for r in verbs.values()),
        )
        for path in ordered
        for verbs in [by_path[path]]
    ]
    for served in routes:
        # ":path" is ".*", which stops at a line break: a value holding one must still reach
        # the store, to be answered in JSON, not fall through as an unknown path
        served.path_regex = re.compile(served.path_regex.pattern, re.DOTALL)
    return routes


def _endpoint(
    store: MetadataStore,
    auth: Authenticator,
    verbs: Mapping[str, Route],
    protected: frozenset[str],
    replies: Replies,
) -> Any:
    async def endpoint(request: Request) -> Response:
        route = verbs[request.method]
        if route.verb == "GET":
            return await answer(request, route)
        # a repeat of a change (its answer was lost) gets the first answer; keys are per user
        key = request.headers.get(IDEMPOTENCY_HEADER)
        scoped = f"{request.headers.get('authorization', '')}|{key}" if key else None
        return await replies.once(scoped, lambda: answer(request, route))

    async def answer(request: Request, route: Route) -> Response:
        try:
            identity = await auth.identify(request)
            identity.require(route.role, f"{route.verb} {route.path}")
            kwargs = await _arguments(route, request)
            if route.method == "move_alias":
                kwargs["move"] = _checked_move(kwargs["move"], identity, protected)
        except ClientError as exc:
            return client_error_response(exc)
        try:
            result = await run_in_threadpool(_call, store, route.method, kwargs, identity.name)
        except ConveyorError as exc:
            return error_response(_status(exc), type(exc).__name__, exc.message, exc.details)
        except (TypeError, ValueError) as exc:  # arguments of a type the store cannot take
            log.warning("%s %s: %s", request.method, request.url.path, exc)
            return error_response(400, "ConveyorError", f"bad arguments: {exc}")
        except Exception:
            log.exception("%s %s failed", request.method, request.url.path)
            return error_response(500, "ServerError", "the server failed; see its log")
        if route.method in _ACCESS_CHANGES:
            auth.forget()  # a revoked token or a demoted user is refused from the next request
        try:
            body = encode(result)
        except TypeError:  # something the store holds that JSON cannot carry: not the client's
            log.exception("%s %s: the answer is not JSON-able", request.method, request.url.path)
            return error_response(500, "ServerError", "the server failed; see its log")
        return Response(body, media_type=_JSON)

    return endpoint


def _call(store: MetadataStore, method: str, kwargs: Mapping[str, Any], actor: str) -> Any:
    with acting_as(actor):
        return getattr(store, method)(**kwargs)


def _checked_move(move: AliasMove, identity: Identity, protected: frozenset[str]) -> AliasMove:
    """The move, if ``identity`` may make it, recorded as made by them (whatever the client
    wrote in ``actor``)."""
    if not isinstance(move, AliasMove):
        raise _bad("argument 'move' must be an alias move")
    if isinstance(move.alias, str) and move.alias in protected:  # other values: the store refuses
        identity.require("admin", f"moving the protected alias {move.alias!r}")
    return dataclasses.replace(move, actor=identity.name)


def _bad(message: str, **details: object) -> ClientError:
    return ClientError(400, "ConveyorError", message, **details)


def _status(exc: ConveyorError) -> int:
    if type(exc).__name__.endswith("NotFound"):
        return 404
    if isinstance(exc, StoreError):
        return 409  # the store's state refused the change: a duplicate, a missing parent…
    return 400


async def _arguments(route: Route, request: Request) -> dict[str, Any]:
    """The method's arguments from the path, the query or the JSON body."""
    raw: dict[str, Any] = dict(request.path_params)
    if route.in_body:
        try:
            # orjson refuses what json lets through: NaN, and lone surrogates no answer can echo
            body = orjson.loads(await request.body() or b"{}")
        except ValueError as exc:
            raise _bad(f"the request body is not JSON: {exc}") from None
        if not isinstance(body, dict):
            raise _bad("the request body must be a JSON object of the arguments")
        raw.update(body)  # the body's value of a path argument keeps its JSON type
    else:
        for key, text in request.query_params.items():
            raw[key] = text if is_text(route.hints.get(key)) else _json(key, text)
    return _typed(route, raw)


def _typed(route: Route, raw: Mapping[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(raw) - set(route.arguments))
    if unknown:
        raise _bad(
            f"unknown argument(s) {', '.join(unknown)} for {route.verb} {route.path}; "
            f"it takes {', '.join(route.arguments) or 'none'}",
            unknown=unknown,
        )
    kwargs: dict[str, Any] = {}
    for name in route.arguments:
        parameter = route.signature.parameters[name]
        if name not in raw:
            if parameter.default is parameter.empty:
                raise _bad(f"missing argument {name!r}", argument=name)
            continue
        try:
            kwargs[name] = from_json(raw[name], route.hints[name])
        except Exception as exc:  # cattrs reports every field that did not fit
            raise _bad(
                f"argument {name!r} does not fit {_type_name(route.hints[name])}: {_reason(exc)}",
                argument=name,
            ) from None
    return kwargs


def _json(key: str, text: str) -> Any:
    try:
        return orjson.loads(text)
    except ValueError:
        raise _bad(f"query parameter {key!r} is not JSON: {text!r}", argument=key) from None


def _type_name(hint: object) -> str:
    return getattr(hint, "__name__", None) or str(hint).replace("typing.", "")


def _reason(exc: BaseException) -> str:
    from cattrs import transform_error
    from cattrs.errors import ClassValidationError, IterableValidationError

    if isinstance(exc, ClassValidationError | IterableValidationError):
        return "; ".join(transform_error(exc, path="$")[:5])
    return str(exc)
