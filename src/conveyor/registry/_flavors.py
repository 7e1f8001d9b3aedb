"""Model flavors: a trained model as bytes in its library's own format, and back.

Belongs here: the ``SavedModel`` record, choosing a flavor from the model's type, and handing
the work to one module per library (``_flavor_<name>.py``), whose errors are translated into
``RegistryError`` here. Does not belong here: where the bytes are kept (``store``), versions and
aliases (the registry service), and the input signature (``_signature.py``).

A library is imported only when a model from it is saved or loaded: the flavor is read from the
names of the modules that define the model's classes, so importing this module stays light.
"""

from __future__ import annotations

import platform
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final

from conveyor.core._errors import RegistryError

Save = Callable[[object, object | None], tuple[bytes, dict[str, object]]]
Load = Callable[[bytes, Mapping[str, object]], object]

FLAVORS: Final[tuple[str, ...]] = ("xgboost", "lightgbm", "torch", "sklearn", "python")

# One model is deserialized at a time in a process. Loaders parse with ast (skops, numpy's
# array headers), and CPython 3.11 keeps the AST constructor's recursion depth per interpreter:
# two threads building ASTs at once can fail with "SystemError: AST constructor recursion depth
# mismatch" (seen loading three models at a server's start). Deserializing is CPU-bound Python
# under the GIL, so taking turns costs next to nothing.
_DESERIALIZING = threading.Lock()

# Flavor -> top-level package of the library. Checked in this order because XGBoost's and
# LightGBM's estimators subclass scikit-learn's BaseEstimator: the more specific library wins.
_LIBRARY_FLAVORS: Final[tuple[tuple[str, str], ...]] = (
    ("xgboost", "xgboost"),
    ("lightgbm", "lightgbm"),
    ("torch", "torch"),
    ("sklearn", "sklearn"),
)
_INSTALL_HINT: Final = "install it with `pip install 'conveyor[ml]'`"


@dataclass(frozen=True, slots=True)
class SavedModel:
    """A model as bytes plus what is needed to load them again.

    Attributes:
        flavor: One of ``FLAVORS``; it picks the loader.
        data: The model in its library's format (skops, UBJSON, LightGBM text, PT2 archive, or
            cloudpickle for the ``python`` flavor).
        meta: JSON-ready facts about the model: ``class`` (its qualified type name),
            ``format``, ``versions`` (Python and library versions at save time), and whatever
            else its flavor needs to load it.
    """

    flavor: str
    data: bytes
    meta: dict[str, object]


def save_model(
    model: object, *, example: object | None = None, flavor: str | None = None
) -> SavedModel:
    """Turn ``model`` into bytes in the safest format its library offers.

    Args:
        model: A scikit-learn estimator or pipeline, an XGBoost or LightGBM model, a
            ``torch.nn.Module``, or any other callable or object with a ``predict`` method.
        example: A few rows of model input (DataFrame, array or tensor). PyTorch models need it
            to be exported; the other flavors ignore it.
        flavor: Overrides the flavor read from the model's type; ``"python"`` stores any model
            with cloudpickle, for models whose library format cannot hold them.

    Raises:
        RegistryError: The model cannot be stored in its flavor's format; the message says why
            and what to do instead.
    """
    chosen = flavor if flavor is not None else flavor_of(model)
    if chosen not in FLAVORS:
        raise RegistryError(
            f"unknown model flavor {chosen!r}; the flavors are {', '.join(FLAVORS)}",
            flavor=chosen,
        )
    save, _ = _codec(chosen)
    cls = type(model)
    try:
        data, meta = save(model, example)
    except RegistryError:
        raise
    except Exception as exc:
        raise RegistryError(
            f"could not save the {cls.__qualname__} as a {chosen} model: {exc}",
            flavor=chosen,
            model_class=_class_name(cls),
        ) from exc
    versions = {"python": platform.python_version()}
    versions.update(_str_dict(meta.get("versions")))
    meta = {"class": _class_name(cls), **meta, "versions": versions}
    return SavedModel(flavor=chosen, data=data, meta=meta)


def load_model(flavor: str, data: bytes, meta: Mapping[str, object]) -> object:
    """Load a model that ``save_model`` stored; the inverse of ``save_model``.

    Raises:
        RegistryError: The flavor is unknown, its library is not installed, the bytes hold
            something that is not trusted, or the library could not read them.
    """
    if flavor not in FLAVORS:
        raise RegistryError(
            f"unknown model flavor {flavor!r}; the flavors are {', '.join(FLAVORS)}",
            flavor=flavor,
        )
    _, load = _codec(flavor)
    try:
        with _DESERIALIZING:
            return load(data, meta)
    except RegistryError:
        raise
    except Exception as exc:
        described = f"{flavor} model {meta['class']}" if "class" in meta else f"{flavor} model"
        raise RegistryError(
            f"could not load the {described}: {exc}",
            flavor=flavor,
            model_class=meta.get("class"),
        ) from exc


def flavor_of(model: object) -> str:
    """The flavor ``save_model`` would pick for ``model``, read from the names of its classes.

    Raises:
        RegistryError: The model is from no supported library and is neither callable nor has
            a ``predict`` method.
    """
    packages = {cls.__module__.partition(".")[0] for cls in type(model).__mro__}
    for flavor, package in _LIBRARY_FLAVORS:
        if package in packages:
            return flavor
    if callable(model) or callable(getattr(model, "predict", None)):
        return "python"
    raise RegistryError(
        f"cannot register a model of type {_class_name(type(model))}: it is not a scikit-learn, "
        "XGBoost, LightGBM or PyTorch model, nor a callable or an object with a predict method",
        model_class=_class_name(type(model)),
    )


def _codec(flavor: str) -> tuple[Save, Load]:
    try:
        if flavor == "sklearn":
            from conveyor.registry import _flavor_sklearn

            return _flavor_sklearn.save, _flavor_sklearn.load
        if flavor == "xgboost":
            from conveyor.registry import _flavor_xgboost

            return _flavor_xgboost.save, _flavor_xgboost.load
        if flavor == "lightgbm":
            from conveyor.registry import _flavor_lightgbm

            return _flavor_lightgbm.save, _flavor_lightgbm.load
        if flavor == "torch":
            from conveyor.registry import _flavor_torch

            return _flavor_torch.save, _flavor_torch.load
        from conveyor.registry import _flavor_python

        return _flavor_python.save, _flavor_python.load
    except ModuleNotFoundError as exc:
        raise RegistryError(
            f"the {flavor} flavor needs {exc.name}, which is not installed: {_INSTALL_HINT}",
            flavor=flavor,
            missing=exc.name,
        ) from exc


def _class_name(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def _str_dict(value: object) -> dict[str, str]:
    if not isinstance(value, Mapping):
        return {}
    return {str(k): str(v) for k, v in value.items()}
