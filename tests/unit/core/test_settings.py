from __future__ import annotations

from pathlib import Path

import pytest

from conveyor.core import load_settings
from conveyor.errors import ConfigurationError


def test_defaults_live_under_dot_conveyor_in_the_project(tmp_path: Path) -> None:
    settings = load_settings({}, tmp_path)
    assert settings.home == tmp_path / ".conveyor"
    assert settings.db_url == f"sqlite:///{tmp_path / '.conveyor' / 'conveyor.db'}"
    assert settings.artifacts == str(tmp_path / ".conveyor" / "artifacts")


def test_environment_wins_over_the_file_which_wins_over_defaults(tmp_path: Path) -> None:
    (tmp_path / "conveyor.toml").write_text(
        '[conveyor]\nhome = "store"\nworkers = 3\nartifacts = "/from/file"\n'
    )
    settings = load_settings({"CONVEYOR_ARTIFACTS": "s3://bucket/x"}, tmp_path)
    assert settings.home == (tmp_path / "store").resolve()
    assert settings.workers == 3
    assert settings.artifacts == "s3://bucket/x"
    assert settings.db_url.endswith("store/conveyor.db")


def test_a_bad_value_names_the_setting(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="workers must be a positive whole number"):
        load_settings({"CONVEYOR_WORKERS": "many"}, tmp_path)
    (tmp_path / "conveyor.toml").write_text("[conveyor\n")
    with pytest.raises(ConfigurationError, match="not valid TOML"):
        load_settings({}, tmp_path)
