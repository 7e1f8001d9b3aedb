"""The shipped Alembic migrations: head, schema, fast re-open, and concurrent first opens."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from conveyor.errors import StoreError
from conveyor.store import open_metadata_store
from conveyor.store.sql._migrate import HEAD_REVISION, alembic_config
from conveyor.store.sql._tables import metadata


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/nested/conveyor.db"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
def engine(db_url: str) -> Iterator[sa.Engine]:
    created = sa.create_engine(db_url)
    yield created
    created.dispose()


def _revision(engine: sa.Engine) -> str | None:
    with engine.connect() as connection:
        value = connection.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
    return None if value is None else str(value)


def test_head_revision_constant_matches_the_migration_scripts() -> None:
    script = ScriptDirectory.from_config(alembic_config())
    assert script.get_heads() == [HEAD_REVISION]


def test_every_revision_file_is_in_one_line_of_history() -> None:
    script = ScriptDirectory.from_config(alembic_config())
    revisions = list(script.walk_revisions())
    files = list((Path(script.dir) / "versions").glob("*.py"))
    assert len(revisions) == len(files)  # no file was left out of the chain
    assert revisions[-1].down_revision is None


def _schema(engine: sa.Engine) -> dict[str, object]:
    """Everything the inspector sees of each table, comparable between two databases."""
    inspector = sa.inspect(engine)

    def named(items: list[dict[str, object]]) -> list[str]:
        return sorted(repr(sorted((k, repr(v)) for k, v in item.items())) for item in items)

    schema: dict[str, object] = {}
    for table in sorted(inspector.get_table_names()):
        columns = [
            {k: (str(v) if k == "type" else v) for k, v in column.items()}
            for column in inspector.get_columns(table)
        ]
        schema[table] = {
            "columns": named(columns),  # type: ignore[arg-type]
            "primary key": inspector.get_pk_constraint(table)["constrained_columns"],
            "foreign keys": named(inspector.get_foreign_keys(table)),  # type: ignore[arg-type]
            "indexes": named(inspector.get_indexes(table)),  # type: ignore[arg-type]
            "unique": named(inspector.get_unique_constraints(table)),  # type: ignore[arg-type]
        }
    return schema


def test_the_migrations_build_exactly_what_the_tables_describe(
    db_url: str, engine: sa.Engine
) -> None:
    _folder_for(db_url)
    _migrate_to(db_url, "head")
    assert _revision(engine) == HEAD_REVISION
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), metadata)
    assert differences == []


def test_a_fresh_database_is_created_at_head_as_the_migrations_would_build_it(
    db_url: str, engine: sa.Engine
) -> None:
    open_metadata_store(db_url).close()  # an empty database: created from _tables, stamped
    assert _revision(engine) == HEAD_REVISION
    tables = set(sa.inspect(engine).get_table_names())
    assert {"runs", "step_runs", "artifacts", "step_run_artifacts", "alembic_version"} <= tables
    assert {"params", "metrics", "latest_metrics", "tags", "logged_artifacts"} <= tables
    assert {"model_versions", "model_aliases", "alias_moves", "gate_decisions"} <= tables
    created = _schema(engine)
    # the same database rebuilt by replaying every migration
    with engine.begin() as connection:
        reflected = sa.MetaData()
        reflected.reflect(connection)
        reflected.drop_all(connection)
    _migrate_to(db_url, "head")
    assert _schema(engine) == created


def test_a_database_holding_part_of_the_schema_is_upgraded_not_recreated(
    db_url: str, engine: sa.Engine
) -> None:
    _folder_for(db_url)
    _migrate_to(db_url, "0001")
    open_metadata_store(db_url).close()
    assert _revision(engine) == HEAD_REVISION
    with engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), metadata) == []


def test_opening_again_is_a_no_op(db_url: str, engine: sa.Engine) -> None:
    from datetime import UTC, datetime

    from conveyor.store import RunRecord

    first = open_metadata_store(db_url)
    first.create_run(RunRecord("run-1", "p", "running", datetime.now(UTC)))
    first.close()
    second = open_metadata_store(db_url)
    assert second.get_run("run-1").pipeline == "p"
    second.close()
    assert _revision(engine) == HEAD_REVISION
    with engine.connect() as connection:
        rows = connection.execute(sa.text("SELECT count(*) FROM alembic_version")).scalar()
    assert rows == 1


def test_opening_a_store_at_head_does_not_import_alembic(db_url: str) -> None:
    open_metadata_store(db_url).close()
    code = textwrap.dedent(
        f"""
        import sys
        from conveyor.store import open_metadata_store
        open_metadata_store({db_url!r}).close()
        print("alembic" in sys.modules)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"


