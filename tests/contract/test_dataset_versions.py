"""The dataset-version part of the MetadataStore contract, on memory, SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from conveyor.core import content_address
from conveyor.errors import ConveyorError, DatasetNotFound, StoreError
from conveyor.store import (
    ArtifactRecord,
    DatasetVersionRecord,
    MetadataStore,
    open_metadata_store,
)
from tests._threads import run_on_threads

T0 = datetime(2025, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)


def manifest(data: bytes, **changes: Any) -> ArtifactRecord:
    record = ArtifactRecord(
        id=content_address(data),
        materializer="dataset",
        type_name="conveyor.Dataset",
        size=len(data),
        created_at=T0,
        rows=10,
        inline=data,
        meta={"columns": ["a", "b"]},
    )
    return dataclasses.replace(record, **changes)


def register(store: MetadataStore, name: str, data: bytes = b"m", **kwargs: Any) -> int:
    kwargs.setdefault("created_at", T0)
    return store.register_dataset_version(name, manifest(data), **kwargs).version


# -- numbering --------------------------------------------------------------------------------


def test_versions_are_numbered_per_name_from_one(store: MetadataStore) -> None:
    assert [register(store, "churn", f"c{i}".encode()) for i in range(3)] == [1, 2, 3]
    assert register(store, "other") == 1
    assert register(store, "churn", b"c0") == 4  # the same rows again are still a new version
    assert store.get_dataset_version("churn").version == 4
    assert store.get_dataset_version("churn", 2).artifact_id == content_address(b"c1")


def test_a_version_round_trips_every_field(store: MetadataStore) -> None:
    tokyo = timezone(timedelta(hours=9))
    artifact = manifest(b"rows", rows=1000)
    record = store.register_dataset_version(
        "sales.eu-2025_v2",
        artifact,
        created_at=datetime(2025, 3, 1, 21, 0, 0, 999999, tzinfo=tokyo),
        run_id="run-abc",
        description="EU sales, cleaned ✓",
        meta={"columns": ["a"], "dtypes": {"a": "int64"}, "profile": {"rows": 1000, "t": (1, 2)}},
    )
    assert record == DatasetVersionRecord(
        name="sales.eu-2025_v2",
        version=1,
        artifact_id=artifact.id,
        created_at=datetime(2025, 3, 1, 12, 0, 0, 999999, tzinfo=UTC),
        rows=1000,
        run_id="run-abc",
        description="EU sales, cleaned ✓",
        meta={"columns": ["a"], "dtypes": {"a": "int64"}, "profile": {"rows": 1000, "t": [1, 2]}},
    )
    assert store.get_dataset_version("sales.eu-2025_v2", 1) == record
    assert store.get_dataset_version("sales.eu-2025_v2") == record
    assert store.list_dataset_versions() == [record]


def test_rows_default_to_the_artifacts_and_may_be_given(store: MetadataStore) -> None:
    store.register_dataset_version("a", manifest(b"1", rows=7), created_at=T0)
    store.register_dataset_version("a", manifest(b"2", rows=None), created_at=T0)
    store.register_dataset_version("a", manifest(b"3", rows=7), created_at=T0, rows=9)
    assert [v.rows for v in store.list_dataset_versions("a")] == [7, None, 9]
    assert [v.run_id for v in store.list_dataset_versions("a")] == [None, None, None]


def test_registering_inserts_the_artifact_if_absent(store: MetadataStore) -> None:
    first = manifest(b"same", type_name="first")
    store.register_dataset_version("a", first, created_at=T0)
    assert store.get_artifact(first.id) == first
    store.register_dataset_version("b", manifest(b"same", type_name="second"), created_at=T0)
    assert store.get_artifact(first.id) == first
    assert store.get_dataset_version("b").artifact_id == first.id


# -- not found --------------------------------------------------------------------------------


def test_an_unknown_name_is_dataset_not_found(store: MetadataStore) -> None:
    register(store, "churn")
    with pytest.raises(DatasetNotFound, match="no dataset named 'chrun'") as info:
        store.get_dataset_version("chrun")
    assert "conveyor data list" in str(info.value)
    assert info.value.details["versions"] == []
    with pytest.raises(DatasetNotFound):
        store.get_dataset_version("Churn")  # names are case-sensitive on every backend
    with pytest.raises(DatasetNotFound):
        store.get_dataset_version("ch%", 1)


@pytest.mark.parametrize("version", [0, -1, 3, 2**40])
def test_an_unknown_version_lists_the_versions_there_are(
    store: MetadataStore, version: int
) -> None:
    register(store, "churn", b"1")
    register(store, "churn", b"2")
    with pytest.raises(DatasetNotFound) as info:
        store.get_dataset_version("churn", version)
    message = str(info.value)
    assert f"'churn' has no version {version}" in message
    assert "its versions are 1, 2" in message
    assert info.value.details == {"name": "churn", "version": version, "versions": [1, 2]}


def test_a_long_history_is_cut_to_the_newest_versions(store: MetadataStore) -> None:
    for i in range(25):
        register(store, "big", str(i).encode())
    with pytest.raises(DatasetNotFound, match=r"versions are …, 6, 7, .*, 25$") as info:
        store.get_dataset_version("big", 99)
    assert info.value.details["versions"] == list(range(6, 26))


def test_a_version_must_be_a_whole_number(store: MetadataStore) -> None:
    register(store, "churn")
    for bad in (True, "1", 1.0):
        with pytest.raises(ConveyorError, match="whole number"):
            store.get_dataset_version("churn", bad)  # type: ignore[arg-type]


# -- listing ----------------------------------------------------------------------------------


def test_list_by_name_then_oldest_first(store: MetadataStore) -> None:
    for name in ("b", "a", "B", "b", "a.x", "a"):
        register(store, name, name.encode())
    listed = [(v.name, v.version) for v in store.list_dataset_versions()]
    assert listed == [("B", 1), ("a", 1), ("a", 2), ("a.x", 1), ("b", 1), ("b", 2)]
    assert [(v.name, v.version) for v in store.list_dataset_versions("a")] == [("a", 1), ("a", 2)]
    assert store.list_dataset_versions("nope") == []


def test_returned_versions_are_copies(store: MetadataStore) -> None:
    store.register_dataset_version("a", manifest(b"x"), created_at=T0, meta={"columns": ["x"]})
    first = store.get_dataset_version("a")
    first.meta["columns"].append("y")  # type: ignore[attr-defined]
    assert store.get_dataset_version("a").meta == {"columns": ["x"]}


# -- input checks -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["", "a b", "churn@2", "a/b", "ü", "x" * 201, "tab\t", None])
def test_names_outside_the_alphabet_are_refused(store: MetadataStore, name: Any) -> None:
    with pytest.raises(ConveyorError, match="cannot name a dataset") as info:
        register(store, name)
    assert "letters, digits" in str(info.value)
    assert store.list_dataset_versions() == []


@pytest.mark.parametrize("name", ["x" * 200, "a", "A.b-c_9", "-", "..."])
def test_names_in_the_alphabet_are_accepted(store: MetadataStore, name: str) -> None:
    assert register(store, name) == 1
    assert store.get_dataset_version(name).name == name


def test_bad_fields_are_refused_before_anything_is_stored(store: MetadataStore) -> None:
    with pytest.raises(StoreError, match="timezone-aware"):
        register(store, "a", created_at=datetime(2025, 1, 1))
    with pytest.raises(StoreError, match="JSON"):
        register(store, "a", meta={"x": float("nan")})
    with pytest.raises(StoreError, match="rows"):
        register(store, "a", rows=-1)
    with pytest.raises(StoreError, match="artifact address"):
        store.register_dataset_version("a", manifest(b"x", id="sha256:nope"), created_at=T0)
    assert store.list_dataset_versions() == []
    assert register(store, "a") == 1


# -- concurrency ------------------------------------------------------------------------------


def test_concurrent_registrations_get_distinct_consecutive_numbers(store: MetadataStore) -> None:
    got: list[int] = []

    def work(worker: int) -> None:
        for i in range(5):
            record = store.register_dataset_version(
                "shared", manifest(f"{worker}-{i}".encode()), created_at=T0, run_id=str(worker)
            )
            got.append(record.version)
        store.register_dataset_version(f"own-{worker}", manifest(b"own"), created_at=T0)

    assert run_on_threads(work, 8) == []
    assert sorted(got) == list(range(1, 41))
    listed = store.list_dataset_versions("shared")
    assert [v.version for v in listed] == list(range(1, 41))
    assert len({v.artifact_id for v in listed}) == 40
    assert [store.get_dataset_version(f"own-{w}").version for w in range(8)] == [1] * 8


# -- the migration that added them ------------------------------------------------------------


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/conveyor.db"
    url: str = request.getfixturevalue("postgres_url")
    return url


def _migrate_to(url: str, revision: str, *, down: bool = False) -> set[str]:
    """Run Alembic to ``revision`` and return the tables there are afterwards."""
    import sqlalchemy as sa
    from alembic import command

    from conveyor.store.sql._migrate import alembic_config

    engine = sa.create_engine(url)
    try:
        with engine.begin() as connection:
            config = alembic_config()
            config.attributes["connection"] = connection
            (command.downgrade if down else command.upgrade)(config, revision)
        return set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_a_database_from_before_datasets_upgrades_and_downgrades(db_url: str) -> None:
    from conveyor.store import RunRecord

    assert "dataset_versions" not in _migrate_to(db_url, "0001")
    old = open_metadata_store(db_url)  # at 0001 it is migrated on open, keeping what is there
    old.create_run(RunRecord("run-1", "p", "running", T0))
    register(old, "churn")
    old.close()

    tables = _migrate_to(db_url, "0001", down=True)
    assert "dataset_versions" not in tables and "runs" in tables

    store = open_metadata_store(db_url)  # back to head: an empty table again
    try:
        assert store.get_run("run-1").pipeline == "p"
        assert store.list_dataset_versions() == []
        assert register(store, "churn") == 1
    finally:
        store.close()
