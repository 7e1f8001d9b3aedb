"""Pipelines run on a real PostgreSQL metadata store, through the CLI, as users would."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from conveyor.cli import app

PIPELINES = Path(__file__).parent.parent / "pipelines"

pytestmark = pytest.mark.postgres


def test_run_cache_and_lineage_on_postgresql(
    postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CONVEYOR_DB_URL", postgres_url)
    monkeypatch.setenv("CONVEYOR_ARTIFACTS", str(tmp_path / "artifacts"))
    monkeypatch.chdir(tmp_path)
    cli = CliRunner()
    first = cli.invoke(app, ["run", str(PIPELINES / "basic.py"), "-p", "n=6"])
    assert first.exit_code == 0, first.output
    second = cli.invoke(app, ["run", str(PIPELINES / "basic.py"), "-p", "n=6", "-p", "scale=3"])
    assert "numbers: cached" in second.output and "report: succeeded" in second.output
    listed = cli.invoke(app, ["runs", "list"])
    assert listed.output.count("succeeded") == 2
    run_id = second.output.split("conveyor runs show ")[1].split()[0]
    lineage = cli.invoke(app, ["lineage", run_id])
    assert "step numbers" in lineage.output and lineage.exit_code == 0
    assert not (tmp_path / ".conveyor" / "conveyor.db").exists()  # nothing went to SQLite
