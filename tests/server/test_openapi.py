"""The team server's OpenAPI document: valid, complete, served without a token, and true to the
server. Requests generated from it (valid ones and deliberately broken ones) never make the
server fail, and what it answers is what the document says."""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import schemathesis
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from starlette.applications import Starlette
from starlette.testclient import TestClient

from conveyor.server._app import create_server_app, token_checker
from conveyor.server._openapi import OPENAPI_PATH, openapi_document
from conveyor.store import (
    ROLES,
    AliasMove,
    ArtifactLink,
    ArtifactRecord,
    FsspecArtifactStore,
    LoggedArtifact,
    MetadataStore,
    MetricPoint,
    ModelVersionRecord,
    RunRecord,
    StepRunRecord,
    TrackingBatch,
    UserRecord,
    WriteBatch,
    create_token,
    open_metadata_store,
)
from conveyor.store.http import ROUTES
from conveyor.store.http._routes import PREFIX

T0 = datetime(2026, 1, 1, tzinfo=UTC)
# the routes beside the store's own: artifact bytes, uploads, and who a token is
BLOB_OPERATIONS = {
    ("get", "/session"): "session",
    ("get", "/artifacts/{address}"): "read_artifact",
    ("head", "/artifacts/{address}"): "artifact_exists",
    ("put", "/artifacts/{address}"): "store_artifact",
    ("post", "/uploads"): "open_upload",
    ("patch", "/uploads/{upload}"): "append_upload_chunk",
    ("head", "/uploads/{upload}"): "upload_offset",
    ("post", "/uploads/{upload}/complete"): "complete_upload",
}
DOCUMENT = openapi_document()
SCHEMA = schemathesis.openapi.from_dict(
    DOCUMENT,
    config=schemathesis.Config.from_dict(
        {
            "generation": {
                "max-examples": 6,
                "deterministic": True,
                "database": "none",
                # made-up tokens would be refused, and enough refusals lock the address out
                "with-security-parameters": False,
            },
            # coverage: each schema's edges (64-bit bounds, missing and mistyped arguments), as
            # well as a few random valid and invalid requests of every operation
            "phases": {"stateful": {"enabled": False}},
            "suppress-health-check": ["too_slow"],  # the one that depends on the machine's load
        }
    ),
)
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@dataclass(frozen=True)
class Server:
    app: Starlette
    tokens: dict[str, str]  # role -> secret

    def bearer(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("openapi")
    store = open_metadata_store(f"sqlite:///{folder}/conveyor.db")
    tokens: dict[str, str] = {}
    for role in ROLES:
        user = f"openapi-{role}"  # names the generated requests are unlikely to hit
        store.add_user(UserRecord(user, role, T0))
        tokens[role] = create_token(store, user, at=datetime.now(UTC))[0]
    _seed(store)
    app = create_server_app(
        store,
        FsspecArtifactStore(str(folder / "artifacts")),
        token_checker(store),
        uploads=folder / "uploads",
    )
    yield Server(app, tokens)
    store.close()


def _seed(store: MetadataStore) -> None:
    """A record of most kinds, so that reads answer with records to check against the document
    (a NaN metric among them)."""
    artifact = ArtifactRecord("sha256:" + "a" * 64, "json", "dict", 2, T0, inline=b"{}")
    store.create_run(RunRecord("run-1", "train", "running", T0, params={"n": 3}))
    step = StepRunRecord(
        "step-1",
        "run-1",
        "fit",
        "succeeded",
        T0,
        T0 + timedelta(seconds=1),
        cache_key="k",
        outputs=(ArtifactLink("out", artifact.id),),
    )
    store.commit(WriteBatch(artifacts=(artifact,), step_runs=(step,)))
    store.log_batch(
        TrackingBatch(
            "run-1",
            params=(("lr", "0.1"),),
            metrics=(MetricPoint("loss", math.nan), MetricPoint("auc", 0.9, step=1)),
            tags=(("team", '"ml"'),),
            artifacts=(LoggedArtifact("run-1", "plot.png", artifact.id),),
        )
    )
    store.register_model_version(
        ModelVersionRecord("churn", 0, artifact.id, "sklearn", T0, metrics={"auc": 0.9})
    )
    store.move_alias(AliasMove("churn", "staging", 1, None, "promote", T0))
    store.register_dataset_version("iris", artifact, created_at=T0, rows=3)


def operations() -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method, path, operation)
        for path, methods in DOCUMENT["paths"].items()
        for method, operation in methods.items()
    ]


def sample_url(path: str) -> str:
    """``path`` with a well-formed value in each placeholder (refusals come before lookups)."""
    samples = {"{address}": "sha256:" + "0" * 64, "{upload}": "0" * 32}
    for placeholder, value in samples.items():
        path = path.replace(placeholder, value)
    return re.sub(r"{\w+}", "x", path)


