"""The store's records as JSON and back, guided by their type hints (cattrs).

Datetimes are ISO 8601 text, bytes are base85 text (orjson's preconfigured converter), a float
that is not finite is the text ``"NaN"``, ``"Infinity"`` or ``"-Infinity"`` (JSON has no such
numbers, and a metric may hold them), and a field typed ``object`` holds any JSON value as is.

Whole numbers, text and booleans are not coerced (``"1"`` stays text, ``true`` is not 1): the
store checks its arguments itself, so a value it refuses locally is refused with the same
error through a server.
"""

from __future__ import annotations

import collections.abc
import json
import math
import typing
from typing import Any, Literal, TypeVar

from cattrs.preconf.orjson import OrjsonConverter, make_converter

from conveyor.core._errors import StoreError

T = TypeVar("T")

_NOT_FINITE = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


def _float_to_json(value: object) -> object:
    if not isinstance(value, float) or math.isfinite(value):
        return value  # not a float after all: sent as it is, for the store to refuse
    if math.isnan(value):
        return "NaN"
    return "Infinity" if value > 0 else "-Infinity"


def _float_from_json(value: object, _: object) -> object:
    if isinstance(value, str) and value in _NOT_FINITE:
        return _NOT_FINITE[value]
    if isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def _is_free(kind: object) -> bool:
    """A field that holds any JSON value: ``object``, or a mapping of text to ``object``."""
    if kind is object:
        return True
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    return origin in (collections.abc.Mapping, dict) and args[-1:] == (object,)


def _json_only(value: object) -> object:
    """``value`` as plain JSON data, or StoreError naming what JSON cannot hold (a set, NaN,
    an object), as the local store refuses it."""
    try:
        return json.loads(json.dumps(value, allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise StoreError(f"{value!r} is not JSON-able: {exc}") from None


def _as_is(value: object, _: object) -> object:
    return value


def _is_literal(kind: object) -> bool:
    return typing.get_origin(kind) is Literal


def _is_collection(kind: object) -> bool:
    return typing.get_origin(kind) is collections.abc.Collection


def _collection(value: object, kind: object) -> object:
    (item,) = typing.get_args(kind) or (object,)
    if not isinstance(value, list):
        return value
    return tuple(_CONVERTER.structure(v, item) for v in value)


def _converter() -> OrjsonConverter:
    converter = make_converter()
    converter.register_unstructure_hook(float, _float_to_json)
    converter.register_unstructure_hook_func(_is_free, _json_only)
    converter.register_structure_hook(float, _float_from_json)
    for kind in (int, str, bool):
        converter.register_structure_hook(kind, _as_is)
    # JSON-able values (params, meta, figures) pass through untouched
    converter.register_structure_hook_func(lambda t: t is object, lambda value, _: value)
    converter.register_structure_hook_func(lambda t: t is type(None), lambda value, _: None)
    # the store checks a literal's value itself, naming the valid ones
    converter.register_structure_hook_func(_is_literal, _as_is)
    converter.register_structure_hook_func(_is_collection, _collection)
    return converter


_CONVERTER = _converter()


def to_json(value: object, kind: Any = None) -> Any:
    """``value`` as JSON-able Python data (dicts, lists, text, numbers), as the type ``kind``
    declares it (default: its own class)."""
    return _CONVERTER.unstructure(value, unstructure_as=kind)


def from_json(data: object, kind: type[T] | Any) -> T:
    """``data`` (as ``to_json`` gives it) back as a ``kind``; ValueError-like errors from
    cattrs when it does not fit."""
    return _CONVERTER.structure(data, kind)  # type: ignore[no-any-return]


def encode(value: object) -> bytes:
    """``value`` as JSON bytes; TypeError for a value JSON cannot hold."""
    return _CONVERTER.dumps(value)


def decode(data: bytes, kind: type[T] | Any) -> T:
    return _CONVERTER.loads(data, kind)  # type: ignore[no-any-return]
