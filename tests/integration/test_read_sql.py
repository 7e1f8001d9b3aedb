"""``read_sql`` against real databases: a SQLite file, and the PostgreSQL server the test suite
starts. Each behaviour runs on both; types only PostgreSQL has are tested on it alone."""

from __future__ import annotations

import pickle
import socket
import uuid
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
import sqlalchemy as sa

import conveyor as cv
from conveyor.data._partitions import ArtifactPartition
from conveyor.data._sql import SqlPartition, read_sql
from conveyor.errors import DataSourceError
from conveyor.testing import settings_for

ROWS = 25
CREATE = "CREATE TABLE people (id integer, name text, score double precision, note text)"


def people(n: int = ROWS) -> list[dict[str, Any]]:
    return [
        {"id": i, "name": f"p{i}", "score": i / 2, "note": None if i < 12 else f"n{i}"}
        for i in range(n)
    ]


def execute(url: str, *statements: str, rows: Sequence[dict[str, Any]] = ()) -> None:
    """Run DDL statements, then insert ``rows`` with the last statement."""
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.begin() as connection:
            for statement in statements[:-1] if rows else statements:
                connection.execute(sa.text(statement))
            if rows:
                connection.execute(sa.text(statements[-1]), list(rows))
    finally:
        engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database URL with the table ``people`` (25 rows; ``note`` is null in rows 0-11)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'source.db'}"
    else:
        url = str(request.getfixturevalue("postgres_url"))
    insert = "INSERT INTO people VALUES (:id, :name, :score, :note)"
    execute(url, CREATE, insert, rows=people())
    return url


def sql_partition(dataset: cv.Dataset) -> SqlPartition:
    (part,) = dataset.partitions
    assert isinstance(part, SqlPartition)
    return part


# -- reading ---------------------------------------------------------------------------------


def test_a_result_larger_than_a_chunk_streams_in_chunks_every_row_once(db: str) -> None:
    dataset = read_sql("SELECT * FROM people ORDER BY id", db, chunk_rows=10)
    chunks = list(dataset.iter_tables())
    assert [c.num_rows for c in chunks] == [10, 10, 5]
    ids = [i for chunk in chunks for i in chunk.column("id").to_pylist()]
    assert ids == list(range(ROWS))
    expected = {"id": pa.int64(), "name": pa.string(), "score": pa.float64()}
    for chunk in chunks:
        assert chunk.column_names == ["id", "name", "score", "note"]
        assert {name: chunk.schema.field(name).type for name in expected} == expected
    assert dataset.to_arrow().to_pylist() == people()


def test_a_column_null_throughout_the_first_chunk_takes_the_type_of_later_rows(db: str) -> None:
    table = read_sql("SELECT id, note FROM people ORDER BY id", db, chunk_rows=10).to_arrow()
    assert table.schema.field("note").type == pa.string()
    assert table.column("note").null_count == 12
    assert table.column("note").to_pylist()[12:14] == ["n12", "n13"]


def test_reading_the_partition_returns_all_rows_as_one_table(db: str) -> None:
    part = sql_partition(read_sql("SELECT id FROM people ORDER BY id", db, chunk_rows=7))
    table = part.read()
    assert table.num_rows == ROWS and table.column("id").to_pylist() == list(range(ROWS))
    assert part.schema() == pa.schema([("id", pa.int64())])
    assert part.num_rows is None
    assert cv.Dataset([part]).describe() is None  # exists only now: stored when returned


def test_query_parameters_are_bound_by_name(db: str) -> None:
    dataset = read_sql(
        "SELECT name FROM people WHERE id >= :low AND id < :high ORDER BY id",
        db,
        params={"low": 3, "high": 6},
    )
    assert dataset.to_arrow().column("name").to_pylist() == ["p3", "p4", "p5"]


def test_an_empty_result_is_an_empty_table_with_the_columns(db: str) -> None:
    dataset = read_sql("SELECT id, name FROM people WHERE id < 0", db)
    chunks = list(dataset.iter_tables())
    assert len(chunks) == 1 and chunks[0].num_rows == 0
    assert dataset.to_arrow().column_names == ["id", "name"]


