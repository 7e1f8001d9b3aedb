"""Named files under a local folder or any fsspec URL, each written whole or not at all.

For data that lives beside the content-addressed blobs but is addressed by path (the serving
prediction log, feedback): a local file is written under a hidden temporary name, synced and
renamed; an object store's single PUT is already atomic. ``locate`` is how a URL is opened,
shared with the artifact store.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from typing import IO, Any, Final

from conveyor.core._errors import StoreError

# Object stores where a single write is already atomic and rename is a copy: write in place.
DIRECT_WRITE: Final = frozenset(
    {"s3", "s3a", "gs", "gcs", "az", "abfs", "abfss", "adl", "oss", "r2", "memory"}
)
# Object stores whose filesystems cache folder listings, and for as long as the process lives:
# once a folder was listed, a file another process writes there later would read as missing
# (``exists`` answers from the listing without asking the store). The files here are written by
# many processes, so these are opened without that cache.
UNCACHED_LISTINGS: Final = frozenset({"s3", "s3a", "gs", "gcs", "az", "abfs", "abfss"})


@dataclass(frozen=True, slots=True)
class Location:
    """An opened URL: a local folder (``local``), or an fsspec filesystem and root."""

    local: str | None
    fs: Any = None
    root: str = ""
    direct: bool = False  # writes in place (see DIRECT_WRITE)


def locate(url: str) -> Location:
    if not url:
        raise StoreError("the store URL is empty", url=url)
    local = local_path(url)
    if local is not None:
        return Location(os.path.abspath(local))
    try:
        import fsspec

        protocol = url.split("://", 1)[0].lower()
        options = {"use_listings_cache": False} if protocol in UNCACHED_LISTINGS else {}
        fs, root = fsspec.core.url_to_fs(url, **options)
    except Exception as exc:  # unknown protocol, missing extra (s3fs), bad options
        raise StoreError(f"cannot open {url!r}: {exc}", url=url) from exc
    protocols = fs.protocol
    names = {protocols} if isinstance(protocols, str) else set(protocols)
    return Location(None, fs, root.rstrip("/"), bool(names & DIRECT_WRITE))


def local_path(url: str) -> str | None:
    """The folder of a local URL, or None for anything fsspec must handle."""
    if url.startswith("file://"):
        return url[len("file://") :] or "/"
    if "://" in url or "::" in url:
        return None
    return url


class Folder:
    """Files under ``url``, addressed by paths made with ``path``."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._at = locate(url)

    def __repr__(self) -> str:
        return f"Folder({self.url!r})"

    def path(self, *parts: str) -> str:
        if self._at.local is not None:
            return os.path.join(self._at.local, *parts)
        return "/".join((self._at.root, *parts))

    def child(self, folder: str, name: str) -> str:
        return os.path.join(folder, name) if self._at.local is not None else f"{folder}/{name}"

    def write(self, path: str, data: bytes) -> None:
        """``data`` as the file at ``path``, complete or not at all (folders are made)."""
        folder, _, name = path.rpartition("/" if self._at.local is None else os.sep)
        if self._at.local is not None:
            _write_local(folder, name, data)
            return
        fs = self._at.fs
        if self._at.direct:
            fs.pipe_file(path, data)
            return
        fs.makedirs(folder, exist_ok=True)
        tmp = f"{folder}/.{name}.tmp"
        fs.pipe_file(tmp, data)
        fs.mv(tmp, path)

    def names(self, folder: str) -> list[str]:
        """The names in ``folder``; none if it does not exist."""
        if self._at.local is not None:
            try:
                return os.listdir(folder)
            except (FileNotFoundError, NotADirectoryError):
                return []
        try:
            listed = self._at.fs.ls(folder, detail=False)
        except FileNotFoundError:
            return []
        return [str(p).rstrip("/").rsplit("/", 1)[-1] for p in listed]

    def open(self, path: str) -> IO[bytes]:
        if self._at.local is not None:
            return open(path, "rb")
        handle: IO[bytes] = self._at.fs.open(path, "rb")
        return handle


def _write_local(folder: str, name: str, data: bytes) -> None:
    path = os.path.join(folder, name)
    tmp = os.path.join(folder, f".{name}.tmp")
    os.makedirs(folder, exist_ok=True)
    f = open(tmp, "xb")  # noqa: SIM115 (closed below; a name someone else holds is not ours)
    try:
        with f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())  # the rename must not reach the disk before the bytes
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
