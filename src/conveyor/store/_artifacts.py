"""The content-addressed artifact store on a local folder or any fsspec URL.

Layout: ``<root>/sha256/ab/cdef…`` (the first two hex digits fan the blobs out over 256
folders). Local paths use ``os`` directly, because ``put`` sits on every step's hot path; fsspec
is imported only for other URLs (``s3://``, ``memory://``, …). Encryption (``_encryption``)
and the metadata of artifacts do not belong here; the raw reads and writes encryption needs do.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
from collections.abc import Iterator, Sequence
from typing import Any

from conveyor.core._errors import ArtifactNotFound, StoreError
from conveyor.core._hashing import content_address, file_content_address
from conveyor.store import _checks
from conveyor.store._encryption import EncryptedArtifactStore, RawArtifactStore, unverified_error
from conveyor.store._folders import locate
from conveyor.store._memory import MemoryArtifactStore
from conveyor.store._ports import ArtifactStore

# Local blobs are written this many bytes per write(): on Linux (ext4) one write() of several
# MiB measured about ten times the kernel CPU of the same bytes written 1 MiB at a time.
_WRITE_SLICE = 1 << 20
# Where files meant for ``put_file`` are written: beside the blobs, so storing one is a rename.
_STAGING = "staging"
_FAN = re.compile(r"[0-9a-f]{2}")
_REST = re.compile(r"[0-9a-f]{62}")


def open_artifact_store(
    url: str,
    *,
    key: bytes | None = None,
    old_keys: Sequence[bytes] = (),
    token: str | None = None,
) -> ArtifactStore:
    """The artifact store at ``url``: a folder, ``file://…``, any fsspec URL; ``memory://`` gives
    a private in-process store for tests; a team server's ``http(s)://`` URL, spoken to with
    ``token`` (the server encrypts what it holds). With a ``key``, blobs are encrypted at rest
    under it and read under it or any of ``old_keys`` (see ``EncryptedArtifactStore``)."""
    if is_server_url(url):
        from conveyor.store.http._artifacts import HttpArtifactStore

        if key is not None:
            raise StoreError("a team server's artifacts are encrypted by the server, not a client")
        return HttpArtifactStore(url, token)
    inner = raw_artifact_store(url)
    if key is None:
        return inner
    return EncryptedArtifactStore(inner, key, old_keys)


def is_server_url(url: str) -> bool:
    """Whether ``url`` names a team server rather than a store of its own."""
    return url.startswith(("http://", "https://"))


def raw_artifact_store(url: str) -> RawArtifactStore:
    """The adapter at ``url``, never encrypting: what ``conveyor keys`` scans."""
    if is_server_url(url):
        raise StoreError(
            f"{url} is a team server: its artifacts are reached through its API, and their "
            "keys are managed where the server runs"
        )
    return MemoryArtifactStore() if url == "memory://" else FsspecArtifactStore(url)


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

    def staging_folder(self) -> str | None:
        """A folder on the store's own file system where a file meant for ``put_file`` can be
        written, so that storing it costs a rename instead of a copy; None for a remote store."""
        if self._local_root is None:
            return None
        return os.path.join(self._local_root, _STAGING)

    def put_file(self, path: str) -> str:
        """Store the bytes of the file at ``path`` and return their address. The file is
        consumed: renamed into place when it lies on the store's file system (see
        ``staging_folder``), else copied, and deleted either way."""
        try:
            address = file_content_address(path)
            folder, name = _split(address)
            if self._local_root is None:
                with open(path, "rb") as f:
                    self._put_fsspec(address, f"{self._root}/{folder}", name, f.read())
                return address
            self._move_local(address, os.path.join(self._local_root, folder), name, path)
            return address
        except OSError as exc:
            raise StoreError(f"could not store {path} in {self.url}: {exc}", url=self.url) from exc
        finally:
            with contextlib.suppress(OSError):
                os.unlink(path)

    def get(self, address: str) -> bytes:
        data = self.get_raw(address)
        if content_address(data) != address:
            raise unverified_error(address, data)  # damaged, or encrypted and no key given
        return data

    def exists(self, address: str) -> bool:
        folder, name = _split(address)
        if self._local_root is not None:
            return os.path.isfile(os.path.join(self._local_root, folder, name))
        try:
            return bool(self._fs.exists(f"{self._root}/{folder}/{name}"))
        except Exception as exc:
            raise self._error("check", address, exc) from exc

    # -- raw bytes, for the encrypting wrapper ---------------------------------------------------

    def get_raw(self, address: str, limit: int | None = None) -> bytes:
        """The stored bytes (the first ``limit`` of them), not verified."""
        folder, name = _split(address)
        if self._local_root is not None:
            try:
                with open(os.path.join(self._local_root, folder, name), "rb") as f:
                    return f.read() if limit is None else f.read(limit)
            except FileNotFoundError:
                raise ArtifactNotFound(address) from None
            except OSError as exc:
                raise self._error("read", address, exc) from exc
        path = f"{self._root}/{folder}/{name}"
        try:
            if limit is None:
                return bytes(self._fs.cat_file(path))
            return bytes(self._fs.cat_file(path, start=0, end=limit))
        except FileNotFoundError:
            raise ArtifactNotFound(address) from None
        except Exception as exc:  # each fsspec backend raises its own client's errors
            # An object store refuses any byte range of an empty object (S3: 416).
            if limit is not None and self._is_empty(path):
                return b""
            raise self._error("read", address, exc) from exc

    def _is_empty(self, path: str) -> bool:
        try:
            return bool(self._fs.info(path).get("size") == 0)
        except Exception:  # the read's own error is the one worth reporting
            return False

    def put_raw(self, address: str, data: bytes) -> None:
        """``data`` at ``address`` as they are, replacing any blob there in one atomic step."""
        folder, name = _split(address)
        if self._local_root is not None:
            self._put_local(
                address, os.path.join(self._local_root, folder), name, data, replace=True
            )
        else:
            self._put_fsspec(address, f"{self._root}/{folder}", name, data, replace=True)

    def addresses(self) -> Iterator[str]:
        """Every stored address, by address; unfinished temporary files are not blobs."""
        if self._local_root is not None:
            base = os.path.join(self._local_root, "sha256")
            for fan in _sorted_names(base, _FAN):
                for rest in _sorted_names(os.path.join(base, fan), _REST):
                    yield f"sha256:{fan}{rest}"
            return
        try:
            found = self._fs.find(f"{self._root}/sha256")
        except FileNotFoundError:
            return
        except Exception as exc:
            raise StoreError(f"could not list the artifacts in {self.url}: {exc}") from exc
        names = (str(p).rstrip("/").rsplit("/", 2)[-2:] for p in found)
        yield from sorted(
            f"sha256:{fan}{rest}"
            for fan, rest in (n for n in names if len(n) == 2)
            if _FAN.fullmatch(fan) and _REST.fullmatch(rest)
        )

    def _put_local(
        self, address: str, folder: str, name: str, data: bytes, *, replace: bool = False
    ) -> None:
        path = os.path.join(folder, name)
        if not replace and os.path.exists(path):
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

    def _move_local(self, address: str, folder: str, name: str, source: str) -> None:
        target = os.path.join(folder, name)
        if os.path.exists(target):
            return  # identical bytes are stored once; the caller deletes the source
        try:
            try:
                os.replace(source, target)  # whole at once: readers never see half a file
            except FileNotFoundError:  # first blob in this fan-out folder
                os.makedirs(folder, exist_ok=True)
                os.replace(source, target)
        except OSError as exc:
            if exc.errno != errno.EXDEV:
                raise self._error("write", address, exc) from exc
            with open(source, "rb") as f:  # another file system: copied after all
                self._put_local(address, folder, name, f.read())

    def _put_fsspec(
        self, address: str, folder: str, name: str, data: bytes, *, replace: bool = False
    ) -> None:
        path = f"{folder}/{name}"
        try:
            if not replace and self._fs.exists(path):
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


def _sorted_names(folder: str, pattern: re.Pattern[str]) -> list[str]:
    try:
        return sorted(n for n in os.listdir(folder) if pattern.fullmatch(n))
    except (FileNotFoundError, NotADirectoryError):
        return []
