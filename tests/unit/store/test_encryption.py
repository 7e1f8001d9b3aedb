"""The encrypting artifact store: format, keys, tampering, plaintext blobs, rotation."""

from __future__ import annotations

import base64
import hashlib
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from conveyor.core._errors import ArtifactDecryptionError
from conveyor.errors import ArtifactCorrupted, ArtifactNotFound, StoreError
from conveyor.store import (
    EncryptedArtifactStore,
    FsspecArtifactStore,
    MemoryArtifactStore,
    RawArtifactStore,
    census,
    generate_key,
    key_id,
    open_artifact_store,
)
from conveyor.store._encryption import HEADER_BYTES, MAGIC, NONCE_BYTES, SEGMENT_BYTES, TAG_BYTES

OLD = bytes(range(32))
NEW = bytes(range(100, 132))
OTHER = bytes(range(200, 232))
SECRET = b"patient 4711: diagnosis confidential"


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@pytest.fixture(params=["memory", "local"])
def raw(request: pytest.FixtureRequest, tmp_path: Path) -> RawArtifactStore:
    if request.param == "memory":
        return MemoryArtifactStore()
    return FsspecArtifactStore(str(tmp_path / "artifacts"))


def decryption_error(exc: BaseException) -> dict[str, object]:
    """The details of an ArtifactDecryptionError, a leaf under StoreError."""
    assert isinstance(exc, ArtifactDecryptionError) and isinstance(exc, StoreError)
    return exc.details


# -- round trip and format ---------------------------------------------------------------------


def test_blobs_round_trip_and_rest_encrypted(raw: RawArtifactStore) -> None:
    store = EncryptedArtifactStore(raw, NEW)
    for data in (b"", SECRET, os.urandom(2 * SEGMENT_BYTES + 123)):
        address = store.put(data)
        assert address == sha(data)  # the address is the plaintext's, as without encryption
        assert store.get(address) == data
        stored = raw.get_raw(address)
        assert stored.startswith(MAGIC + b"\x01" + bytes.fromhex(key_id(NEW)))
        assert stored != data and SECRET not in stored
    assert raw.get_raw(sha(b"")).__len__() == HEADER_BYTES + NONCE_BYTES + TAG_BYTES


def test_a_file_store_keeps_the_plaintext_address_layout(tmp_path: Path) -> None:
    store = EncryptedArtifactStore(FsspecArtifactStore(str(tmp_path)), NEW)
    address = store.put(SECRET)
    digest = address.removeprefix("sha256:")
    on_disk = (tmp_path / "sha256" / digest[:2] / digest[2:]).read_bytes()
    assert on_disk.startswith(MAGIC) and SECRET not in on_disk


def test_identical_plaintext_is_stored_once(raw: RawArtifactStore) -> None:
    store = EncryptedArtifactStore(raw, NEW)
    first = store.put(SECRET)
    sealed = raw.get_raw(first)
    assert store.put(SECRET) == first
    assert raw.get_raw(first) == sealed  # not written again (a new nonce would change it)
    assert list(raw.addresses()) == [first]


def test_two_seals_of_one_plaintext_differ() -> None:
    store = EncryptedArtifactStore(MemoryArtifactStore(), NEW)
    assert store.seal(sha(SECRET), SECRET) != store.seal(sha(SECRET), SECRET)  # random nonces


def test_open_artifact_store_encrypts_only_with_a_key(tmp_path: Path) -> None:
    plain = open_artifact_store(str(tmp_path / "a"))
    assert isinstance(plain, FsspecArtifactStore)
    sealed = open_artifact_store(str(tmp_path / "b"), key=NEW, old_keys=[OLD])
    assert isinstance(sealed, EncryptedArtifactStore)
    assert sealed.key_id == key_id(NEW) and sealed.old_key_ids == (key_id(OLD),)
    assert sealed.get(sealed.put(SECRET)) == SECRET
    assert isinstance(open_artifact_store("memory://", key=NEW), EncryptedArtifactStore)


def test_keys_are_generated_random_and_named_by_a_stable_id() -> None:
    first, second = generate_key(), generate_key()
    assert first != second
    assert len(base64.urlsafe_b64decode(first)) == 32
    assert key_id(NEW) == key_id(bytes(NEW)) != key_id(OLD)
    assert len(key_id(NEW)) == 16 and int(key_id(NEW), 16) >= 0
    assert key_id(NEW) not in hashlib.sha256(NEW).hexdigest()  # domain-separated


