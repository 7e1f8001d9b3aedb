"""Large artifacts go up in chunks and survive a broken connection; the server checks every
upload against its address."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette import testclient
from starlette.testclient import TestClient

from conveyor.core._hashing import content_address
from conveyor.errors import ArtifactCorrupted, PermissionDenied
from conveyor.server._app import create_server_app
from conveyor.store import FsspecArtifactStore, MemoryMetadataStore
from conveyor.store.http._artifacts import HttpArtifactStore

ROLES = {"cvt_editor": ("ed", "editor"), "cvt_viewer": ("vera", "viewer")}
EDITOR = {"Authorization": "Bearer cvt_editor"}


class BreaksOnce(testclient.httpx.BaseTransport):  # type: ignore[misc]
    """Delivers the second chunk, then loses the server's answer: the client cannot know
    whether it landed."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.chunks = 0
        self.heads = 0

    def handle_request(self, request: Any) -> Any:
        response = self.inner.handle_request(request)
        if request.method == "HEAD":
            self.heads += 1
        if request.method == "PATCH":
            self.chunks += 1
            if self.chunks == 2:
                response.read()
                raise httpx.ReadError("connection reset by peer")
        return response


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    app = create_server_app(
        MemoryMetadataStore(),
        FsspecArtifactStore(str(tmp_path / "artifacts")),
        lambda token: ROLES[token] if token in ROLES else (_ for _ in ()).throw(ValueError("no")),
        uploads=tmp_path / "uploads",
    )
    with TestClient(app) as test_client:
        yield test_client


def test_an_upload_goes_on_from_what_the_server_holds_after_a_broken_connection(
    client: TestClient, tmp_path: Path
) -> None:
    flaky = BreaksOnce(client._transport)
    http = testclient.httpx.Client(base_url="http://testserver", transport=flaky)
    store = HttpArtifactStore("http://testserver", "cvt_editor", chunk=64 * 1024, client=http)
    data = os.urandom(300 * 1024)  # five chunks

    address = store.put(data)

    assert address == content_address(data)
    assert store.get(address) == data
    assert flaky.heads >= 1  # it asked how much had arrived
    assert flaky.chunks == 5  # and sent no chunk twice
    assert list((tmp_path / "uploads").iterdir()) == []  # the finished upload is gone
    assert store.put(data) == address
    assert flaky.chunks == 5  # a large blob the server holds is not sent again


def test_a_chunk_at_the_wrong_offset_is_told_the_offset_held(client: TestClient) -> None:
    upload = client.post("/api/v1/uploads", headers=EDITOR, json={}).json()["id"]
    path = f"/api/v1/uploads/{upload}"
    assert (
        client.patch(path, headers=EDITOR | {"Upload-Offset": "0"}, content=b"abc").status_code
        == 204
    )
    wrong = client.patch(path, headers=EDITOR | {"Upload-Offset": "0"}, content=b"abc")
    assert wrong.status_code == 409
    assert wrong.headers["Upload-Offset"] == "3"
    missing = client.patch(path, headers=EDITOR, content=b"d")
    assert missing.status_code == 400
    assert "Upload-Offset header" in missing.json()["error"]["message"]


def test_an_upload_is_checked_against_its_address(client: TestClient) -> None:
    upload = client.post("/api/v1/uploads", headers=EDITOR, json={}).json()["id"]
    path = f"/api/v1/uploads/{upload}"
    client.patch(path, headers=EDITOR | {"Upload-Offset": "0"}, content=b"abc")
    lie = content_address(b"abd")
    answer = client.post(f"{path}/complete", headers=EDITOR, json={"address": lie})
    assert answer.status_code == 400
    assert answer.json()["error"]["type"] == "ArtifactCorrupted"
    store = HttpArtifactStore("http://testserver", "cvt_editor", client=client)
    assert not store.exists(lie)


def test_bytes_put_under_another_address_are_refused(client: TestClient) -> None:
    answer = client.put(f"/api/v1/artifacts/{content_address(b'x')}", headers=EDITOR, content=b"y")
    assert answer.status_code == 400
    with pytest.raises(ArtifactCorrupted, match="changed in transit"):
        HttpArtifactStore("http://testserver", "cvt_editor", client=client)._ok(answer)


def test_an_unknown_upload_is_a_404(client: TestClient) -> None:
    answer = client.head("/api/v1/uploads/" + "0" * 32, headers=EDITOR)
    assert answer.status_code == 404


def test_a_viewer_cannot_store_artifacts(client: TestClient) -> None:
    viewer = HttpArtifactStore("http://testserver", "cvt_viewer", client=client)
    with pytest.raises(PermissionDenied):
        viewer.put(b"weights")
    with pytest.raises(PermissionDenied):
        HttpArtifactStore("http://testserver", "cvt_viewer", chunk=2, client=client).put(b"weights")
