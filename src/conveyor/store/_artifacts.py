"""The content-addressed artifact store on a local folder or any fsspec URL.

Layout: ``<root>/sha256/ab/cdef…`` (the first two hex digits fan the blobs out over 256
folders). Local paths use ``os`` directly, because ``put`` sits on every step's hot path; fsspec
is imported only for other URLs (``s3://``, ``memory://``, …). Encryption and the metadata of
artifacts do not belong here.
"""

from __future__ import annotations

import contextlib
import os
from typing import Any

from conveyor.core._errors import ArtifactCorrupted, ArtifactNotFound, StoreError
from conveyor.core._hashing import content_address
from conveyor.store import _checks
from conveyor.store._folders import locate
from conveyor.store._memory import MemoryArtifactStore
from conveyor.store._ports import ArtifactStore

# Local blobs are written this many bytes per write(): on Linux (ext4) one write() of several
# MiB measured about ten times the kernel CPU of the same bytes written 1 MiB at a time.
_WRITE_SLICE = 1 << 20


def open_artifact_store(url: str) -> ArtifactStore:
    """The artifact store at ``url``: a folder, ``file://…``, any fsspec URL; ``memory://`` gives
    a private in-process store for tests."""
    if url == "memory://":
        return MemoryArtifactStore()
    return FsspecArtifactStore(url)


def _split(address: str) -> tuple[str, str]:
    """The fan-out folder and file name of a (checked) address."""
    digest = _checks.address(address)[7:]
    return f"sha256/{digest[:2]}", digest[2:]


class FsspecArtifactStore:
    """Blobs under a folder or fsspec URL, written atomically and verified on read.

    Args:
        url: a local path, ``file://`` URL, or any fsspec URL such as ``s3://bucket/prefix``.
    """

    def __init__(self, url: str) -> None:
        if not url:
            raise StoreError("the artifact store URL is empty", url=url)
        self.url = url
        at = locate(url)
        self._local_root = at.local
        self._fs: Any = at.fs
        self._root = at.root
        self._direct = at.direct

    def __repr__(self) -> str:
        return f"FsspecArtifactStore({self.url!r})"

    def put(self, data: bytes) -> str:
        address = content_address(data)
        folder, name = f"sha256/{address[7:9]}", address[9:]  # well-formed: no need to check
        if self._local_root is not None:
            self._put_local(address, os.path.join(self._local_root, folder), name, data)
        else:
            self._put_fsspec(address, f"{self._root}/{folder}", name, data)
        return address

    def get(self, address: str) -> bytes:
        folder, name = _split(address)
        if self._local_root is not None:
            try:
                with open(os.path.join(self._local_root, folder, name), "rb") as f:
                    data = f.read()
            except FileNotFoundError:
                raise ArtifactNotFound(address) from None
            except OSError as exc:
                raise self._error("read", address, exc) from exc
        else:
            try:
                data = self._fs.cat_file(f"{self._root}/{folder}/{name}")
            except FileNotFoundError:
                raise ArtifactNotFound(address) from None
            except Exception as exc:  # each fsspec backend raises its own client's errors
                raise self._error("read", address, exc) from exc
        actual = content_address(data)
        if actual != address:
            raise ArtifactCorrupted(address, actual)
        return data

    def exists(self, address: str) -> bool:
        folder, name = _split(address)
        if self._local_root is not None:
            return os.path.isfile(os.path.join(self._local_root, folder, name))
        try:
            return bool(self._fs.exists(f"{self._root}/{folder}/{name}"))
        except Exception as exc:
            raise self._error("check", address, exc) from exc

    def _put_local(self, address: str, folder: str, name: str, data: bytes) -> None:
        path = os.path.join(folder, name)
        if os.path.exists(path):
            return  # identical bytes are stored once
        # A unique temp name in the same folder, then rename: readers never see half a file,
        # and concurrent writers of the same bytes each rename a complete copy.
        tmp = os.path.join(folder, f".{name}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
        try:
            try:
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            except FileNotFoundError:  # first blob in this fan-out folder
                os.makedirs(folder, exist_ok=True)
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view[:_WRITE_SLICE]) :]
            finally:
                os.close(fd)
            os.replace(tmp, path)
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise self._error("write", address, exc) from exc

    def _put_fsspec(self, address: str, folder: str, name: str, data: bytes) -> None:
        path = f"{folder}/{name}"
        try:
            if self._fs.exists(path):
                return
            if self._direct:
                self._fs.pipe_file(path, data)  # a single PUT: all or nothing
                return
            self._fs.makedirs(folder, exist_ok=True)
            tmp = f"{folder}/.{name}.{os.getpid()}.{os.urandom(4).hex()}.tmp"
            self._fs.pipe_file(tmp, data)
            self._fs.mv(tmp, path)
        except Exception as exc:
            raise self._error("write", address, exc) from exc

    def _error(self, action: str, address: str, exc: BaseException) -> StoreError:
        return StoreError(
            f"could not {action} artifact {address} in {self.url}: {exc}",
            address=address,
            url=self.url,
        )
