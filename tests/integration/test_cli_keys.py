"""``conveyor keys generate/status/rotate`` and a pipeline run with encryption at rest, end to
end on a SQLite store and an artifact folder in a temporary directory."""

from __future__ import annotations

import base64
import json
import os
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from conveyor.core import load_settings
from conveyor.core._errors import ArtifactDecryptionError
from conveyor.engine import Workspace
from conveyor.store import (
    EncryptedArtifactStore,
    FsspecArtifactStore,
    census,
    key_id,
)
from tests._cli import invoke

OLD = bytes(range(32))
NEW = bytes(range(100, 132))
MARKER = "zebra-marker-51c3"


def text(key: bytes) -> str:
    return base64.urlsafe_b64encode(key).decode()


def artifacts(tmp_path: Path) -> FsspecArtifactStore:
    return FsspecArtifactStore(str(tmp_path / "home" / "artifacts"))


def test_generate_prints_a_new_key_and_its_id(cli: CliRunner) -> None:
    first, second = invoke(cli, "keys", "generate"), invoke(cli, "keys", "generate")
    assert first.exit_code == 0, first.output
    key = first.stdout.strip()
    assert len(base64.urlsafe_b64decode(key)) == 32
    assert second.stdout.strip() != key
    assert f"key id {key_id(base64.urlsafe_b64decode(key))}" in first.stderr
    assert key not in first.stderr


def test_status_without_encryption_counts_plaintext_blobs(cli: CliRunner, tmp_path: Path) -> None:
    artifacts(tmp_path).put(b"one")
    artifacts(tmp_path).put(b"two")
    result = invoke(cli, "keys", "status")
    assert result.exit_code == 0, result.output
    assert result.output.startswith("encryption: off (set CONVEYOR_ENCRYPTION_KEY")
    assert "blobs: 2" in result.output
    assert result.output.splitlines()[-1].split()[:2] == ["plaintext", "2"]


