"""The team server's API: who may call what, how a client's mistakes are answered, and that the
SDK's HTTP adapter raises what the local store raises."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from starlette.testclient import TestClient

from conveyor.errors import (
    AccessError,
    AuthenticationFailed,
    ModelNotFound,
    PermissionDenied,
    RunNotFound,
    StoreError,
)
from conveyor.server._app import create_server_app
from conveyor.store import (
    AliasMove,
    ArtifactRecord,
    MemoryArtifactStore,
    MemoryMetadataStore,
    ModelVersionRecord,
    RunRecord,
    WriteBatch,
)
from conveyor.store.http import HttpMetadataStore

T0 = datetime(2026, 1, 1, tzinfo=UTC)
USERS = {
    "cvt_viewer": ("vera", "viewer"),
    "cvt_editor": ("ed", "editor"),
    "cvt_admin": ("ada", "admin"),
}


def check(token: str) -> tuple[str, str]:
    if token not in USERS:
        raise ValueError("no such token")
    return USERS[token]


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    store = MemoryMetadataStore()
    model = ArtifactRecord(
        id="sha256:" + "1" * 64, materializer="skops", type_name="m", size=1, created_at=T0
    )
    store.commit(WriteBatch(artifacts=(model,)))
    store.register_model_version(
        ModelVersionRecord(
            name="churn", version=0, artifact_id=model.id, flavor="sklearn", created_at=T0
        )
    )
    app = create_server_app(store, MemoryArtifactStore(), check, uploads=tmp_path / "uploads")
    with TestClient(app) as test_client:
        yield test_client


def move(alias: str) -> AliasMove:
    return AliasMove("churn", alias, 1, None, "promote", T0)


def sdk(client: TestClient, token: str) -> HttpMetadataStore:
    return HttpMetadataStore("http://testserver", token, client=client, retry_seconds=0)


def error(response: httpx.Response) -> dict[str, object]:
    body = response.json()["error"]
    assert isinstance(body, dict)
    return body


def test_a_request_without_a_token_is_refused_with_how_to_get_one(client: TestClient) -> None:
    response = client.get("/api/v1/models")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert "conveyor tokens create" in str(error(response)["message"])


def test_an_unknown_token_is_refused(client: TestClient) -> None:
    response = client.get("/api/v1/models", headers={"Authorization": "Bearer cvt_nope"})
    assert response.status_code == 401
    assert "no such token" in str(error(response)["message"])
    with pytest.raises(AuthenticationFailed, match="token refused"):
        sdk(client, "cvt_nope").list_models()


def test_refused_tokens_from_one_address_are_limited(client: TestClient) -> None:
    for _ in range(10):
        assert (
            client.get("/api/v1/models", headers={"Authorization": "Bearer x"}).status_code == 401
        )
    limited = client.get("/api/v1/models", headers={"Authorization": "Bearer cvt_admin"})
    assert limited.status_code == 429
    assert int(limited.headers["retry-after"]) > 0
    assert error(limited)["type"] == "TooManyFailures"


def test_a_viewer_reads_but_cannot_write(client: TestClient) -> None:
    viewer = sdk(client, "cvt_viewer")
    assert [m.name for m in viewer.list_models()] == ["churn"]
    with pytest.raises(PermissionDenied, match="needs the editor role; vera is a viewer"):
        viewer.move_alias(move("staging"))
    response = client.post(
        "/api/v1/models/alias-moves", headers={"Authorization": "Bearer cvt_viewer"}, json={}
    )
    assert response.status_code == 403
    assert error(response)["details"] == {"user": "vera", "role": "viewer", "needed": "editor"}


def test_only_an_admin_moves_a_protected_alias(client: TestClient) -> None:
    production = move("production")
    with pytest.raises(PermissionDenied, match="protected alias 'production' needs the admin role"):
        sdk(client, "cvt_editor").move_alias(production)
    sdk(client, "cvt_editor").move_alias(move("staging"))
    sdk(client, "cvt_admin").move_alias(production)
    assert sdk(client, "cvt_viewer").aliases("churn") == {"production": 1, "staging": 1}


def test_the_sdk_raises_the_stores_own_errors(client: TestClient) -> None:
    viewer = sdk(client, "cvt_viewer")
    with pytest.raises(RunNotFound) as info:
        viewer.get_run("no-such-run")
    assert info.value.details  # the details travel with the type
    with pytest.raises(ModelNotFound):
        viewer.get_model_version("ghost")
    response = client.get(
        "/api/v1/runs/no-such-run", headers={"Authorization": "Bearer cvt_viewer"}
    )
    assert response.status_code == 404
    assert error(response)["type"] == "RunNotFound"


@pytest.mark.parametrize(
    ("request_args", "message"),
    [
        (("POST", "/api/v1/runs", {"content": b"not json"}), "not JSON"),
        (("POST", "/api/v1/runs", {"json": [1, 2]}), "JSON object of the arguments"),
        (("POST", "/api/v1/runs", {"json": {}}), "missing argument 'run'"),
        (("POST", "/api/v1/runs", {"json": {"run": {"id": "x"}}}), "argument 'run' does not fit"),
        (("GET", "/api/v1/runs?limit=ten", {}), "query parameter 'limit' is not JSON"),
        (("GET", "/api/v1/runs?colour=1", {}), "unknown argument(s) colour"),
    ],
)
def test_a_bad_request_is_a_400_naming_the_problem(
    client: TestClient, request_args: tuple[str, str, dict[str, object]], message: str
) -> None:
    verb, url, extra = request_args
    response = client.request(verb, url, headers={"Authorization": "Bearer cvt_editor"}, **extra)  # type: ignore[arg-type]
    assert response.status_code == 400
    assert message in str(error(response)["message"])


def test_an_unreachable_server_is_a_store_error_naming_it() -> None:
    remote = HttpMetadataStore("http://127.0.0.1:9", "cvt_admin", retry_seconds=0.3)
    with pytest.raises(
        StoreError, match=r"cannot reach the conveyor server at http://127\.0\.0\.1:9"
    ):
        remote.list_models()


def test_a_repeated_change_is_made_once_and_answered_alike(client: TestClient) -> None:
    editor = sdk(client, "cvt_editor")
    editor.create_run(RunRecord("run-1", "train", "running", T0))
    body = {"batch": {"run_id": "run-1", "metrics": [{"key": "loss", "value": 0.5}]}}
    headers = {"Authorization": "Bearer cvt_editor", "Idempotency-Key": "k-1"}
    first = client.post("/api/v1/tracking/batches", headers=headers, json=body)
    again = client.post("/api/v1/tracking/batches", headers=headers, json=body)
    assert (
        (first.status_code, first.content) == (again.status_code, again.content) == (200, b"null")
    )
    assert len(editor.metric_history("run-1", "loss")) == 1
    other = client.post(
        "/api/v1/tracking/batches", headers=headers | {"Idempotency-Key": "k-2"}, json=body
    )
    assert other.status_code == 200
    assert len(editor.metric_history("run-1", "loss")) == 2


def test_every_store_method_is_a_route_or_done_by_the_server_only() -> None:
    import inspect

    from conveyor.store import MetadataStore
    from conveyor.store.http._routes import ROUTES, SERVER_ONLY

    methods = {n for n, _ in inspect.getmembers(MetadataStore, inspect.isfunction) if n[0] != "_"}
    assert methods == set(ROUTES) | set(SERVER_ONLY)
    with pytest.raises(AccessError, match="done by the conveyor server itself"):
        HttpMetadataStore("http://testserver").token_by_hash("0" * 64)
