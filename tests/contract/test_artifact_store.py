"""The ArtifactStore contract, run against every adapter."""

from __future__ import annotations

import hashlib
import itertools
import os
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from conveyor.core._hashing import content_address
from conveyor.errors import ArtifactCorrupted, ArtifactNotFound, StoreError
from conveyor.store import (
    ArtifactStore,
    Census,
    EncryptedArtifactStore,
    FsspecArtifactStore,
    MemoryArtifactStore,
    census,
    open_artifact_store,
)


@dataclass
class Backend:
    store: ArtifactStore
    corrupt: Callable[[str, bytes], None]  # replace the stored bytes behind the store's back
    leftovers: Callable[[], list[str]]  # names of files that are not finished blobs


def _local_files(root: Path) -> Callable[[], list[str]]:
    return lambda: [str(p) for p in root.rglob("*") if p.is_file() and p.name.startswith(".")]


def _blob_path(root: Path, address: str) -> Path:
    digest = address.removeprefix("sha256:")
    return root / "sha256" / digest[:2] / digest[2:]


@pytest.fixture(
    params=[
        "memory",
        "fsspec-local",
        "fsspec-local-url",
        "fsspec-rename",
        "fsspec-memory",
        "s3",
        "s3-encrypted",
        "http",
        "http-s3",
    ]
)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    if request.param.startswith("s3"):
        objects = _on_s3(request)
        if request.param == "s3":
            yield objects
        else:
            yield _encrypted(objects)
    elif request.param == "http-s3":
        yield from _through_a_server(tmp_path, _on_s3(request))
    elif request.param == "memory":
        memory = MemoryArtifactStore()

        def corrupt_memory(address: str, data: bytes) -> None:
            memory._blobs[address] = data  # no other way to damage a dict

        yield Backend(memory, corrupt_memory, list)
    elif request.param == "http":
        yield from _through_a_server(tmp_path)
    elif request.param in ("fsspec-local", "fsspec-local-url", "fsspec-rename"):
        root = tmp_path / "artifacts"
        url = {
            "fsspec-local": str(root),  # os calls, no fsspec
            "fsspec-local-url": f"file://{root}",  # the same
            # fsspec's own local filesystem: the temp-then-rename path used for e.g. SFTP
            "fsspec-rename": f"local://{root}",
        }[request.param]

        def corrupt_file(address: str, data: bytes) -> None:
            _blob_path(root, address).write_bytes(data)

        yield Backend(FsspecArtifactStore(url), corrupt_file, _local_files(root))
    else:
        import fsspec

        # fsspec's memory filesystem is one per process: give each test its own folder.
        prefix = f"/conveyor-test-{uuid.uuid4().hex}"
        fs = fsspec.filesystem("memory")

        def corrupt_object(address: str, data: bytes) -> None:
            digest = address.removeprefix("sha256:")
            fs.pipe_file(f"{prefix}/sha256/{digest[:2]}/{digest[2:]}", data)

        def leftovers() -> list[str]:
            return [p for p in fs.find(prefix) if p.rsplit("/", 1)[-1].startswith(".")]

        yield Backend(FsspecArtifactStore(f"memory://{prefix}"), corrupt_object, leftovers)
        if fs.exists(prefix):
            fs.rm(prefix, recursive=True)


def _through_a_server(tmp_path: Path, behind: Backend | None = None) -> Iterator[Backend]:
    """A team server's artifact API over a folder (or ``behind``), spoken to by the SDK's HTTP
    adapter, with chunks small enough that the large blobs below go through resumable uploads."""
    from starlette.testclient import TestClient

    from conveyor.server._app import create_server_app
    from conveyor.store import MemoryMetadataStore
    from conveyor.store.http._artifacts import HttpArtifactStore

    if behind is None:
        root = tmp_path / "artifacts"

        def corrupt_file(address: str, data: bytes) -> None:
            _blob_path(root, address).write_bytes(data)

        behind = Backend(FsspecArtifactStore(str(root)), corrupt_file, _local_files(root))
    app = create_server_app(
        MemoryMetadataStore(),
        behind.store,
        lambda token: ("contract", "editor"),
        uploads=tmp_path / "uploads",
    )
    with TestClient(app) as client:
        store = HttpArtifactStore("http://testserver", "cvt_any", chunk=1024 * 1024, client=client)
        yield Backend(store, behind.corrupt, behind.leftovers)


