"""``cv.read_sql``: a query's result, from any database SQLAlchemy reaches, as a lazy
``Dataset`` of one partition that streams its rows in chunks.

What belongs here: the query partition, turning rows into Arrow tables, keeping the password
out of every message, and translating SQLAlchemy's and the drivers' errors into
``DataSourceError``. The metadata store's SQL lives in ``conveyor.store.sql``, not here.
SQLAlchemy is imported inside functions, so importing ``conveyor.data`` stays cheap.
"""

from __future__ import annotations

import secrets
from collections.abc import Generator, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from conveyor.core._errors import ConveyorError, DataSourceError
from conveyor.core._hashing import hash_parts
from conveyor.data._dataset import Dataset
from conveyor.data._partitions import StreamedPartition

if TYPE_CHECKING:
    import pyarrow as pa
    from sqlalchemy.engine import URL

_SHOWN_QUERY = 80  # characters of the query a message or ``source`` shows
_SECRET_QUERY_KEYS = ("password", "secret", "token", "key")  # URL query options never shown


def read_sql(
    query: str,
    url: str,
    *,
    chunk_rows: int = 100_000,
    params: Mapping[str, Any] | None = None,
    version: str | None = None,
) -> Dataset:
    """A lazy dataset of a query's result. Nothing runs until rows are asked for; then the
    rows are streamed with a server-side cursor, ``chunk_rows`` at a time.

    A query's result can change at any moment, so every call makes a dataset whose
    fingerprint is new: a step that receives it is never considered unchanged across runs.
    Pass ``version="..."`` to fix the fingerprint (and change the version when the data
    changes). A step that returns the dataset stores the rows, one Parquet part per chunk.

    Args:
        query: the SQL; bind parameters are written ``:name``.
        url: a SQLAlchemy URL (``sqlite:///data.db``,
            ``postgresql+psycopg://user:password@host/db``…); its password never appears in
            messages, ``source`` or the fingerprint.
        chunk_rows: rows per chunk, and so per Arrow table from ``iter_tables``.
        params: values for the query's ``:name`` parameters.
        version: a label that fixes the fingerprint.

    Raises:
        DataSourceError: the URL cannot be parsed or names an unknown dialect (at once);
            the query fails, the database cannot be reached or a column's values cannot be
            converted (when the rows are read).
    """
    if not isinstance(query, str) or not query.strip():
        raise ConveyorError("read_sql needs a query (a non-empty string)")
    if chunk_rows < 1:
        raise ConveyorError(f"chunk_rows must be >= 1, got {chunk_rows}", chunk_rows=chunk_rows)
    shown = _parse_url(url)
    return Dataset(
        [
            SqlPartition(
                query=query,
                url=url,
                shown_url=shown,
                chunk_rows=chunk_rows,
                params=tuple(sorted((params or {}).items())),
                version=version,
            )
        ],
        splittable=False,
    )


@dataclass(frozen=True, slots=True)
class SqlPartition(StreamedPartition):
    """A query's result, read from the database each time it is asked for.

    Holds strings, never an engine or a connection, so it pickles to a worker process.
    ``token`` makes the fingerprint unique to this partition unless ``version`` is given.
    """

    query: str
    url: str = field(repr=False)  # may hold a password: kept out of repr and messages
    shown_url: str
    chunk_rows: int = 100_000
    params: tuple[tuple[str, Any], ...] = ()
    version: str | None = None
    token: str = field(default_factory=lambda: secrets.token_hex(16), repr=False)
    hint: ClassVar[str] = "; CAST the column in the query"

    @property
    def source(self) -> str:
        return f"sql: {_shorten(self.query)} on {self.shown_url}"

    def fingerprint(self) -> str:
        identity = self.token if self.version is None else f"version {self.version}"
        return hash_parts(["sql", self.shown_url, self.query, repr(self.params), identity])

    def iter_tables(self) -> Generator[pa.Table, None, None]:
        """One Arrow table per chunk of ``chunk_rows`` rows (one empty table for no rows).
        Column types come from the first chunk; a column that is all null there takes its
        type from the first chunk that has a value."""
        import sqlalchemy as sa

        engine = self._engine()
        try:
            with self._connect(engine) as connection:
                streaming = connection.execution_options(
                    stream_results=True, max_row_buffer=self.chunk_rows
                )
                chunks = self._chunks(streaming, sa.text(self.query))
                converter: _Converter | None = None
                for columns, rows in chunks:
                    converter = converter or _Converter(columns, self.source)
                    yield converter.table(rows)
        finally:
            engine.dispose()

    # -- talking to the database -----------------------------------------------------------

    def _engine(self) -> Any:
        import sqlalchemy as sa

        try:
            # NullPool: the connection closes with the read; nothing is kept between reads
            return sa.create_engine(self.url, poolclass=sa.pool.NullPool)
        except ImportError as exc:
            raise DataSourceError(
                f"query {_shorten(self.query)!r} on {self.shown_url}: the database driver is "
                f"not installed ({exc})",
                source=self.source,
            ) from exc
        except Exception as exc:
            raise self._error(exc) from exc

    def _connect(self, engine: Any) -> Any:
        try:
            return engine.connect()
        except Exception as exc:  # refused, unknown host, bad credentials, no such database
            raise self._error(exc) from exc

    def _chunks(
        self, connection: Any, statement: Any
    ) -> Iterator[tuple[list[str], Sequence[Sequence[Any]]]]:
        """(column names, rows) per chunk; any failure becomes a DataSourceError. Only the
        database calls are guarded: what the consumer raises at ``yield`` passes through."""
        try:
            result = connection.execute(statement, dict(self.params))
            columns = list(result.keys())
            batches = result.partitions(self.chunk_rows)
            batch = next(batches, None)
        except Exception as exc:
            raise self._error(exc) from exc
        if batch is None:
            yield columns, []
            return
        while batch is not None:
            yield columns, batch
            try:
                batch = next(batches, None)
            except Exception as exc:
                raise self._error(exc) from exc

    def _error(self, exc: BaseException) -> DataSourceError:
        message = f"query {_shorten(self.query)!r} on {self.shown_url} failed: {_driver(exc)}"
        password = _password(self.url)
        if password:
            message = message.replace(password, "***")
        return DataSourceError(message, source=self.source)