def test_rotation_end_to_end(
    cli: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    raw = artifacts(tmp_path)
    under_old = EncryptedArtifactStore(raw, OLD)
    blobs = {under_old.put(f"blob {i}".encode()): f"blob {i}".encode() for i in range(4)}
    blobs[raw.put(b"from before encryption")] = b"from before encryption"
    monkeypatch.setenv("CONVEYOR_ENCRYPTION_KEY", text(NEW))
    monkeypatch.setenv("CONVEYOR_ENCRYPTION_OLD_KEYS", text(OLD))

    status = invoke(cli, "keys", "status")
    assert status.exit_code == 0, status.output
    assert f"current key: {key_id(NEW)}" in status.output
    assert f"old keys: {key_id(OLD)}" in status.output
    rows = {line.split()[0]: line for line in status.output.splitlines() if line[:2] == "  "}
    assert rows[key_id(OLD)].split()[1] == "4" and "old key" in rows[key_id(OLD)]
    assert rows["plaintext"].split()[1] == "1"

    before = {a: raw.get_raw(a) for a in blobs}
    dry = invoke(cli, "keys", "rotate", "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "dry run: nothing was written" in dry.output
    assert "would be re-encrypted (were under an old key): 4" in dry.output
    assert "would be encrypted (were plaintext): 1" in dry.output
    assert {a: raw.get_raw(a) for a in blobs} == before

    done = invoke(cli, "keys", "rotate")
    assert done.exit_code == 0, done.output
    assert "re-encrypted (were under an old key): 4" in done.output
    assert "encrypted (were plaintext): 1" in done.output
    assert "already under the current key: 0" in done.output
    again = invoke(cli, "keys", "rotate")
    assert "already under the current key: 5" in again.output
    assert "re-encrypted (were under an old key): 0" in again.output

    counted = json.loads(invoke(cli, "keys", "status", "--json").stdout)
    assert counted == {
        "encrypted": True,
        "artifacts": str(tmp_path / "home" / "artifacts"),
        "current_key_id": key_id(NEW),
        "old_key_ids": [key_id(OLD)],
        "blobs": 5,
        "plaintext": 0,
        "by_key": {key_id(NEW): 5},
    }
    only_new = EncryptedArtifactStore(raw, NEW)  # the old key may now be dropped
    assert {a: only_new.get(a) for a in blobs} == blobs


def test_rotate_lists_blobs_it_cannot_read_and_fails(
    cli: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    raw = artifacts(tmp_path)
    lost = EncryptedArtifactStore(raw, OLD).put(b"under a key that is not configured")
    fine = raw.put(b"plaintext")
    monkeypatch.setenv("CONVEYOR_ENCRYPTION_KEY", text(NEW))
    result = invoke(cli, "keys", "rotate")
    assert result.exit_code == 2
    assert "encrypted (were plaintext): 1" in result.stdout
    assert f"{lost}: artifact {lost} is encrypted with key {key_id(OLD)}" in result.stderr
    assert "1 blob(s) could not be re-encrypted" in result.stderr
    assert census(raw).by_key == dict(sorted({key_id(OLD): 1, key_id(NEW): 1}.items()))
    assert EncryptedArtifactStore(raw, NEW).get(fine) == b"plaintext"


def test_rotate_needs_a_current_key(cli: CliRunner) -> None:
    result = invoke(cli, "keys", "rotate")
    assert result.exit_code == 2
    assert "encryption is off" in result.stderr and "CONVEYOR_ENCRYPTION_KEY" in result.stderr


@pytest.mark.parametrize("command", [("keys", "status"), ("keys", "rotate"), ("runs", "list")])
def test_a_malformed_key_is_a_clear_error_that_never_shows_the_key(
    cli: CliRunner, monkeypatch: pytest.MonkeyPatch, command: tuple[str, ...]
) -> None:
    bad = "my-secret-passphrase-not-a-key"
    monkeypatch.setenv("CONVEYOR_ENCRYPTION_KEY", bad)
    result = invoke(cli, *command)
    assert result.exit_code == 2
    assert "CONVEYOR_ENCRYPTION_KEY is not a valid encryption key" in result.stderr
    assert bad not in result.output


# -- a pipeline run with encryption on ---------------------------------------------------------

PIPELINE = f'''
import pandas as pd
import polars as pl

import conveyor as cv

MARKER = "{MARKER}"


@cv.step
def greet() -> str:
    return "hello " + MARKER


@cv.step
def record(text: str) -> dict:
    return {{"note": text, "n": 3}}


@cv.step
def table(text: str) -> pd.DataFrame:
    return pd.DataFrame({{"note": [text] * 5, "x": range(5)}})


@cv.step
def tag(part: pl.DataFrame) -> pl.DataFrame:
    return part.with_columns(pl.lit("part " + MARKER).alias("tagged"))


@cv.pipeline
def secret(path: str = "in.csv"):
    text = greet()
    record(text)
    table(text)
    cv.map(tag, cv.read_csv(path), partitions=2)  # parts written by worker processes
'''


def test_a_run_with_encryption_on_leaves_no_plaintext_on_disk(
    cli: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "pipe.py").write_text(textwrap.dedent(PIPELINE))
    (tmp_path / "in.csv").write_text("a,b\n1,2\n3,4\n5,6\n7,8\n")
    key = invoke(cli, "keys", "generate").stdout.strip()
    needed = key_id(base64.urlsafe_b64decode(key))
    monkeypatch.setenv("CONVEYOR_ENCRYPTION_KEY", key)

    result = invoke(cli, "run", "pipe.py")
    assert result.exit_code == 0, result.output

    home = tmp_path / "home"
    files = [p for p in home.rglob("*") if p.is_file()]
    assert any(p.name.startswith("conveyor.db") for p in files)  # the SQLite file (and WAL)
    assert any("sha256" in p.parts for p in files)
    for path in files:
        assert MARKER.encode() not in path.read_bytes(), path
    counted = census(artifacts(tmp_path))
    assert counted.plaintext == 0 and set(counted.by_key) == {needed}

    settings = load_settings(os.environ, tmp_path)
    with Workspace.open(settings) as ws:
        run = ws.metadata.list_runs()[0]
        outputs = {
            s.step: ws.metadata.get_artifact(s.outputs[0].artifact_id)
            for s in ws.metadata.step_runs(run.id)
        }
        assert all(record.inline is None for record in outputs.values())
        assert all("profile" not in record.meta for record in outputs.values())
        assert ws.values.load(outputs["greet"]) == f"hello {MARKER}"
        assert ws.values.load(outputs["record"]) == {"note": f"hello {MARKER}", "n": 3}
        assert list(ws.values.load(outputs["table"])["note"]) == [f"hello {MARKER}"] * 5
        tagged = ws.values.load(outputs["tag"]).to_polars()
        assert tagged["tagged"].to_list() == [f"part {MARKER}"] * 4

    monkeypatch.delenv("CONVEYOR_ENCRYPTION_KEY")
    with (
        Workspace.open(load_settings(os.environ, tmp_path)) as ws,
        pytest.raises(ArtifactDecryptionError) as info,
    ):
        ws.values.load(outputs["greet"])
    assert info.value.details["key_id"] == needed
