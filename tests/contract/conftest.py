"""The store every contract test runs against: in memory, SQLite, and the real PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from conveyor.store import MemoryMetadataStore, MetadataStore, open_metadata_store


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[MetadataStore]:
    if request.param == "memory":
        yield MemoryMetadataStore()
        return
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path}/home/conveyor.db"  # the folder does not exist yet
    else:
        url = request.getfixturevalue("postgres_url")
    opened = open_metadata_store(url)
    yield opened
    opened.close()
