"""The ``lightgbm`` flavor: LightGBM's text model format, loaded back as the class that was saved.

The trees are saved with ``Booster.model_to_string``, every iteration of them, with the best
iteration kept in ``meta`` so that predictions use the same trees as before. LightGBM itself
(and MLflow) can only pickle the scikit-learn wrappers, so their fitted state is rebuilt from
``meta``: the constructor parameters, the objective, the feature counts and, for a classifier,
its classes. That state lives in the wrapper's private attributes, which is why the flavor's
tests compare ``predict`` and ``predict_proba`` before and after, and why ``meta`` records the
LightGBM version. The training history (``evals_result_``) is not kept.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import lightgbm as lgb
import numpy as np
from sklearn.preprocessing import LabelEncoder

from conveyor.core._errors import RegistryError
from conveyor.registry._flavor_params import json_params

FORMAT = "lightgbm-text"

_WRAPPERS: Final[dict[str, type[lgb.LGBMClassifier] | type[lgb.LGBMRegressor]]] = {
    f"{cls.__module__}.{cls.__qualname__}": cls for cls in (lgb.LGBMClassifier, lgb.LGBMRegressor)
}
_BOOSTER: Final = f"{lgb.Booster.__module__}.{lgb.Booster.__qualname__}"


def save(model: object, example: object | None) -> tuple[bytes, dict[str, object]]:
    del example  # the trees are the whole model
    meta: dict[str, object] = {"format": FORMAT, "versions": {"lightgbm": lgb.__version__}}
    if type(model) is lgb.Booster:
        booster = model
    elif type(model) is lgb.LGBMClassifier or type(model) is lgb.LGBMRegressor:
        booster = model.booster_
        meta["state"] = _wrapper_state(model)
    else:
        raise RegistryError(
            "the lightgbm flavor stores LGBMClassifier, LGBMRegressor and Booster, not "
            f"{type(model).__module__}.{type(model).__qualname__}; save it with "
            "flavor='python' to store it with cloudpickle instead",
            model_class=type(model).__qualname__,
        )
    meta["best_iteration"] = booster.best_iteration
    # -1 keeps every tree; None would cut the model at its best iteration
    return booster.model_to_string(num_iteration=-1).encode(), meta


def load(data: bytes, meta: Mapping[str, object]) -> object:
    name = str(meta.get("class"))
    booster = lgb.Booster(model_str=data.decode())
    booster.best_iteration = _int(meta.get("best_iteration", -1))
    if name == _BOOSTER:
        return booster
    cls = _WRAPPERS.get(name)
    state = meta.get("state")
    if cls is None or not isinstance(state, Mapping):
        raise RegistryError(
            f"cannot load a LightGBM model of class {name}: the flavor loads "
            + ", ".join(sorted([*_WRAPPERS, _BOOSTER])),
            model_class=name,
        )
    return _rebuild(cls, booster, state)


def _wrapper_state(model: lgb.LGBMClassifier | lgb.LGBMRegressor) -> dict[str, object]:
    if not isinstance(model._objective, str):
        raise RegistryError(
            "a LightGBM model trained with a custom objective function cannot be stored in "
            "LightGBM's format; save it with flavor='python' to store it with cloudpickle",
            model_class=type(model).__qualname__,
        )
    params, dropped = json_params(model.get_params(deep=False))
    state: dict[str, object] = {
        "params": params,
        "dropped_params": dropped,
        "objective": model._objective,
        "n_features": model._n_features,
        "n_features_in": model._n_features_in,
        "fitted_with_feature_names": model._fitted_with_feature_names,
        "best_iteration": model._best_iteration,
        "best_score": {k: dict(v) for k, v in model._best_score.items()},
    }
    if isinstance(model, lgb.LGBMClassifier):
        state["classes"] = model.classes_.tolist()
        state["classes_dtype"] = model.classes_.dtype.str
    return state


def _rebuild(
    cls: type[lgb.LGBMClassifier] | type[lgb.LGBMRegressor],
    booster: lgb.Booster,
    state: Mapping[str, Any],
) -> lgb.LGBMClassifier | lgb.LGBMRegressor:
    model = cls(**state["params"])
    model._Booster = booster
    model._objective = state["objective"]
    model._n_features = state["n_features"]
    model._n_features_in = state["n_features_in"]
    model._fitted_with_feature_names = state["fitted_with_feature_names"]
    model._best_iteration = state["best_iteration"]
    model._best_score = state["best_score"]
    if isinstance(model, lgb.LGBMClassifier):
        encoder = LabelEncoder().fit(np.asarray(state["classes"], dtype=state["classes_dtype"]))
        model._le = encoder
        model._classes = encoder.classes_
        model._n_classes = len(encoder.classes_)
        model._class_map = dict(
            zip(encoder.classes_, encoder.transform(encoder.classes_), strict=True)
        )
    model.fitted_ = True
    return model


def _int(value: object) -> int:
    return value if isinstance(value, int) else -1
