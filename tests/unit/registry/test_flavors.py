from __future__ import annotations

import io
import json
import subprocess
import sys
import zipfile
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.datasets import make_classification, make_regression

from conveyor.errors import RegistryError
from conveyor.registry._flavors import SavedModel, flavor_of, load_model, save_model


@pytest.fixture(scope="module")
def classification() -> tuple[np.ndarray, np.ndarray]:
    return make_classification(n_samples=300, n_features=6, n_informative=4, random_state=0)


@pytest.fixture(scope="module")
def multiclass() -> tuple[np.ndarray, np.ndarray]:
    return make_classification(
        n_samples=300, n_features=6, n_informative=4, n_classes=3, random_state=1
    )


@pytest.fixture(scope="module")
def regression() -> tuple[np.ndarray, np.ndarray]:
    return make_regression(n_samples=300, n_features=6, noise=0.1, random_state=0)


@pytest.fixture(scope="module")
def frame() -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(0)
    df = pd.DataFrame(
        {
            "age": rng.integers(18, 80, 300),
            "income": rng.normal(50, 10, 300),
            "plan": rng.choice(["basic", "plus", "pro"], 300),
        }
    )
    y = ((df["income"] > 50) ^ (df["plan"] == "pro")).to_numpy().astype(int)
    return df, y


def round_trip(model: object, **options: Any) -> tuple[SavedModel, Any]:
    saved = save_model(model, **options)
    # meta is stored as JSON by the registry, so load from what JSON gives back
    meta = json.loads(json.dumps(saved.meta))
    return saved, load_model(saved.flavor, saved.data, meta)


def assert_same_predictions(original: Any, loaded: Any, X: object) -> None:
    assert type(loaded) is type(original)
    np.testing.assert_array_equal(loaded.predict(X), original.predict(X))
    if hasattr(original, "predict_proba"):
        np.testing.assert_allclose(loaded.predict_proba(X), original.predict_proba(X), rtol=1e-6)


class Doubler(TransformerMixin, BaseEstimator):
    """A custom scikit-learn transformer: skops can store it, conveyor must not trust it."""

    def fit(self, X: object, y: object = None) -> Doubler:
        return self

    def transform(self, X: np.ndarray) -> np.ndarray:
        return np.asarray(X) * 2


class Scorer:
    """A hand-written model with a predict method."""

    def __init__(self, weights: list[float]) -> None:
        self.weights = np.asarray(weights)

    def predict(self, X: np.ndarray) -> np.ndarray:
        return np.asarray(X) @ self.weights


# -- scikit-learn ------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["logistic", "forest", "hist_gradient_boosting"])
def test_sklearn_estimators_round_trip_through_skops(
    kind: str, classification: tuple[np.ndarray, np.ndarray]
) -> None:
    from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
    from sklearn.linear_model import LogisticRegression

    X, y = classification
    model = {
        "logistic": LogisticRegression(),
        "forest": RandomForestClassifier(n_estimators=5, random_state=0),
        "hist_gradient_boosting": HistGradientBoostingClassifier(max_iter=5),
    }[kind].fit(X, y)
    saved, loaded = round_trip(model)
    assert saved.flavor == "sklearn"
    assert saved.meta["format"] == "skops"
    assert saved.data[:2] == b"PK"  # a skops zip, not a pickle stream
    assert_same_predictions(model, loaded, X)


def test_a_pipeline_with_a_column_transformer_round_trips_on_a_dataframe(
    frame: tuple[pd.DataFrame, np.ndarray],
) -> None:
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    df, y = frame
    prep = ColumnTransformer(
        [
            ("num", StandardScaler(), ["age", "income"]),
            ("cat", OneHotEncoder(handle_unknown="ignore"), ["plan"]),
        ]
    )
    model = Pipeline([("prep", prep), ("clf", LogisticRegression())]).fit(df, y)
    saved, loaded = round_trip(model)
    assert saved.meta["class"] == "sklearn.pipeline.Pipeline"
    assert set(saved.meta["versions"]) >= {"python", "scikit-learn", "skops"}
    assert_same_predictions(model, loaded, df)
    unseen = df.head(3).assign(plan=["enterprise", "basic", "pro"])
    np.testing.assert_allclose(loaded.predict_proba(unseen), model.predict_proba(unseen))


def test_a_custom_class_is_refused_at_save_with_the_way_out(
    classification: tuple[np.ndarray, np.ndarray],
) -> None:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    X, y = classification
    model = make_pipeline(Doubler(), LogisticRegression()).fit(X, y)
    with pytest.raises(RegistryError, match="does not trust") as caught:
        save_model(model)
    name = f"{__name__}.Doubler"
    assert name in str(caught.value)
    assert "flavor='python'" in str(caught.value)
    assert caught.value.details["untrusted"] == [name]


