"""JSON Schemas of the store's type hints, as the REST API's codec writes and reads them.

Each record (a dataclass) is described once, as a component that schemas refer to by name.
The schemas follow ``conveyor.store.http``'s codec: datetimes are ISO 8601 text, bytes base85
text, and a float may be one of the texts that stand for the values JSON has no numbers for.
What belongs here is the mapping of a Python type to a schema; what an operation is, and the
document around the schemas, belong to ``_openapi``.
"""

from __future__ import annotations

import collections.abc
import dataclasses
import enum
import inspect
import types
import typing
from datetime import datetime
from typing import Any, Final, Literal

SchemaObject = dict[str, Any]

NOT_FINITE: Final = ("NaN", "Infinity", "-Infinity")  # the codec's texts for such floats
INT64: Final = 2**63
_REF: Final = "#/components/schemas/"
_FLOAT: Final[SchemaObject] = {
    "description": "A number; a value JSON has no number for is one of these texts.",
    "anyOf": [{"type": "number"}, {"type": "string", "enum": list(NOT_FINITE)}],
}
_ARRAYS: Final = (
    collections.abc.Collection,
    collections.abc.Sequence,
    collections.abc.Set,
    collections.abc.Iterable,
    list,
    set,
    frozenset,
)
_MAPPINGS: Final = (collections.abc.Mapping, collections.abc.MutableMapping, dict)


def ref(name: str) -> SchemaObject:
    return {"$ref": _REF + name}


class Schemas:
    """Builds schemas of type hints and collects the components they refer to."""

    def __init__(self) -> None:
        self.components: dict[str, SchemaObject] = {"Float": _FLOAT}

    def of(self, hint: Any) -> SchemaObject:
        """The schema of a value of type ``hint``; TypeError for a type the API cannot carry."""
        simple = _simple(hint)
        if simple is not None:
            return simple
        if dataclasses.is_dataclass(hint) and isinstance(hint, type):
            return self._record(hint)
        origin, args = typing.get_origin(hint), typing.get_args(hint)
        if origin is Literal:
            return _enum(args)
        if origin in (typing.Union, types.UnionType):
            return {"anyOf": [self.of(arg) for arg in args]}
        if origin in _MAPPINGS:
            return {"type": "object", "additionalProperties": self.of(args[-1] if args else Any)}
        if origin is tuple:
            return self._tuple(args)
        if origin in _ARRAYS:
            items = self.of(args[0] if args else Any)
            unique = origin in (set, frozenset, collections.abc.Set)
            return {"type": "array", "items": items} | ({"uniqueItems": True} if unique else {})
        raise TypeError(f"no JSON Schema for {hint!r}")

    def _tuple(self, args: tuple[Any, ...]) -> SchemaObject:
        if len(args) == 2 and args[1] is Ellipsis:
            return {"type": "array", "items": self.of(args[0])}
        return {
            "type": "array",
            "prefixItems": [self.of(arg) for arg in args],
            "items": False,
            "minItems": len(args),
        }

    def _record(self, cls: type[Any]) -> SchemaObject:
        name = cls.__name__
        if name not in self.components:
            self.components[name] = {}  # taken, for a record that refers to itself
            hints = typing.get_type_hints(cls)
            fields = dataclasses.fields(cls)
            schema: SchemaObject = {
                "type": "object",
                "properties": {f.name: self.of(hints[f.name]) for f in fields},
                "required": [f.name for f in fields if _is_required(f)],
            }
            doc = inspect.getdoc(cls) or ""
            if doc and not doc.startswith(f"{name}("):  # not the signature dataclass writes
                schema = {"description": doc} | schema
            self.components[name] = schema
        return ref(name)


def _simple(hint: Any) -> SchemaObject | None:
    if hint is Any or hint is object:
        return {}
    if hint is None or hint is type(None):
        return {"type": "null"}
    if hint is bool:
        return {"type": "boolean"}
    if hint is int:
        return {"type": "integer", "format": "int64", "minimum": -INT64, "maximum": INT64 - 1}
    if hint is float:
        return ref("Float")
    if hint is str:
        return {"type": "string"}
    if hint is bytes:
        return {"type": "string", "format": "base85"}
    if hint is datetime:
        return {"type": "string", "format": "date-time"}
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return _enum(tuple(member.value for member in hint))
    return None


def _enum(values: tuple[Any, ...]) -> SchemaObject:
    if all(isinstance(v, str) for v in values):
        return {"type": "string", "enum": list(values)}
    return {"enum": list(values)}


def _is_required(f: dataclasses.Field[Any]) -> bool:
    return f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
