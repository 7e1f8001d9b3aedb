"""Named dataset versions: ``register`` a table under a name, ``get`` any version back, list
them with ``versions``; and ``resolve_ref`` / ``profile_of`` / ``compare`` behind
``conveyor data``.

A version is immutable, so registering copies every partition (files included) into the
content-addressed artifact store as a zstd Parquet part, one partition at a time, and saves
the dataset's manifest as the version's artifact. Changing or deleting the source files later
leaves the version as it was. Rendering belongs to the CLI; storage to the metadata store.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from conveyor.core import Settings, load_settings
from conveyor.core._errors import ArtifactNotFound, ConveyorError, DatasetNotFound
from conveyor.data import Dataset
from conveyor.data._parquet_write import parquet_bytes
from conveyor.data._partitions import ArtifactPartition
from conveyor.engine._workspace import Workspace
from conveyor.store import ArtifactRecord, ArtifactStore, DatasetVersionRecord, check_dataset_name

if TYPE_CHECKING:
    from conveyor.data._profile import Profile

LATEST = "latest"
_TABLE_FORMATS = ("parquet", "dataset")  # the materializers whose artifacts are tables
_HEX = re.compile(r"[0-9a-f]{4,64}")


@dataclass(frozen=True, slots=True)
class DatasetVersion:
    """One registered version of a dataset. Load its rows with ``cv.datasets.get(v.ref)``.

    Attributes:
        name: The dataset's name.
        version: Its number: 1 for the first registered under ``name``, then 2, 3, ….
        artifact_id: The content address of the version's manifest artifact.
        created_at: When it was registered (UTC).
        rows: Its row count.
        run_id: The run whose step registered it, or None when registered outside a run.
        description: What the caller said it is.
        meta: ``columns``, ``dtypes``, ``partitions`` and ``profile`` (``Profile.to_dict()``).
    """

    name: str
    version: int
    artifact_id: str
    created_at: datetime
    rows: int | None
    run_id: str | None
    description: str
    meta: Mapping[str, object]

    @classmethod
    def from_record(cls, record: DatasetVersionRecord) -> DatasetVersion:
        return cls(**{f.name: getattr(record, f.name) for f in dataclasses.fields(record)})

    @property
    def ref(self) -> str:
        """``NAME@VERSION``, as ``get`` and ``conveyor data show`` take it."""
        return f"{self.name}@{self.version}"

    @property
    def columns(self) -> list[str]:
        columns = self.meta.get("columns")
        return [str(c) for c in columns] if isinstance(columns, list) else []

    @property
    def dtypes(self) -> dict[str, str]:
        """Column name → dtype, in conveyor's vocabulary (``int64``, ``string``, ``date`` …)."""
        dtypes = self.meta.get("dtypes")
        return {str(k): str(v) for k, v in dtypes.items()} if isinstance(dtypes, dict) else {}

    @property
    def profile(self) -> Profile | None:
        """The statistics computed when it was registered."""
        stored = self.meta.get("profile")
        if not isinstance(stored, Mapping):
            return None
        from conveyor.data._profile import Profile

        return Profile.from_dict(stored)


@dataclass(frozen=True, slots=True)
class TableRef:
    """What a reference on the command line points at: an artifact, and the dataset version
    it is when it was given as ``NAME@VERSION`` (or a bare name: its newest version)."""

    label: str
    artifact: ArtifactRecord
    version: DatasetVersion | None = None


# -- the library API ---------------------------------------------------------------------------


