"""Input checks shared by the store adapters, so every adapter of a port accepts and rejects the
same input with the same errors.

Pure functions: no I/O, no SQLAlchemy. Adapter-specific storage code does not belong here.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import cast

from conveyor.core._errors import ConveyorError, DatasetNotFound, StoreError
from conveyor.store._records import (
    RUN_STATUSES,
    STEP_STATUSES,
    ArtifactRecord,
    DatasetVersionRecord,
)

AMBIGUOUS_SHOWN = 10
_ADDRESS = re.compile(r"sha256:[0-9a-f]{64}")
DATASET_NAME_MAX = 200
_DATASET_NAME = re.compile(r"[A-Za-z0-9_.-]+")
VERSIONS_SHOWN = 20


def address(value: str) -> str:
    """``value`` if it is a well-formed artifact address. Anything else is refused, so an
    address can never name a path outside an artifact store."""
    if not isinstance(value, str) or _ADDRESS.fullmatch(value) is None:
        raise StoreError(
            f"{value!r} is not an artifact address: expected 'sha256:' followed by "
            "64 lowercase hex digits",
            address=repr(value),
        )
    return value


def utc(value: datetime, what: str) -> datetime:
    """``value`` as UTC; a naive datetime is refused rather than guessed at."""
    if not isinstance(value, datetime) or value.tzinfo is None or value.utcoffset() is None:
        raise StoreError(
            f"{what} must be a timezone-aware datetime, got {value!r}; "
            "use datetime.now(UTC) or attach a tzinfo",
            field=what,
            value=repr(value),
        )
    return value.astimezone(UTC)


def utc_or_none(value: datetime | None, what: str) -> datetime | None:
    return None if value is None else utc(value, what)


def _one_of(status: str, allowed: tuple[str, ...], what: str) -> str:
    if status not in allowed:
        raise StoreError(
            f"{what} status must be one of {', '.join(allowed)}, got {status!r}", status=status
        )
    return status


def run_status(status: str) -> str:
    return _one_of(status, RUN_STATUSES, "run")


def step_status(status: str) -> str:
    return _one_of(status, STEP_STATUSES, "step run")


def json_dumps(value: object) -> str:
    """The JSON text every adapter stores. NaN and infinity are refused because PostgreSQL's
    JSON type refuses them, and the adapters must agree."""
    return json.dumps(value, allow_nan=False, separators=(",", ":"), ensure_ascii=False)


def json_copy(value: object, what: str) -> object:
    """``value`` as it comes back from a JSON column: tuples become lists, keys become strings."""
    try:
        return json.loads(json_dumps(value))
    except (TypeError, ValueError) as exc:
        raise not_json(what, exc) from exc


def not_json(what: str, exc: BaseException) -> StoreError:
    return StoreError(
        f"{what} must be JSON-able (str, int, float, bool, None, lists and dicts of them; "
        f"no NaN or infinity): {exc}",
        field=what,
    )


def ambiguous(kind: str, ref: str, candidates: Iterable[str]) -> StoreError:
    """The error for a prefix that matches several ids; names the first ten, sorted."""
    names = sorted(candidates)
    shown = names[:AMBIGUOUS_SHOWN]
    more = ", …" if len(names) > AMBIGUOUS_SHOWN else ""
    return StoreError(
        f"{ref!r} matches several {kind}s ({', '.join(shown)}{more}); "
        "give more characters of the id",
        ref=ref,
        candidates=shown,
    )


def commit_rejected(
    *,
    missing_runs: Iterable[str] = (),
    missing_artifacts: Iterable[str] = (),
    duplicate_step_runs: Iterable[str] = (),
) -> StoreError:
    """The error for a batch that refers to what is not stored, or repeats a step run."""
    runs, artifacts, dupes = (
        sorted(missing_runs),
        sorted(missing_artifacts),
        sorted(duplicate_step_runs),
    )
    problems = []
    if runs:
        problems.append(f"unknown runs {', '.join(runs)} (create_run first)")
    if artifacts:
        problems.append(
            f"links to unknown artifacts {', '.join(artifacts)} (put them in the same batch)"
        )
    if dupes:
        problems.append(f"step runs already stored {', '.join(dupes)}")
    return StoreError(
        "metadata store refused the batch: " + "; ".join(problems or ["constraint violated"]),
        missing_runs=runs,
        missing_artifacts=artifacts,
        duplicate_step_runs=dupes,
    )


def dataset_name(name: str) -> str:
    """``name`` if it can name a dataset: 1-200 letters, digits, ``_``, ``.`` or ``-`` (so
    ``NAME@VERSION`` is never ambiguous and a name is safe in a path or a URL)."""
    if (
        not isinstance(name, str)
        or len(name) > DATASET_NAME_MAX
        or _DATASET_NAME.fullmatch(name) is None
    ):
        raise ConveyorError(
            f"{name!r} cannot name a dataset: use 1 to {DATASET_NAME_MAX} letters, digits, "
            "'_', '.' or '-'",
            name=repr(name),
        )
    return name


def dataset_version(version: int | None) -> int | None:
    """``version`` if it can number a version (an int; bools are refused), or None."""
    if version is not None and (not isinstance(version, int) or isinstance(version, bool)):
        raise ConveyorError(
            f"a dataset version is a whole number, got {version!r}", version=repr(version)
        )
    return version


def dataset_not_found(name: str, version: int | None, existing: Iterable[int]) -> DatasetNotFound:
    """The error for a name or version that is not registered; lists the versions there are."""
    numbers = sorted(existing)
    if not numbers:
        return DatasetNotFound(
            f"no dataset named {name!r} is registered; `conveyor data list` shows the datasets",
            name=name,
            version=version,
            versions=[],
        )
    shown = ", ".join(str(n) for n in numbers[-VERSIONS_SHOWN:])
    older = "…, " if len(numbers) > VERSIONS_SHOWN else ""
    return DatasetNotFound(
        f"dataset {name!r} has no version {version}; its versions are {older}{shown}",
        name=name,
        version=version,
        versions=numbers[-VERSIONS_SHOWN:],
    )


def new_dataset_version(
    name: str,
    artifact: ArtifactRecord,
    *,
    created_at: datetime,
    rows: int | None,
    run_id: str | None,
    description: str,
    meta: Mapping[str, object] | None,
) -> DatasetVersionRecord:
    """The checked record to store, numbered 0 until the adapter assigns its number.

    ``rows`` defaults to the artifact's; meta comes back as a JSON round trip would give it.
    """
    if rows is None:
        rows = artifact.rows
    if rows is not None and (not isinstance(rows, int) or isinstance(rows, bool) or rows < 0):
        raise StoreError(f"rows must be a count (an int >= 0) or None, got {rows!r}")
    if not isinstance(description, str):
        raise StoreError(f"description must be a string, got {description!r}")
    if run_id is not None and not isinstance(run_id, str):
        raise StoreError(f"run_id must be a string or None, got {run_id!r}")
    return DatasetVersionRecord(
        name=dataset_name(name),
        version=0,
        artifact_id=address(artifact.id),
        created_at=utc(created_at, "created_at"),
        rows=rows,
        run_id=run_id,
        description=description,
        meta=cast(dict[str, object], json_copy(dict(meta or {}), "meta")),
    )