def test_the_partition_pickles_without_a_connection_and_reads_again(db: str) -> None:
    part = sql_partition(read_sql("SELECT id FROM people ORDER BY id", db, chunk_rows=10))
    again = pickle.loads(pickle.dumps(part))
    assert again == part and again.fingerprint() == part.fingerprint()
    assert again.read().num_rows == ROWS


# -- errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "driver_says"),
    [
        ("SELECT * FROM missing_table", "missing_table"),
        ("SELEC id FROM people", "syntax error"),
    ],
)
def test_a_failing_query_names_the_query_the_database_and_the_drivers_message(
    db: str, query: str, driver_says: str
) -> None:
    dataset = read_sql(query, db)  # nothing runs yet
    with pytest.raises(DataSourceError) as caught:
        dataset.to_arrow()
    message = str(caught.value)
    assert query in message and driver_says in message
    assert db in message  # these URLs hold no password, so they are shown whole
    assert caught.value.details["source"] == f"sql: {query} on {db}"


def test_columns_with_the_same_name_are_refused_with_the_name(db: str) -> None:
    dataset = read_sql("SELECT id, id FROM people", db)
    with pytest.raises(DataSourceError, match="'id' more than once"):
        dataset.to_arrow()


def test_a_refused_connection_is_reported_without_the_password() -> None:
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"postgresql+psycopg://reader:hunter2-secret@127.0.0.1:{port}/shop?sslmode=disable"
    dataset = read_sql("SELECT * FROM orders", url)
    part = sql_partition(dataset)
    with pytest.raises(DataSourceError) as caught:
        dataset.to_arrow()
    shown = f"postgresql+psycopg://reader@127.0.0.1:{port}/shop?sslmode=disable"
    assert shown in str(caught.value) and "SELECT * FROM orders" in str(caught.value)
    assert "refused" in str(caught.value).lower()
    for text in (
        str(caught.value),
        part.source,
        repr(part),
        repr(dataset),
        str(caught.value.details),
    ):
        assert "hunter2" not in text


def test_a_password_in_the_url_options_is_not_shown_either(tmp_path: Path) -> None:
    part = sql_partition(read_sql("SELECT 1", f"sqlite:///{tmp_path / 'x.db'}?password=hunter2"))
    assert "hunter2" not in part.source


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("not a url", "cannot parse the database URL"),
        ("nosuchdb://host/db", "no dialect 'nosuchdb'"),
    ],
)
def test_a_bad_url_is_refused_when_the_dataset_is_made(url: str, problem: str) -> None:
    with pytest.raises(DataSourceError, match=problem):
        read_sql("SELECT 1", url)


def test_a_missing_driver_is_named_when_the_rows_are_read() -> None:
    dataset = read_sql("SELECT 1", "mssql+pymssql://u:pw@localhost/db")
    with pytest.raises(DataSourceError, match="driver is not installed"):
        dataset.to_arrow()


@pytest.mark.parametrize(
    ("kwargs", "problem"), [({"chunk_rows": 0}, "chunk_rows"), ({"query": "  "}, "query")]
)
def test_bad_arguments_are_refused(tmp_path: Path, kwargs: dict[str, Any], problem: str) -> None:
    arguments: dict[str, Any] = {"query": "SELECT 1", "url": f"sqlite:///{tmp_path / 'x.db'}"}
    with pytest.raises(cv.errors.ConveyorError, match=problem):
        read_sql(**{**arguments, **kwargs})


# -- fingerprints ----------------------------------------------------------------------------


def test_every_dataset_from_a_query_has_a_new_fingerprint_unless_a_version_is_given(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'x.db'}"
    assert read_sql("SELECT 1", url).fingerprint() != read_sql("SELECT 1", url).fingerprint()
    fixed = read_sql("SELECT 1", url, version="2025-01").fingerprint()
    assert fixed == read_sql("SELECT 1", url, version="2025-01").fingerprint()
    assert fixed != read_sql("SELECT 1", url, version="2025-02").fingerprint()
    assert fixed != read_sql("SELECT 2", url, version="2025-01").fingerprint()
    with_params = read_sql("SELECT :x", url, params={"x": 1}, version="2025-01")
    assert (
        with_params.fingerprint()
        != read_sql("SELECT :x", url, params={"x": 2}, version="2025-01").fingerprint()
    )


