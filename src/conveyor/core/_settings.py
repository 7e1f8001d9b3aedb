"""Settings: CONVEYOR_* environment variables over ``conveyor.toml`` over defaults.

Read once, by an entry point (the CLI, ``Pipeline.run``), and passed down; nothing here runs at
import time. Knows nothing of what the settings configure.
"""

from __future__ import annotations

import dataclasses
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from conveyor.core._errors import ConfigurationError

_PREFIX = "CONVEYOR_"


@dataclass(frozen=True, slots=True)
class Settings:
    """Where conveyor keeps its metadata and artifacts, and how it runs steps."""

    home: Path
    db_url: str
    artifacts: str
    workers: int | None = None
    inline_limit: int = 64 * 1024  # outputs up to this many bytes live in the metadata store

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
    return Settings(
        home=home,
        db_url=db_url,
        artifacts=artifacts,
        workers=_positive_int("workers", value("workers")),
        inline_limit=_positive_int("inline_limit", value("inline_limit")) or 64 * 1024,
    )


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


def _positive_int(key: str, text: str | None) -> int | None:
    if text is None:
        return None
    try:
        number = int(text)
    except ValueError:
        number = 0
    if number < 1:
        raise ConfigurationError(
            f"setting {key} must be a positive whole number, got {text!r}", key=key, value=text
        )
    return number
