"""Encryption keys in the settings: where they come from, and how a bad one is reported."""

from __future__ import annotations

import base64
import pickle
from pathlib import Path

import pytest

from conveyor.core import load_settings
from conveyor.errors import ConfigurationError
from conveyor.store import generate_key

KEY = bytes(range(32))
OLD = bytes(range(32, 64))
OLDER = bytes(range(64, 96))


def text(key: bytes) -> str:
    return base64.urlsafe_b64encode(key).decode()


def test_without_a_key_encryption_is_off_and_values_may_be_inline(tmp_path: Path) -> None:
    settings = load_settings({}, tmp_path)
    assert not settings.is_encrypted
    assert settings.encryption_key is None and settings.encryption_old_keys == ()
    assert settings.inline_limit == 64 * 1024


def test_a_key_in_the_environment_turns_encryption_on_and_inline_values_off(
    tmp_path: Path,
) -> None:
    environ = {"CONVEYOR_ENCRYPTION_KEY": text(KEY), "CONVEYOR_INLINE_LIMIT": "4096"}
    settings = load_settings(environ, tmp_path)
    assert settings.is_encrypted and settings.encryption_key == KEY
    assert settings.inline_limit == 0  # nothing may rest in plaintext in the metadata store


def test_keys_from_files_relative_to_the_project(tmp_path: Path) -> None:
    (tmp_path / "keys").mkdir()
    (tmp_path / "keys" / "current").write_text(text(KEY) + "\n")
    (tmp_path / "keys" / "old").write_text(f"# retired in May\n{text(OLD)}\n\n{text(OLDER)}\n")
    (tmp_path / "conveyor.toml").write_text(
        '[conveyor]\nencryption_key_file = "keys/current"\nencryption_old_keys_file = "keys/old"\n'
    )
    settings = load_settings({}, tmp_path)
    assert settings.encryption_key == KEY
    assert settings.encryption_old_keys == (OLD, OLDER)


def test_old_keys_from_a_list_and_a_file_are_merged_without_repeats(tmp_path: Path) -> None:
    (tmp_path / "old").write_text(f"{text(OLDER)}\n{text(OLD)}\n")
    environ = {
        "CONVEYOR_ENCRYPTION_KEY": text(KEY),
        "CONVEYOR_ENCRYPTION_OLD_KEYS": f"{text(OLD)}, {text(KEY)},",
        "CONVEYOR_ENCRYPTION_OLD_KEYS_FILE": str(tmp_path / "old"),
    }
    assert load_settings(environ, tmp_path).encryption_old_keys == (OLD, OLDER)


@pytest.mark.parametrize(
    "written",
    [
        generate_key(),
        base64.b64encode(KEY).decode(),  # standard alphabet, as `openssl rand -base64 32` gives
        base64.urlsafe_b64encode(KEY).decode().rstrip("="),  # padding left off
        f"  {base64.urlsafe_b64encode(KEY).decode()}\n",
    ],
)
def test_key_text_in_either_base64_alphabet_is_accepted(tmp_path: Path, written: str) -> None:
    key = load_settings({"CONVEYOR_ENCRYPTION_KEY": written}, tmp_path).encryption_key
    assert key is not None and len(key) == 32


@pytest.mark.parametrize(
    "bad",
    [
        "correct horse battery staple",
        "c2hvcnQ=",  # valid base64, 5 bytes
        base64.urlsafe_b64encode(bytes(33)).decode(),
        base64.urlsafe_b64encode(KEY).decode()[:-3] + "!!=",
    ],
)
def test_a_malformed_key_names_the_variable_never_the_key(tmp_path: Path, bad: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        load_settings({"CONVEYOR_ENCRYPTION_KEY": bad}, tmp_path)
    message = str(info.value)
    assert "CONVEYOR_ENCRYPTION_KEY is not a valid encryption key" in message
    assert bad.strip() not in message and bad not in repr(info.value.details)
    assert "conveyor keys generate" in message


def test_a_malformed_old_key_is_named_by_its_position(tmp_path: Path) -> None:
    environ = {
        "CONVEYOR_ENCRYPTION_KEY": text(KEY),
        "CONVEYOR_ENCRYPTION_OLD_KEYS": f"{text(OLD)},not-a-key",
    }
    with pytest.raises(ConfigurationError, match="entry 2 of CONVEYOR_ENCRYPTION_OLD_KEYS"):
        load_settings(environ, tmp_path)
    (tmp_path / "old").write_text(f"{text(OLD)}\nnot-a-key\n")
    environ = {"CONVEYOR_ENCRYPTION_KEY": text(KEY), "CONVEYOR_ENCRYPTION_OLD_KEYS_FILE": "old"}
    with pytest.raises(ConfigurationError, match="line 2 of CONVEYOR_ENCRYPTION_OLD_KEYS_FILE"):
        load_settings(environ, tmp_path)


def test_a_key_file_that_cannot_be_read_is_named(tmp_path: Path) -> None:
    environ = {"CONVEYOR_ENCRYPTION_KEY_FILE": "missing.key"}
    with pytest.raises(ConfigurationError) as info:
        load_settings(environ, tmp_path)
    assert "CONVEYOR_ENCRYPTION_KEY_FILE" in str(info.value)
    assert str(tmp_path / "missing.key") in str(info.value)


def test_a_key_given_two_ways_is_refused(tmp_path: Path) -> None:
    (tmp_path / "key").write_text(text(KEY))
    environ = {"CONVEYOR_ENCRYPTION_KEY": text(KEY), "CONVEYOR_ENCRYPTION_KEY_FILE": "key"}
    with pytest.raises(ConfigurationError, match="one way only"):
        load_settings(environ, tmp_path)


def test_old_keys_without_a_current_key_are_refused(tmp_path: Path) -> None:
    # otherwise blobs would silently be written in plaintext while the old keys suggest otherwise
    with pytest.raises(ConfigurationError, match="no current key"):
        load_settings({"CONVEYOR_ENCRYPTION_OLD_KEYS": text(OLD)}, tmp_path)


@pytest.mark.parametrize("secret", ["encryption_key", "encryption_old_keys"])
def test_keys_themselves_are_refused_in_conveyor_toml(tmp_path: Path, secret: str) -> None:
    (tmp_path / "conveyor.toml").write_text(f'[conveyor]\n{secret} = "{text(KEY)}"\n')
    with pytest.raises(ConfigurationError) as info:
        load_settings({}, tmp_path)
    assert f"{secret}_file" in str(info.value) and text(KEY) not in str(info.value)


def test_keys_stay_out_of_the_repr_of_settings(tmp_path: Path) -> None:
    environ = {"CONVEYOR_ENCRYPTION_KEY": text(KEY), "CONVEYOR_ENCRYPTION_OLD_KEYS": text(OLD)}
    settings = load_settings(environ, tmp_path)
    shown = repr(settings) + str(settings)
    assert "encryption" not in shown
    for key in (KEY, OLD):
        assert text(key) not in shown and repr(key) not in shown
    # they do travel with the settings (to worker processes), and settings stay hashable
    assert pickle.loads(pickle.dumps(settings)) == settings
    assert hash(settings) == hash(load_settings(environ, tmp_path))


def test_an_inline_limit_of_zero_is_accepted(tmp_path: Path) -> None:
    # what a scheduler passes to the runs it starts when encryption is on
    assert load_settings({"CONVEYOR_INLINE_LIMIT": "0"}, tmp_path).inline_limit == 0
    with pytest.raises(ConfigurationError, match="0 or more"):
        load_settings({"CONVEYOR_INLINE_LIMIT": "-1"}, tmp_path)
