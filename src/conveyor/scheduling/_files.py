"""File triggers: which files match a schedule's glob, and which of them are new.

A file is known by its absolute path. Once seen it never triggers again, even if it is
rewritten, so incoming data should arrive under new names (``sales-2026-03-01.csv``). Writers
should write under a name the glob does not match and rename when done, so a run never starts
on a half-written file.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Collection

from conveyor.core._errors import SchedulerError

SHOWN = 5  # new files named in a fire's reason; the rest are counted


def check_pattern(pattern: str) -> str:
    if not pattern.strip():
        raise SchedulerError("--on-new-files needs a glob, e.g. 'data/incoming/*.csv'")
    if "\x00" in pattern:
        raise SchedulerError(f"{pattern!r} is not a glob: it holds a NUL character")
    return pattern


def matching_files(pattern: str, workdir: str) -> set[str]:
    """Absolute paths of the files (not folders) matching ``pattern``; a relative pattern is
    read from ``workdir``. ``**`` matches any depth."""
    full = pattern if os.path.isabs(pattern) else os.path.join(glob.escape(workdir), pattern)
    return {os.path.abspath(p) for p in glob.glob(full, recursive=True) if os.path.isfile(p)}


def new_files(pattern: str, workdir: str, seen: Collection[str]) -> list[str]:
    """The matching files not in ``seen``, sorted."""
    return sorted(matching_files(pattern, workdir) - set(seen))


def describe_new(paths: Collection[str], workdir: str) -> str:
    """``2 new files: a.csv, b.csv`` with paths relative to ``workdir`` where they are in it."""
    shown = [_relative(p, workdir) for p in sorted(paths)[:SHOWN]]
    more = f", and {len(paths) - SHOWN} more" if len(paths) > SHOWN else ""
    noun = "file" if len(paths) == 1 else "files"
    return f"{len(paths)} new {noun}: {', '.join(shown)}{more}"


def _relative(path: str, workdir: str) -> str:
    try:
        relative = os.path.relpath(path, workdir)
    except ValueError:  # another drive on Windows
        return path
    return path if relative.startswith("..") else relative
