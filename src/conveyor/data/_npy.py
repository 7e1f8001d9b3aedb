"""The ``.npy`` format for numpy arrays and numpy scalars, never pickled.

Arrays of dtype object can only be written to ``.npy`` by pickling, so they are refused here
and end up with cloudpickle and its warning. numpy is imported inside the functions so that
``import conveyor.data`` stays light.
"""

from __future__ import annotations

import io
from collections.abc import Mapping

from conveyor.data._base import Materialized, Unsupported

NAME = "npy"
_ARRAY = "numpy.ndarray"


def dump(value: object) -> Materialized | None:
    """An ndarray or numpy scalar as ``.npy``; None for other numpy types (masked arrays …)."""
    import numpy as np

    cls = type(value)
    # Exact type: a subclass such as a masked array would lose what makes it one.
    if cls is np.ndarray:
        array: np.ndarray[tuple[int, ...], np.dtype[np.generic]] = value  # type: ignore[assignment]
        type_name = _ARRAY
        rows = len(array) if array.ndim else None
    elif isinstance(value, np.generic):
        array = np.asarray(value)
        type_name = f"numpy.{cls.__name__}"
        rows = None
    else:
        return None
    if array.dtype.hasobject:
        raise Unsupported("its dtype holds Python objects, which .npy stores only by pickling")
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    meta = {"dtype": str(array.dtype), "shape": list(array.shape)}
    return Materialized(buffer.getvalue(), NAME, type_name, rows, meta)


def load(type_name: str, data: bytes, meta: Mapping[str, object]) -> object:
    import numpy as np

    array = np.load(io.BytesIO(data), allow_pickle=False)
    # A scalar was saved as a 0-d array; indexing with () gives the numpy scalar back.
    return array if type_name == _ARRAY else array[()]