def test_the_fingerprint_does_not_depend_on_the_password() -> None:
    def fingerprint(password: str) -> str:
        url = f"postgresql+psycopg://u:{password}@db.example/shop"
        return read_sql("SELECT 1", url, version="v1").fingerprint()

    assert fingerprint("old-password") == fingerprint("new-password")


# -- in a pipeline ---------------------------------------------------------------------------


def test_a_dataset_returned_by_a_step_is_stored_chunk_by_chunk(db: str, tmp_path: Path) -> None:
    @cv.step
    def export(url: str) -> cv.Dataset:
        return read_sql("SELECT * FROM people ORDER BY id", url, chunk_rows=10)

    @cv.step
    def count(rows: cv.Dataset) -> int:
        return rows.num_rows

    @cv.pipeline
    def snapshot(url: str = "") -> None:
        count(export(url))

    result = snapshot.run(url=db, settings=settings_for(tmp_path / "home"))
    assert result.status == "succeeded", result.failed_steps()
    assert result.outputs["count"] == ROWS
    stored = result.outputs["export"]
    assert isinstance(stored, cv.Dataset)
    assert [type(p) for p in stored.partitions] == [ArtifactPartition] * 3
    assert [p.num_rows for p in stored.partitions] == [10, 10, 5]
    execute(db, "DROP TABLE people")  # the stored copy no longer needs the database
    assert stored.to_arrow().to_pylist() == people()


def test_a_query_step_is_a_snapshot_unless_its_cache_is_off(db: str, tmp_path: Path) -> None:
    query = "SELECT id FROM people ORDER BY id"

    @cv.step
    def snapshot(url: str) -> cv.Dataset:
        return read_sql(query, url)

    @cv.step(cache=False)
    def live(url: str) -> cv.Dataset:
        return read_sql(query, url)

    @cv.step
    def count(rows: cv.Dataset) -> int:
        return rows.num_rows

    @cv.pipeline
    def once(url: str = "") -> None:
        count(snapshot(url))

    @cv.pipeline
    def always(url: str = "") -> None:
        count(live(url))

    settings = settings_for(tmp_path / "home")
    insert = "INSERT INTO people (id) VALUES (:id)"
    assert once.run(url=db, settings=settings).outputs["count"] == ROWS
    execute(db, insert, rows=[{"id": 100}])
    again = once.run(url=db, settings=settings)
    assert again.step("snapshot").status == "cached" and again.outputs["count"] == ROWS

    assert always.run(url=db, settings=settings).outputs["count"] == ROWS + 1
    same_rows = always.run(url=db, settings=settings)
    assert same_rows.step("live").status == "succeeded"
    assert same_rows.step("count").status == "cached"  # the stored parts are the same
    execute(db, insert, rows=[{"id": 101}])
    new_rows = always.run(url=db, settings=settings)
    assert new_rows.step("count").status == "succeeded" and new_rows.outputs["count"] == ROWS + 2


# -- PostgreSQL types ------------------------------------------------------------------------


@pytest.mark.postgres
def test_postgresql_types_convert_and_a_wider_decimal_in_a_later_chunk_widens_the_column(
    postgres_url: str,
) -> None:
    ids = [uuid.uuid4() for _ in range(3)]
    execute(
        postgres_url,
        "CREATE TABLE t (n integer, amount numeric, key uuid, flag boolean, at timestamptz)",
        "INSERT INTO t VALUES (:n, :amount, :key, :flag, now())",
        rows=[
            {"n": 0, "amount": Decimal("1.5"), "key": ids[0], "flag": True},
            {"n": 1, "amount": Decimal("12345.678"), "key": ids[1], "flag": None},
            {"n": 2, "amount": None, "key": ids[2], "flag": False},
        ],
    )
    table = read_sql("SELECT * FROM t ORDER BY n", postgres_url, chunk_rows=1).to_arrow()
    assert table.column("amount").to_pylist() == [Decimal("1.5"), Decimal("12345.678"), None]
    assert table.column("key").to_pylist() == [str(i) for i in ids]
    assert table.column("flag").to_pylist() == [True, None, False]
    assert pa.types.is_timestamp(table.schema.field("at").type)
    assert table.schema.field("at").type.tz is not None
