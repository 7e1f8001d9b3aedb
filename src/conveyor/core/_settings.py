"""Settings: CONVEYOR_* environment variables over ``conveyor.toml`` over defaults.

Read once, by an entry point (the CLI, ``Pipeline.run``), and passed down; nothing here runs at
import time. Knows nothing of what the settings configure.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from conveyor.core._errors import ConfigurationError

_PREFIX = "CONVEYOR_"
KEY_BYTES = 32  # AES-256
_DEFAULT_INLINE_LIMIT = 64 * 1024


@dataclass(frozen=True, slots=True)
class Settings:
    """Where conveyor keeps its metadata and artifacts, and how it runs steps."""

    home: Path
    db_url: str
    artifacts: str
    workers: int | None = None
    inline_limit: int = _DEFAULT_INLINE_LIMIT  # outputs up to this size live in the metadata store
    # AES-256 keys of the artifact store: blobs are written under the current key and read under
    # it or an old one. Secrets: kept out of repr, so they never reach a log or a traceback.
    encryption_key: bytes | None = field(default=None, repr=False)
    encryption_old_keys: tuple[bytes, ...] = field(default=(), repr=False)
    # A team server (CONVEYOR_TRACKING_URI) holds the metadata and the artifacts: db_url and
    # artifacts are then its URL, and every request carries the token.
    tracking_uri: str | None = None
    token: str | None = field(default=None, repr=False)
    # Where served models write their prediction and feedback logs and monitors read them: the
    # artifact store, or with a team server a folder or fsspec URL of their own (the server
    # stores blobs by content, not appendable logs).
    prediction_logs: str | None = None  # None: the artifact store

    @property
    def prediction_log_url(self) -> str:
        """Where the prediction and feedback logs are (a folder or fsspec URL)."""
        return self.prediction_logs or self.artifacts

    @property
    def is_remote(self) -> bool:
        """Whether a team server holds the metadata and artifacts."""
        return self.tracking_uri is not None

    @property
    def is_encrypted(self) -> bool:
        """Whether artifacts are written encrypted (a current key is configured)."""
        return self.encryption_key is not None

    def with_changes(self, **changes: object) -> Settings:
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]


def load_settings(environ: Mapping[str, str], project_dir: Path) -> Settings:
    """CONVEYOR_* variables over conveyor.toml over defaults. Called only by entry points."""
    file_values = _read_toml(project_dir / "conveyor.toml")

    def value(key: str) -> str | None:
        env = environ.get(_PREFIX + key.upper())
        if env not in (None, ""):
            return env
        found = file_values.get(key)
        return None if found is None else str(found)

    home_text = value("home")
    home = Path(home_text) if home_text else project_dir / ".conveyor"
    if not home.is_absolute():
        home = (project_dir / home).resolve()
    db_url = value("db_url") or f"sqlite:///{home / 'conveyor.db'}"
    artifacts = value("artifacts") or str(home / "artifacts")
    key, old_keys = _encryption_keys(environ, file_values, project_dir)
    tracking_uri, token = _server(environ, file_values, value("tracking_uri"), key)
    prediction_logs = value("prediction_logs")
    if tracking_uri is not None:
        db_url = artifacts = tracking_uri
        prediction_logs = prediction_logs or str(home / "prediction-logs")
    inline_limit = _count("inline_limit", value("inline_limit"), minimum=0)
    if inline_limit is None:
        inline_limit = _DEFAULT_INLINE_LIMIT
    return Settings(
        home=home,
        db_url=db_url,
        artifacts=artifacts,
        workers=_count("workers", value("workers"), minimum=1),
        # with encryption on no value may rest in plaintext in the metadata store: every value
        # goes to the (encrypted) artifact store, however small
        inline_limit=0 if key is not None else inline_limit,
        encryption_key=key,
        encryption_old_keys=old_keys,
        tracking_uri=tracking_uri,
        token=token,
        prediction_logs=prediction_logs,
    )


def _server(
    environ: Mapping[str, str],
    file_values: Mapping[str, object],
    uri: str | None,
    key: bytes | None,
) -> tuple[str | None, str | None]:
    """The team server's URL and the token to send it, checked."""
    if "token" in file_values:
        raise ConfigurationError(
            "conveyor.toml holds token: a token does not belong in a file that is shared or "
            "committed. Set CONVEYOR_TOKEN",
            key="token",
        )
    token = environ.get(_PREFIX + "TOKEN") or None
    if uri is None:
        return None, None
    uri = uri.strip().rstrip("/")
    parts = urlsplit(uri)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigurationError(
            f"CONVEYOR_TRACKING_URI must be the http:// or https:// URL of a team server, "
            f"got {uri!r}",
            key="tracking_uri",
        )
    if token is None:
        raise ConfigurationError(
            f"CONVEYOR_TRACKING_URI names the team server {uri}, but CONVEYOR_TOKEN is not set: "
            "ask an admin for a token (`conveyor tokens create --user NAME`, on the server)",
            key="token",
        )
    if key is not None:
        # the server encrypts what it stores; a client's key would either do nothing or
        # encrypt blobs nobody else could read
        raise ConfigurationError(
            "an encryption key is set beside CONVEYOR_TRACKING_URI: encryption at rest is the "
            "team server's setting; unset CONVEYOR_ENCRYPTION_KEY (and _FILE) on this client",
            key="encryption_key",
        )
    return uri, token


