"""Registering model versions, and loading them back by reference (``name@alias``, ``name@3``).

A version is the model saved in its flavor's native format as an artifact, with its lineage
(the run and step that registered it), its metrics, the input signature and the profile of the
reference data (what serving validates requests against and monitoring measures drift from).
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, cast

from conveyor.core import Settings, active_run
from conveyor.core._errors import ConveyorError, ModelNotFound, RegistryError
from conveyor.data import Materialized
from conveyor.engine import Workspace
from conveyor.registry._flavors import load_model, save_model
from conveyor.registry._signature import infer_signature
from conveyor.store import ArtifactRecord, MetadataStore, WriteBatch, check_model_name
from conveyor.store._tracking_records import ModelVersionRecord

if TYPE_CHECKING:
    import pandas as pd

    from conveyor.data import Profile

LATEST = "latest"
SAMPLE_ROWS = 32  # reference rows kept with a version: a new version is tried on them first
MODEL_FORMAT = "model"  # the materializer recorded on a model's artifact
_REF = re.compile(r"^(?P<name>[^@\s]+)(?:@(?P<at>[^@\s]+))?$")


@dataclass(frozen=True)
class ModelVersion:
    """One registered version. ``load()`` gives the model back."""

    name: str
    version: int
    flavor: str
    created_at: datetime
    metrics: Mapping[str, float] = field(default_factory=dict)
    signature: Mapping[str, object] = field(default_factory=dict)
    run_id: str | None = None
    step: str | None = None
    artifact_id: str = ""
    profile_id: str | None = None
    lineage: Mapping[str, object] = field(default_factory=dict)
    description: str = ""
    aliases: tuple[str, ...] = ()

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"

    @classmethod
    def from_record(
        cls, record: ModelVersionRecord, aliases: Mapping[str, int] | None = None
    ) -> ModelVersion:
        held = tuple(sorted(a for a, v in (aliases or {}).items() if v == record.version))
        return cls(
            name=record.name,
            version=record.version,
            flavor=record.flavor,
            created_at=record.created_at,
            metrics=dict(record.metrics),
            signature=dict(record.signature),
            run_id=record.run_id,
            step=record.step_name,
            artifact_id=record.artifact_id,
            profile_id=record.profile_id,
            lineage=dict(record.lineage),
            description=record.description,
            aliases=held,
        )

    def to_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "version": self.version,
            "flavor": self.flavor,
            "created_at": self.created_at.isoformat(),
            "metrics": dict(self.metrics),
            "signature": dict(self.signature),
            "run_id": self.run_id,
            "step": self.step,
            "artifact_id": self.artifact_id,
            "profile_id": self.profile_id,
            "lineage": dict(self.lineage),
            "description": self.description,
            "aliases": list(self.aliases),
        }

    def load(self, *, settings: Settings | None = None) -> object:
        return load(self.ref, settings=settings)

    def sample(self, *, settings: Settings | None = None) -> pd.DataFrame | None:
        """Up to 32 rows of the reference data as the model takes them (a 2-D array's columns
        are named ``"0"``, ``"1"``, ...); None if the version was registered without one."""
        ws = Workspace.for_api(settings)
        return load_sample(ws, ws.metadata.get_model_version(self.name, self.version))

    def profile(self, *, settings: Settings | None = None) -> Profile | None:
        """The reference data's profile, if the version was registered with ``reference=``."""
        if self.profile_id is None:
            return None
        from conveyor.data import Profile

        ws = Workspace.for_api(settings)
        return Profile.from_dict(json.loads(ws.values.artifacts.get(self.profile_id)))


def register(
    name: str,
    model: object,
    *,
    metrics: Mapping[str, float] | None = None,
    reference: object | None = None,
    description: str = "",
    flavor: str | None = None,
    settings: Settings | None = None,
) -> ModelVersion:
    """Register ``model`` as the next version of ``name``.

    Args:
        name: The model's name (letters, digits, ``_``, ``.``, ``-``).
        model: A scikit-learn estimator or Pipeline, an XGBoost or LightGBM model, a PyTorch
            module, or a plain Python callable.
        metrics: Figures to keep with the version (what ``cv.evaluate`` returns); gates
            without evaluation data compare these.
        reference: Training data (a DataFrame or table): its profile and the model's input
            signature are stored with the version. A PyTorch module needs it to be saved.
        description: Free text.
        flavor: Force a format: ``"python"`` stores any callable with cloudpickle, for a
            model whose library format cannot hold it (custom classes, unsupported models).

    Every call adds a version. Inside a pipeline step the version records the run and the
    step; ``cv.register_model`` is cached like any step, so a run whose model and figures
    are unchanged keeps the version it registered before.
    """
    try:
        check_model_name(name)
    except ConveyorError as exc:
        raise RegistryError(exc.message, **exc.details) from None
    figures = _figures(metrics)
    features = _features(model, reference)
    saved = save_model(model, example=features, flavor=flavor)
    ws = Workspace.for_api(settings)
    artifact = _stored(
        ws, Materialized(saved.data, MODEL_FORMAT, _type_name(model), None, saved.meta)
    )
    table = _table(features)
    profile_record = _profile_artifact(ws, reference if table is features else table)
    sample_record = _sample_artifact(ws, table)
    stored = tuple(r for r in (artifact, profile_record, sample_record) if r is not None)
    ws.metadata.commit(WriteBatch(artifacts=stored))
    ctx = active_run()
    record = ws.metadata.register_model_version(
        ModelVersionRecord(
            name=name,
            version=0,
            artifact_id=artifact.id,
            flavor=saved.flavor,
            created_at=datetime.now(UTC),
            run_id=ctx.run_id if ctx else None,
            step_name=ctx.step if ctx else None,
            metrics=figures,
            signature=infer_signature(features) if features is not None else {},
            profile_id=profile_record.id if profile_record else None,
            lineage=_lineage(ctx),
            description=description,
            meta={
                "flavor_meta": saved.meta,
                **({"sample_id": sample_record.id} if sample_record else {}),
            },
        )
    )
    return ModelVersion.from_record(record, ws.metadata.aliases(name))