def register(
    name: str,
    data: object,
    *,
    description: str = "",
    settings: Settings | None = None,
    workspace: Workspace | None = None,
) -> DatasetVersion:
    """Store ``data`` as the next version of dataset ``name`` and return that version.

    The rows are copied into the artifact store one partition at a time (a large file is
    first cut into parts of about 16 MiB), so memory stays bounded by a partition; computing
    the profile then reads the stored copy once more, whole. Called inside a pipeline step,
    the version records the step's run.

    Args:
        name: 1-200 letters, digits, ``_``, ``.`` or ``-``.
        data: A ``cv.Dataset`` (``cv.read_csv(...)`` …), or a pandas or polars DataFrame or a
            pyarrow Table.
        description: Free text shown by ``conveyor data list``.
        settings: Where the stores are; default ``load_settings(os.environ, Path.cwd())``.
        workspace: Open stores to use instead of ``settings`` (left open).

    Raises:
        ConveyorError: the name is not allowed, or ``data`` is not a table.
    """
    check_dataset_name(name)
    dataset = _as_dataset(data)
    with _opened(settings, workspace) as ws:
        stored, rows = _copy(dataset, ws.values.artifacts)
        artifact = ws.values.save(stored)
        profile = _profile(stored)
        meta: dict[str, object] = {
            "partitions": len(stored.partitions),
            "columns": list(profile.columns),
            "dtypes": {col: column.dtype for col, column in profile.columns.items()},
            "profile": profile.to_dict(),
        }
        artifact = dataclasses.replace(artifact, rows=rows, meta={**artifact.meta, **meta})
        record = ws.metadata.register_dataset_version(
            name,
            artifact,
            created_at=datetime.now(UTC),
            rows=rows,
            run_id=_active_run_id(),
            description=description,
            meta=meta,
        )
    return DatasetVersion.from_record(record)


def get(
    name: str,
    version: int | str | None = None,
    *,
    settings: Settings | None = None,
    workspace: Workspace | None = None,
) -> Dataset:
    """The rows of a registered version, as a lazy ``cv.Dataset`` over its stored parts.

    Args:
        name: The dataset's name, or ``NAME@VERSION`` / ``NAME@latest``.
        version: A version number; None or ``"latest"`` for the newest.
        settings: Where the stores are; default ``load_settings(os.environ, Path.cwd())``.
        workspace: Open stores to use instead of ``settings`` (left open).

    Raises:
        DatasetNotFound: no such name or version; the message lists the versions there are.
    """
    if version is None and "@" in name:
        name, _, text = name.rpartition("@")
        version = text
    number = _version_number(version, name)
    with _opened(settings, workspace) as ws:
        record = ws.metadata.get_dataset_version(name, number)
        value = ws.values.load(ws.metadata.get_artifact(record.artifact_id))
    if not isinstance(value, Dataset):  # pragma: no cover - register only stores datasets
        raise ConveyorError(f"{name}@{record.version} does not hold a dataset")
    return value


def versions(
    name: str | None = None,
    *,
    settings: Settings | None = None,
    workspace: Workspace | None = None,
) -> list[DatasetVersion]:
    """Every registered version of ``name`` (None: of every dataset), by name, oldest first."""
    with _opened(settings, workspace) as ws:
        records = ws.metadata.list_dataset_versions(name)
    return [DatasetVersion.from_record(r) for r in records]


# -- references, for the command line ----------------------------------------------------------


def resolve_ref(ref: str, workspace: Workspace) -> TableRef:
    """The table ``ref`` names: ``NAME@VERSION``, ``NAME@latest``, a bare ``NAME`` (its newest
    version), or an artifact id (``sha256:…``, a unique prefix of one, or of its hex digits).

    Raises:
        DatasetNotFound: ``ref`` names no dataset version and no artifact.
        StoreError: an artifact prefix matches several artifacts.
    """
    ref = ref.strip()
    if "@" in ref:
        name, _, text = ref.rpartition("@")
        return _version_ref(workspace, name, _version_number(text, name))
    if ref.startswith("sha256:"):
        return TableRef(ref, workspace.metadata.get_artifact(ref))
    with contextlib.suppress(DatasetNotFound):
        return _version_ref(workspace, ref, None)
    if _HEX.fullmatch(ref):
        with contextlib.suppress(ArtifactNotFound):
            return TableRef(ref, workspace.metadata.get_artifact("sha256:" + ref))
    raise DatasetNotFound(
        f"{ref!r} names no dataset and no artifact: give NAME, NAME@VERSION, NAME@latest or "
        "an artifact id; `conveyor data list` shows the datasets",
        ref=ref,
    )