def test_a_key_of_the_wrong_length_is_refused() -> None:
    with pytest.raises(StoreError, match="32 bytes"):
        EncryptedArtifactStore(MemoryArtifactStore(), b"short")


# -- wrong key, tampering ----------------------------------------------------------------------


def test_a_blob_under_a_key_not_configured_names_the_key_it_needs(raw: RawArtifactStore) -> None:
    address = EncryptedArtifactStore(raw, OLD).put(SECRET)
    with pytest.raises(StoreError) as info:
        EncryptedArtifactStore(raw, NEW).get(address)
    details = decryption_error(info.value)
    assert details["key_id"] == key_id(OLD)
    assert details["reason"] == "missing_key" and details["address"] == address
    message = str(info.value)
    assert address in message and key_id(OLD) in message and key_id(NEW) in message
    assert "CONVEYOR_ENCRYPTION_KEY" in message and "CONVEYOR_ENCRYPTION_OLD_KEYS" in message


def test_a_store_without_keys_says_a_blob_is_encrypted_rather_than_damaged(
    raw: RawArtifactStore,
) -> None:
    address = EncryptedArtifactStore(raw, OLD).put(SECRET)
    with pytest.raises(StoreError) as info:
        raw.get(address)
    assert not isinstance(info.value, ArtifactCorrupted)
    assert decryption_error(info.value)["key_id"] == key_id(OLD)
    assert "configured keys: none" in str(info.value)


def flip(data: bytes, at: int) -> bytes:
    return data[:at] + bytes([data[at] ^ 0x01]) + data[at + 1 :]


@pytest.mark.parametrize(
    "where",
    ["ciphertext", "tag", "nonce", "version", "truncated", "cut inside the header", "extended"],
)
def test_tampered_bytes_fail_with_an_error_never_garbage(raw: RawArtifactStore, where: str) -> None:
    store = EncryptedArtifactStore(raw, NEW)
    address = store.put(SECRET)
    sealed = raw.get_raw(address)
    tampered = {
        "ciphertext": flip(sealed, HEADER_BYTES + NONCE_BYTES + 3),
        "tag": flip(sealed, len(sealed) - 1),
        "nonce": flip(sealed, HEADER_BYTES),
        "version": sealed[:6] + b"\x02" + sealed[7:],
        "truncated": sealed[:-1],
        "cut inside the header": sealed[:10],
        "extended": sealed + b"\x00",
    }[where]
    raw.put_raw(address, tampered)
    with pytest.raises(StoreError) as info:
        store.get(address)
    reason = decryption_error(info.value)["reason"]
    assert reason == ("unknown_format" if where == "version" else "failed_authentication")


def test_a_changed_key_id_in_the_header_fails_too(raw: RawArtifactStore) -> None:
    store = EncryptedArtifactStore(raw, NEW, [OLD])
    address = store.put(SECRET)
    sealed = raw.get_raw(address)
    raw.put_raw(address, sealed[:7] + bytes.fromhex(key_id(OLD)) + sealed[HEADER_BYTES:])
    with pytest.raises(StoreError) as info:
        store.get(address)
    assert decryption_error(info.value)["reason"] == "failed_authentication"


def test_a_blob_copied_to_another_address_fails_authentication(raw: RawArtifactStore) -> None:
    store = EncryptedArtifactStore(raw, NEW)
    secret, decoy = store.put(SECRET), store.put(b"harmless")
    raw.put_raw(decoy, raw.get_raw(secret))  # the address is bound in as associated data
    with pytest.raises(StoreError) as info:
        store.get(decoy)
    assert decryption_error(info.value)["reason"] == "failed_authentication"


def test_segments_cannot_be_reordered_or_dropped() -> None:
    raw = MemoryArtifactStore()
    store = EncryptedArtifactStore(raw, NEW)
    data = os.urandom(2 * SEGMENT_BYTES + 10)
    address = store.put(data)
    sealed = raw.get_raw(address)
    full = NONCE_BYTES + SEGMENT_BYTES + TAG_BYTES
    header, body = sealed[:HEADER_BYTES], sealed[HEADER_BYTES:]
    one, two, three = body[:full], body[full : 2 * full], body[2 * full :]
    for changed in (header + two + one + three, header + one + two, header + one + three):
        raw.put_raw(address, changed)
        with pytest.raises(StoreError) as info:
            store.get(address)
        assert decryption_error(info.value)["reason"] == "failed_authentication"