def _on_s3(request: pytest.FixtureRequest) -> Backend:
    """Blobs in a new bucket of the session's S3 API, under a prefix as a deployment keeps them;
    the damage and the listing go through a client of their own, not the store's filesystem."""
    from tests._s3 import MotoS3, keys

    bucket: str = request.getfixturevalue("s3_bucket")
    server: MotoS3 = request.getfixturevalue("s3_server")
    client = server.client()

    def corrupt_object(address: str, data: bytes) -> None:
        digest = address.removeprefix("sha256:")
        client.put_object(
            Bucket=bucket, Key=f"artifacts/sha256/{digest[:2]}/{digest[2:]}", Body=data
        )

    def leftovers() -> list[str]:
        return [k for k in keys(client, bucket) if k.rsplit("/", 1)[-1].startswith(".")]

    return Backend(FsspecArtifactStore(f"s3://{bucket}/artifacts"), corrupt_object, leftovers)


def _encrypted(raw: Backend) -> Backend:
    """``raw`` behind the encrypting wrapper; damage is written as it is, past the wrapper."""
    assert isinstance(raw.store, FsspecArtifactStore)
    store = EncryptedArtifactStore(raw.store, bytes(range(32)))
    return Backend(store, raw.store.put_raw, raw.leftovers)


def test_put_returns_the_sha256_content_address(backend: Backend) -> None:
    address = backend.store.put(b"weights")
    assert address == "sha256:" + hashlib.sha256(b"weights").hexdigest()


def test_identical_bytes_share_one_address(backend: Backend) -> None:
    first, second = backend.store.put(b"weights"), backend.store.put(b"weights")
    assert first == second
    assert backend.store.get(first) == b"weights"


def test_different_bytes_get_different_addresses(backend: Backend) -> None:
    assert backend.store.put(b"a") != backend.store.put(b"b")


def test_empty_and_large_blobs_round_trip(backend: Backend) -> None:
    large = os.urandom(3 * 1024 * 1024)
    for data in (b"", large):
        assert backend.store.get(backend.store.put(data)) == data


def test_exists(backend: Backend) -> None:
    address = backend.store.put(b"x")
    assert backend.store.exists(address)
    assert not backend.store.exists("sha256:" + "0" * 64)


def test_missing_address_raises_artifact_not_found(backend: Backend) -> None:
    missing = "sha256:" + "0" * 64
    with pytest.raises(ArtifactNotFound) as info:
        backend.store.get(missing)
    assert info.value.details["address"] == missing


def test_get_verifies_the_bytes(backend: Backend) -> None:
    address = backend.store.put(b"original")
    backend.corrupt(address, b"tampered")
    with pytest.raises(ArtifactCorrupted) as info:
        backend.store.get(address)
    assert info.value.details["actual"] == "sha256:" + hashlib.sha256(b"tampered").hexdigest()


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "sha256:",
        "sha256:abc",
        "sha256:" + "A" * 64,  # upper case is not how addresses are written
        "sha256:" + "0" * 63 + "g",
        "sha256:" + "0" * 64 + "\n",
        "sha256:../../../../etc/passwd",
        "md5:" + "0" * 32,
        "../" + "0" * 64,
        "0" * 64,
    ],
)
def test_malformed_addresses_are_refused(backend: Backend, bad: str) -> None:
    for call in (backend.store.get, backend.store.exists):
        with pytest.raises(StoreError):
            call(bad)


def test_writes_leave_no_temporary_files(backend: Backend) -> None:
    for i in range(20):
        backend.store.put(f"blob {i}".encode())
        backend.store.put(f"blob {i}".encode())
    assert backend.leftovers() == []


def test_threads_putting_the_same_bytes_all_succeed(backend: Backend) -> None:
    data = os.urandom(256 * 1024)
    addresses: list[str] = []
    errors: list[BaseException] = []
    start = threading.Barrier(8)

    def put() -> None:
        start.wait()
        try:
            for _ in range(10):
                addresses.append(backend.store.put(data))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=put) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert set(addresses) == {"sha256:" + hashlib.sha256(data).hexdigest()}
    assert backend.store.get(addresses[0]) == data
    assert backend.leftovers() == []


@pytest.mark.parametrize(
    "backend", ["memory", "fsspec-local", "fsspec-rename", "fsspec-memory", "s3"], indirect=True
)
def test_blobs_are_read_raw_and_sealed_in_place(backend: Backend) -> None:
    """What ``conveyor keys`` does: list the blobs, read the first bytes of each, empty ones
    too, then replace each plaintext blob with its sealed form."""
    raw = backend.store
    assert isinstance(raw, (MemoryArtifactStore, FsspecArtifactStore))
    blobs = [b"", b"abc", os.urandom(64 * 1024)]
    addresses = [raw.put(data) for data in blobs]
    for address, data in zip(addresses, blobs, strict=True):
        assert raw.get_raw(address, 16) == data[:16]
    assert sorted(raw.addresses()) == sorted(addresses)
    assert census(raw).plaintext == 3
    # Another process writes a blob into a folder this store has just listed: it is there.
    later = next(
        data
        for i in itertools.count()
        if content_address(data := b"later %d" % i)[:9] == addresses[2][:9]
    )
    backend.corrupt(content_address(later), later)
    assert raw.exists(content_address(later))
    blobs.append(later)
    addresses.append(content_address(later))
    assert sorted(raw.addresses()) == sorted(addresses)
    sealed = EncryptedArtifactStore(raw, bytes(range(32)))
    assert sealed.rotate().encrypted == 4
    assert census(raw) == Census(0, {sealed.key_id: 4})
    assert [sealed.get(a) for a in addresses] == blobs


