"""Saving step outputs: a large table reaches a local store as a file, with the same record it
would get from bytes in memory."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from conveyor.core import content_address
from conveyor.data import materialize
from conveyor.engine._values import ValueStore
from conveyor.store import EncryptedArtifactStore, FsspecArtifactStore


def _large() -> pl.DataFrame:
    # Random values: past FILE_BYTES in memory, and past the inline limit once compressed.
    rng = np.random.default_rng(0)
    return pl.DataFrame({"x": rng.normal(size=300_000), "i": rng.integers(0, 1 << 40, 300_000)})


def _staged_files(root: Path) -> list[Path]:
    staging = root / "staging"
    return list(staging.iterdir()) if staging.exists() else []


def test_a_large_table_is_stored_from_a_file_under_the_address_of_its_bytes(
    tmp_path: Path,
) -> None:
    store = FsspecArtifactStore(str(tmp_path / "art"))
    values = ValueStore(store, inline_limit=64 * 1024)
    frame = _large()
    record = values.save(frame)
    expected = materialize(frame).data
    assert record.id == content_address(expected)
    assert record.size == len(expected)
    assert record.inline is None
    assert record.rows == frame.height
    assert "profile" in record.meta
    assert store.get(record.id) == expected
    assert values.load(record).equals(frame)  # type: ignore[attr-defined]
    assert _staged_files(tmp_path / "art") == []


def test_a_table_written_to_a_file_but_small_enough_is_kept_inline(tmp_path: Path) -> None:
    store = FsspecArtifactStore(str(tmp_path / "art"))
    values = ValueStore(store, inline_limit=64 << 20)  # larger than the file
    frame = _large()
    record = values.save(frame)
    assert record.inline == materialize(frame).data
    assert record.id == content_address(record.inline)
    assert not store.exists(record.id)
    assert _staged_files(tmp_path / "art") == []


def test_as_file_stores_a_large_table_whatever_the_inline_limit(tmp_path: Path) -> None:
    store = FsspecArtifactStore(str(tmp_path / "art"))
    values = ValueStore(store, inline_limit=64 << 20)
    record = values.save(_large(), as_file=True)
    assert record.inline is None and store.exists(record.id)


def test_an_encrypting_store_gets_the_bytes_sealed_and_no_file_is_left(tmp_path: Path) -> None:
    inner = FsspecArtifactStore(str(tmp_path / "art"))
    values = ValueStore(EncryptedArtifactStore(inner, bytes(range(32))), inline_limit=1024)
    frame = _large()
    record = values.save(frame)
    assert record.id == content_address(materialize(frame).data)
    assert inner.get_raw(record.id) != materialize(frame).data  # sealed, not moved in plain
    assert values.load(record).equals(frame)  # type: ignore[attr-defined]
    assert _staged_files(tmp_path / "art") == []


def test_an_item_in_a_file_reaches_a_store_without_a_staging_folder(tmp_path: Path) -> None:
    store = FsspecArtifactStore(f"local://{tmp_path / 'remote'}")
    values = ValueStore(store, inline_limit=0)
    item = materialize(_large(), folder=str(tmp_path / "elsewhere"))
    assert item.file is not None
    record = values.save_materialized(item)
    assert store.exists(record.id)
    assert not Path(item.file).exists()


@pytest.mark.parametrize("limit", [0, 1 << 30])
def test_a_missing_file_is_a_store_error_naming_it(tmp_path: Path, limit: int) -> None:
    from dataclasses import replace

    from conveyor.core._errors import StoreError

    values = ValueStore(FsspecArtifactStore(str(tmp_path / "art")), inline_limit=limit)
    item = materialize(_large(), folder=str(tmp_path / "elsewhere"))
    assert item.file is not None
    Path(item.file).unlink()
    with pytest.raises(StoreError, match=Path(item.file).name):
        values.save_materialized(replace(item))
