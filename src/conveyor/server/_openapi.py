"""The REST API's OpenAPI 3.1 document, built from the route table the server itself serves.

Every store operation comes from ``ROUTES`` and the ``MetadataStore`` protocol's type hints, so
the document cannot drift from the store; the artifact and upload routes, written by hand in
``_artifacts`` and ``_uploads``, are described here beside them. The document is built once, on
the first request for it, and served without a token: it holds nothing secret.
"""

from __future__ import annotations

import functools
import inspect
from typing import Any, Final

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route as StarletteRoute

from conveyor.core._version import __version__
from conveyor.server._json_schema import SchemaObject, Schemas, ref
from conveyor.server._uploads import MAX_UPLOAD_BYTES
from conveyor.store import (
    AccessStore,
    AuditStore,
    MetadataStore,
    MonitorStore,
    RegistryStore,
    ScheduleStore,
    TrackingStore,
)
from conveyor.store.http import ROUTES, Route
from conveyor.store.http._artifacts import OFFSET_HEADER
from conveyor.store.http._routes import PREFIX, is_text

OPENAPI_PATH: Final = PREFIX + "/openapi.json"
_JSON: Final = "application/json"
_BLOB: Final = {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}
_COUNT: Final = {"type": "integer", "minimum": 0}
_SEGMENT: Final = {"type": "string", "minLength": 1}
# each store operation is tagged with the part of the store that declares it
_TAGS: Final[dict[str, type[Any]]] = {
    "runs": MetadataStore,
    "tracking": TrackingStore,
    "registry": RegistryStore,
    "monitors": MonitorStore,
    "schedules": ScheduleStore,
    "access": AccessStore,
    "audit": AuditStore,
}
_ERRORS: Final = {
    "400": ("BadRequest", "The request does not fit: the message names the argument."),
    "401": ("Unauthorized", "No token, or a token the server refuses."),
    "403": ("Forbidden", "The user's role is not enough; `details.needed` names the role."),
    "404": ("NotFound", "What the request names does not exist; the type says what."),
    "409": ("Conflict", "The store refused the value or the change in its current state."),
    "429": ("TooManyRequests", "Too many refused tokens from this address; see Retry-After."),
}
_ERROR_BODY: Final[SchemaObject] = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["type", "message"],
            "properties": {
                "type": {"type": "string", "description": "The error's class, e.g. RunNotFound"},
                "message": {"type": "string"},
                "details": {"type": "object"},
            },
        }
    },
}


def openapi_route() -> StarletteRoute:
    """``GET /api/v1/openapi.json``, open to anyone."""

    async def openapi(_: Request) -> Response:
        return Response(_document_bytes(), media_type=_JSON)

    return StarletteRoute(OPENAPI_PATH, openapi, methods=["GET"])


@functools.cache
def _document_bytes() -> bytes:
    return orjson.dumps(openapi_document())


def openapi_document() -> dict[str, Any]:
    """The API as an OpenAPI 3.1 document (plain JSON data)."""
    schemas = Schemas()
    paths: dict[str, dict[str, Any]] = {}
    for route in ROUTES.values():
        paths.setdefault(PREFIX + route.path, {})[route.verb.lower()] = _operation(route, schemas)
    for path, operations in _blob_paths().items():
        paths.setdefault(PREFIX + path, {}).update(operations)
    paths[PREFIX + "/session"] = {"get": _SESSION}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "conveyor team server",
            "version": __version__,
            "description": "Runs, tracking, the model registry, monitors, schedules, users and "
            "artifacts of one conveyor store. Every operation needs a bearer token.",
        },
        "tags": [{"name": tag, "description": _first_line(p)} for tag, p in _TAGS.items()]
        + [{"name": "artifacts", "description": "Artifact bytes by their content address."}],
        "paths": paths,
        "components": {
            "schemas": schemas.components | {"Error": _ERROR_BODY},
            "responses": {
                name: {"description": text, "content": {_JSON: {"schema": ref("Error")}}}
                for name, text in _ERRORS.values()
            },
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}],
    }


