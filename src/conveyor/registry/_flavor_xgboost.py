"""The ``xgboost`` flavor: XGBoost's own UBJSON format, loaded back as the class that was saved.

The scikit-learn wrappers are saved through their own ``save_model``, which also records their
wrapper attributes (classes, objective) in the file; a bare ``Booster`` is saved with
``save_raw``. Only the classes listed here are rebuilt: the class named in ``meta`` picks from
this list, so ``meta`` can never make the loader import anything else.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Final

import xgboost as xgb

from conveyor.core._errors import RegistryError
from conveyor.registry._flavor_params import json_params

FORMAT = "ubj"

_CLASSES: Final[dict[str, type[xgb.XGBModel] | type[xgb.Booster]]] = {
    f"{cls.__module__}.{cls.__qualname__}": cls
    for cls in (xgb.XGBClassifier, xgb.XGBRegressor, xgb.Booster)
}


def save(model: object, example: object | None) -> tuple[bytes, dict[str, object]]:
    del example  # the trees are the whole model
    meta: dict[str, object] = {"format": FORMAT, "versions": {"xgboost": xgb.__version__}}
    if type(model) is xgb.Booster:
        data = bytes(model.save_raw(raw_format=FORMAT))
    elif isinstance(model, xgb.XGBModel) and type(model) in (xgb.XGBClassifier, xgb.XGBRegressor):
        with tempfile.TemporaryDirectory() as folder:
            # the file suffix is what selects UBJSON in XGBModel.save_model
            path = Path(folder) / f"model.{FORMAT}"
            model.save_model(path)
            data = path.read_bytes()
        # the file keeps the trees and the classes, not the wrapper's constructor parameters
        meta["params"], meta["dropped_params"] = json_params(model.get_params(deep=False))
    else:
        raise RegistryError(_unsupported(type(model)), model_class=type(model).__qualname__)
    return data, meta


def load(data: bytes, meta: Mapping[str, object]) -> object:
    name = str(meta.get("class"))
    cls = _CLASSES.get(name)
    if cls is None:
        raise RegistryError(
            f"cannot load an XGBoost model of class {name}: the flavor loads "
            + ", ".join(sorted(_CLASSES)),
            model_class=name,
        )
    params = meta.get("params")
    model = cls(**params) if isinstance(params, Mapping) and cls is not xgb.Booster else cls()
    model.load_model(bytearray(data))
    return model


def _unsupported(cls: type) -> str:
    return (
        f"the xgboost flavor stores XGBClassifier, XGBRegressor and Booster, not "
        f"{cls.__module__}.{cls.__qualname__}; save it with flavor='python' to store it with "
        "cloudpickle instead"
    )
