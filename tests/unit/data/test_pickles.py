from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pytest
import sklearn
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from conveyor.core import content_address
from conveyor.core._errors import (
    ConveyorError,
    ConveyorWarning,
    PickleFallbackWarning,
    StoreError,
)
from conveyor.data import Materialized, load, materialize

XY = tuple[npt.NDArray[np.float64], npt.NDArray[np.int64]]


def roundtrip(value: object) -> tuple[Materialized, object]:
    stored = materialize(value)
    return stored, load(stored.materializer, stored.type_name, stored.data, stored.meta)


@pytest.fixture(scope="module")
def xy() -> XY:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 4))
    return x, (x[:, 0] + x[:, 1] > 0).astype(int)


@pytest.fixture(scope="module")
def model(xy: XY) -> RandomForestClassifier:
    return RandomForestClassifier(n_estimators=5, random_state=0).fit(*xy)


def test_a_fitted_estimator_loads_back_and_predicts_the_same(
    model: RandomForestClassifier,
    xy: XY,
) -> None:
    stored, loaded = roundtrip(model)
    assert stored.materializer == "joblib"
    assert stored.type_name == "sklearn.ensemble._forest.RandomForestClassifier"
    assert stored.rows is None
    assert stored.meta == {
        "sha256": content_address(stored.data),
        "sklearn_version": sklearn.__version__,
    }
    assert isinstance(loaded, RandomForestClassifier)
    np.testing.assert_array_equal(loaded.predict(xy[0]), model.predict(xy[0]))


def test_a_pipeline_is_stored_with_joblib(xy: XY) -> None:
    pipeline = make_pipeline(StandardScaler(), LogisticRegression()).fit(*xy)
    stored, loaded = roundtrip(pipeline)
    assert stored.materializer == "joblib"
    assert stored.type_name == "sklearn.pipeline.Pipeline"
    np.testing.assert_array_equal(loaded.predict(xy[0]), pipeline.predict(xy[0]))  # type: ignore[attr-defined]


def test_equal_models_give_equal_bytes(xy: XY) -> None:
    first = RandomForestClassifier(n_estimators=3, random_state=1).fit(*xy)
    second = RandomForestClassifier(n_estimators=3, random_state=1).fit(*xy)
    assert materialize(first).data == materialize(second).data


def test_tampered_joblib_bytes_are_refused_before_unpickling(
    model: RandomForestClassifier,
) -> None:
    stored = materialize(model)
    tampered = stored.data[:-1] + bytes([stored.data[-1] ^ 0xFF])
    with pytest.raises(StoreError, match="refusing to unpickle") as caught:
        load("joblib", stored.type_name, tampered, stored.meta)
    assert "RandomForestClassifier" in str(caught.value)
    assert caught.value.details["expected"] == stored.meta["sha256"]
    assert caught.value.details["actual"] == content_address(tampered)


def test_joblib_bytes_without_a_recorded_hash_are_refused(model: RandomForestClassifier) -> None:
    stored = materialize(model)
    with pytest.raises(StoreError, match="no hash"):
        load("joblib", stored.type_name, stored.data, {"sklearn_version": sklearn.__version__})


def test_loading_under_another_sklearn_version_warns(model: RandomForestClassifier) -> None:
    stored = materialize(model)
    meta = {**stored.meta, "sklearn_version": "0.1.0"}
    with pytest.warns(ConveyorWarning, match=r"scikit-learn 0\.1\.0") as caught:
        load("joblib", stored.type_name, stored.data, meta)
    assert not isinstance(caught[0].message, PickleFallbackWarning)


def test_a_model_joblib_cannot_pickle_falls_back_to_cloudpickle() -> None:
    pipeline = make_pipeline(FunctionTransformer(lambda x: x * 2))
    with pytest.warns(PickleFallbackWarning, match="joblib cannot pickle it"):
        stored, loaded = roundtrip(pipeline)
    assert stored.materializer == "cloudpickle"
    assert loaded.transform(np.array([[1.0]])).tolist() == [[2.0]]  # type: ignore[attr-defined]


@dataclass
class Custom:
    value: int


def test_an_unknown_type_is_cloudpickled_with_a_warning_that_says_how_to_avoid_it() -> None:
    with pytest.warns(PickleFallbackWarning) as caught:
        stored, loaded = roundtrip(Custom(3))
    message = str(caught[0].message)
    assert f"{__name__}.Custom" in message
    assert "JSON-able" in message
    assert "register_materializer" in message
    assert stored.materializer == "cloudpickle"
    assert stored.type_name == f"{__name__}.Custom"
    assert stored.meta["python"] == ".".join(map(str, __import__("sys").version_info[:3]))
    assert loaded == Custom(3)


def test_the_warning_points_at_the_caller_of_materialize() -> None:
    with pytest.warns(PickleFallbackWarning) as caught:
        materialize(Custom(1))
    assert caught[0].filename == __file__


def test_a_value_nothing_can_store_is_a_conveyor_error() -> None:
    with pytest.raises(ConveyorError, match=r"cannot store the.*no format") as caught:
        materialize(threading.Lock())
    assert not isinstance(caught.value, StoreError)
    assert "_thread.lock" in str(caught.value)


def test_loading_a_pickle_from_another_python_warns() -> None:
    with pytest.warns(PickleFallbackWarning):
        stored = materialize(Custom(2))
    with pytest.warns(ConveyorWarning, match=r"Python 2\.7\.18"):
        assert load("cloudpickle", stored.type_name, stored.data, {"python": "2.7.18"}) == Custom(2)


def test_a_pickle_whose_class_is_gone_is_a_store_error() -> None:
    # Protocol 0: GLOBAL no_such_mod.X, then STOP; loading it must import no_such_mod.
    data = b"cno_such_mod\nX\n."
    with pytest.raises(StoreError, match="ModuleNotFoundError"):
        load("cloudpickle", "no_such_mod.X", data, {})
