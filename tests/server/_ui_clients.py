"""What the web UI's page tests share: a user per role, their tokens, and a client signed in
as one of them on a server over a given store."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from starlette.testclient import TestClient

from conveyor.server._app import create_server_app
from conveyor.store import MemoryArtifactStore, MetadataStore

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
USERS = {
    "tok-viewer": ("vera", "viewer"),
    "tok-editor": ("ed", "editor"),
    "tok-admin": ("ada", "admin"),
}


def check(token: str) -> tuple[str, str]:
    if token not in USERS:
        raise ValueError("no such token")
    return USERS[token]


def signed_in(store: MetadataStore, tmp_path: Path, token: str = "tok-viewer") -> TestClient:
    app = create_server_app(store, MemoryArtifactStore(), check, uploads=tmp_path / "uploads")
    client = TestClient(app, raise_server_exceptions=False)
    answer = client.post("/ui/login", data={"token": token}, follow_redirects=False)
    assert answer.status_code == 303
    return client