def test_the_same_model_saved_as_python_round_trips(
    classification: tuple[np.ndarray, np.ndarray],
) -> None:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    X, y = classification
    model = make_pipeline(Doubler(), LogisticRegression()).fit(X, y)
    saved, loaded = round_trip(model, flavor="python")
    assert saved.flavor == "python"
    assert_same_predictions(model, loaded, X)


def test_skops_bytes_naming_an_untrusted_type_are_not_loaded(
    classification: tuple[np.ndarray, np.ndarray],
) -> None:
    import skops.io as sio
    from sklearn.preprocessing import FunctionTransformer

    X, _ = classification
    # skops itself would store these; the registry must still refuse to import them on load
    for transformer, name in [
        (Doubler().fit(X), f"{__name__}.Doubler"),
        (FunctionTransformer(np.load).fit(X), "numpy.load"),
    ]:
        with pytest.raises(RegistryError, match="refusing to load") as caught:
            load_model("sklearn", sio.dumps(transformer), {"format": "skops"})
        assert caught.value.details["untrusted"] == [name]


@pytest.mark.parametrize(
    ("name", "trusted"),
    [
        ("sklearn.tree._tree.Tree", True),
        ("numpy.log1p", True),
        ("scipy.sparse._csr.csr_matrix", True),
        ("numpy.load", False),
        ("numpy.lib.npyio.NpzFile", False),
        ("numpy.testing.assert_equal", False),
        ("sklearn_extra.cluster.KMedoids", False),
        ("builtins.eval", False),
        ("__main__.MyTransformer", False),
    ],
)
def test_only_scikit_learn_numpy_and_scipy_types_are_trusted(name: str, trusted: bool) -> None:
    from conveyor.registry._flavor_sklearn import is_trusted

    assert is_trusted(name) is trusted


# -- XGBoost -----------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["classifier", "regressor", "booster"])
def test_xgboost_models_round_trip_in_ubjson_as_their_own_class(
    kind: str,
    multiclass: tuple[np.ndarray, np.ndarray],
    regression: tuple[np.ndarray, np.ndarray],
) -> None:
    import xgboost as xgb

    if kind == "classifier":
        X, y = multiclass
        model: Any = xgb.XGBClassifier(n_estimators=8, max_depth=3).fit(X, y)
    elif kind == "regressor":
        X, y = regression
        model = xgb.XGBRegressor(n_estimators=8, max_depth=3).fit(X, y)
    else:
        X, y = regression
        model = xgb.train({"max_depth": 3}, xgb.DMatrix(X, label=y), num_boost_round=8)
    saved, loaded = round_trip(model)
    assert saved.flavor == "xgboost"
    assert saved.meta["format"] == "ubj"
    if kind == "booster":
        assert type(loaded) is xgb.Booster
        np.testing.assert_allclose(
            loaded.predict(xgb.DMatrix(X)), model.predict(xgb.DMatrix(X)), rtol=1e-6
        )
    else:
        assert_same_predictions(model, loaded, X)
        assert loaded.get_params()["max_depth"] == 3


def test_an_xgboost_class_outside_the_list_is_refused_by_name() -> None:
    with pytest.raises(RegistryError, match=r"class os\.system"):
        load_model("xgboost", b"{}", {"class": "os.system"})


# -- LightGBM ----------------------------------------------------------------------------------


def test_a_lightgbm_classifier_on_a_dataframe_keeps_labels_and_probabilities(
    frame: tuple[pd.DataFrame, np.ndarray],
) -> None:
    import lightgbm as lgb

    df, y = frame
    X = df.astype({"plan": "category"})
    labels = np.array(["stay", "churn"])[y]
    model = lgb.LGBMClassifier(n_estimators=15, num_leaves=7, verbose=-1).fit(X, labels)
    saved, loaded = round_trip(model)
    assert saved.flavor == "lightgbm"
    assert_same_predictions(model, loaded, X)
    assert list(loaded.classes_) == ["churn", "stay"]
    assert list(loaded.feature_names_in_) == ["age", "income", "plan"]
    np.testing.assert_array_equal(loaded.feature_importances_, model.feature_importances_)


