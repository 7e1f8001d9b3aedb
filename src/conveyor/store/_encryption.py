"""Encryption at rest of the artifact store: AES-256-GCM blobs kept under the address of their
plaintext, read back transparently, and re-encrypted under a new key by ``rotate``.

What belongs here: the sealed-blob format, the key ring, the wrapper that seals on ``put`` and
opens on ``get``, and the scans behind ``conveyor keys``. The store underneath only moves bytes
(``put_raw``, ``get_raw``, ``addresses``); where they live is its business. ``cryptography`` is
imported when a wrapper is made, so ``import conveyor`` stays light.

A sealed blob, version 1 (integers big-endian)::

    magic "CVYENC" (6) | version 0x01 (1) | key id (8) | segment | segment | ...
    segment = nonce (12, random) | AES-GCM ciphertext | tag (16)

The plaintext is cut into segments of 4 MiB (at least one; the last may be shorter), because one
AES-GCM call takes at most 2 GiB and model files can be larger. The associated data of segment
``i`` is the 15-byte header, the content address, ``i`` (8 bytes) and a last-segment flag, so a
blob copied to another address, segments reordered, dropped or cut off all fail authentication.
"""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final, Literal, Protocol

from conveyor.core._errors import (
    ArtifactCorrupted,
    ArtifactDecryptionError,
    ArtifactNotFound,
    StoreError,
)
from conveyor.core._hashing import content_address
from conveyor.store._ports import ArtifactStore

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

MAGIC: Final = b"CVYENC"
VERSION: Final = 1
KEY_BYTES: Final = 32
KEY_ID_BYTES: Final = 8
HEADER_BYTES: Final = len(MAGIC) + 1 + KEY_ID_BYTES
NONCE_BYTES: Final = 12
TAG_BYTES: Final = 16
SEGMENT_BYTES: Final = 4 << 20  # plaintext per segment; part of format version 1

BlobState = Literal["current", "old", "unknown", "plaintext"]


class RawArtifactStore(ArtifactStore, Protocol):
    """An artifact store that also moves bytes as they are, which the wrapper needs."""

    def get_raw(self, address: str, limit: int | None = None) -> bytes:
        """The stored bytes at ``address`` (their first ``limit``), not verified."""
        ...

    def put_raw(self, address: str, data: bytes) -> None:
        """Store ``data`` at ``address`` as they are, replacing what is there, atomically."""
        ...

    def addresses(self) -> Iterator[str]:
        """Every stored address, once (blobs written meanwhile may or may not be included)."""
        ...


def generate_key() -> str:
    """A new random key, as the URL-safe base64 text the settings take."""
    return base64.urlsafe_b64encode(os.urandom(KEY_BYTES)).decode("ascii")


def key_id(key: bytes) -> str:
    """The public name of a key: 16 hex digits of a hash of it, written into each blob so an
    error can say which key a blob needs. (Domain-separated, so it equals no other digest of the
    key that something else might publish; it reveals nothing usable about a random key.)"""
    return hashlib.sha256(b"conveyor artifact key id\x00" + key).hexdigest()[: 2 * KEY_ID_BYTES]


def sealed_key_id(data: bytes) -> str | None:
    """The key id in the header of a sealed blob, or None if ``data`` does not start like one."""
    if len(data) < HEADER_BYTES or not data.startswith(MAGIC):
        return None
    return data[len(MAGIC) + 1 : HEADER_BYTES].hex()


def unverified_error(address: str, data: bytes) -> StoreError:
    """Why bytes read by a store without keys do not match their address: encrypted bytes (say
    which key they need) or damaged ones."""
    found = sealed_key_id(data)
    if found is not None:
        return ArtifactDecryptionError(address, found, "missing_key")
    return ArtifactCorrupted(address, content_address(data))


@dataclass(frozen=True, slots=True)
class Census:
    """How many blobs there are of each kind: by key id, and in plaintext."""

    plaintext: int = 0
    by_key: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return self.plaintext + sum(self.by_key.values())