def test_the_document_is_served_without_a_token_and_loads_as_openapi(server: Server) -> None:
    with TestClient(server.app) as client:
        response = client.get(OPENAPI_PATH)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == DOCUMENT
    loaded = schemathesis.openapi.from_asgi(OPENAPI_PATH, server.app)
    loaded.validate()  # against the OpenAPI 3.1 schema
    assert len(list(loaded.get_all_operations())) == len(ROUTES) + len(BLOB_OPERATIONS)


def test_every_route_is_an_operation_named_after_what_it_does() -> None:
    documented = {
        (method, path.removeprefix(PREFIX)): operation["operationId"]
        for method, path, operation in operations()
    }
    expected = {(r.verb.lower(), r.path): name for name, r in ROUTES.items()} | BLOB_OPERATIONS
    assert documented == expected
    for _, _, operation in operations():
        assert operation["summary"] and operation["tags"]
        assert {"401", "429"} <= set(operation["responses"])
        assert operation["x-conveyor-role"] in ROLES
    assert DOCUMENT["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"


def test_the_schemas_say_what_the_codec_writes() -> None:
    schemas = DOCUMENT["components"]["schemas"]
    point = schemas["MetricPoint"]
    assert point["required"] == ["key", "value"]
    assert point["properties"]["value"] == {"$ref": "#/components/schemas/Float"}
    assert {"type": "string", "enum": ["NaN", "Infinity", "-Infinity"]} in schemas["Float"]["anyOf"]
    run = schemas["RunRecord"]["properties"]
    assert run["started_at"] == {"type": "string", "format": "date-time"}
    assert run["finished_at"]["anyOf"][1] == {"type": "null"}
    assert run["status"]["enum"] == ["running", "succeeded", "failed", "crashed"]
    assert run["targets"] == {"type": "array", "items": {"type": "string"}}
    assert schemas["ArtifactRecord"]["properties"]["inline"]["anyOf"][0]["format"] == "base85"
    limit = next(
        p for p in DOCUMENT["paths"][PREFIX + "/runs"]["get"]["parameters"] if p["name"] == "limit"
    )
    assert limit["content"]["application/json"]["schema"]["type"] == "integer"  # sent as JSON


def test_records_the_server_holds_fit_their_documented_schemas(server: Server) -> None:
    reads: list[tuple[str, str, str, object]] = [
        ("GET", "/runs/{run_id}", "/runs/run-1", None),
        ("GET", "/runs/{run_id}/steps", "/runs/run-1/steps", None),
        ("GET", "/runs/{run_id}/metric-history", "/runs/run-1/metric-history?key=loss", None),
        ("POST", "/tracking/run-data", "/tracking/run-data", {"run_ids": ["run-1"]}),
        ("POST", "/runs/search-table", "/runs/search-table", {"query": {}}),
        ("GET", "/runs/{run_id}/logged-artifacts", "/runs/run-1/logged-artifacts", None),
        ("GET", "/models/{name}/versions", "/models/churn/versions", None),
        ("GET", "/models/{name}/alias-history", "/models/churn/alias-history", None),
        ("GET", "/datasets", "/datasets", None),
        ("GET", "/audit", "/audit", None),
        ("GET", "/tokens", "/tokens", None),
    ]
    with TestClient(server.app) as client:
        for verb, path, url, body in reads:
            response = client.request(verb, PREFIX + url, json=body, headers=server.bearer("admin"))
            assert response.status_code == 200, (url, response.text)
            assert response.json(), url  # something was read
            SCHEMA[PREFIX + path][verb].validate_response(response)
        history = client.get(
            PREFIX + "/runs/run-1/metric-history?key=loss", headers=server.bearer("viewer")
        )
    assert history.json()[0]["value"] == "NaN"


def test_every_operation_needs_a_token(server: Server) -> None:
    with TestClient(server.app) as client:
        for method, path, _ in operations():
            response = client.request(method.upper(), sample_url(path))
            assert response.status_code == 401, (method, path)
            assert response.headers["www-authenticate"] == "Bearer"
            if method != "head":
                assert response.json()["error"]["type"] == "AuthenticationFailed"


@pytest.mark.parametrize("role", ["viewer", "editor"])
def test_the_documented_roles_are_the_ones_the_server_enforces(server: Server, role: str) -> None:
    with TestClient(server.app) as client:
        for method, path, operation in operations():
            response = client.request(
                method.upper(), sample_url(path), headers=server.bearer(role), json={}
            )
            needed = operation["x-conveyor-role"]
            if ROLES.index(needed) <= ROLES.index(role):
                assert response.status_code not in (401, 403), (method, path)
            else:
                assert response.status_code == 403, (method, path)
                if method != "head":
                    assert response.json()["error"]["details"]["needed"] == needed


@SCHEMA.parametrize()
def test_generated_requests_never_make_the_server_fail(
    case: schemathesis.Case, server: Server
) -> None:
    case.call_and_validate(app=server.app, headers=server.bearer("admin"), checks=CHECKS)
