"""The two pickle formats: joblib for models of known libraries, cloudpickle for anything else.

Unpickling runs code, so a joblib artifact records the hash of its bytes and is unpickled only
if the bytes still match it. Emitting the PickleFallbackWarning is the caller's job, since only
the caller knows why cloudpickle was chosen.
"""

from __future__ import annotations

import io
import pickle
import sys
import warnings
from collections.abc import Mapping

from conveyor.core._errors import ConveyorError, ConveyorWarning, StoreError
from conveyor.core._hashing import content_address
from conveyor.data._base import Materialized, Unsupported

JOBLIB = "joblib"
CLOUDPICKLE = "cloudpickle"

# Top-level packages whose models are stored with joblib; their estimators pickle by reference
# to importable classes, which is what joblib (plain pickle underneath) needs.
JOBLIB_LIBRARIES = frozenset({"sklearn", "xgboost", "lightgbm"})

_COMPRESS = 3  # zlib level 3: most of the size gain of higher levels at a fraction of the time
_VERSION_SUFFIX = "_version"
_LIBRARY_NAMES = {"sklearn": "scikit-learn"}


def dump_joblib(value: object) -> Materialized:
    """A model as joblib bytes, with their hash and the library's version in meta."""
    import joblib

    cls = type(value)
    library = cls.__module__.partition(".")[0]
    buffer = io.BytesIO()
    try:
        joblib.dump(value, buffer, compress=_COMPRESS)
    except (pickle.PicklingError, TypeError, AttributeError) as exc:
        # e.g. a FunctionTransformer around a lambda; cloudpickle can store those by value.
        raise Unsupported(f"joblib cannot pickle it: {exc}") from exc
    data = buffer.getvalue()
    meta = {
        "sha256": content_address(data),
        library + _VERSION_SUFFIX: getattr(sys.modules[library], "__version__", None),
    }
    return Materialized(data, JOBLIB, f"{cls.__module__}.{cls.__qualname__}", None, meta)


def load_joblib(type_name: str, data: bytes, meta: Mapping[str, object]) -> object:
    import joblib

    expected, actual = meta.get("sha256"), content_address(data)
    if expected != actual:
        raise StoreError(
            f"refusing to unpickle the {type_name} stored with joblib: its bytes hash to {actual} "
            f"but {expected or 'no hash'} was recorded when it was written, so they cannot be "
            "trusted. Re-run the step that produced it.",
            materializer=JOBLIB,
            type_name=type_name,
            expected=expected,
            actual=actual,
        )
    value = joblib.load(io.BytesIO(data))
    for key, recorded in meta.items():
        if not key.endswith(_VERSION_SUFFIX):
            continue
        library = key.removesuffix(_VERSION_SUFFIX)
        current = getattr(sys.modules.get(library), "__version__", None)
        if current != recorded:
            name = _LIBRARY_NAMES.get(library, library)
            warnings.warn(
                f"{type_name} was saved with {name} {recorded} and is loaded with {current}; "
                f"it may predict differently or fail. Retrain it, or install {name}=={recorded}.",
                ConveyorWarning,
                stacklevel=3,
            )
    return value


def dump_cloudpickle(value: object, type_name: str, reason: str) -> Materialized:
    """``value`` pickled; ``reason`` says why no safer format took it, for the error."""
    import cloudpickle

    try:
        data = cloudpickle.dumps(value)
    except Exception as exc:  # pickling reaches arbitrary user code; any failure means "cannot"
        raise ConveyorError(
            f"cannot store the {type_name} a step returned: {reason}, and cloudpickle cannot "
            f"pickle it either ({type(exc).__name__}: {exc}). Return a DataFrame, an array or a "
            "JSON-able value instead, or register a materializer for the type with "
            "conveyor.data.register_materializer().",
            type_name=type_name,
            reason=reason,
        ) from exc
    return Materialized(data, CLOUDPICKLE, type_name, None, {"python": _python()})


def load_cloudpickle(type_name: str, data: bytes, meta: Mapping[str, object]) -> object:
    import cloudpickle

    recorded = meta.get("python")
    # Pickled code objects are tied to the bytecode of one Python minor version.
    if isinstance(recorded, str) and _minor(recorded) != _minor(_python()):
        warnings.warn(
            f"{type_name} was pickled under Python {recorded} and is loaded under {_python()}; "
            "pickled functions and classes may fail to load or behave differently.",
            ConveyorWarning,
            stacklevel=3,
        )
    return cloudpickle.loads(data)


def _python() -> str:
    return "{}.{}.{}".format(*sys.version_info[:3])


def _minor(version: str) -> str:
    return ".".join(version.split(".")[:2])