def test_open_artifact_store_picks_the_adapter(tmp_path: Path) -> None:
    assert isinstance(open_artifact_store("memory://"), MemoryArtifactStore)
    local = open_artifact_store(str(tmp_path / "a"))
    assert isinstance(local, FsspecArtifactStore)
    assert local.get(local.put(b"x")) == b"x"
    assert (tmp_path / "a" / "sha256").is_dir()


def test_layout_fans_out_on_the_first_two_hex_digits(tmp_path: Path) -> None:
    store = FsspecArtifactStore(str(tmp_path))
    address = store.put(b"layout")
    assert _blob_path(tmp_path, address).read_bytes() == b"layout"


def test_unknown_protocol_is_a_store_error() -> None:
    with pytest.raises(StoreError):
        FsspecArtifactStore("no-such-protocol-xyz://bucket/prefix")


# -- put_file: a file consumed into the store -----------------------------------------------------


def _file_store(where: str, tmp_path: Path) -> FsspecArtifactStore:
    root = tmp_path / "artifacts"
    url = {
        "local": str(root),  # a staging folder beside the blobs: stored by a rename
        "fsspec-rename": f"local://{root}",  # no staging folder: read and written
        "fsspec-memory": f"memory:///conveyor-test-{uuid.uuid4().hex}",
    }[where]
    return FsspecArtifactStore(url)


def _a_file(store: FsspecArtifactStore, tmp_path: Path, data: bytes) -> Path:
    folder = Path(store.staging_folder() or tmp_path / "elsewhere")
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{uuid.uuid4().hex}.parquet"
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("where", ["local", "fsspec-rename", "fsspec-memory"])
def test_put_file_stores_a_file_under_its_content_address_and_consumes_it(
    where: str, tmp_path: Path
) -> None:
    store = _file_store(where, tmp_path)
    data = os.urandom(3 << 20)
    path = _a_file(store, tmp_path, data)
    address = store.put_file(str(path))
    assert address == content_address(data)
    assert store.get(address) == data
    assert not path.exists()
    again = _a_file(store, tmp_path, data)  # the same bytes again: stored once
    assert store.put_file(str(again)) == address
    assert not again.exists()
    assert store.get(address) == data


def test_only_a_local_store_has_a_staging_folder(tmp_path: Path) -> None:
    local = _file_store("local", tmp_path)
    assert local.staging_folder() == str(tmp_path / "artifacts" / "staging")
    assert _file_store("fsspec-rename", tmp_path).staging_folder() is None
    assert _file_store("fsspec-memory", tmp_path).staging_folder() is None


def test_a_staged_file_is_renamed_into_place_not_copied(tmp_path: Path) -> None:
    store = _file_store("local", tmp_path)
    path = _a_file(store, tmp_path, b"staged bytes")
    inode = path.stat().st_ino
    address = store.put_file(str(path))
    assert _blob_path(tmp_path / "artifacts", address).stat().st_ino == inode
    assert list(store.addresses()) == [address]  # the staging folder holds no blob


def test_a_file_on_another_file_system_is_copied(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno

    store = _file_store("local", tmp_path)
    path = _a_file(store, tmp_path, b"elsewhere")
    renames: list[str] = []

    def refuse_the_first(source: str, target: str) -> None:
        """The staged file cannot be renamed in; the copy's own temporary file can."""
        if not renames:
            renames.append(source)
            raise OSError(errno.EXDEV, "Invalid cross-device link")
        os.rename(source, target)

    monkeypatch.setattr("conveyor.store._artifacts.os.replace", refuse_the_first)
    address = store.put_file(str(path))
    assert renames == [str(path)]
    assert store.get(address) == b"elsewhere"
    assert not path.exists()
    assert _local_files(tmp_path / "artifacts")() == []


def test_put_file_of_a_missing_file_names_it(tmp_path: Path) -> None:
    store = _file_store("local", tmp_path)
    missing = tmp_path / "artifacts" / "staging" / "gone.parquet"
    with pytest.raises(StoreError, match=r"gone\.parquet"):
        store.put_file(str(missing))
