"""What a run records about where it ran: user, git commit and dirty flag, Python, packages."""

from __future__ import annotations

import functools
import getpass
import platform
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

# Versions worth knowing when a result has to be reproduced; others are listed if imported.
_KEY_PACKAGES = ("conveyor", "numpy", "pandas", "polars", "pyarrow", "scikit-learn")
_IF_IMPORTED = {
    "xgboost": "xgboost",
    "lightgbm": "lightgbm",
    "torch": "torch",
    "optuna": "optuna",
    "scipy": "scipy",
}
_GIT_SECONDS = 5.0


@dataclass(frozen=True, slots=True)
class Environment:
    user: str = ""
    git_commit: str | None = None
    git_dirty: bool | None = None
    details: dict[str, object] = field(default_factory=dict)


def capture(source: str) -> Environment:
    """The environment of a run whose pipeline came from ``source`` (a file; "" for none)."""
    commit, dirty = git_state(Path(source).resolve().parent if source else Path.cwd())
    details: dict[str, object] = {**_interpreter(), "packages": packages()}
    return Environment(user=_user(), git_commit=commit, git_dirty=dirty, details=details)


def git_state(folder: Path) -> tuple[str | None, bool | None]:
    """HEAD's commit and whether tracked files differ from it; (None, None) outside a work tree
    or without git."""
    try:
        done = subprocess.run(
            ["git", "status", "--porcelain=v2", "--branch", "--untracked-files=no"],
            cwd=folder,
            capture_output=True,
            text=True,
            timeout=_GIT_SECONDS,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None, None
    if done.returncode != 0:
        return None, None
    commit = None
    dirty = False
    for line in done.stdout.splitlines():
        if line.startswith("# branch.oid "):
            oid = line.split()[-1]
            commit = None if oid == "(initial)" else oid
        elif line and not line.startswith("#"):
            dirty = True
    return commit, dirty


def packages() -> dict[str, str]:
    versions = dict(_installed())
    for name, module in _IF_IMPORTED.items():
        loaded = sys.modules.get(module)
        version = getattr(loaded, "__version__", None)
        if isinstance(version, str):
            versions[name] = version
    return versions


@functools.cache
def _installed() -> tuple[tuple[str, str], ...]:
    from importlib import metadata

    found = []
    for name in _KEY_PACKAGES:
        try:
            found.append((name, metadata.version(name)))
        except metadata.PackageNotFoundError:
            continue
    return tuple(found)


@functools.cache
def _interpreter() -> dict[str, str]:
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(terse=True),
    }


@functools.cache
def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry and no USER variable, as in some containers
        return ""
