"""The artifact store of a conveyor team server, over its REST API.

A blob is named by the SHA-256 of its bytes, so every request is safe to repeat: a failed
request is sent again with backoff for up to ``retry_seconds``. A blob larger than ``chunk``
bytes is uploaded in chunks to ``/api/v1/uploads/{id}``; after a broken connection the upload
asks the server how much it holds and goes on from there, so a large upload survives a flaky
network or a server restart without starting over. Downloads are checked against the address.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final, TypeVar

import httpx

from conveyor.core._errors import ArtifactCorrupted, ArtifactNotFound
from conveyor.core._hashing import content_address
from conveyor.store import _checks
from conveyor.store.http._retry import Backoff, retrying
from conveyor.store.http._routes import PREFIX

T = TypeVar("T")
CHUNK: Final = 8 * 1024 * 1024
OFFSET_HEADER: Final = "Upload-Offset"


class HttpArtifactStore:
    """The ``ArtifactStore`` of the server at ``url``."""

    def __init__(
        self,
        url: str,
        token: str | None = None,
        *,
        chunk: int = CHUNK,
        retry_seconds: float = 30.0,
        timeout: float = 300.0,
        client: httpx.Client | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self._http = client or httpx.Client(base_url=self.url, timeout=timeout)
        if token:
            self._http.headers["Authorization"] = f"Bearer {token}"
        self._chunk = max(1, chunk)
        self._retry_seconds = retry_seconds

    def __repr__(self) -> str:
        return f"HttpArtifactStore({self.url!r})"

    def close(self) -> None:
        self._http.close()

    def put(self, data: bytes) -> str:
        address = content_address(data)
        if len(data) <= self._chunk:
            self._retrying(lambda: self._ok(self._http.put(_blob(address), content=data)))
        elif not self.exists(address):  # a large blob the server holds is not sent again
            self._upload(address, data)
        return address

    def get(self, address: str) -> bytes:
        response = self._retrying(lambda: self._http.get(_blob(address)))
        if response.status_code == 404:
            raise ArtifactNotFound(address)
        data = self._ok(response).content
        actual = content_address(data)
        if actual != address:
            raise ArtifactCorrupted(address, actual)
        return data

    def exists(self, address: str) -> bool:
        response = self._retrying(lambda: self._http.head(_blob(address)))
        if response.status_code == 404:
            return False
        self._ok(response)
        return True

    # -- chunked uploads -----------------------------------------------------------------------

    def _upload(self, address: str, data: bytes) -> None:
        created = self._retrying(
            lambda: self._ok(self._http.post(f"{PREFIX}/uploads", json={"size": len(data)}))
        )
        path = f"{PREFIX}/uploads/{created.json()['id']}"
        offset = 0
        backoff = Backoff(self.url, self._retry_seconds)
        while offset < len(data):
            piece = data[offset : offset + self._chunk]
            try:
                answer = self._http.patch(path, content=piece, headers={OFFSET_HEADER: str(offset)})
                if answer.status_code == 409:  # the server holds another amount: go on from it
                    offset = int(answer.headers[OFFSET_HEADER])
                    continue
                offset = int(self._ok(answer).headers[OFFSET_HEADER])
                backoff.reset()  # progress: the next failure gets the whole time again
            except httpx.TransportError as exc:
                backoff.pause(exc)
                offset = int(
                    self._retrying(lambda: self._ok(self._http.head(path))).headers[OFFSET_HEADER]
                )
        self._retrying(
            lambda: self._ok(self._http.post(f"{path}/complete", json={"address": address}))
        )

    # -- plumbing --------------------------------------------------------------------------------

    def _retrying(self, send: Callable[[], T]) -> T:
        return retrying(self.url, self._retry_seconds, send)

    def _ok(self, response: httpx.Response) -> httpx.Response:
        if response.status_code < 400:
            return response
        from conveyor.store.http._client import raise_for_error

        raise_for_error(response, self.url)
        raise AssertionError("unreachable")


def _blob(address: str) -> str:
    return f"{PREFIX}/artifacts/{_checks.address(address)}"