def test_a_database_from_a_newer_conveyor_is_refused(db_url: str, engine: sa.Engine) -> None:
    open_metadata_store(db_url).close()
    with engine.begin() as connection:
        connection.execute(sa.text("UPDATE alembic_version SET version_num = '9999'"))
    with pytest.raises(StoreError, match="newer"):
        open_metadata_store(db_url)


_WORKER = textwrap.dedent(
    """
    import os, sys, time
    from datetime import UTC, datetime
    from conveyor.core import content_address
    from conveyor.store import (ArtifactLink, ArtifactRecord, RunRecord, StepRunRecord,
                                WriteBatch, open_metadata_store)

    url, worker, go = sys.argv[1], sys.argv[2], sys.argv[3]
    while not os.path.exists(go):
        time.sleep(0.001)
    store = open_metadata_store(url)
    now = datetime.now(UTC)
    store.create_run(RunRecord(f"run-{worker}", "p", "running", now))

    def artifact(data):
        return ArtifactRecord(content_address(data), "json", "int", len(data), now, inline=data)

    shared = artifact(b"shared")
    for i in range(200):
        own = artifact(f"{worker}-{i}".encode())
        step = StepRunRecord(
            f"sr-{worker}-{i}", f"run-{worker}", f"s{i}", "succeeded", now, datetime.now(UTC),
            cache_key=f"{worker}-{i}", inputs=(ArtifactLink("x", shared.id),),
            outputs=(ArtifactLink("out", own.id),),
        )
        store.commit(WriteBatch(artifacts=(shared, own), step_runs=(step,)))
    store.close()
    """
)


@pytest.mark.slow
def test_two_processes_open_a_fresh_store_and_write_at_once(db_url: str, tmp_path: Path) -> None:
    go = tmp_path / "go"
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", _WORKER, db_url, name, str(go)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in ("a", "b")
    ]
    go.touch()  # both start at once, on a database that does not exist yet
    for worker in workers:
        _, stderr = worker.communicate(timeout=240)
        assert worker.returncode == 0, stderr
    store = open_metadata_store(db_url)
    try:
        for name in ("a", "b"):
            step_runs = store.step_runs(f"run-{name}")
            assert [s.id for s in step_runs] == [f"sr-{name}-{i}" for i in range(200)]
            assert all(len(s.inputs) == 1 and len(s.outputs) == 1 for s in step_runs)
            assert store.find_cached(f"{name}-199") is not None
    finally:
        store.close()


def _folder_for(url: str) -> None:
    """Alembic alone does not create a SQLite file's folder (the store does)."""
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)


def _migrate_to(url: str, revision: str, *, down: bool = False) -> None:
    from alembic import command

    engine = sa.create_engine(url)
    try:
        with engine.begin() as connection:
            config = alembic_config()
            config.attributes["connection"] = connection
            (command.downgrade if down else command.upgrade)(config, revision)
    finally:
        engine.dispose()


def test_runs_from_before_tracking_keep_their_params_searchable(
    db_url: str, engine: sa.Engine
) -> None:
    from datetime import UTC, datetime

    from conveyor.store import Condition, RunData, RunQuery, RunRecord, TrackingBatch

    _folder_for(db_url)
    _migrate_to(db_url, "0002")
    with engine.begin() as connection:  # a run as conveyor wrote it at revision 0002
        connection.execute(
            sa.text(
                "INSERT INTO runs (id, pipeline, status, started_at, params, source, targets, "
                "host, pid) VALUES ('run-old', 'p', 'succeeded', :at, :params, '', '[]', 'h', 1)"
            ),
            {"at": datetime(2025, 1, 1), "params": '{"n": 300, "model": "rf", "on": true}'},
        )
    store = open_metadata_store(db_url)  # migrates to head
    try:
        old = store.get_run("run-old")
        assert (old.user, old.parent_id, old.git_dirty, old.environment) == ("", None, None, {})
        data = store.run_data(["run-old"])["run-old"]
        assert data == RunData(params={"model": '"rf"', "n": "300", "on": "true"})
        found = store.search_runs(RunQuery(conditions=(Condition("params", "n", ">", 200),)))
        assert [r.id for r in found] == ["run-old"]
        store.log_batch(TrackingBatch("run-old", params=(("n", "1"),)))
        store.create_run(RunRecord("run-new", "p", "running", datetime.now(UTC), user="ana"))
    finally:
        store.close()

    _migrate_to(db_url, "0002", down=True)
    tables = set(sa.inspect(engine).get_table_names())
    assert not {"params", "metrics", "model_versions", "alias_moves"} & tables
    columns = {c["name"] for c in sa.inspect(engine).get_columns("runs")}
    assert "user" not in columns and "environment" not in columns
    reopened = open_metadata_store(db_url)  # back to head: the runs are there, tracking anew
    try:
        assert reopened.get_run("run-new").user == ""
        assert reopened.run_data(["run-old"])["run-old"].params["n"] == "300"
    finally:
        reopened.close()