@pytest.mark.parametrize("kind", ["multiclass", "regressor", "booster"])
def test_lightgbm_models_round_trip_as_their_own_class(
    kind: str,
    multiclass: tuple[np.ndarray, np.ndarray],
    regression: tuple[np.ndarray, np.ndarray],
) -> None:
    import lightgbm as lgb

    if kind == "multiclass":
        X, y = multiclass
        model: Any = lgb.LGBMClassifier(n_estimators=10, num_leaves=7, verbose=-1).fit(X, y)
    elif kind == "regressor":
        X, y = regression
        model = lgb.LGBMRegressor(n_estimators=10, num_leaves=7, verbose=-1).fit(X, y)
    else:
        X, y = regression
        params = {"num_leaves": 7, "verbose": -1}
        model = lgb.train(params, lgb.Dataset(X, label=y), num_boost_round=10)
    _, loaded = round_trip(model)
    if kind == "booster":
        assert type(loaded) is lgb.Booster
        np.testing.assert_allclose(loaded.predict(X), model.predict(X), rtol=1e-6)
    else:
        assert_same_predictions(model, loaded, X)


def test_lightgbm_early_stopping_predicts_at_the_same_best_iteration(
    regression: tuple[np.ndarray, np.ndarray],
) -> None:
    import lightgbm as lgb

    X, y = regression
    model = lgb.LGBMRegressor(n_estimators=200, learning_rate=0.5, num_leaves=7, verbose=-1)
    model.fit(
        X[:200],
        y[:200],
        eval_X=X[200:],
        eval_y=y[200:],
        callbacks=[lgb.early_stopping(3, verbose=False)],
    )
    assert 0 < model.best_iteration_ < 200  # stopping really happened
    _, loaded = round_trip(model)
    assert loaded.best_iteration_ == model.best_iteration_
    assert loaded.best_score_ == model.best_score_
    assert loaded.booster_.num_trees() == model.booster_.num_trees()
    np.testing.assert_allclose(loaded.predict(X), model.predict(X), rtol=1e-6)


def test_a_lightgbm_custom_objective_cannot_be_stored_natively(
    regression: tuple[np.ndarray, np.ndarray],
) -> None:
    import lightgbm as lgb

    def squared(y_true: np.ndarray, y_pred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return y_pred - y_true, np.ones_like(y_pred)

    X, y = regression
    model = lgb.LGBMRegressor(objective=squared, n_estimators=3, verbose=-1).fit(X, y)
    with pytest.raises(RegistryError, match="custom objective"):
        save_model(model)


# -- PyTorch -----------------------------------------------------------------------------------


def test_a_torch_module_is_exported_with_its_example_and_serves_any_batch_size(
    classification: tuple[np.ndarray, np.ndarray],
) -> None:
    import torch

    X, _ = classification
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Linear(6, 16), torch.nn.ReLU(), torch.nn.Dropout(0.5), torch.nn.Linear(16, 2)
    )
    net.train()
    net[2].eval()  # a part held in eval mode must stay so
    # a single row: export would fix the batch size to 1 if it were traced as it is
    saved, loaded = round_trip(net, example=pd.DataFrame(X[:1]))
    # saving put it in eval mode only while exporting
    assert [m.training for m in net] == [True, True, False, True]
    assert saved.flavor == "torch"
    assert saved.meta["format"] == "torch.export"
    assert saved.meta["input"] == {"dtype": "float32", "shape": [-1, 6]}
    net.eval()
    batch = torch.tensor(X, dtype=torch.float32)
    with torch.no_grad():
        expected = net(batch).numpy()
        np.testing.assert_allclose(loaded(batch).numpy(), expected, rtol=1e-6)
        np.testing.assert_allclose(loaded(batch[:1]).numpy(), expected[:1], rtol=1e-6)


def test_a_torch_module_without_an_example_asks_for_one() -> None:
    import torch

    with pytest.raises(RegistryError, match="without an example input") as caught:
        save_model(torch.nn.Linear(3, 1))
    assert "reference=" in str(caught.value)


def test_a_torch_archive_with_pickled_entries_is_refused() -> None:
    import torch

    net = torch.nn.Linear(3, 1)
    saved = save_model(net, example=np.ones((2, 3)))
    tampered = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(saved.data)) as source,
        zipfile.ZipFile(tampered, "w") as target,
    ):
        for item in source.infolist():
            content = source.read(item)
            if item.filename.endswith("model_weights_config.json"):
                config = json.loads(content)
                for entry in config["config"].values():
                    entry["use_pickle"] = True
                content = json.dumps(config).encode()
            target.writestr(item, content)
    with pytest.raises(RegistryError, match="pickled entries") as caught:
        load_model("torch", tampered.getvalue(), saved.meta)
    assert any("weight" in entry for entry in caught.value.details["refused"])