# -- references and loading -------------------------------------------------------------------


def parse_ref(ref: str) -> tuple[str, str | int]:
    """``"churn@production"`` → ("churn", "production"); ``"churn@3"`` → ("churn", 3);
    ``"churn"`` and ``"churn@latest"`` → ("churn", "latest")."""
    match = _REF.match(ref) if isinstance(ref, str) else None
    if match is None:
        raise ConveyorError(
            f"{ref!r} is not a model reference; write NAME, NAME@VERSION or NAME@ALIAS "
            "(e.g. churn@production, churn@3, churn@latest)",
            ref=str(ref),
        )
    at = match["at"] or LATEST
    return match["name"], int(at) if at.isdigit() else at


def resolve(ref: str, *, settings: Settings | None = None) -> ModelVersionRecord:
    """The version a reference points to now (an alias is read from the store every time)."""
    name, at = parse_ref(ref)
    store = Workspace.for_api(settings).metadata
    return store.get_model_version(name, version_number(name, at, store))


def version_number(name: str, at: str | int, store: MetadataStore) -> int | None:
    """The version number ``at`` stands for now; None for the newest."""
    if isinstance(at, int):
        return at
    if at == LATEST:
        return None
    aliases = store.aliases(name)
    if at not in aliases:
        known = ", ".join(f"{a} → {v}" for a, v in sorted(aliases.items())) or "none"
        raise ModelNotFound(
            f"model {name!r} has no alias {at!r}; its aliases: {known}",
            name=name,
            alias=at,
        )
    return aliases[at]


# (db url, artifacts, name, version) → the loaded model; a version never changes, so entries
# are never stale, and an alias is resolved before the cache is consulted.
_loaded: dict[tuple[str, str, str, int], object] = {}
_loading = threading.Lock()


def load(ref: str, *, settings: Settings | None = None, cache: bool = True) -> object:
    """The model a reference points to now: ``"churn@production"``, ``"churn@3"``,
    ``"churn@latest"`` or ``"churn"`` (the newest).

    Loaded models are kept in memory per version, so loading again costs one look-up of the
    alias; when an alias moves, the next call loads the version it points to. ``cache=False``
    reads the model from the store and keeps no reference to it (a server that swaps versions
    holds only the ones it serves).

    Raises:
        ModelNotFound: no such model, version or alias (the message lists what there is).
    """
    ws = Workspace.for_api(settings)
    name, at = parse_ref(ref)
    number = version_number(name, at, ws.metadata)
    if number is not None:  # a known version in memory costs the alias look-up alone
        model = _loaded.get((ws.settings.db_url, ws.settings.artifacts, name, number))
        if model is not None:
            return model
    record = ws.metadata.get_model_version(name, number)
    if not cache:
        return load_record(ws, record)
    key = (ws.settings.db_url, ws.settings.artifacts, record.name, record.version)
    with _loading:
        model = _loaded.get(key)
        if model is None:
            model = _loaded[key] = load_record(ws, record)
    return model


def load_record(ws: Workspace, record: ModelVersionRecord) -> object:
    """The model a version record holds, read from the artifact store."""
    data = ws.values.artifacts.get(record.artifact_id)
    meta = record.meta.get("flavor_meta", {})
    return load_model(record.flavor, data, meta if isinstance(meta, Mapping) else {})


def load_sample(ws: Workspace, record: ModelVersionRecord) -> pd.DataFrame | None:
    """The reference rows stored with a version (see ``ModelVersion.sample``)."""
    sample_id = record.meta.get("sample_id")
    if not isinstance(sample_id, str):
        return None
    import pandas as pd

    frame = ws.values.load(ws.metadata.get_artifact(sample_id))
    return frame if isinstance(frame, pd.DataFrame) else None


