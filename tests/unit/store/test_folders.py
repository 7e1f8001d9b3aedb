"""Files by path under a local folder or an fsspec URL: written whole, listed, read back."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from conveyor.errors import StoreError
from conveyor.store import Folder


@pytest.fixture(params=["local", "memory"])
def folder(request: pytest.FixtureRequest, tmp_path: Path) -> Folder:
    if request.param == "local":
        return Folder(str(tmp_path / "area"))
    return Folder(f"memory://folders-{uuid.uuid4().hex}")


def test_a_file_is_written_into_new_folders_and_read_back(folder: Folder) -> None:
    path = folder.path("predictions", "churn", "date=2026-11-22", "a.parquet")
    folder.write(path, b"bytes of a file")
    with folder.open(path) as f:
        assert f.read() == b"bytes of a file"
    day = folder.path("predictions", "churn", "date=2026-11-22")
    assert folder.names(day) == ["a.parquet"]  # no temporary file is left behind
    assert folder.child(day, "a.parquet") == path


def test_a_missing_folder_lists_nothing(folder: Folder) -> None:
    assert folder.names(folder.path("nowhere")) == []


def test_a_temporary_name_in_use_is_neither_overwritten_nor_removed(tmp_path: Path) -> None:
    folder = Folder(str(tmp_path))
    folder.write(folder.path("x", "a.bin"), b"first")
    (tmp_path / "x" / ".b.bin.tmp").write_bytes(b"another writer's")
    with pytest.raises(FileExistsError):
        folder.write(folder.path("x", "b.bin"), b"second")
    assert sorted(p.name for p in (tmp_path / "x").iterdir()) == [".b.bin.tmp", "a.bin"]
    assert (tmp_path / "x" / ".b.bin.tmp").read_bytes() == b"another writer's"


def test_an_unknown_protocol_is_a_store_error() -> None:
    with pytest.raises(StoreError, match="cannot open 'nosuch://x'"):
        Folder("nosuch://x")