def profile_of(table: TableRef, workspace: Workspace) -> Profile:
    """The table's profile: the one stored with it if any; for a dataset of stored parts (the
    output of ``cv.map``), the merge of the profiles stored with its parts, which reads no
    row (``merge_profiles``: exact counts, ranges and moments, estimated quantiles); else
    computed by loading it.

    Raises:
        ConveyorError: the artifact is not a table (a model, a dict …).
    """
    from conveyor.data._profile import Profile

    for meta in (table.version.meta if table.version else {}, table.artifact.meta):
        stored = meta.get("profile")
        if isinstance(stored, Mapping):
            return Profile.from_dict(stored)
    artifact = table.artifact
    if artifact.materializer not in _TABLE_FORMATS:
        raise ConveyorError(
            f"artifact {artifact.id} is a {artifact.type_name} ({artifact.materializer}), not a "
            "table: only DataFrames, Arrow tables and datasets have a schema and a profile",
            artifact_id=artifact.id,
            type_name=artifact.type_name,
        )
    value = workspace.values.load(artifact)
    if isinstance(value, Dataset):
        merged = _merged_from_parts(value, workspace)
        if merged is not None:
            return merged
    if artifact.type_name.endswith(".Series"):
        value = value.to_frame()  # type: ignore[attr-defined]
    return _profile(value)


# -- internals ---------------------------------------------------------------------------------


def _merged_from_parts(dataset: Dataset, workspace: Workspace) -> Profile | None:
    """The merge of the profiles stored with the dataset's parts; None unless every part is
    a stored table with a profile and the parts' columns agree."""
    from conveyor.data._profile import Profile
    from conveyor.data._profile_merge import merge_profiles

    parts = dataset.partitions
    if not parts or not all(isinstance(p, ArtifactPartition) for p in parts):
        return None
    addresses = [p.address for p in parts]  # type: ignore[attr-defined]
    records = workspace.metadata.get_artifacts(addresses)
    profiles: list[Profile] = []
    for address in addresses:
        record = records.get(address)
        stored = None if record is None else record.meta.get("profile")
        if not isinstance(stored, Mapping):
            return None
        try:
            profiles.append(Profile.from_dict(stored))
        except ConveyorError:
            return None
    return merge_profiles(profiles)


@contextlib.contextmanager
def _opened(settings: Settings | None, workspace: Workspace | None) -> Iterator[Workspace]:
    if workspace is not None:
        yield workspace
        return
    with Workspace.open(settings or load_settings(os.environ, Path.cwd())) as ws:
        yield ws


def _as_dataset(data: object) -> Dataset:
    if isinstance(data, Dataset):
        return data
    from conveyor.data._tables import kind_of

    kind_of(data)  # a clear error for anything that is not a table
    return Dataset.from_table(data)


def _version_number(version: int | str | None, name: str) -> int | None:
    if version is None or version == LATEST:
        return None
    if isinstance(version, int) and not isinstance(version, bool):
        return version
    if isinstance(version, str) and version.isdigit():
        return int(version)
    raise ConveyorError(
        f"{name}@{version}: a version is a number or {LATEST!r}", name=name, version=str(version)
    )


def _version_ref(workspace: Workspace, name: str, version: int | None) -> TableRef:
    record = workspace.metadata.get_dataset_version(name, version)
    found = DatasetVersion.from_record(record)
    return TableRef(found.ref, workspace.metadata.get_artifact(record.artifact_id), found)


def _copy(dataset: Dataset, artifacts: ArtifactStore) -> tuple[Dataset, int]:
    """Every partition written to ``artifacts`` as a Parquet part, one at a time, and the row
    count. Parts already in ``artifacts`` are kept as they are."""

    parts: list[ArtifactPartition] = []
    rows = 0
    for part in dataset.split().partitions:
        if (
            isinstance(part, ArtifactPartition)
            and part.rows is not None
            and artifacts.exists(part.address)
        ):
            parts.append(ArtifactPartition(artifacts, part.address, part.rows))
            rows += part.rows
            continue
        for table in Dataset([part]).iter_tables():  # a streamed source: one part per chunk
            address = artifacts.put(parquet_bytes(table))
            parts.append(ArtifactPartition(artifacts, address, table.num_rows))
            rows += table.num_rows
    return Dataset(parts, splittable=False), rows


def _profile(data: object) -> Profile:
    from conveyor.data._profile_stats import profile

    return profile(data)


def _active_run_id() -> str | None:
    # Read without cv.current_run(), which warns outside a run: registering outside a
    # pipeline is normal and records no run.
    from conveyor.core._context import _run

    ctx = _run.get()
    return None if ctx is None else ctx.run_id
