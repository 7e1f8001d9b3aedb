"""The ArtifactStore contract, run against the encrypting wrapper over every adapter.

The tests are those of ``test_artifact_store`` (imported, so pytest collects them here again);
this module's ``backend`` fixture gives them encrypted stores. ``corrupt`` writes the given bytes
as they are, as damage on disk would: the wrapper must still refuse them.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from conveyor.store import (
    EncryptedArtifactStore,
    FsspecArtifactStore,
    MemoryArtifactStore,
    RawArtifactStore,
)
from tests.contract import test_artifact_store as suite
from tests.contract.test_artifact_store import Backend, _local_files

# the contract, collected here again against this module's `backend`
test_different_bytes_get_different_addresses = suite.test_different_bytes_get_different_addresses
test_empty_and_large_blobs_round_trip = suite.test_empty_and_large_blobs_round_trip
test_exists = suite.test_exists
test_get_verifies_the_bytes = suite.test_get_verifies_the_bytes
test_identical_bytes_share_one_address = suite.test_identical_bytes_share_one_address
test_malformed_addresses_are_refused = suite.test_malformed_addresses_are_refused
test_missing_address_raises_artifact_not_found = (
    suite.test_missing_address_raises_artifact_not_found
)
test_put_returns_the_sha256_content_address = suite.test_put_returns_the_sha256_content_address
test_threads_putting_the_same_bytes_all_succeed = (
    suite.test_threads_putting_the_same_bytes_all_succeed
)
test_writes_leave_no_temporary_files = suite.test_writes_leave_no_temporary_files

KEY = bytes(range(32))
OLD_KEY = bytes(range(32, 64))


@dataclass
class EncryptedBackend(Backend):
    raw: RawArtifactStore  # the adapter under the wrapper, to look at what rests there


def encrypted(raw: RawArtifactStore, leftovers: Callable[[], list[str]]) -> EncryptedBackend:
    store = EncryptedArtifactStore(raw, KEY, [OLD_KEY])
    return EncryptedBackend(store, raw.put_raw, leftovers, raw)


@pytest.fixture(
    params=[
        "encrypted-memory",
        "encrypted-local",  # os calls: temp file, fsync-free rename
        "encrypted-rename",  # fsspec's local filesystem: temp then mv (as e.g. SFTP)
        "encrypted-object",  # fsspec memory: a single PUT in place, the S3 path
    ]
)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[EncryptedBackend]:
    if request.param == "encrypted-memory":
        yield encrypted(MemoryArtifactStore(), list)
    elif request.param in ("encrypted-local", "encrypted-rename"):
        root = tmp_path / "artifacts"
        url = str(root) if request.param == "encrypted-local" else f"local://{root}"
        yield encrypted(FsspecArtifactStore(url), _local_files(root))
    else:
        import fsspec

        prefix = f"/conveyor-test-{uuid.uuid4().hex}"
        fs = fsspec.filesystem("memory")
        objects = FsspecArtifactStore(f"memory://{prefix}")

        def leftovers() -> list[str]:
            return [p for p in fs.find(prefix) if p.rsplit("/", 1)[-1].startswith(".")]

        yield encrypted(objects, leftovers)
        if fs.exists(prefix):
            fs.rm(prefix, recursive=True)


def test_what_rests_in_the_backend_is_not_the_plaintext(backend: EncryptedBackend) -> None:
    address = backend.store.put(b"plaintext that must not rest as it is")
    assert b"plaintext" not in backend.raw.get_raw(address)
    assert backend.store.get(address) == b"plaintext that must not rest as it is"
    assert list(backend.raw.addresses()) == [address]


def test_blobs_under_an_old_key_are_read(backend: EncryptedBackend) -> None:
    address = EncryptedArtifactStore(backend.raw, OLD_KEY).put(b"written before the switch")
    assert backend.store.get(address) == b"written before the switch"
