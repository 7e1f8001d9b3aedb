from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from conveyor.core._errors import PickleFallbackWarning
from conveyor.data import Materialized, load, materialize


def roundtrip(value: object) -> tuple[Materialized, object]:
    stored = materialize(value)
    return stored, load(stored.materializer, stored.type_name, stored.data, stored.meta)


@pytest.mark.parametrize(
    "array",
    [
        np.arange(12, dtype=np.int32).reshape(3, 4),
        np.asfortranarray(np.arange(6.0).reshape(2, 3)),
        np.array([1.5, np.nan, np.inf]),
        np.array(["a", "bé"]),
        np.array([True, False]),
        np.array(["2024-01-01", "2024-01-02"], dtype="datetime64[s]"),
        np.zeros((0, 3)),
        np.array(7),
        np.zeros(2, dtype=[("x", "f8"), ("n", "i4")]),
    ],
)
def test_an_array_loads_back_equal_in_dtype_and_shape(array: npt.NDArray[np.generic]) -> None:
    stored, loaded = roundtrip(array)
    assert stored.materializer == "npy"
    assert stored.type_name == "numpy.ndarray"
    assert stored.rows == (len(array) if array.ndim else None)
    assert stored.meta == {"dtype": str(array.dtype), "shape": list(array.shape)}
    assert isinstance(loaded, np.ndarray)
    assert loaded.dtype == array.dtype
    assert loaded.shape == array.shape
    np.testing.assert_array_equal(loaded, array)


def test_a_loaded_array_is_writable() -> None:
    _, loaded = roundtrip(np.arange(3))
    assert isinstance(loaded, np.ndarray)
    loaded[0] = 10  # a read-only view of the stored bytes would raise here


@pytest.mark.parametrize("scalar", [np.float64(1.5), np.int8(-3), np.bool_(True), np.str_("s")])
def test_a_numpy_scalar_loads_back_as_the_same_scalar_type(scalar: np.generic) -> None:
    stored, loaded = roundtrip(scalar)
    assert stored.materializer == "npy"
    assert stored.type_name == f"numpy.{type(scalar).__name__}"
    assert stored.rows is None
    assert type(loaded) is type(scalar)
    assert loaded == scalar


def test_equal_arrays_give_equal_bytes() -> None:
    assert materialize(np.arange(100.0)).data == materialize(np.arange(100.0)).data


def test_an_object_array_falls_back_to_cloudpickle() -> None:
    array = np.array([{"a": 1}, None], dtype=object)
    with pytest.warns(PickleFallbackWarning, match="dtype holds Python objects"):
        stored, loaded = roundtrip(array)
    assert stored.materializer == "cloudpickle"
    assert isinstance(loaded, np.ndarray)
    assert loaded.tolist() == array.tolist()


def test_a_masked_array_keeps_its_mask() -> None:
    # .npy would drop the mask, so a masked array is not stored as one.
    masked = np.ma.masked_array([1, 2, 3], mask=[False, True, False])
    with pytest.warns(PickleFallbackWarning):
        stored, loaded = roundtrip(masked)
    assert stored.materializer == "cloudpickle"
    assert isinstance(loaded, np.ma.MaskedArray)
    assert loaded.mask.tolist() == [False, True, False]
