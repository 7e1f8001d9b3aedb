"""What a run records about where it ran: user, git commit and dirty flag, Python, packages."""

from __future__ import annotations

import dataclasses
import functools
import getpass
import os
import platform
import socket
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from conveyor.engine._tracking import render_params
from conveyor.store import RunRecord

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


def new_run(
    run_id: str,
    pipeline: str,
    params: Mapping[str, object],
    *,
    source: str = "",
    targets: Sequence[str] = (),
    parent: RunRecord | None = None,
) -> RunRecord:
    """The record of a run starting now in this process. A child run ran where its parent
    did: it takes the parent's user, git state and packages instead of reading them again."""
    now = datetime.now(UTC)
    record = RunRecord(
        id=run_id,
        pipeline=pipeline,
        status="running",
        started_at=now,
        params=render_params(params),
        source=source,
        targets=tuple(targets),
        heartbeat_at=now,
        host=socket.gethostname(),
        pid=os.getpid(),
    )
    if parent is not None:
        return dataclasses.replace(
            record,
            parent_id=parent.id,
            user=parent.user,
            git_commit=parent.git_commit,
            git_dirty=parent.git_dirty,
            environment=parent.environment,
        )
    found = capture(source)
    return dataclasses.replace(
        record,
        user=found.user,
        git_commit=found.git_commit,
        git_dirty=found.git_dirty,
        environment=found.details,
    )


def capture(source: str) -> Environment:
    """The environment of a run whose pipeline came from ``source`` (a file; "" for none)."""
    commit, dirty = git_state(Path(source).resolve().parent if source else Path.cwd())
    details: dict[str, object] = {**_interpreter(), "packages": packages()}
    return Environment(user=current_user(), git_commit=commit, git_dirty=dirty, details=details)


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
def current_user() -> str:
    """The login name, or "" where there is none (no passwd entry, no USER variable)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # as in some containers
        return ""