_SESSION: Final[dict[str, Any]] = {
    "operationId": "session",
    "summary": "Who the token is, and what a client must know of this server",
    "description": "Needs the viewer role. The SDK asks it when it opens a server's store: "
    "a refused token fails there, and an encrypting server gets no value inline.",
    "tags": ["access"],
    "x-conveyor-role": "viewer",
    "parameters": [],
    "responses": {
        "200": {
            "description": "The token's user and role, and the server's settings.",
            "content": {
                _JSON: {
                    "schema": {
                        "type": "object",
                        "required": ["user", "role", "server_version", "api", "encrypted"],
                        "properties": {
                            "user": {"type": "string"},
                            "role": {"enum": ["viewer", "editor", "admin"]},
                            "server_version": {"type": "string"},
                            "api": {"type": "string"},
                            "encrypted": {"type": "boolean"},
                            "protected_aliases": {"type": "array", "items": {"type": "string"}},
                        },
                    }
                }
            },
        }
    }
    | {s: {"$ref": "#/components/responses/" + _ERRORS[s][0]} for s in ("401", "429")},
}


def _errors(*statuses: str) -> dict[str, Any]:
    return {s: {"$ref": "#/components/responses/" + _ERRORS[s][0]} for s in statuses}


def _operation(route: Route, schemas: Schemas) -> dict[str, Any]:
    doc = inspect.getdoc(getattr(MetadataStore, route.method)) or ""
    needs = f"Needs the {route.role} role."
    if route.method == "move_alias":
        needs += " Moving a protected alias (`production` unless configured) needs the admin role."
    operation: dict[str, Any] = {
        "operationId": route.method,
        "summary": route.summary or route.method.replace("_", " ").capitalize(),
        "description": f"{doc}\n\n{needs}".strip(),
        "tags": list(route.tags) or [_tag(route.method)],
        "x-conveyor-role": route.role,
        "parameters": [_path_parameter(name) for name in route.in_path],
    }
    if route.in_body:
        operation["requestBody"] = _body(route, schemas)
    else:
        operation["parameters"] += [
            _query_parameter(name, route, schemas)
            for name in route.arguments
            if name not in route.in_path
        ]
    statuses = ["400", "401", "404", "409", "429"]
    if route.role != "viewer" or route.method == "move_alias":
        statuses.append("403")
    operation["responses"] = {
        "200": {
            "description": "What the store method returns.",
            "content": {_JSON: {"schema": schemas.of(route.hints["return"])}},
        }
    } | _errors(*sorted(statuses))
    return operation


def _path_parameter(name: str) -> dict[str, Any]:
    # every argument in a path is text (ROUTES keeps it so), and an empty one matches no route
    return {"name": name, "in": "path", "required": True, "schema": _SEGMENT}


def _query_parameter(name: str, route: Route, schemas: Schemas) -> dict[str, Any]:
    hint = route.hints[name]
    parameter: dict[str, Any] = {"name": name, "in": "query", "required": _required(route, name)}
    if is_text(hint):
        parameter["schema"] = {"type": "string"}
    else:
        parameter["description"] = "JSON text of the value."
        parameter["content"] = {_JSON: {"schema": schemas.of(hint)}}
    return parameter


def _body(route: Route, schemas: Schemas) -> dict[str, Any]:
    names = route.arguments
    required = [n for n in names if _required(route, n) and n not in route.in_path]
    schema: SchemaObject = {
        "type": "object",
        "properties": {n: schemas.of(route.hints[n]) for n in names},
        "additionalProperties": False,
    }
    if required:
        schema["required"] = required
    if route.in_path:
        schema["description"] = (
            "The arguments; one also in the path may be repeated here with its JSON type."
        )
    return {"required": bool(required), "content": {_JSON: {"schema": schema}}}


def _required(route: Route, name: str) -> bool:
    parameter = route.signature.parameters[name]
    return parameter.default is inspect.Parameter.empty


def _tag(method: str) -> str:
    return next(tag for tag, protocol in _TAGS.items() if method in vars(protocol))


def _first_line(protocol: type[Any]) -> str:
    if protocol is MetadataStore:  # its docstring speaks of the whole store
        return "Runs, step runs, artifact records with their lineage, and dataset versions."
    return (inspect.getdoc(protocol) or "").split("\n\n")[0].replace("\n", " ")


