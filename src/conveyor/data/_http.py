"""``cv.read_http``: the records of a paged JSON API as a lazy ``Dataset`` of one partition
that reads one page at a time.

What belongs here: finding the records and the next page's URL in a
response, and turning a page's records into an Arrow table. Only the standard library speaks
HTTP here (``urllib.request``); nothing is cached between reads.
"""

from __future__ import annotations

import json
import re
import secrets
import urllib.parse
from collections.abc import Generator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from conveyor.core._errors import ConveyorError, DataSourceError
from conveyor.core._hashing import hash_parts
from conveyor.core._http import HttpFailure, send, snippet
from conveyor.data._dataset import Dataset
from conveyor.data._partitions import StreamedPartition

if TYPE_CHECKING:
    from email.message import Message

    import pyarrow as pa

_USER_AGENT = "conveyor"
_LINK = re.compile(r"<([^>]*)>((?:\s*;\s*[^;,]+)*)")
# query parameters whose values messages hide: API keys, tokens, signed-URL signatures
_SECRET_PARAMS = frozenset({"key", "auth", "sig", "code", "client_secret", "access_token"})
_SECRET_SUFFIXES = ("_key", "apikey", "token", "secret", "password", "signature")


def read_http(
    url: str,
    *,
    pages: int | None = None,
    timeout: float = 30.0,
    retries: int = 3,
    records_key: str = "data",
    headers: Mapping[str, str] | None = None,
    backoff: float = 0.5,
    version: str | None = None,
) -> Dataset:
    """A lazy dataset of the records a JSON API returns, following its pages. Nothing is
    fetched until rows are asked for; then one page is in memory at a time.

    A page's records are the body itself when it is a JSON list, else the list under
    ``records_key`` in the body's object. The next page's URL is the body's ``next``
    (absolute, or relative to the page's URL) or the ``Link: <…>; rel="next"`` header;
    reading stops at a page with neither, or after ``pages`` pages.

    An API's answers can change at any moment, so every call makes a dataset whose
    fingerprint is new, unless ``version="..."`` fixes it. A step that returns the dataset
    stores the records, one Parquet part per page.

    Args:
        url: the first page (``http://`` or ``https://``).
        pages: the most pages to read (default: all of them).
        timeout: seconds to wait for a connection and for each read.
        retries: how many times to retry a page after a 5xx or 429 status, a timeout or a
            connection error; retry ``n`` (from 0) first waits ``backoff * 2**n`` seconds.
        records_key: where the records are in a body that is a JSON object.
        headers: extra request headers (``Authorization``…); they are never shown.
        backoff: seconds before the first retry.
        version: a label that fixes the fingerprint.

    Raises:
        DataSourceError: when pages are read: a 4xx status, a failure that outlasts the
            retries, a body that is not JSON or holds no list of records.
    """
    scheme = urllib.parse.urlsplit(url).scheme if isinstance(url, str) else ""
    if scheme not in ("http", "https"):
        raise DataSourceError(
            f"read_http needs an http:// or https:// URL, got {url!r}", source=str(url)
        )
    if not timeout > 0:
        raise ConveyorError(f"timeout must be > 0, got {timeout}", timeout=timeout)
    if not backoff >= 0:
        raise ConveyorError(f"backoff must be >= 0, got {backoff}", backoff=backoff)
    if retries < 0:
        raise ConveyorError(f"retries must be >= 0, got {retries}", retries=retries)
    if pages is not None and pages < 1:
        raise ConveyorError(f"pages must be >= 1, got {pages}", pages=pages)
    part = HttpPartition(
        url=url,
        pages=pages,
        timeout=timeout,
        retries=retries,
        records_key=records_key,
        headers=tuple(sorted((headers or {}).items())),
        backoff=backoff,
        version=version,
    )
    return Dataset([part], splittable=False)