@dataclass(frozen=True, slots=True)
class RotationReport:
    """What ``rotate`` did, or would do with ``dry_run``."""

    key_id: str
    reencrypted: int = 0  # were under an old key
    encrypted: int = 0  # were in plaintext
    current: int = 0  # under the current key already: left alone
    failed: tuple[tuple[str, str], ...] = ()  # (address, why): left alone
    dry_run: bool = False


class EncryptedArtifactStore:
    """An artifact store that keeps every blob AES-GCM encrypted in ``inner``.

    Addresses stay the SHA-256 of the plaintext, so identical outputs are stored once and the
    metadata store does not change. Blobs are written under ``key`` and read under it or any of
    ``old_keys``; blobs written before encryption was turned on (plaintext) are still read, and
    verified, until ``rotate`` encrypts them.
    """

    def __init__(self, inner: RawArtifactStore, key: bytes, old_keys: Sequence[bytes] = ()) -> None:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        for candidate in (key, *old_keys):
            if len(candidate) != KEY_BYTES:
                raise StoreError(f"an encryption key is {KEY_BYTES} bytes", length=len(candidate))
        self._inner = inner
        self.key_id = key_id(key)
        self._current = AESGCM(key)
        self._ciphers: dict[str, AESGCM] = {key_id(k): AESGCM(k) for k in old_keys}
        self._ciphers[self.key_id] = self._current
        self.old_key_ids = tuple(
            i for i in dict.fromkeys(map(key_id, old_keys)) if i != self.key_id
        )

    def __repr__(self) -> str:
        return f"EncryptedArtifactStore({self._inner!r}, key_id={self.key_id!r})"

    # -- the ArtifactStore port ----------------------------------------------------------------

    def put(self, data: bytes) -> str:
        address = content_address(data)
        # identical plaintext is stored once, whatever key (or none) it was stored under
        if not self._inner.exists(address):
            self._inner.put_raw(address, self.seal(address, data))
        return address

    def get(self, address: str) -> bytes:
        return self.plaintext_of(address, self._inner.get_raw(address))

    def exists(self, address: str) -> bool:
        return self._inner.exists(address)

    # -- the format ----------------------------------------------------------------------------

    def seal(self, address: str, plaintext: bytes) -> bytes:
        """``plaintext`` encrypted under the current key, bound to ``address``."""
        header = MAGIC + bytes([VERSION]) + bytes.fromhex(self.key_id)
        view = memoryview(plaintext)
        count = max(1, -(-len(view) // SEGMENT_BYTES))
        parts = [header]
        for i in range(count):
            nonce = os.urandom(NONCE_BYTES)
            segment = view[i * SEGMENT_BYTES : (i + 1) * SEGMENT_BYTES]
            aad = _associated(header, address, i, last=i == count - 1)
            parts += (nonce, self._current.encrypt(nonce, segment, aad))
        return b"".join(parts)

    def plaintext_of(self, address: str, stored: bytes) -> bytes:
        """The verified plaintext of the bytes stored at ``address``, sealed or plaintext."""
        if stored.startswith(MAGIC):
            try:
                plaintext = self._unseal(address, stored)
            except ArtifactDecryptionError:
                # plaintext that merely begins like a sealed blob is still what it is
                if content_address(stored) == address:
                    return stored
                raise
        else:
            plaintext = stored
        actual = content_address(plaintext)
        if actual != address:
            raise ArtifactCorrupted(address, actual)
        return plaintext

    def state(self, stored_head: bytes) -> BlobState:
        """What the first bytes of a blob say it is (``HEADER_BYTES`` of them are enough)."""
        found = sealed_key_id(stored_head)
        if found is None:
            return "plaintext"
        if stored_head[len(MAGIC)] != VERSION:
            return "unknown"
        if found == self.key_id:
            return "current"
        return "old" if found in self._ciphers else "unknown"

    def _unseal(self, address: str, stored: bytes) -> bytes:
        from cryptography.exceptions import InvalidTag

        found = sealed_key_id(stored)
        if found is None:  # cut off inside the header
            raise ArtifactDecryptionError(address, "", "failed_authentication")
        if stored[len(MAGIC)] != VERSION:
            raise ArtifactDecryptionError(address, found, "unknown_format")
        header = stored[:HEADER_BYTES]
        cipher = self._ciphers.get(found)
        if cipher is None:
            raise ArtifactDecryptionError(address, found, "missing_key", self._configured())
        body = memoryview(stored)[HEADER_BYTES:]
        full = NONCE_BYTES + SEGMENT_BYTES + TAG_BYTES
        count = max(1, -(-len(body) // full))
        plaintext = []
        try:
            for i in range(count):
                piece = body[i * full : (i + 1) * full]
                if len(piece) < NONCE_BYTES + TAG_BYTES:
                    raise InvalidTag
                aad = _associated(header, address, i, last=i == count - 1)
                plaintext.append(cipher.decrypt(piece[:NONCE_BYTES], piece[NONCE_BYTES:], aad))
        except InvalidTag:
            raise ArtifactDecryptionError(address, found, "failed_authentication") from None
        return plaintext[0] if count == 1 else b"".join(plaintext)

    def _configured(self) -> list[str]:
        return [self.key_id, *self.old_key_ids]

    # -- scans ---------------------------------------------------------------------------------

    def census(self) -> Census:
        """How many blobs are under each key id, and in plaintext. Reads only each header."""
        return census(self._inner)

    def rotate(
        self,
        *,
        dry_run: bool = False,
        on_blob: Callable[[str, BlobState], None] | None = None,
    ) -> RotationReport:
        """Re-encrypt under the current key every blob under an old key or in plaintext.

        Each blob is replaced in one atomic write, so readers holding the old and the new key
        read every blob throughout; an interrupted rotation leaves only whole blobs, and running
        it again finishes the work (blobs under the current key are skipped after reading their
        header). A blob that cannot be read (a key not configured, damaged bytes) is left as it
        is and reported. ``on_blob`` is called after each blob is handled, with what it was.
        """
        counts: dict[BlobState, int] = {"current": 0, "old": 0, "plaintext": 0, "unknown": 0}
        failed: list[tuple[str, str]] = []
        for address in self._inner.addresses():
            try:
                state = self._rotate_one(address, dry_run)
            except ArtifactNotFound:
                continue  # removed since it was listed
            except StoreError as exc:
                failed.append((address, exc.message))
                state = "unknown"
            else:
                counts[state] += 1
            if on_blob is not None:
                on_blob(address, state)
        return RotationReport(
            key_id=self.key_id,
            reencrypted=counts["old"],
            encrypted=counts["plaintext"],
            current=counts["current"],
            failed=tuple(failed),
            dry_run=dry_run,
        )

    def _rotate_one(self, address: str, dry_run: bool) -> BlobState:
        head = self._inner.get_raw(address, HEADER_BYTES)
        state = self.state(head)
        if state == "current":
            return state
        if dry_run:
            if state == "unknown":  # say now what the real run would fail on
                found = sealed_key_id(head) or ""
                reason = "missing_key" if head[len(MAGIC)] == VERSION else "unknown_format"
                raise ArtifactDecryptionError(address, found, reason, self._configured())
            return state
        stored = self._inner.get_raw(address)
        # verified on the way: a damaged blob is reported, never sealed as if it were sound
        plaintext = self.plaintext_of(address, stored)
        self._inner.put_raw(address, self.seal(address, plaintext))
        return "plaintext" if plaintext is stored else "old"


def census(store: RawArtifactStore) -> Census:
    """How many blobs of ``store`` are under each key id, and in plaintext: needs no key, and
    reads only the first bytes of each blob."""
    plaintext = 0
    by_key: dict[str, int] = {}
    for address in store.addresses():
        try:
            found = sealed_key_id(store.get_raw(address, HEADER_BYTES))
        except ArtifactNotFound:
            continue  # removed since it was listed
        if found is None:
            plaintext += 1
        else:
            by_key[found] = by_key.get(found, 0) + 1
    return Census(plaintext, dict(sorted(by_key.items())))


def _associated(header: bytes, address: str, index: int, *, last: bool) -> bytes:
    return (
        header + address.encode("ascii") + index.to_bytes(8, "big") + (b"\x01" if last else b"\x00")
    )
