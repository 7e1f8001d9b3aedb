"""The stores that keep users, tokens and the audit log themselves: in memory, SQLite and the
real PostgreSQL. The access and audit contract suites run on these."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from conveyor.store import MemoryMetadataStore, MetadataStore, open_metadata_store

BACKENDS = ["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


def open_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[MetadataStore]:
    if request.param == "memory":
        yield MemoryMetadataStore()
        return
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path}/home/conveyor.db"
    else:
        url = request.getfixturevalue("postgres_url")
    opened = open_metadata_store(url)
    yield opened
    opened.close()
