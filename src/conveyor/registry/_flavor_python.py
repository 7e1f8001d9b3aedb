"""The ``python`` flavor: any callable, or object with ``predict``, stored with cloudpickle.

For a plain function or a hand-written model class pickling is the only format there is, so no
warning is given. cloudpickle stores functions and classes defined in ``__main__`` by value, and
its bytes are only readable by the Python minor version that wrote them: loading checks that
first, so a mismatch is a clear error rather than a crash deep inside unpickling.
"""

from __future__ import annotations

import platform
import sys
from collections.abc import Mapping

from conveyor.core._errors import RegistryError

FORMAT = "cloudpickle"


def save(model: object, example: object | None) -> tuple[bytes, dict[str, object]]:
    import cloudpickle

    del example  # a pickled model needs no example input
    data = cloudpickle.dumps(model)
    return data, {"format": FORMAT, "versions": {"cloudpickle": cloudpickle.__version__}}


def load(data: bytes, meta: Mapping[str, object]) -> object:
    import cloudpickle

    if meta.get("format") != FORMAT:
        raise RegistryError(
            f"a python model must be stored as {FORMAT}, not {meta.get('format')!r}",
            format=meta.get("format"),
        )
    versions = meta.get("versions")
    saved = str(versions.get("python", "")) if isinstance(versions, Mapping) else ""
    saved_minor = ".".join(saved.split(".")[:2])
    running = f"{sys.version_info.major}.{sys.version_info.minor}"
    if saved_minor != running:
        raise RegistryError(
            f"this model was pickled by Python {saved or 'of an unknown version'} and cannot be "
            f"loaded by Python {platform.python_version()}: cloudpickle's bytes are tied to the "
            f"Python version. Load it with Python {saved_minor or 'of the same version'}, or "
            "register the model again from this Python",
            saved_python=saved,
            python=platform.python_version(),
        )
    return cloudpickle.loads(data)
