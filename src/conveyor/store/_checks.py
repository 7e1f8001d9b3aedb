"""Input checks shared by the store adapters, so every adapter of a port accepts and rejects the
same input with the same errors.

Pure functions: no I/O, no SQLAlchemy. Adapter-specific storage code does not belong here.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import operator
import re
import types
import typing
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar, cast

from conveyor.core._errors import (
    ConveyorError,
    DatasetNotFound,
    ModelNotFound,
    RegistryError,
    StoreError,
)
from conveyor.core._hashing import canonical_json
from conveyor.store._records import (
    ATTEMPT_STATUSES,
    RUN_STATUSES,
    STEP_STATUSES,
    ArtifactRecord,
    AttemptRecord,
    DatasetVersionRecord,
    StepRunRecord,
)
from conveyor.store._tracking_records import (
    AliasMove,
    GateDecision,
    LoggedArtifact,
    MetricPoint,
    ModelVersionRecord,
)

AMBIGUOUS_SHOWN = 10
_ADDRESS = re.compile(r"sha256:[0-9a-f]{64}")
DATASET_NAME_MAX = 200
_DATASET_NAME = re.compile(r"[A-Za-z0-9_.-]+")
VERSIONS_SHOWN = 20
KEY_MAX = 250
NAME_MAX = 255  # step names, flavors: the SQL columns' width
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
ALIAS_MAX = 100
_ALIAS = re.compile(r"[A-Za-z0-9_.-]+")
MOVE_KINDS: tuple[str, ...] = ("promote", "rollback", "remove")
_INT64 = 2**63
_INT32 = 2**31 - 1  # the largest version number a SQL store can hold


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
    try:
        return value.astimezone(UTC)
    except OverflowError:  # year 1 east of UTC, or 9999 west of it: no such time in UTC
        raise StoreError(
            f"{what} is out of range: {value.isoformat()} is not a time in UTC",
            field=what,
            value=value.isoformat(),
        ) from None


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


def attempt_log(record: StepRunRecord) -> list[dict[str, object]]:
    """The attempts of ``record``, checked, as the JSON a SQL store keeps."""
    log = record.attempt_log
    if not isinstance(log, tuple) or not all(isinstance(a, AttemptRecord) for a in log):
        raise StoreError(
            f"StepRunRecord.attempt_log must be a tuple of AttemptRecord, got {log!r:.80}",
            field="attempt_log",
        )
    for attempt in log:
        fields(attempt)
        _one_of(attempt.status, ATTEMPT_STATUSES, "attempt")
    return [dataclasses.asdict(a) for a in log]


def limit(value: int) -> int:
    """``value`` if it can cap how many records a read returns."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value < _INT64:
        raise StoreError(f"limit must be a whole number from 1 to 2**63 - 1, got {value!r}")
    return value


def cap(value: int, what: str) -> int:
    """``value`` if it can cap how many records a read returns, where 0 or less returns none."""
    return _plain(value, int, what)


def whole_or_none(value: int | None, what: str) -> int | None:
    """``value`` if it is None or a whole number a SQL store can hold (see ``fields``)."""
    return _plain(value, int | None, what)


def text_or_none(value: str | None, what: str) -> str | None:
    """``value`` if it is None or text every store can hold (see ``fields``)."""
    return _plain(value, str | None, what)


_R = TypeVar("_R")


def _plain(value: _R, hint: object, what: str) -> _R:
    if not _fits(value, hint):
        raise StoreError(f"{what} must be {_describe(hint)}, got {value!r:.80}", field=what)
    return value


def fields(record: _R) -> _R:
    """``record`` if each field of a plain type holds that type: text with no NUL character
    (PostgreSQL cannot store one, so no adapter does), a whole number within 64 bits (what a
    SQL store holds), a finite number, a bool, bytes or a datetime; or None, tuples and
    mappings with text keys of them, as declared. SQLite would store a value of another type
    as it is, to come back as what its field says it cannot be. What a value means (a name's
    alphabet, a status, a range) is the caller's to check.
    """
    kind: Any = type(record)
    for name, hint in _plain_fields(kind):
        value = getattr(record, name)
        if not _fits(value, hint):
            raise StoreError(
                f"{type(record).__name__}.{name} must be {_describe(hint)}, got {value!r:.80}",
                field=name,
            )
    return record