@dataclass(frozen=True, slots=True)
class HttpPartition(StreamedPartition):
    """The pages of a JSON API from ``url`` on, fetched each time they are asked for.

    ``token`` makes the fingerprint unique to this partition unless ``version`` is given.
    """

    url: str
    pages: int | None = None
    timeout: float = 30.0
    retries: int = 3
    records_key: str = "data"
    headers: tuple[tuple[str, str], ...] = field(default=(), repr=False)  # may hold secrets
    backoff: float = 0.5
    version: str | None = None
    token: str = field(default_factory=lambda: secrets.token_hex(16), repr=False)
    pieces: ClassVar[str] = "pages"

    @property
    def source(self) -> str:
        return f"http: {_shown(self.url)}"

    def fingerprint(self) -> str:
        identity = self.token if self.version is None else f"version {self.version}"
        return hash_parts(
            ["http", self.url, str(self.pages), self.records_key, repr(self.headers), identity]
        )

    def iter_tables(self) -> Generator[pa.Table, None, None]:
        """One Arrow table per page that has records (one empty table when none has)."""
        import pyarrow as pa

        url, previous = self.url, ""
        seen: set[str] = set()
        read = 0
        empty = True
        while self.pages is None or read < self.pages:
            if url in seen:
                raise DataSourceError(
                    f"GET {_shown(previous)}: the next page is {_shown(url)}, which was read "
                    "already; the API's pages go round in a circle",
                    source=self.source,
                )
            seen.add(url)
            body, headers, answered = self._get(url)
            records, following = self._page(answered, body, headers)
            read += 1
            if records:
                empty = False
                yield _table(records, url, self.source)
            if following is None:
                break
            url, previous = following, url
        if empty:
            yield pa.table({})

    # -- one page --------------------------------------------------------------------------

    def _get(self, url: str) -> tuple[bytes, Message, str]:
        """The body, headers and URL (after redirects) of a 2xx response, retrying what may
        pass."""
        import urllib.request

        request = urllib.request.Request(
            url,
            headers={"Accept": "application/json", "User-Agent": _USER_AGENT, **dict(self.headers)},
        )
        try:
            return send(request, timeout=self.timeout, retries=self.retries, backoff=self.backoff)
        except HttpFailure as failure:
            details: dict[str, object] = {"source": self.source, "status": failure.status}
            if failure.attempts > 1:
                details["attempts"] = failure.attempts
            raise DataSourceError(f"GET {_shown(url)}: {failure.problem}", **details) from None

    def _page(self, url: str, body: bytes, headers: Message) -> tuple[list[Any], str | None]:
        """The page's records and the URL of the page after it, if any."""
        try:
            data = json.loads(body)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise DataSourceError(
                f"GET {_shown(url)}: the response is not valid JSON ({exc}): {snippet(body)}",
                source=self.source,
            ) from None
        if isinstance(data, list):
            records = data
        elif isinstance(data, dict) and isinstance(data.get(self.records_key), list):
            records = data[self.records_key]
        elif isinstance(data, dict):
            found = "is not a list" if self.records_key in data else "is missing"
            keys = ", ".join(map(repr, list(data)[:10]))
            raise DataSourceError(
                f"GET {_shown(url)}: the records key {self.records_key!r} {found} (the body's "
                f"keys: {keys}); pass records_key= to say where the records are",
                source=self.source,
            )
        else:
            raise DataSourceError(
                f"GET {_shown(url)}: expected a JSON list of records or an object holding one, "
                f"got {type(data).__name__}: {snippet(body)}",
                source=self.source,
            )
        for i, record in enumerate(records):
            if not isinstance(record, dict):
                raise DataSourceError(
                    f"GET {_shown(url)}: record {i} is {type(record).__name__}, not a JSON "
                    "object; each record must be an object of fields",
                    source=self.source,
                )
        following = data.get("next") if isinstance(data, dict) else None
        if not (isinstance(following, str) and following):
            following = _link_next(headers)
        if not following:
            return records, None
        following = urllib.parse.urljoin(url, following)
        if urllib.parse.urlsplit(following).scheme not in ("http", "https"):
            raise DataSourceError(
                f"GET {_shown(url)}: the next page's URL {_shown(following)!r} is not http(s)",
                source=self.source,
            )
        return records, following


def _table(records: list[dict[str, Any]], url: str, source: str) -> pa.Table:
    """Records as a table; a field missing from some records is null in them."""
    import pyarrow as pa

    try:
        return pa.Table.from_struct_array(pa.array(records))  # every record's keys count
    except (pa.ArrowException, OverflowError) as exc:
        raise DataSourceError(
            f"GET {_shown(url)}: the records' fields do not convert to one type each ({exc})",
            source=source,
        ) from exc


def _link_next(headers: Message) -> str | None:
    """The target of ``Link: <…>; rel="next"`` (RFC 8288), if the response has one."""
    for value in headers.get_all("Link") or []:
        for target, params in _LINK.findall(value):
            for param in params.split(";"):
                name, _, rel = param.partition("=")
                if name.strip().lower() == "rel" and "next" in rel.strip().strip('"').split():
                    return str(target)
    return None


def _shown(url: str) -> str:
    """The URL as messages show it: no user info, and secret-looking query values hidden."""
    parts = urllib.parse.urlsplit(url)
    netloc = parts.netloc.rsplit("@", 1)[-1]
    query = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
    if any(_is_secret(k) for k, _ in query):
        hidden = [(k, "***" if _is_secret(k) else v) for k, v in query]
        query_text = urllib.parse.urlencode(hidden, safe="*")
    else:
        query_text = parts.query
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, query_text, parts.fragment))


def _is_secret(name: str) -> bool:
    lowered = name.lower().replace("-", "_")
    return lowered in _SECRET_PARAMS or lowered.endswith(_SECRET_SUFFIXES)