class _Converter:
    """Rows → Arrow tables, keeping each column's type from chunk to chunk.

    The first chunk with a value settles a column's type; a later chunk whose values need a
    wider type (a longer decimal, a float among integers) gets the wider type, and
    ``read`` concatenates the chunks with that promotion.
    """

    def __init__(self, columns: list[str], source: str) -> None:
        repeated = sorted({c for c in columns if columns.count(c) > 1})
        if repeated:
            raise DataSourceError(
                f"{source}: the query returns the column(s) {', '.join(map(repr, repeated))} "
                "more than once; give every column its own name (AS …)",
                source=source,
            )
        self.columns = columns
        self.source = source
        self.types: list[pa.DataType | None] = [None] * len(columns)

    def table(self, rows: Sequence[Sequence[Any]]) -> pa.Table:
        import pyarrow as pa

        values: list[Sequence[Any]] = list(zip(*rows, strict=True)) if rows else []
        arrays = []
        for i, name in enumerate(self.columns):
            array = self._array(name, values[i] if values else (), self.types[i])
            if not pa.types.is_null(array.type):
                self.types[i] = array.type
            arrays.append(array)
        return pa.Table.from_arrays(arrays, names=self.columns)

    def _array(self, name: str, column: Sequence[Any], known: pa.DataType | None) -> pa.Array:
        import uuid

        import pyarrow as pa

        first = next((v for v in column if v is not None), None)
        if isinstance(first, uuid.UUID):  # text is what every table library reads back
            column = [None if v is None else str(v) for v in column]
        try:
            return pa.array(column, type=known)
        except (pa.ArrowException, OverflowError, TypeError) as exc:
            problem: BaseException = exc
        if known is not None:
            try:
                own = pa.array(column)
                wider = pa.unify_schemas(
                    [pa.schema([(name, known)]), pa.schema([(name, own.type)])],
                    promote_options="permissive",
                )
                return own.cast(wider.field(0).type)
            except (pa.ArrowException, OverflowError, TypeError):
                pass
        kinds = {type(v) for v in column if v is not None}
        if len(kinds) == 1 and not kinds & {list, tuple, dict, bytes, bytearray, memoryview}:
            try:  # a type Arrow does not know (network addresses, enums…): keep its text
                return pa.array([None if v is None else str(v) for v in column], type=known)
            except (pa.ArrowException, OverflowError, TypeError):
                pass
        kind_names = ", ".join(sorted(k.__name__ for k in kinds)) or "none"
        earlier = f" after earlier rows made it {known}" if known is not None else ""
        raise DataSourceError(
            f"{self.source}: cannot convert column {name!r} to Arrow ({_first_line(problem)}): "
            f"its values are {kind_names}{earlier}; CAST it to one type in the query",
            source=self.source,
            column=name,
        )


# -- URLs and messages -----------------------------------------------------------------------


def _parse_url(url: str) -> str:
    """The URL as messages show it (no password, no secret options); checks it early."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    if not isinstance(url, str):
        raise ConveyorError(f"read_sql needs the database URL as a string, got {type(url)}")
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise DataSourceError(
            "read_sql: cannot parse the database URL (expected dialect+driver://user@host/"
            "database, for example sqlite:///data.db)",
            source="sql",
        ) from None
    shown = _without_secrets(parsed)
    try:
        parsed.get_dialect()
    except NoSuchModuleError:
        raise DataSourceError(
            f"read_sql: {shown}: SQLAlchemy has no dialect {parsed.drivername!r} (a misspelt "
            "name, or a dialect package that is not installed?)",
            source=shown,
        ) from None
    return shown


def _without_secrets(parsed: URL) -> str:
    from sqlalchemy.engine import URL

    query = {
        k: v for k, v in parsed.query.items() if not any(s in k.lower() for s in _SECRET_QUERY_KEYS)
    }
    safe = URL.create(
        parsed.drivername,
        username=parsed.username,
        host=parsed.host,
        port=parsed.port,
        database=parsed.database,
        query=query,
    )
    return safe.render_as_string(hide_password=False)


def _password(url: str) -> str | None:
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).password
    except Exception:
        return None


def _driver(exc: BaseException) -> str:
    """The first line of the driver's own message. SQLAlchemy's wrapper only adds the SQL and
    a link; the driver's later lines quote the statement as sent, which with a server-side
    cursor is wrapped in a ``DECLARE … CURSOR FOR`` the user never wrote."""
    original = getattr(exc, "orig", None)
    return _first_line(original if isinstance(original, BaseException) else exc)


def _first_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    text = lines[0] if lines else type(exc).__name__
    return text if len(text) <= 500 else text[:500] + "…"


def _shorten(query: str) -> str:
    flat = " ".join(query.split())
    return flat if len(flat) <= _SHOWN_QUERY else flat[: _SHOWN_QUERY - 1] + "…"