def _read_toml(path: Path) -> dict[str, object]:
    if not path.is_file():
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigurationError(f"{path} is not valid TOML: {exc}", path=str(path)) from exc
    section = data.get("conveyor", data)
    if not isinstance(section, dict):
        raise ConfigurationError(f"{path}: [conveyor] must be a table", path=str(path))
    return section


def _count(key: str, text: str | None, *, minimum: int) -> int | None:
    if text is None:
        return None
    try:
        number = int(text)
    except ValueError:
        number = minimum - 1
    if number < minimum:
        kind = "a positive whole number" if minimum == 1 else "a whole number, 0 or more"
        raise ConfigurationError(f"setting {key} must be {kind}, got {text!r}", key=key, value=text)
    return number


# -- encryption keys ---------------------------------------------------------------------------
# The key is given as text (CONVEYOR_ENCRYPTION_KEY) or in a file (…_KEY_FILE); old keys, still
# accepted for reading, the same way. Keys themselves are refused in conveyor.toml: that file is
# shared and committed, so only the names of key files may be written there. No message ever
# includes a key, only where it came from.


def _encryption_keys(
    environ: Mapping[str, str], file_values: Mapping[str, object], project_dir: Path
) -> tuple[bytes | None, tuple[bytes, ...]]:
    for secret in ("encryption_key", "encryption_old_keys"):
        if secret in file_values:
            raise ConfigurationError(
                f"conveyor.toml holds {secret}: keys do not belong in a file that is shared or "
                f"committed. Set CONVEYOR_{secret.upper()}, or name a file holding the keys "
                f"with {secret}_file",
                key=secret,
            )

    def given(key: str) -> tuple[str, str] | None:
        """The value of a setting and where it came from, or None."""
        env = environ.get(_PREFIX + key.upper())
        if env not in (None, ""):
            return env, _PREFIX + key.upper()
        found = file_values.get(key)
        return None if found in (None, "") else (str(found), f"{key} in conveyor.toml")

    def read(found: tuple[str, str]) -> tuple[str, str]:
        text, origin = found
        path = Path(text).expanduser()
        path = path if path.is_absolute() else project_dir / path
        try:
            return path.read_text(encoding="utf-8"), f"{origin} ({path})"
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "unreadable"
            raise ConfigurationError(
                f"{origin} names {path}, which cannot be read as a key file: {reason}",
                key=origin,
                path=str(path),
            ) from None

    text, text_file = given("encryption_key"), given("encryption_key_file")
    if text is not None and text_file is not None:
        raise ConfigurationError(
            f"both {text[1]} and {text_file[1]} are set: give the encryption key one way only",
            key="encryption_key",
        )
    key = None
    if text is not None:
        key = parse_key(text[0], text[1])
    elif text_file is not None:
        key = parse_key(*read(text_file))

    old: list[bytes] = []
    listed = given("encryption_old_keys")
    if listed is not None:
        old += _key_list(listed[0].split(","), listed[1])
    listed_file = given("encryption_old_keys_file")
    if listed_file is not None:
        contents, origin = read(listed_file)
        lines = [line.split("#", 1)[0] for line in contents.splitlines()]
        old += _key_list(lines, origin, what="line")
    if old and key is None:
        # without a current key blobs would be written in plaintext, silently, while the user
        # believes encryption is still on
        raise ConfigurationError(
            "old encryption keys are configured but no current key: set "
            "CONVEYOR_ENCRYPTION_KEY or CONVEYOR_ENCRYPTION_KEY_FILE",
            key="encryption_key",
        )
    unique = tuple(dict.fromkeys(k for k in old if k != key))
    return key, unique


def _key_list(entries: list[str], origin: str, what: str = "entry") -> list[bytes]:
    numbered = [(n, e.strip()) for n, e in enumerate(entries, start=1)]
    return [parse_key(e, f"{what} {n} of {origin}") for n, e in numbered if e]


def parse_key(text: str, origin: str) -> bytes:
    """The 32 bytes of a key written as base64 text (URL-safe or standard, padding optional).

    ``origin`` names where the text came from, for the error; the text is never shown.
    """
    cleaned = "".join(text.split()).replace("+", "-").replace("/", "_")
    cleaned += "=" * (-len(cleaned) % 4)
    try:
        key = base64.b64decode(cleaned, altchars=b"-_", validate=True)
    except (binascii.Error, ValueError):
        key = b""
    if len(key) != KEY_BYTES:
        raise ConfigurationError(
            f"{origin} is not a valid encryption key: expected {KEY_BYTES} random bytes written "
            "as base64 text, as `conveyor keys generate` prints",
            key=origin,
        )
    return key
