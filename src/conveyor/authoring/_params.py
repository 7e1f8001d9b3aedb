"""Run parameters: check given values against the pipeline function's signature, and convert
``-p key=value`` text to the annotated types.

Pure: signatures in, plain values or PipelineDefinitionError out.
"""

from __future__ import annotations

import inspect
import json
import types
import typing
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from conveyor.core._errors import ParameterTypeError, UnknownParameterError

_TRUE = {"1", "true", "yes", "on", "y", "t"}
_FALSE = {"0", "false", "no", "off", "n", "f"}


def parameter_types(fn: Callable[..., object]) -> dict[str, Any]:
    """Each parameter's annotation (``Any`` where there is none or it cannot be resolved)."""
    try:
        hints = typing.get_type_hints(fn)
    except Exception:  # an annotation naming something not importable: treat as unannotated
        hints = {}
    return {name: hints.get(name, Any) for name in inspect.signature(fn).parameters}


def bind_params(
    pipeline: str, fn: Callable[..., object], given: Mapping[str, object]
) -> dict[str, object]:
    """Defaults overlaid with ``given``; unknown names, missing values and wrong types raise."""
    signature = inspect.signature(fn)
    types_by_name = parameter_types(fn)
    unknown = sorted(set(given) - set(signature.parameters))
    if unknown:
        known = ", ".join(signature.parameters) or "none"
        raise UnknownParameterError(
            f"pipeline {pipeline!r} has no parameter {', '.join(map(repr, unknown))}; "
            f"its parameters are: {known}",
            pipeline=pipeline,
            unknown=unknown,
        )
    values: dict[str, object] = {}
    for name, param in signature.parameters.items():
        if name in given:
            values[name] = check_type(pipeline, name, given[name], types_by_name[name])
        elif param.default is not param.empty:
            values[name] = param.default
        else:
            raise UnknownParameterError(
                f"pipeline {pipeline!r} needs a value for parameter {name!r} (-p {name}=...)",
                pipeline=pipeline,
                missing=name,
            )
    return values


def check_type(pipeline: str, name: str, value: object, annotation: Any) -> object:
    if _fits(value, annotation):
        return value
    raise ParameterTypeError(
        f"pipeline {pipeline!r}: parameter {name!r} must be {_type_name(annotation)}, "
        f"got {value!r} ({type(value).__name__})",
        pipeline=pipeline,
        parameter=name,
        expected=_type_name(annotation),
    )


def convert_text(
    pipeline: str, fn: Callable[..., object], raw: Mapping[str, str]
) -> dict[str, object]:
    """Turn ``-p key=value`` strings into the annotated types of the pipeline's parameters."""
    signature = inspect.signature(fn)
    types_by_name = parameter_types(fn)
    converted: dict[str, object] = {}
    for name, text in raw.items():
        if name not in signature.parameters:
            converted[name] = text  # bind_params names it as unknown, with the known ones
            continue
        converted[name] = _convert(pipeline, name, text, types_by_name[name])
    return converted


def _convert(pipeline: str, name: str, text: str, annotation: Any) -> object:
    options = _union_members(annotation)
    if options is not None:
        if text.lower() in {"none", "null"} and type(None) in options:
            return None
        errors = []
        for option in (o for o in options if o is not type(None)):
            try:
                return _convert(pipeline, name, text, option)
            except ParameterTypeError as exc:
                errors.append(exc)
        raise errors[0] if errors else _type_error(pipeline, name, text, annotation)
    try:
        if annotation is Any or annotation is inspect.Parameter.empty:
            return _json_or_text(text)
        if annotation is bool:
            lowered = text.strip().lower()
            if lowered in _TRUE or lowered in _FALSE:
                return lowered in _TRUE
            raise ValueError(text)
        if annotation in (int, float, str):
            return annotation(text)
        if annotation is Path:
            return Path(text)
        origin = typing.get_origin(annotation) or annotation
        if origin in (list, dict, tuple):
            value = json.loads(text)
            if origin is tuple and isinstance(value, list):
                value = tuple(value)
            if _fits(value, annotation):
                return value
    except ValueError:
        pass
    raise _type_error(pipeline, name, text, annotation)


def _type_error(pipeline: str, name: str, text: str, annotation: Any) -> ParameterTypeError:
    return ParameterTypeError(
        f"pipeline {pipeline!r}: -p {name}={text} is not a valid {_type_name(annotation)}",
        pipeline=pipeline,
        parameter=name,
        expected=_type_name(annotation),
        value=text,
    )


def _json_or_text(text: str) -> object:
    try:
        return json.loads(text)
    except ValueError:
        return text


def _union_members(annotation: Any) -> tuple[Any, ...] | None:
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return typing.get_args(annotation)
    return None


def _fits(value: object, annotation: Any) -> bool:
    if annotation is Any or annotation is inspect.Parameter.empty or annotation is object:
        return True
    options = _union_members(annotation)
    if options is not None:
        return any(_fits(value, o) for o in options)
    if annotation is None or annotation is type(None):
        return value is None
    if annotation is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if annotation is int:
        return isinstance(value, int) and not isinstance(value, bool)
    origin = typing.get_origin(annotation)
    if origin is typing.Literal:
        return value in typing.get_args(annotation)
    if origin is not None:
        return isinstance(value, origin) if isinstance(origin, type) else True
    if isinstance(annotation, type):
        return isinstance(value, annotation)
    return True  # a TypeVar, a Protocol, a string annotation: not checked


def _type_name(annotation: Any) -> str:
    if isinstance(annotation, type):
        return annotation.__name__
    return str(annotation).replace("typing.", "")
