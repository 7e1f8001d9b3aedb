"""Content hashing: the one definition of an address, shared by stores and cache keys.

Pure functions of bytes and plain data; no I/O.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable

ADDRESS_PREFIX = "sha256:"


def content_address(data: bytes) -> str:
    """The address of a blob: ``sha256:<hex>`` of its bytes."""
    return ADDRESS_PREFIX + hashlib.sha256(data).hexdigest()


def file_content_address(path: str) -> str:
    """The address of the blob a file holds, read in chunks rather than whole."""
    with open(path, "rb") as f:
        return ADDRESS_PREFIX + hashlib.file_digest(f, "sha256").hexdigest()


def hash_parts(parts: Iterable[str]) -> str:
    """A stable digest of an ordered sequence of strings (no ambiguity at the joins)."""
    digest = hashlib.sha256()
    for part in parts:
        encoded = part.encode("utf-8")
        digest.update(len(encoded).to_bytes(8, "little"))
        digest.update(encoded)
    return digest.hexdigest()


def canonical_json(value: object) -> str:
    """JSON with sorted keys and no spaces, so equal values give equal text."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