# -- plain Python ------------------------------------------------------------------------------


def test_a_function_and_a_predict_object_round_trip_with_cloudpickle() -> None:
    X = np.arange(12.0).reshape(4, 3)
    offset = 0.5

    def score(rows: np.ndarray) -> np.ndarray:
        return rows.sum(axis=1) + offset  # a closure: pickled by value

    saved, loaded = round_trip(score)
    assert saved.flavor == "python"
    assert saved.meta["format"] == "cloudpickle"
    assert saved.meta["versions"]["python"] == ".".join(map(str, sys.version_info[:3]))
    np.testing.assert_allclose(loaded(X), score(X), rtol=1e-6)

    scorer = Scorer([1.0, -2.0, 0.5])
    _, loaded_scorer = round_trip(scorer)
    np.testing.assert_allclose(loaded_scorer.predict(X), scorer.predict(X), rtol=1e-6)


def test_a_pickled_model_from_another_python_version_is_refused() -> None:
    saved = save_model(Scorer([1.0]))
    meta = {**saved.meta, "versions": {"python": "3.9.18"}}
    with pytest.raises(RegistryError, match=r"Python 3\.9\.18") as caught:
        load_model("python", saved.data, meta)
    assert "Load it with Python 3.9" in str(caught.value)


# -- choosing and failing ----------------------------------------------------------------------


def test_the_flavor_is_read_from_the_model_type_library_first() -> None:
    import lightgbm as lgb
    import torch
    import xgboost as xgb
    from sklearn.linear_model import Ridge

    class Net(torch.nn.Module):  # defined outside torch: found through its base class
        pass

    assert flavor_of(Ridge()) == "sklearn"
    # the boosting wrappers are scikit-learn estimators too; their own library wins
    assert flavor_of(xgb.XGBClassifier()) == "xgboost"
    assert flavor_of(lgb.LGBMRegressor()) == "lightgbm"
    assert flavor_of(Net()) == "torch"
    assert flavor_of(Scorer([1.0])) == "python"
    assert flavor_of(len) == "python"


@pytest.mark.parametrize("model", [42, "model.pkl", {"weights": [1, 2]}])
def test_an_object_that_cannot_predict_is_refused(model: object) -> None:
    with pytest.raises(RegistryError, match="cannot register a model of type builtins"):
        save_model(model)


def test_unknown_flavors_and_unreadable_bytes_raise_registry_errors() -> None:
    with pytest.raises(RegistryError, match="unknown model flavor 'onnx'"):
        load_model("onnx", b"", {})
    with pytest.raises(RegistryError, match="unknown model flavor"):
        save_model(len, flavor="onnx")
    with pytest.raises(RegistryError, match="could not load the sklearn model") as caught:
        load_model("sklearn", b"not a zip file", {"class": "sklearn.linear_model.Ridge"})
    assert isinstance(caught.value.__cause__, Exception)


def test_importing_the_flavors_loads_no_model_library() -> None:
    code = (
        "import sys, conveyor.registry._flavors, conveyor.registry._signature\n"
        "print('\\n'.join(sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = {name.partition(".")[0] for name in out.stdout.split()}
    assert not loaded & {"sklearn", "skops", "xgboost", "lightgbm", "torch", "cloudpickle"}


def test_models_are_deserialized_one_at_a_time_however_many_threads_load(
    classification: tuple[np.ndarray, np.ndarray], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A server loads its models in threads; CPython 3.11's AST constructor, which the loaders
    use, is not safe from two threads at once, so the loads take turns (and all succeed)."""
    import threading
    import time

    from sklearn.linear_model import LogisticRegression

    from conveyor.registry import _flavor_sklearn

    saved = save_model(LogisticRegression().fit(*classification))
    real = _flavor_sklearn.load
    inside, most = 0, 0
    count = threading.Lock()

    def watched(data: bytes, meta: Any) -> object:
        nonlocal inside, most
        with count:
            inside += 1
            most = max(most, inside)
        time.sleep(0.02)  # long enough for the other threads to arrive
        try:
            return real(data, meta)
        finally:
            with count:
                inside -= 1

    monkeypatch.setattr(_flavor_sklearn, "load", watched)
    loaded: list[object] = []
    threads = [
        threading.Thread(
            target=lambda: loaded.append(load_model("sklearn", saved.data, saved.meta))
        )
        for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert most == 1
    assert len(loaded) == 4 and all(isinstance(m, LogisticRegression) for m in loaded)
