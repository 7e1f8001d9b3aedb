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


def test_a_tracking_uri_needs_a_token_and_a_server_url(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="CONVEYOR_TOKEN is not set"):
        load_settings({"CONVEYOR_TRACKING_URI": "http://127.0.0.1:1"}, tmp_path)
    with pytest.raises(ConfigurationError, match="http:// or https:// URL"):
        load_settings({"CONVEYOR_TRACKING_URI": "ftp://x", "CONVEYOR_TOKEN": "t"}, tmp_path)
    (tmp_path / "conveyor.toml").write_text('token = "cvt_secret"\n')
    with pytest.raises(ConfigurationError, match="does not belong in a file"):
        load_settings({}, tmp_path)


def test_a_tracking_uri_makes_the_server_hold_metadata_and_artifacts(tmp_path: Path) -> None:
    env = {"CONVEYOR_TRACKING_URI": "https://cv.example.com/", "CONVEYOR_TOKEN": "cvt_x"}
    settings = load_settings(env, tmp_path)
    assert settings.is_remote
    assert settings.db_url == settings.artifacts == "https://cv.example.com"
    # the server keeps blobs by content; the logs served models append stay on a folder
    assert settings.prediction_log_url == str(tmp_path / ".conveyor" / "prediction-logs")
    assert "cvt_x" not in repr(settings)
    local = load_settings({}, tmp_path)
    assert not local.is_remote and local.prediction_log_url == local.artifacts


def test_a_client_of_a_server_holds_no_encryption_key(tmp_path: Path) -> None:
    env = {
        "CONVEYOR_TRACKING_URI": "http://127.0.0.1:8080",
        "CONVEYOR_TOKEN": "cvt_x",
        "CONVEYOR_ENCRYPTION_KEY": "A" * 43,
    }
    with pytest.raises(ConfigurationError, match="the team server's setting"):
        load_settings(env, tmp_path)
