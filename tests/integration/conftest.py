"""Fixtures of the end-to-end tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    """A CLI runner whose stores live in the test's own folder (its working directory)."""
    monkeypatch.setenv("CONVEYOR_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("CONVEYOR_DB_URL", raising=False)
    monkeypatch.delenv("CONVEYOR_ARTIFACTS", raising=False)
    monkeypatch.chdir(tmp_path)
    return CliRunner()