def _blob_paths() -> dict[str, dict[str, Any]]:
    """The artifact and upload routes (``_artifacts``, ``_uploads``), under ``/api/v1``."""
    address = _text_in_path("address", "^sha256:[0-9a-f]{64}$", "The SHA-256 of the bytes.")
    upload = _text_in_path("upload", "^[0-9a-f]{32}$", "The id the upload was opened with.")
    held = {
        OFFSET_HEADER: {"description": "Bytes of the upload the server holds.", "schema": _COUNT}
    }
    start = {"name": OFFSET_HEADER, "in": "header", "required": True, "schema": _COUNT}
    opened = {"type": "object", "required": ["id"], "properties": {"id": upload["schema"]}}
    whole = {
        "type": "object",
        "required": ["address"],
        "properties": {"address": address["schema"]},
    }
    too_big = {"description": f"The upload would pass {MAX_UPLOAD_BYTES} bytes."}
    return {
        "/artifacts/{address}": {
            "get": _blob_operation(
                "read_artifact",
                "Read an artifact's bytes",
                "viewer",
                [address],
                {"200": {"description": "The bytes.", "content": _BLOB}}
                | _errors("400", "401", "404", "429"),
            ),
            "head": _blob_operation(
                "artifact_exists",
                "Whether the server holds an artifact",
                "viewer",
                [address],
                _bare("200", "400", "401", "404", "429"),
            ),
            "put": _blob_operation(
                "store_artifact",
                "Store bytes under their address (refused unless it is their SHA-256)",
                "editor",
                [address],
                {"204": {"description": "Stored."}} | _errors("400", "401", "403", "429"),
                body=_BLOB,
            ),
        },
        "/uploads": {
            "post": _blob_operation(
                "open_upload",
                "Open a chunked upload",
                "editor",
                [],
                {"201": {"description": "Opened.", "content": {_JSON: {"schema": opened}}}}
                | _errors("401", "403", "429"),
            ),
        },
        "/uploads/{upload}": {
            "patch": _blob_operation(
                "append_upload_chunk",
                f"Append a chunk that starts at the {OFFSET_HEADER} the server holds",
                "editor",
                [upload, start],
                {
                    "204": {"description": "Appended.", "headers": held},
                    "409": {
                        "description": "The offset is not what the server holds.",
                        "headers": held,
                    },
                    "413": too_big | {"content": {_JSON: {"schema": ref("Error")}}},
                }
                | _errors("400", "401", "403", "404", "429"),
                body=_BLOB,
            ),
            "head": _blob_operation(
                "upload_offset",
                "How much of an upload the server holds",
                "editor",
                [upload],
                {"200": {"description": "Held.", "headers": held}}
                | _bare("401", "403", "404", "429"),
            ),
        },
        "/uploads/{upload}/complete": {
            "post": _blob_operation(
                "complete_upload",
                "Check an upload against its address and store it",
                "editor",
                [upload],
                {"204": {"description": "Stored."}} | _errors("400", "401", "403", "404", "429"),
                body={_JSON: {"schema": whole}},
            ),
        },
    }


def _blob_operation(
    operation_id: str,
    summary: str,
    role: str,
    parameters: list[dict[str, Any]],
    responses: dict[str, Any],
    body: dict[str, Any] | None = None,
) -> dict[str, Any]:
    operation = {
        "operationId": operation_id,
        "summary": summary,
        "description": f"Needs the {role} role.",
        "tags": ["artifacts"],
        "x-conveyor-role": role,
        "parameters": parameters,
        "responses": responses,
    }
    if body is not None:
        operation["requestBody"] = {"required": True, "content": body}
    return operation


def _text_in_path(name: str, pattern: str, description: str) -> dict[str, Any]:
    schema = {"type": "string", "pattern": pattern}
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": description,
        "schema": schema,
    }


def _bare(*statuses: str) -> dict[str, Any]:
    """Responses of a HEAD request: a status and no body."""
    texts = {"200": "Held."} | {s: text for s, (_, text) in _ERRORS.items()}
    return {s: {"description": texts[s]} for s in statuses}
