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


def test_a_fresh_database_gets_the_schema_through_alembic(db_url: str, engine: sa.Engine) -> None:
    open_metadata_store(db_url).close()
    assert _revision(engine) == HEAD_REVISION
    tables = set(sa.inspect(engine).get_table_names())
    assert {"runs", "step_runs", "artifacts", "step_run_artifacts", "alembic_version"} <= tables
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), metadata)
    assert differences == []  # the migrations build exactly what _tables describes


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
