"""The store every contract test runs against: in memory, SQLite, and the real PostgreSQL."""

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

TOKEN = "cvt_contract-suite"


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
