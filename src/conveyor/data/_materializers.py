"""Choosing a format for a value, and finding the loader for a stored one.

``materialize`` runs for every step output, so the common cases are cheap: a scalar is one dict
lookup away from its JSON text, and a type is sent to a format by the top-level package of its
module before anything heavy is imported. The formats themselves live in ``_json``,
``_parquet``, ``_npy`` and ``_pickles``; nothing here imports pandas, numpy or the like.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping

from conveyor.core._errors import ConveyorError, PickleFallbackWarning, StoreError
from conveyor.data import _dataset, _json, _npy, _parquet, _pickles, _raw
from conveyor.data._base import Materialized, Materializer, Unsupported

MATERIALIZER_VERSION = "2"
"""Goes into every cache key; bump it whenever the bytes any built-in format writes change."""

_Loader = Callable[[str, bytes, Mapping[str, object]], object]

_LOADERS: Mapping[str, _Loader] = {
    _json.NAME: _json.load,
    _parquet.NAME: _parquet.load,
    _npy.NAME: _npy.load,
    _pickles.JOBLIB: _pickles.load_joblib,
    _pickles.CLOUDPICKLE: _pickles.load_cloudpickle,
    _dataset.NAME: _dataset.load,
    _raw.NAME: _raw.load,
}

# Keyed by the top-level package of type(value).__module__, so a value from a package with no
# format here costs one dict miss and imports nothing.
_TABLES: Mapping[str, Callable[[object, str | None], Materialized | None]] = {
    "pandas": _parquet.dump_pandas,
    "polars": _parquet.dump_polars,
    "pyarrow": _parquet.dump_arrow,
}
_BY_PACKAGE: Mapping[str, Callable[[object], Materialized | None]] = {
    "numpy": _npy.dump,
    "conveyor": _dataset.dump,
    **dict.fromkeys(_pickles.JOBLIB_LIBRARIES, _pickles.dump_joblib),
}

_NOT_JSON = (
    "it is not exactly JSON-able: JSON has no tuples or sets, its keys are strings, "
    "and a container that appears twice would load back as two copies"
)

_JSON_LOOKALIKES = frozenset({list, dict, tuple, set, frozenset})

# Replaced, never mutated, so a reader on another thread sees the old or the new tuple whole.
_registered: tuple[Materializer, ...] = ()


def register_materializer(materializer: Materializer) -> None:
    """Store values that ``materializer.handles`` with it, ahead of the built-in formats.

    Registering a second materializer under the same name replaces the first.

    Raises:
        ConveyorError: the name is empty or is one of the built-in formats.
    """
    global _registered
    name = materializer.name
    if not name or name in _LOADERS:
        raise ConveyorError(
            f"cannot register a materializer named {name!r}: the name must be non-empty and "
            f"differ from the built-in formats ({', '.join(sorted(_LOADERS))})",
            name=name,
        )
    _registered = (*(m for m in _registered if m.name != name), materializer)


def materialize(value: object, *, folder: str | None = None) -> Materialized:
    """Turn a step's output into bytes, in the safest format that stores its type.

    Registered materializers are tried first, then JSON, Parquet, ``.npy`` and joblib; any
    other value is stored with cloudpickle, with a ``PickleFallbackWarning``. Given a
    ``folder``, a large table is written to a new file there (``Materialized.file``) rather
    than into memory: building its bytes in memory and then writing them costs more than the
    file's own writing.

    Raises:
        ConveyorError: the value cannot be stored in any format.
    """
    if _registered:
        for materializer in _registered:
            if materializer.handles(value):
                return _dump_registered(materializer, value)
    cls = type(value)
    scalar = _json.SCALARS.get(cls)
    if scalar is not None:
        try:
            return Materialized(_json.encode(scalar(value)), _json.NAME, cls.__name__, None, {})
        except ValueError:  # str(int) refuses ints past sys.get_int_max_str_digits()
            return _pickle_with_warning(value, cls, "it has too many digits to write as text")
    try:
        materialized = _dump_builtin(value, cls, folder)
    except Unsupported as exc:
        return _pickle_with_warning(value, cls, exc.reason)
    if materialized is not None:
        return materialized
    reason = _NOT_JSON if cls in _JSON_LOOKALIKES else "conveyor has no format for its type"
    return _pickle_with_warning(value, cls, reason)


def load(materializer: str, type_name: str, data: bytes, meta: Mapping[str, object]) -> object:
    """The value that ``materialize`` turned into ``data``.

    Raises:
        StoreError: the format is unknown, or the bytes cannot be read in it (a joblib model
            whose bytes no longer match their recorded hash among them).
    """
    loader = _LOADERS.get(materializer) or _registered_loader(materializer)
    if loader is None:
        raise StoreError(
            f"cannot load a {type_name} stored as {materializer!r}: no such materializer is "
            "known. Register it with conveyor.data.register_materializer() before loading.",
            materializer=materializer,
            type_name=type_name,
        )
    try:
        return loader(type_name, data, meta)
    except ConveyorError:
        raise
    except Exception as exc:  # parsers and unpicklers raise anything; callers get one error
        raise StoreError(
            f"cannot load a {type_name} stored as {materializer}: {type(exc).__name__}: {exc}",
            materializer=materializer,
            type_name=type_name,
        ) from exc


def _pickle_with_warning(value: object, cls: type, reason: str) -> Materialized:
    type_name = _type_name(cls)
    materialized = _pickles.dump_cloudpickle(value, type_name, reason)
    warnings.warn(
        f"a step output of type {type_name} was stored with cloudpickle because {reason}. "
        "A pickle loads only under compatible library and Python versions, and loading one "
        "runs code. Return a DataFrame, an array or a JSON-able value instead, or register a "
        "materializer for the type with conveyor.data.register_materializer().",
        PickleFallbackWarning,
        stacklevel=3,  # the caller of materialize()
    )
    return materialized


def _dump_builtin(value: object, cls: type, folder: str | None) -> Materialized | None:
    if cls is bytes:
        return _raw.dump(value)  # type: ignore[arg-type]
    if cls is list or cls is dict:
        data = _json.dumps(value)
        return None if data is None else Materialized(data, _json.NAME, cls.__name__, None, {})
    package = cls.__module__.partition(".")[0]
    table = _TABLES.get(package)
    if table is not None:
        return table(value, folder)
    dump = _BY_PACKAGE.get(package)
    return None if dump is None else dump(value)


def _dump_registered(materializer: Materializer, value: object) -> Materialized:
    materialized = materializer.dump(value)
    if materialized.materializer != materializer.name:
        raise ConveyorError(
            f"materializer {materializer.name!r} returned a value marked "
            f"{materialized.materializer!r}; it could not be loaded again",
            name=materializer.name,
        )
    return materialized


def _registered_loader(name: str) -> _Loader | None:
    for materializer in _registered:
        if materializer.name == name:
            return materializer.load
    return None


def _type_name(cls: type) -> str:
    if cls.__module__ == "builtins":
        return cls.__qualname__
    return f"{cls.__module__}.{cls.__qualname__}"
