"""The ``sklearn`` flavor: scikit-learn estimators and pipelines as skops bytes.

skops stores an object graph without pickle, but it names the classes and functions it
rebuilds, and loading imports them. So the bytes are loaded only when every type skops does not
already trust comes from scikit-learn, numpy or scipy, minus the few corners of those packages
that read or write files or compile code. The same check runs when saving, so a model built with
a custom class fails at registration, not on the day it is first served.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Final

import numpy as np
import sklearn
import skops
import skops.io as sio

from conveyor.core._errors import RegistryError

FORMAT = "skops"

_TRUSTED_PACKAGES: Final = frozenset({"sklearn", "numpy", "scipy"})
# Parts of the trusted packages whose functions touch files or build and run code. A
# FunctionTransformer could name one of them and call it on request data, so they stay untrusted.
_DENIED: Final[tuple[str, ...]] = (
    "numpy.ctypeslib",
    "numpy.distutils",
    "numpy.f2py",
    "numpy.fromfile",
    "numpy.fromregex",
    "numpy.genfromtxt",
    "numpy.lib.format",
    "numpy.lib.npyio",
    "numpy.lib._npyio_impl",
    "numpy.load",
    "numpy.loadtxt",
    "numpy.memmap",
    "numpy.save",
    "numpy.savetxt",
    "numpy.savez",
    "numpy.savez_compressed",
    "numpy.testing",
    "scipy.io",
    "scipy.datasets",
    "sklearn.datasets",
    "sklearn.utils._testing",
)


def save(model: object, example: object | None) -> tuple[bytes, dict[str, object]]:
    del example  # skops stores the fitted state; no input is needed
    data = sio.dumps(model)
    _check_trusted(sio.get_untrusted_types(data=data), saving=True)
    versions = {
        "scikit-learn": sklearn.__version__,
        "skops": skops.__version__,
        "numpy": np.__version__,
    }
    return data, {"format": FORMAT, "versions": versions}


def load(data: bytes, meta: Mapping[str, object]) -> object:
    if meta.get("format", FORMAT) != FORMAT:
        raise RegistryError(
            f"a scikit-learn model must be stored as {FORMAT}, not {meta.get('format')!r}",
            format=meta.get("format"),
        )
    types = sio.get_untrusted_types(data=data)
    _check_trusted(types, saving=False)
    return sio.loads(data, trusted=types)


def is_trusted(type_name: str) -> bool:
    """Whether a type or function that skops names may be imported when loading a model."""
    if type_name.partition(".")[0] not in _TRUSTED_PACKAGES:
        return False
    return not any(type_name == d or type_name.startswith(d + ".") for d in _DENIED)


def _check_trusted(types: Sequence[str], *, saving: bool) -> None:
    untrusted = sorted(t for t in types if not is_trusted(t))
    if not untrusted:
        return
    listed = ", ".join(untrusted)
    if saving:
        message = (
            f"the scikit-learn model uses types conveyor does not trust: {listed}. Loading a "
            "skops file imports every type it names, so only scikit-learn, numpy and scipy are "
            "trusted. Either build the model from those (for example a FunctionTransformer over "
            "a numpy function instead of a custom transformer), or save it with "
            "flavor='python' to store it with cloudpickle, which can hold any Python object but "
            "runs code when loaded and only loads on the same Python version"
        )
    else:
        message = (
            f"refusing to load the scikit-learn model: it names types conveyor does not trust: "
            f"{listed}. Only scikit-learn, numpy and scipy types are loaded from skops files; "
            "register the model again built from those, or with flavor='python' if its source "
            "is trusted"
        )
    raise RegistryError(message, untrusted=untrusted)
