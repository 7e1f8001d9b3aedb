"""One model input from the rows of a batch, in the form the model was fitted on.

A model fitted on a DataFrame gets a pandas DataFrame with the signature's column names and
dtypes; one fitted on a 2-D array gets a numpy array. All-numeric rows go through one numpy
conversion, which is what makes a batch of 64 rows cost about what one row does.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

import numpy as np
import pandas as pd

_NUMERIC: Final = frozenset({"float", "integer", "boolean"})


def model_input(
    columns: tuple[str, ...] | None, rows: list[list[Any]], signature: Mapping[str, Any]
) -> object:
    inputs: Sequence[Mapping[str, Any]] = signature.get("inputs") or ()
    if signature.get("format") == "array" or (not inputs and columns is None):
        return np.asarray(rows, dtype=_array_dtype(inputs))
    names = list(columns) if columns is not None else [str(i["name"]) for i in inputs]
    if inputs and all(str(i["type"]) in _NUMERIC for i in inputs):
        frame = pd.DataFrame(np.asarray(rows, dtype=np.float64), columns=names, copy=False)
    else:
        frame = pd.DataFrame(rows, columns=names)
    return _typed(frame, inputs)


def _array_dtype(inputs: Sequence[Mapping[str, Any]]) -> Any:
    dtypes = {str(i.get("dtype", "")) for i in inputs}
    if len(dtypes) == 1:
        (only,) = dtypes
        try:
            dtype = np.dtype(only)
        except TypeError:
            return None
        return dtype if dtype.kind in "biuf" else None
    return np.float64 if all(str(i["type"]) in _NUMERIC for i in inputs) else None


def _typed(frame: pd.DataFrame, inputs: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """Columns cast to the dtypes the model saw, where the values allow it."""
    for spec in inputs:
        name, kind, dtype = str(spec["name"]), str(spec["type"]), str(spec.get("dtype", ""))
        column = frame[name]
        if str(column.dtype) == dtype:
            continue
        try:
            if kind == "category":
                frame[name] = column.astype("category")
            elif kind == "datetime":
                frame[name] = pd.to_datetime(column)
            elif kind in _NUMERIC and not column.isna().any():
                frame[name] = column.astype(np.dtype(dtype))
        except (TypeError, ValueError):
            continue  # leave the column as it is and let the model judge its values
    return frame
