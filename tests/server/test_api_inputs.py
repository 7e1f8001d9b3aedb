"""A client's malformed values are answered with a 4xx naming the problem, never a 500, and
never stored: each test here is a kind of value that once got past the API to fail inside
the server or to be stored as something its type says it cannot be."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from conveyor.server._app import create_server_app
from conveyor.store import (
    ArtifactRecord,
    FsspecArtifactStore,
    MetadataStore,
    ModelVersionRecord,
    RunRecord,
    WriteBatch,
    open_metadata_store,
)

ADMIN = {"Authorization": "Bearer cvt_admin"}
T0 = "2026-01-01T00:00:00Z"
RUN = {"id": "run-1", "pipeline": "train", "status": "running", "started_at": T0}
ARTIFACT = {
    "id": "sha256:" + "a" * 64,
    "materializer": "json",
    "type_name": "dict",
    "size": 2,
    "created_at": T0,
}
STEP = {
    "id": "step-1",
    "run_id": "run-1",
    "step": "fit",
    "status": "succeeded",
    "started_at": T0,
    "finished_at": T0,
}
LEASE = {
    "name": "scheduler",
    "holder": "h-1",
    "host": "box",
    "pid": 7,
    "acquired_at": T0,
    "expires_at": "2026-01-01T00:01:00Z",
}
PAST_64_BITS = 2**64 + 1


@pytest.fixture
def store(tmp_path: Path) -> Iterator[MetadataStore]:
    opened = open_metadata_store(f"sqlite:///{tmp_path}/conveyor.db")
    yield opened
    opened.close()


@pytest.fixture
def client(store: MetadataStore, tmp_path: Path) -> Iterator[TestClient]:
    def check(token: str) -> tuple[str, str]:
        if token != "cvt_admin":
            raise ValueError("no such token")
        return "ada", "admin"

    app = create_server_app(
        store, FsspecArtifactStore(str(tmp_path / "blobs")), check, uploads=tmp_path / "uploads"
    )
    with TestClient(app) as test_client:
        yield test_client


def refused(response: httpx.Response, *words: str) -> None:
    """A 4xx whose JSON error names each of ``words``."""
    assert 400 <= response.status_code < 500, response.text
    message = response.json()["error"]["message"]
    for word in words:
        assert word in message


def create_run(client: TestClient, **changes: object) -> httpx.Response:
    return client.post("/api/v1/runs", headers=ADMIN, json={"run": RUN | changes})


@pytest.mark.parametrize(
    ("method", "url", "body", "named"),
    [
        ("GET", f"/api/v1/runs?limit={PAST_64_BITS}", None, "limit"),
        ("POST", "/api/v1/runs", {"run": RUN | {"pid": 2**63}}, "RunRecord.pid"),
        (
            "POST",
            "/api/v1/commits",
            {"batch": {"artifacts": [ARTIFACT | {"size": -(2**63) - 1}]}},
            "size",
        ),
        ("POST", "/api/v1/leases/acquire", {"lease": LEASE | {"pid": 2**63}, "now": T0}, "pid"),
        ("POST", "/api/v1/runs/search", {"query": {"max_results": 2**63}}, "max_results"),
        ("GET", f"/api/v1/models/churn/version?version={2**63}", None, "whole number"),
        (
            "POST",
            "/api/v1/models/gate-decisions",
            {
                "decision": {
                    "name": "churn",
                    "version": -(2**63) - 1,
                    "alias": "production",
                    "passed": True,
                    "criteria": [],
                    "decided_at": T0,
                }
            },
            "whole number",
        ),
    ],
)
def test_a_whole_number_past_64_bits_is_refused_naming_it(
    client: TestClient, method: str, url: str, body: Any, named: str
) -> None:
    refused(client.request(method, url, headers=ADMIN, json=body), named)


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"pid": "7"}, "RunRecord.pid must be a whole number"),
        ({"targets": [1, 2]}, "RunRecord.targets must be a list of text"),
        ({"git_dirty": 1}, "RunRecord.git_dirty must be true or false"),
        ({"host": "box\x00"}, "no NUL character"),
    ],
)
def test_a_record_field_of_the_wrong_type_is_refused_not_stored(
    client: TestClient, store: MetadataStore, changes: dict[str, object], named: str
) -> None:
    refused(create_run(client, **changes), named)
    assert store.list_runs() == []


def test_a_float_that_must_be_finite_refuses_the_texts_for_nan_and_infinity(
    client: TestClient, store: MetadataStore
) -> None:
    assert create_run(client).status_code == 200
    for value in ("NaN", "Infinity"):
        batch = {"batch": {"step_runs": [STEP | {"duration": value}]}}
        refused(
            client.post("/api/v1/commits", headers=ADMIN, json=batch),
            "StepRunRecord.duration must be a finite number",
        )
    assert store.step_runs("run-1") == []


def test_an_argument_of_the_wrong_type_is_refused_not_stored(
    client: TestClient, store: MetadataStore
) -> None:
    assert create_run(client).status_code == 200
    body = {"status": "failed", "finished_at": T0, "error": 42}
    refused(client.post("/api/v1/runs/run-1/finish", headers=ADMIN, json=body), "error must be")
    assert store.get_run("run-1").status == "running"


def test_a_datetime_with_no_utc_equivalent_is_refused_naming_it(client: TestClient) -> None:
    response = create_run(client, started_at="0001-01-01T00:00:00+05:00")
    refused(response, "started_at is out of range")


def test_an_unknown_status_to_filter_by_is_refused_naming_the_statuses(
    client: TestClient,
) -> None:
    response = client.get('/api/v1/runs?status="finished"', headers=ADMIN)
    refused(response, "'finished'", "running, succeeded, failed, crashed")


@pytest.mark.parametrize(
    ("method", "url", "content"),
    [
        ("POST", "/api/v1/runs", b'{"run": {"id": "\\ud800"}}'),
        ("POST", "/api/v1/runs", b'{"run": {"id": NaN}}'),
        ("GET", '/api/v1/runs?status="\\ud800"', None),
    ],
)
def test_json_no_store_can_keep_is_refused_as_not_json(
    client: TestClient, method: str, url: str, content: bytes | None
) -> None:
    refused(client.request(method, url, headers=ADMIN, content=content), "not JSON")


def test_a_line_break_in_a_path_segment_reaches_the_store(client: TestClient) -> None:
    response = client.get("/api/v1/runs/run%0A1", headers=ADMIN)
    assert response.status_code == 404
    assert response.json()["error"]["type"] == "RunNotFound"


def test_an_alias_that_is_not_text_is_refused_before_the_protection_check(
    client: TestClient, store: MetadataStore
) -> None:
    artifact = ArtifactRecord("sha256:" + "1" * 64, "skops", "m", 1, datetime.now(UTC))
    store.commit(WriteBatch(artifacts=(artifact,)))
    store.register_model_version(
        ModelVersionRecord("churn", 0, artifact.id, "sklearn", datetime.now(UTC))
    )
    move = {"name": "churn", "alias": {}, "version": 1, "previous": None, "kind": "promote"}
    response = client.post(
        "/api/v1/models/alias-moves", headers=ADMIN, json={"move": move | {"moved_at": T0}}
    )
    refused(response, "cannot name an alias")
    assert store.aliases("churn") == {}


@pytest.mark.parametrize("offset", ["9" * 5000, "-1"])
def test_an_upload_offset_that_is_not_plain_digits_is_refused(
    client: TestClient, offset: str
) -> None:
    upload = client.post("/api/v1/uploads", headers=ADMIN).json()["id"]
    response = client.patch(
        f"/api/v1/uploads/{upload}",
        headers=ADMIN | {"Upload-Offset": offset},
        content=b"chunk",
    )
    refused(response, "Upload-Offset")


@pytest.mark.parametrize("body", [b'{"address": "\\ud800"}', b'{"address": 1}', b"[]"])
def test_an_upload_completed_without_an_address_in_text_is_refused(
    client: TestClient, body: bytes
) -> None:
    upload = client.post("/api/v1/uploads", headers=ADMIN).json()["id"]
    response = client.post(f"/api/v1/uploads/{upload}/complete", headers=ADMIN, content=body)
    refused(response, "complete an upload with")


def test_the_local_stores_refuse_what_the_server_refuses(store: MetadataStore) -> None:
    from conveyor.errors import StoreError
    from conveyor.store import MemoryMetadataStore

    for local in (store, MemoryMetadataStore()):
        run = RunRecord("run-1", "train", "running", datetime.now(UTC), pid=2**63)
        with pytest.raises(StoreError, match=r"RunRecord\.pid must be a whole number"):
            local.create_run(run)
        with pytest.raises(StoreError, match="limit must be a whole number"):
            local.list_runs(limit=2**64)