def get(ref: str, *, settings: Settings | None = None) -> ModelVersion:
    """The version a reference points to, with its metrics, signature, lineage and aliases."""
    store = Workspace.for_api(settings).metadata
    name, at = parse_ref(ref)
    record = store.get_model_version(name, version_number(name, at, store))
    return ModelVersion.from_record(record, store.aliases(name))


def versions(name: str, *, settings: Settings | None = None) -> list[ModelVersion]:
    """Every version of ``name``, oldest first."""
    store = Workspace.for_api(settings).metadata
    aliases = store.aliases(name)
    return [ModelVersion.from_record(r, aliases) for r in store.list_model_versions(name)]


# -- helpers ----------------------------------------------------------------------------------


def _figures(metrics: Mapping[str, float] | None) -> dict[str, float]:
    if metrics is None:
        return {}
    if not isinstance(metrics, Mapping):
        raise RegistryError(
            f"metrics must be a mapping of names to numbers, got {type(metrics).__name__}"
        )
    figures = {}
    for key, value in metrics.items():
        try:
            figures[str(key)] = float(value)
        except (TypeError, ValueError):
            raise RegistryError(
                f"metric {key!r} must be a number, got {type(value).__name__} {value!r:.60}",
                metric=str(key),
            ) from None
    return figures


def _features(model: object, reference: object | None) -> object | None:
    """The reference data as the model sees it: a fitted scikit-learn model names its input
    columns, so a training frame that still holds the target is narrowed to them."""
    if reference is None:
        return None
    names = getattr(model, "feature_names_in_", None)
    columns = getattr(reference, "columns", None)
    if names is None or columns is None:
        return reference
    wanted = [str(n) for n in names]
    missing = [n for n in wanted if n not in set(map(str, columns))]
    if missing:
        raise RegistryError(
            f"the reference data lacks columns the model was fitted on: {', '.join(missing)}",
            missing=missing,
        )
    narrowed: object = reference[wanted]  # type: ignore[index]
    return narrowed


def _profile_artifact(ws: Workspace, reference: object | None) -> ArtifactRecord | None:
    if reference is None:
        return None
    from conveyor.data import profile

    # with whole distributions: the reference that drift in production is measured against
    data = profile(reference, distributions=True).to_dict()
    text = json.dumps(data, sort_keys=True, default=str)
    return _stored(ws, Materialized(text.encode(), "json", "dict", None, {"kind": "profile"}))


def _table(features: object | None) -> object | None:
    """The reference as a table: a 2-D numpy array becomes a pandas frame with columns
    ``"0"``, ``"1"``, ... (the names its signature gives them)."""
    if features is None or type(features).__module__.partition(".")[0] != "numpy":
        return features
    if getattr(features, "ndim", 0) != 2:
        raise RegistryError(
            "a numpy reference must be 2-D (rows × features), "
            f"got {getattr(features, 'ndim', '?')} dimensions"
        )
    import pandas as pd

    frame = pd.DataFrame(cast("Any", features))
    frame.columns = [str(c) for c in frame.columns]
    return frame


def _sample_artifact(ws: Workspace, table: object | None) -> ArtifactRecord | None:
    """A few reference rows as a pandas frame: what a server tries a new version on."""
    if table is None:
        return None
    import pandas as pd

    from conveyor.data import materialize
    from conveyor.data._tables import to_polars

    if isinstance(table, pd.DataFrame):
        frame = table.head(SAMPLE_ROWS)
    else:
        try:
            frame = to_polars(table).head(SAMPLE_ROWS).to_pandas()
        except ConveyorError:  # a kind of data with no table form: nothing to try versions on
            return None
    return _stored(ws, materialize(frame.reset_index(drop=True)))


def _stored(ws: Workspace, item: Materialized) -> ArtifactRecord:
    # never inline: servers and monitors read models and profiles by address, with no run
    # record at hand
    return ws.values.save_materialized(item, as_file=True)


def _lineage(ctx: object | None) -> dict[str, object]:
    if ctx is None:
        return {}
    return {
        "run_id": getattr(ctx, "run_id", None),
        "pipeline": getattr(ctx, "pipeline", None),
        "step": getattr(ctx, "step", None),
        # the artifacts the registering step read: the model, its metrics, the reference data
        "inputs": dict(getattr(ctx, "inputs", ())),
    }


def _type_name(model: object) -> str:
    cls = type(model)
    return f"{cls.__module__}.{cls.__qualname__}"


class ModelVersionFormat:
    """Stores a ModelVersion returned by a step (``cv.register_model``) as JSON."""

    name = "model-version"
    version = "1"

    def handles(self, value: object) -> bool:
        return type(value) is ModelVersion

    def dump(self, value: object) -> Materialized:
        assert isinstance(value, ModelVersion)
        text = json.dumps(value.to_dict(), sort_keys=True)
        return Materialized(text.encode(), self.name, "ModelVersion", None, {})

    def load(self, type_name: str, data: bytes, meta: Mapping[str, object]) -> object:
        fields = json.loads(data)
        fields["created_at"] = datetime.fromisoformat(fields["created_at"])
        fields["aliases"] = tuple(fields["aliases"])
        return ModelVersion(**fields)