def _is_whole(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and -_INT64 <= value < _INT64


_PLAIN: dict[object, tuple[str, Callable[[object], bool]]] = {
    str: ("text with no NUL character", lambda v: isinstance(v, str) and "\x00" not in v),
    int: ("a whole number of at most 64 bits", _is_whole),
    # SQLite stores NaN as NULL; a field that may hold NaN or infinity is checked by its caller
    float: (
        "a finite number",
        lambda v: _is_whole(v) or (isinstance(v, float) and math.isfinite(v)),
    ),
    bool: ("true or false", lambda v: isinstance(v, bool)),
    bytes: ("bytes", lambda v: isinstance(v, bytes)),
    datetime: ("a datetime", lambda v: isinstance(v, datetime)),
}


@functools.cache
def _plain_fields(cls: Any) -> tuple[tuple[str, object], ...]:
    hints = typing.get_type_hints(cls)
    return tuple(
        (f.name, hints[f.name]) for f in dataclasses.fields(cls) if _is_plain(hints[f.name])
    )


def _parts(hint: object) -> tuple[str, object]:
    """What shape ``hint`` is (plain, optional, tuple, mapping, other) and what it holds."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint in _PLAIN:
        return "plain", hint
    if origin is types.UnionType and len(args) == 2 and args[1] is type(None):
        return "optional", args[0]
    if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
        return "tuple", args[0]
    if origin in (Mapping, dict) and args[:1] == (str,):
        return "mapping", args[1]
    return "other", hint


def _is_plain(hint: object) -> bool:
    shape, inner = _parts(hint)
    return shape != "other" and (shape == "plain" or _parts(inner)[0] == "plain")


def _fits(value: object, hint: object) -> bool:
    shape, inner = _parts(hint)
    if shape == "plain":
        return _PLAIN[inner][1](value)
    if shape == "optional":
        return value is None or _fits(value, inner)
    if shape == "tuple":
        return isinstance(value, tuple | list) and all(_fits(v, inner) for v in value)
    return isinstance(value, Mapping) and all(
        _fits(k, str) and _fits(v, inner) for k, v in value.items()
    )


def _describe(hint: object) -> str:
    shape, inner = _parts(hint)
    plain = _PLAIN[inner][0] if shape == "plain" else _describe(inner)
    return {
        "plain": plain,
        "optional": f"{plain} or None",
        "tuple": f"a list of {plain}",
        "mapping": f"a mapping of text to {plain}",
    }[shape]


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


def listing(names: Sequence[str], shown: int = 20) -> str:
    """The first ``shown`` names, comma-separated (``…`` if there are more), or ``none``: what an
    error lists of the things that do exist."""
    if not names:
        return "none"
    return ", ".join(names[:shown]) + (", …" if len(names) > shown else "")


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
    return _name(name, "a dataset")


def model_name(name: str) -> str:
    """``name`` if it can name a model: the same alphabet and length as a dataset name."""
    return _name(name, "a model")


def monitor_name(name: str) -> str:
    """``name`` if it can name a monitor: the same alphabet and length as a dataset name."""
    return _name(name, "a monitor")


def _name(name: str, what: str) -> str:
    if (
        not isinstance(name, str)
        or len(name) > DATASET_NAME_MAX
        or _DATASET_NAME.fullmatch(name) is None
    ):
        raise ConveyorError(
            f"{name!r} cannot name {what}: use 1 to {DATASET_NAME_MAX} letters, digits, "
            "'_', '.' or '-'",
            name=repr(name),
        )
    return name


def dataset_version(version: int | None) -> int | None:
    """``version`` if it can number a version (an int; bools are refused), or None."""
    return version_number(version, "dataset")


def version_number(version: int | None, what: str) -> int | None:
    if version is not None and not _is_whole(version):
        raise ConveyorError(
            f"a {what} version is a whole number (of 64 bits at most), got {version!r:.80}",
            version=repr(version),
        )
    return version


def dataset_not_found(name: str, version: int | None, existing: Iterable[int]) -> DatasetNotFound:
    """The error for a name or version that is not registered; lists the versions there are."""
    return _not_found(DatasetNotFound, "dataset", "conveyor data list", name, version, existing)


def model_not_found(name: str, version: int | None, existing: Iterable[int]) -> ModelNotFound:
    """The error for a model name or version that is not registered; lists its versions."""
    return _not_found(ModelNotFound, "model", "conveyor models list", name, version, existing)


_E = TypeVar("_E", DatasetNotFound, ModelNotFound)


def _not_found(
    error: type[_E],
    what: str,
    command: str,
    name: str,
    version: int | None,
    existing: Iterable[int],
) -> _E:
    numbers = sorted(existing)
    if not numbers:
        return error(
            f"no {what} named {name!r} is registered; `{command}` shows the {what}s",
            name=name,
            version=version,
            versions=[],
        )
    shown = ", ".join(str(n) for n in numbers[-VERSIONS_SHOWN:])
    older = "…, " if len(numbers) > VERSIONS_SHOWN else ""
    return error(
        f"{what} {name!r} has no version {version}; its versions are {older}{shown}",
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
    fields(artifact)
    record = DatasetVersionRecord(
        name=dataset_name(name),
        version=0,
        artifact_id=address(artifact.id),
        created_at=utc(created_at, "created_at"),
        rows=rows,
        run_id=run_id,
        description=description,
        meta=cast(dict[str, object], json_copy(dict(meta or {}), "meta")),
    )
    return fields(record)


# -- tracking ---------------------------------------------------------------------------------

# One metric point as the adapters store it: run_id, key, value, step, timestamp, step_name.
MetricRow = tuple[str, str, float, int, float, str]
# A logged param or tag: its JSON text, its number (None unless the JSON is a number other
# than a bool, and not NaN), and its text (the string itself for a JSON string, else the JSON).
Tracked = tuple[str, float | None, str]


def tracking_key(key: object, what: str = "key") -> str:
    """``key`` if it can name a param, metric, tag or logged artifact: 1-250 characters, none
    of them a control character (they would garble every listing that shows the key)."""
    if not isinstance(key, str) or not 0 < len(key) <= KEY_MAX or _CONTROL.search(key):
        shown = repr(key) if len(repr(key)) <= 80 else repr(key)[:77] + "…"
        raise ConveyorError(
            f"{shown} cannot be a {what}: use 1 to {KEY_MAX} characters, "
            "with no control characters (tabs, newlines, …)",
            key=shown,
        )
    return key


def tracked_value(key: str, text: object, what: str) -> Tracked:
    """The stored form of a param or tag given as JSON text (NaN and Infinity are accepted, as
    Python's json writes them)."""
    if not isinstance(text, str):
        raise ConveyorError(
            f"{what} {key!r}: the value must be JSON text, got {type(text).__name__}", key=key
        )
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise ConveyorError(
            f"{what} {key!r}: {text[:80]!r} is not JSON text ({exc})", key=key
        ) from exc
    return text, _number(value), value if isinstance(value, str) else text


def _number(value: object) -> float | None:
    if not isinstance(value, int | float) or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except OverflowError:  # an integer past the float range: not comparable as a number
        return None
    return None if math.isnan(number) else number


def tracked_pairs(pairs: Iterable[tuple[str, str]], what: str) -> dict[str, Tracked]:
    """Checked (key, JSON text) pairs, the later of two with one key winning."""
    checked: dict[str, Tracked] = {}
    for pair in pairs:
        if not isinstance(pair, tuple) or len(pair) != 2:
            raise ConveyorError(f"{what}s are (key, JSON text) pairs, got {pair!r:.80}")
        key, text = pair
        checked[tracking_key(key, f"{what} key")] = tracked_value(key, text, what)
    return checked


def run_params(params: Mapping[str, object]) -> dict[str, Tracked]:
    """A run's own parameters (already JSON round-tripped) as stored params: canonical JSON."""
    return {
        tracking_key(key, "parameter name"): tracked_value(key, canonical_json(value), "param")
        for key, value in params.items()
    }


def metric_rows(
    run_id: str, points: Sequence[MetricPoint]
) -> tuple[list[MetricRow], dict[str, MetricRow], bool]:
    """The checked rows of ``points``, the latest row of each key among them (highest step,
    then newest, then logged later), and whether any value is NaN.

    One plain loop: a flush carries thousands of points, and builtins that check whole columns
    in C measured slower here, as transposing the points costs more than the checks save.
    """
    rows: list[MetricRow] = []
    append = rows.append
    latest: dict[str, MetricRow] = {}
    best_of = latest.get
    has_nan = False
    for key, given, step, stamp, step_name in map(_POINT_FIELDS, points):
        value = given if given.__class__ is float else _metric_number(key, given, "value")
        if math.isnan(value):
            has_nan = True
        if step.__class__ is not int or not -_INT64 <= step < _INT64:
            raise ConveyorError(
                f"metric {key!r}: step must be a whole number (64-bit), got {step!r}", key=key
            )
        timestamp = stamp if stamp.__class__ is float else _metric_number(key, stamp, "timestamp")
        if not math.isfinite(timestamp):
            raise ConveyorError(f"metric {key!r}: timestamp must be finite", key=key)
        if step_name.__class__ is not str or len(step_name) > NAME_MAX:
            raise ConveyorError(
                f"metric {key!r}: step_name must be a string of at most {NAME_MAX} characters",
                key=key,
            )
        row = (run_id, key, value, step, timestamp, step_name)
        append(row)
        best = best_of(key)
        if best is None or step > best[3] or (step == best[3] and timestamp >= best[4]):
            latest[key] = row
    for key in latest:
        tracking_key(key, "metric key")
    return rows, latest, has_nan


_POINT_FIELDS = operator.attrgetter("key", "value", "step", "timestamp", "step_name")


def _metric_number(key: str, value: object, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConveyorError(
            f"metric {key!r}: {what} must be a number, got {type(value).__name__} {value!r:.60}",
            key=key,
        )
    return float(value)


def logged_artifacts(run_id: str, artifacts: Iterable[LoggedArtifact]) -> dict[str, LoggedArtifact]:
    """Checked artifacts of a batch for ``run_id``, the later of two with one name winning."""
    checked: dict[str, LoggedArtifact] = {}
    for artifact in artifacts:
        if artifact.run_id != run_id:
            raise StoreError(
                f"logged artifact {artifact.name!r} belongs to run {artifact.run_id}, "
                f"not to the batch's run {run_id}",
                run_id=run_id,
            )
        name = tracking_key(artifact.name, "logged artifact name")
        if not isinstance(artifact.step_name, str) or len(artifact.step_name) > NAME_MAX:
            raise StoreError(
                f"logged artifact {name!r}: step_name must be a string of at most "
                f"{NAME_MAX} characters"
            )
        if isinstance(artifact.logged_at, bool) or not isinstance(artifact.logged_at, int | float):
            raise StoreError(f"logged artifact {name!r}: logged_at must be a number")
        checked[name] = fields(
            dataclasses.replace(
                artifact,
                artifact_id=address(artifact.artifact_id),
                logged_at=float(artifact.logged_at),
            )
        )
    return checked


def unknown_artifacts(ids: Iterable[str]) -> StoreError:
    """The error for logged artifacts whose records are not stored."""
    missing = sorted(ids)
    return StoreError(
        f"metadata store refused the batch: logged artifacts {', '.join(missing)} are not in "
        "the metadata store (commit their records first)",
        missing_artifacts=missing,
    )


# -- registry ---------------------------------------------------------------------------------


def new_model_version(record: ModelVersionRecord) -> ModelVersionRecord:
    """The checked record to store, numbered 0 until the adapter assigns its number; mappings
    come back as a JSON round trip would give them."""
    if not isinstance(record.flavor, str) or not 0 < len(record.flavor) <= NAME_MAX:
        raise StoreError(
            f"flavor must be a string of 1 to {NAME_MAX} characters, got {record.flavor!r:.80}"
        )
    for what in ("run_id", "step_name"):
        value = getattr(record, what)
        if value is not None and (not isinstance(value, str) or len(value) > NAME_MAX):
            raise StoreError(f"{what} must be a string (at most {NAME_MAX} characters) or None")
    if not isinstance(record.description, str):
        raise StoreError(f"description must be a string, got {record.description!r}")
    checked = dataclasses.replace(
        record,
        name=model_name(record.name),
        version=0,
        artifact_id=address(record.artifact_id),
        created_at=utc(record.created_at, "created_at"),
        profile_id=None if record.profile_id is None else address(record.profile_id),
        metrics=cast(dict[str, float], json_copy(dict(record.metrics), "metrics")),
        signature=cast(dict[str, object], json_copy(dict(record.signature), "signature")),
        lineage=cast(dict[str, object], json_copy(dict(record.lineage), "lineage")),
        meta=cast(dict[str, object], json_copy(dict(record.meta), "meta")),
    )
    return fields(checked)


def unknown_model_artifact(name: str, artifact_id: str) -> StoreError:
    return StoreError(
        f"cannot register a version of model {name!r}: its artifact {artifact_id} is not in "
        "the metadata store (commit the artifact's record first)",
        name=name,
        artifact_id=artifact_id,
    )


def alias_name(alias: str) -> str:
    """``alias`` if it can name an alias: 1-100 letters, digits, ``_``, ``.`` or ``-``, and not
    a version reference (all digits, or ``latest``), so ``NAME@REF`` always reads one way."""
    if (
        not isinstance(alias, str)
        or len(alias) > ALIAS_MAX
        or _ALIAS.fullmatch(alias) is None
        or alias.isdigit()
        or alias.lower() == "latest"
    ):
        raise RegistryError(
            f"{alias!r} cannot name an alias: use 1 to {ALIAS_MAX} letters, digits, '_', '.' "
            "or '-', not all digits and not 'latest' (those refer to versions)",
            alias=repr(alias),
        )
    return alias


def alias_move(move: AliasMove) -> AliasMove:
    """The checked move to store; ``previous`` and ``seq`` are the store's to fill in."""
    if move.kind not in MOVE_KINDS:
        raise RegistryError(
            f"an alias move is one of {', '.join(MOVE_KINDS)}, got {move.kind!r}", kind=move.kind
        )
    if (move.version is None) != (move.kind == "remove"):
        raise RegistryError(
            "a 'remove' move has no version and every other move has one; "
            f"got kind {move.kind!r} with version {move.version!r}",
            kind=move.kind,
        )
    version_number(move.version, "model")
    for what in ("actor", "reason"):
        if not isinstance(getattr(move, what), str):
            raise StoreError(f"{what} must be a string, got {getattr(move, what)!r}")
    if move.decision_id is not None and (
        not isinstance(move.decision_id, int) or isinstance(move.decision_id, bool)
    ):
        raise StoreError(f"decision_id must be an int or None, got {move.decision_id!r}")
    checked = dataclasses.replace(
        move,
        name=model_name(move.name),
        alias=alias_name(move.alias),
        previous=None,
        moved_at=utc(move.moved_at, "moved_at"),
        seq=0,
    )
    return fields(checked)


def no_alias_to_remove(name: str, alias: str) -> RegistryError:
    return RegistryError(f"model {name!r} has no alias {alias!r} to remove", name=name, alias=alias)


def gate_decision(decision: GateDecision) -> GateDecision:
    """The checked decision to store, its id 0 until the adapter assigns one."""
    version = version_number(decision.version, "model")
    if version is None or not 1 <= version <= _INT32:
        raise RegistryError(
            f"a gate decision is about one version (1, 2, …), got {version!r}", version=version
        )
    if not isinstance(decision.passed, bool):
        raise StoreError(f"passed must be a bool, got {decision.passed!r}")
    if not isinstance(decision.actor, str):
        raise StoreError(f"actor must be a string, got {decision.actor!r}")
    criteria = json_copy([dict(c) for c in decision.criteria], "criteria")
    checked = dataclasses.replace(
        decision,
        name=model_name(decision.name),
        alias=alias_name(decision.alias),
        criteria=tuple(cast(list[dict[str, object]], criteria)),
        decided_at=utc(decision.decided_at, "decided_at"),
        id=0,
    )
    return fields(checked)
