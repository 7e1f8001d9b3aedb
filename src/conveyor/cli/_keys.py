"""``conveyor keys``: make an encryption key, see which key each artifact is under, and
re-encrypt the artifact store under the current key.

The commands parse, call ``conveyor.store`` and print; the store is imported inside them, so
``conveyor --help`` stays light. Errors reach ``_app``'s one handler, which prints them and
exits 2. The work itself (the format, rotation) is ``conveyor.store``'s.
"""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from conveyor.core import Settings
    from conveyor.store import Census, RotationReport

_TURN_ON = "set CONVEYOR_ENCRYPTION_KEY or CONVEYOR_ENCRYPTION_KEY_FILE to turn it on"
_PROGRESS_EVERY = 1000  # blobs between progress lines of a long rotation


@click.group("keys")
def keys_group() -> None:
    """Encryption at rest of the artifact store.

    With CONVEYOR_ENCRYPTION_KEY (or CONVEYOR_ENCRYPTION_KEY_FILE) set, artifacts are written
    AES-GCM encrypted; keys in CONVEYOR_ENCRYPTION_OLD_KEYS (or ..._OLD_KEYS_FILE) are still
    accepted for reading. To change keys without downtime: add the new key to the old keys
    everywhere; then make it the current key everywhere, with the previous one among the old
    keys; run `conveyor keys rotate`; when `conveyor keys status` shows no blob under the
    previous key, remove it.
    """


@keys_group.command("generate")
def keys_generate() -> None:
    """Print a new random key (32 bytes, URL-safe base64) on standard output."""
    from conveyor.store import generate_key, key_id

    key = generate_key()
    click.echo(key)
    click.echo(
        f"key id {key_id(base64.urlsafe_b64decode(key))}: keep the key secret, and keep a "
        "copy; what is encrypted with it cannot be read without it",
        err=True,
    )


@keys_group.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
def keys_status(as_json: bool) -> None:
    """Whether encryption is on, the current key's id, and how many blobs are under each key
    id and in plaintext (a scan of the artifact store, reading each blob's header)."""
    from conveyor.store import census, key_id, raw_artifact_store

    settings = _settings()
    counted = census(raw_artifact_store(settings.artifacts))
    current = None if settings.encryption_key is None else key_id(settings.encryption_key)
    old = [key_id(k) for k in settings.encryption_old_keys]
    if as_json:
        payload = {
            "encrypted": settings.is_encrypted,
            "artifacts": settings.artifacts,
            "current_key_id": current,
            "old_key_ids": old,
            "blobs": counted.total,
            "plaintext": counted.plaintext,
            "by_key": counted.by_key,
        }
        click.echo(json.dumps(payload, indent=2))
        return
    click.echo(f"encryption: {'on' if current else 'off (' + _TURN_ON + ')'}")
    if current is not None:
        click.echo(f"current key: {current}")
        click.echo(f"old keys: {', '.join(old) if old else 'none'}")
    click.echo(f"artifacts: {settings.artifacts}")
    _census_lines(counted, current, old)


def _census_lines(counted: Census, current: str | None, old: list[str]) -> None:
    click.echo(f"blobs: {counted.total}")
    rows = [(k, n, _key_note(k, current, old)) for k, n in counted.by_key.items()]
    if counted.plaintext:
        note = "not encrypted: run `conveyor keys rotate`" if current else "not encrypted"
        rows.append(("plaintext", counted.plaintext, note))
    width = max((len(str(n)) for _, n, _ in rows), default=1)
    for name, count, note in rows:
        click.echo(f"  {name:<16}  {count:>{width}}  {note}")


def _key_note(found: str, current: str | None, old: list[str]) -> str:
    if found == current:
        return "current key"
    if found in old:
        return "old key: run `conveyor keys rotate`"
    return "key not configured: these blobs cannot be read here"


@keys_group.command("rotate")
@click.option("--dry-run", is_flag=True, help="Report what would be re-encrypted; write nothing.")
def keys_rotate(dry_run: bool) -> None:
    """Re-encrypt under the current key every blob that is under an old key or in plaintext.

    Each blob is replaced in one atomic write, so processes that hold both keys keep reading
    throughout. Safe to interrupt and to run again: blobs already under the current key are
    skipped. Blobs that cannot be read (a key that is not configured, damaged bytes) are left
    as they are and listed; the command then exits with status 2.
    """
    from conveyor.core._errors import ConfigurationError, StoreError
    from conveyor.store import EncryptedArtifactStore, raw_artifact_store

    settings = _settings()
    if settings.encryption_key is None:
        raise ConfigurationError(
            f"encryption is off, so there is no key to rotate to: {_TURN_ON}, with the keys "
            "to rotate away from in CONVEYOR_ENCRYPTION_OLD_KEYS",
            key="encryption_key",
        )
    store = EncryptedArtifactStore(
        raw_artifact_store(settings.artifacts),
        settings.encryption_key,
        settings.encryption_old_keys,
    )
    seen = 0

    def progress(address: str, state: str) -> None:
        nonlocal seen
        seen += 1
        if seen % _PROGRESS_EVERY == 0:
            click.echo(f"{seen} blobs checked", err=True)

    report = store.rotate(dry_run=dry_run, on_blob=progress)
    _report_lines(report)
    if report.failed:
        for address, why in report.failed:
            click.echo(f"  {address}: {why}", err=True)
        raise StoreError(
            f"{len(report.failed)} blob(s) could not be re-encrypted and were left as they "
            "were (listed above); configure the keys they need or restore them, then run "
            "`conveyor keys rotate` again",
            failed=[address for address, _ in report.failed],
        )


def _report_lines(report: RotationReport) -> None:
    would = "would be " if report.dry_run else ""
    if report.dry_run:
        click.echo("dry run: nothing was written")
    click.echo(f"current key: {report.key_id}")
    click.echo(f"{would}re-encrypted (were under an old key): {report.reencrypted}")
    click.echo(f"{would}encrypted (were plaintext): {report.encrypted}")
    click.echo(f"already under the current key: {report.current}")
    if report.failed:
        click.echo(f"{'would fail' if report.dry_run else 'failed'}: {len(report.failed)}")


def _settings() -> Settings:
    from conveyor.core import load_settings

    return load_settings(os.environ, Path.cwd())