# -- blobs written before encryption ---------------------------------------------------------


def test_plaintext_blobs_written_before_stay_readable_and_verified(raw: RawArtifactStore) -> None:
    legacy = raw.put(SECRET)
    store = EncryptedArtifactStore(raw, NEW)
    assert store.get(legacy) == SECRET
    assert store.put(SECRET) == legacy and raw.get_raw(legacy) == SECRET  # stored once
    raw.put_raw(legacy, b"damaged")
    with pytest.raises(ArtifactCorrupted):
        store.get(legacy)


def test_plaintext_that_begins_like_a_sealed_blob_is_still_plaintext(
    raw: RawArtifactStore,
) -> None:
    lookalike = MAGIC + b"\x01" + bytes.fromhex(key_id(NEW)) + b"just data, not sealed"
    address = raw.put(lookalike)
    store = EncryptedArtifactStore(raw, NEW)
    assert store.get(address) == lookalike
    rotated = EncryptedArtifactStore(raw, OTHER, [NEW]).rotate()
    assert rotated.encrypted == 1
    assert EncryptedArtifactStore(raw, OTHER).get(address) == lookalike


def test_missing_blobs_and_bad_addresses(raw: RawArtifactStore) -> None:
    store = EncryptedArtifactStore(raw, NEW)
    with pytest.raises(ArtifactNotFound):
        store.get("sha256:" + "0" * 64)
    with pytest.raises(StoreError):
        store.get("sha256:../../etc/passwd")
    assert not store.exists("sha256:" + "0" * 64)


# -- rotation ----------------------------------------------------------------------------------


def fill(raw: RawArtifactStore) -> dict[str, bytes]:
    """Blobs under OLD, and in plaintext: address → plaintext."""
    under_old = EncryptedArtifactStore(raw, OLD)
    blobs = {under_old.put(f"blob {i}".encode()): f"blob {i}".encode() for i in range(6)}
    for i in range(3):
        data = f"legacy {i}".encode()
        blobs[raw.put(data)] = data
    return blobs


def test_rotation_reencrypts_everything_under_the_current_key(raw: RawArtifactStore) -> None:
    blobs = fill(raw)
    assert census(raw).by_key == {key_id(OLD): 6} and census(raw).plaintext == 3
    rotating = EncryptedArtifactStore(raw, NEW, [OLD])
    report = rotating.rotate()
    assert (report.reencrypted, report.encrypted, report.current, report.failed) == (6, 3, 0, ())
    assert census(raw).by_key == {key_id(NEW): 9} and census(raw).plaintext == 0
    only_new = EncryptedArtifactStore(raw, NEW)  # the old key can now be dropped
    assert {a: only_new.get(a) for a in blobs} == blobs
    again = rotating.rotate()
    assert (again.reencrypted, again.encrypted, again.current) == (0, 0, 9)


def test_a_dry_run_counts_and_writes_nothing(raw: RawArtifactStore) -> None:
    blobs = fill(raw)
    before = {a: raw.get_raw(a) for a in blobs}
    report = EncryptedArtifactStore(raw, NEW, [OLD]).rotate(dry_run=True)
    assert (report.reencrypted, report.encrypted, report.current) == (6, 3, 0)
    assert report.dry_run
    assert {a: raw.get_raw(a) for a in blobs} == before


def test_blobs_that_cannot_be_read_are_reported_and_left_alone(raw: RawArtifactStore) -> None:
    blobs = fill(raw)
    foreign = EncryptedArtifactStore(raw, OTHER).put(b"under a key nobody configured")
    damaged = raw.put(b"will be damaged")
    raw.put_raw(damaged, b"bit rot")
    sealed_foreign = raw.get_raw(foreign)
    report = EncryptedArtifactStore(raw, NEW, [OLD]).rotate()
    assert dict(report.failed).keys() == {foreign, damaged}
    assert key_id(OTHER) in dict(report.failed)[foreign]
    assert (report.reencrypted, report.encrypted) == (6, 3)
    assert raw.get_raw(foreign) == sealed_foreign and raw.get_raw(damaged) == b"bit rot"
    assert all(EncryptedArtifactStore(raw, NEW).get(a) == d for a, d in blobs.items())
    dry = EncryptedArtifactStore(raw, NEW, [OLD]).rotate(dry_run=True)
    assert dict(dry.failed).keys() == {foreign}  # a dry run reads headers only


