"""What only the SQL adapter has: URLs, SQLite settings, error translation, speed."""

from __future__ import annotations

import socket
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from conveyor.errors import StoreError
from conveyor.store import (
    MemoryMetadataStore,
    RunRecord,
    StepRunRecord,
    WriteBatch,
    open_metadata_store,
)
from conveyor.store.sql import SqlMetadataStore
from tests._threads import run_on_threads

NOW = datetime(2025, 1, 1, tzinfo=UTC)


def test_open_metadata_store_picks_the_adapter(tmp_path: Path) -> None:
    assert isinstance(open_metadata_store("memory://"), MemoryMetadataStore)
    store = open_metadata_store(f"sqlite:///{tmp_path}/c.db")
    assert isinstance(store, SqlMetadataStore)
    store.close()


def test_sqlite_settings(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "conveyor.db"
    store = SqlMetadataStore.open(f"sqlite:///{path}")
    store.create_run(RunRecord("run-1", "p", "running", NOW))
    store.close()
    assert path.is_file()
    raw = sqlite3.connect(path)
    try:
        assert raw.execute("PRAGMA journal_mode").fetchone() == ("wal",)  # stored in the file
    finally:
        raw.close()


def test_in_memory_sqlite_works_from_several_threads() -> None:
    store = SqlMetadataStore.open("sqlite://")
    store.create_run(RunRecord("run-1", "p", "running", NOW))

    def work(worker: int) -> None:
        for i in range(20):
            step = StepRunRecord(f"sr-{worker}-{i}", "run-1", "s", "succeeded", NOW, NOW)
            store.commit(WriteBatch(step_runs=(step,)))

    assert run_on_threads(work, 4) == []
    assert len(store.step_runs("run-1")) == 80
    store.close()


@pytest.mark.parametrize(
    "url", ["not a url", "nosuchdialect://x/y", "postgresql+nosuchdriver://x/y", "mysql://u@h/db"]
)
def test_unusable_urls_raise_store_error(url: str) -> None:
    with pytest.raises(StoreError):
        SqlMetadataStore.open(url)


def test_a_folder_that_cannot_be_created_raises_store_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(StoreError, match="cannot create"):
        SqlMetadataStore.open(f"sqlite:///{blocker}/sub/conveyor.db")


def test_a_file_that_is_not_a_database_raises_store_error(tmp_path: Path) -> None:
    path = tmp_path / "conveyor.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError) as info:
        SqlMetadataStore.open(f"sqlite:///{path}")
    assert not isinstance(info.value.__cause__, StoreError)


def test_unreachable_server_raises_store_error_without_the_password() -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"postgresql://someone:s3cret@127.0.0.1:{port}/db?connect_timeout=2"
    with pytest.raises(StoreError) as info:
        SqlMetadataStore.open(url)
    assert "s3cret" not in str(info.value)
    assert "s3cret" not in repr(info.value.details)
    assert "***" in info.value.details["url"]  # type: ignore[operator]


def test_no_sqlalchemy_type_crosses_the_seam(tmp_path: Path) -> None:
    store = SqlMetadataStore.open(f"sqlite:///{tmp_path}/c.db")
    store.create_run(RunRecord("run-1", "p", "running", NOW, params={"a": {"b": [1]}}))
    run = store.get_run("run-1")
    assert type(run.params) is dict
    assert type(run.targets) is tuple
    with pytest.raises(StoreError) as info:
        store.create_run(RunRecord("run-1", "p", "running", NOW))
    assert "sqlalchemy" not in type(info.value).__module__
    store.close()


def test_import_conveyor_store_stays_light() -> None:
    code = "import sys, conveyor.store; print(' '.join(sys.modules))"
    loaded = set(
        subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        ).stdout.split()
    )
    assert not {m.split(".")[0] for m in loaded} & {
        "fsspec",
        "sqlalchemy",
        "alembic",
        "pandas",
        "numpy",
    }
