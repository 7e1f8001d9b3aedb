"""The store every contract test runs against: in memory, SQLite, and the real PostgreSQL; and
the S3 API the artifact stores are run against (``s3_bucket``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from conveyor.store import (
    MemoryArtifactStore,
    MemoryMetadataStore,
    MetadataStore,
    open_metadata_store,
)
from tests._s3 import IGNORED, MotoS3, session_server

TOKEN = "cvt_contract-suite"


@pytest.fixture(scope="session")
def s3_server() -> Iterator[MotoS3]:
    """One S3 API (moto's server, its own process) for the session."""
    for server in session_server():
        import s3fs

        # A filesystem made earlier in the session would not know this server's endpoint.
        s3fs.S3FileSystem.clear_instance_cache()
        yield server


@pytest.fixture
def s3_bucket(s3_server: MotoS3, monkeypatch: pytest.MonkeyPatch) -> str:
    """A new, empty bucket; the test's S3 clients reach it through the environment, as a
    deployment's would."""
    for name in IGNORED:
        monkeypatch.delenv(name, raising=False)
    for name, value in s3_server.env().items():
        monkeypatch.setenv(name, value)
    return s3_server.create_bucket()


def _through_a_server(tmp_path: Path) -> Iterator[MetadataStore]:
    """The team server's API over a SQLite store, spoken to by the SDK's HTTP adapter."""
    from starlette.testclient import TestClient

    from conveyor.server._app import create_server_app
    from conveyor.store.http import HttpMetadataStore

    def check(token: str) -> tuple[str, str]:
        if token != TOKEN:
            raise ValueError("unknown token")
        return "contract", "admin"

    behind = open_metadata_store(f"sqlite:///{tmp_path}/server/conveyor.db")
    app = create_server_app(behind, MemoryArtifactStore(), check, uploads=tmp_path / "uploads")
    with TestClient(app, raise_server_exceptions=False) as client:
        remote = HttpMetadataStore("http://testserver", TOKEN, client=client)
        yield remote
    behind.close()


@pytest.fixture(
    params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres), "http"]
)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[MetadataStore]:
    if request.param == "memory":
        yield MemoryMetadataStore()
        return
    if request.param == "http":
        yield from _through_a_server(tmp_path)
        return
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path}/home/conveyor.db"  # the folder does not exist yet
    else:
        url = request.getfixturevalue("postgres_url")
    opened = open_metadata_store(url)
    yield opened
    opened.close()