class Interrupted(BaseException):
    """What a ^C or a killed process looks like to the rotation loop."""


class InterruptedAfter:
    """A raw store whose writes stop (like a killed process) after ``writes`` of them."""

    def __init__(self, inner: RawArtifactStore, writes: int) -> None:
        self._inner, self._left = inner, writes

    def put(self, data: bytes) -> str:
        return self._inner.put(data)

    def get(self, address: str) -> bytes:
        return self._inner.get(address)

    def exists(self, address: str) -> bool:
        return self._inner.exists(address)

    def get_raw(self, address: str, limit: int | None = None) -> bytes:
        return self._inner.get_raw(address, limit)

    def put_raw(self, address: str, data: bytes) -> None:
        if self._left == 0:
            raise Interrupted
        self._left -= 1
        self._inner.put_raw(address, data)

    def addresses(self) -> Iterator[str]:
        return self._inner.addresses()


def test_an_interrupted_rotation_leaves_readable_blobs_and_resumes(
    raw: RawArtifactStore,
) -> None:
    blobs = fill(raw)
    with pytest.raises(Interrupted):
        EncryptedArtifactStore(InterruptedAfter(raw, 4), NEW, [OLD]).rotate()
    both = EncryptedArtifactStore(raw, NEW, [OLD])
    assert {a: both.get(a) for a in blobs} == blobs  # every blob whole, under one key or other
    counted = census(raw)
    assert counted.by_key[key_id(NEW)] == 4 and counted.total == 9
    resumed = both.rotate()
    assert resumed.current == 4 and resumed.reencrypted + resumed.encrypted == 5
    assert census(raw).by_key == {key_id(NEW): 9}


def test_readers_with_both_keys_read_every_blob_at_every_step_of_a_rotation(
    raw: RawArtifactStore,
) -> None:
    blobs = fill(raw)
    # a server configured before the switch (old key current, new key accepted) and one after
    readers = [EncryptedArtifactStore(raw, OLD, [NEW]), EncryptedArtifactStore(raw, NEW, [OLD])]
    checked: list[str] = []

    def read_everything(address: str, state: str) -> None:
        for reader in readers:
            assert {a: reader.get(a) for a in blobs} == blobs
        checked.append(address)

    EncryptedArtifactStore(raw, NEW, [OLD]).rotate(on_blob=read_everything)
    assert sorted(checked) == sorted(blobs)


def test_a_concurrent_reader_never_fails_while_a_file_store_is_rotated(tmp_path: Path) -> None:
    raw = FsspecArtifactStore(str(tmp_path))
    blobs = fill(raw)
    large = os.urandom(300_000)
    blobs[EncryptedArtifactStore(raw, OLD).put(large)] = large
    reader = EncryptedArtifactStore(raw, OLD, [NEW])
    done = threading.Event()
    errors: list[BaseException] = []
    passes = 0

    def read() -> None:
        nonlocal passes
        try:
            while not done.is_set() or passes < 2:
                assert {a: reader.get(a) for a in blobs} == blobs
                passes += 1
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=read)
    thread.start()
    for _ in range(5):  # rotate back and forth, so the reader overlaps many replacements
        EncryptedArtifactStore(raw, NEW, [OLD]).rotate()
        EncryptedArtifactStore(raw, OLD, [NEW]).rotate()
    done.set()
    thread.join()
    assert errors == []
    assert passes >= 2


def test_a_census_needs_no_key_and_reads_headers() -> None:
    raw = MemoryArtifactStore()
    EncryptedArtifactStore(raw, OLD).put(b"a")
    EncryptedArtifactStore(raw, NEW).put(b"b")
    EncryptedArtifactStore(raw, NEW).put(b"c")
    raw.put(b"d")
    counted = census(raw)
    assert counted.by_key == dict(sorted({key_id(OLD): 1, key_id(NEW): 2}.items()))
    assert (counted.plaintext, counted.total) == (1, 4)
