"""A ``Schema`` as plain data, YAML, JSON or a file, and back.

The written form lists each column's ``dtype`` and ``nullable`` and only those other fields
that differ from their defaults, so a saved schema reads like one written by hand. Reading
checks every key and value and names the file, the column and the problem in a
``ConveyorError``; a malformed file never surfaces as a parser's traceback.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
from datetime import date, datetime
from pathlib import Path
from typing import Any, Final

from conveyor.core._errors import ConveyorError
from conveyor.data._schema import Column, Schema
from conveyor.data._schema_dtypes import family

FORMAT_KEY: Final = "conveyor_schema"
FORMAT_VERSION: Final = 1
_SCHEMA_KEYS: Final = (FORMAT_KEY, "name", "strict", "columns")
_COLUMN_FIELDS: Final = tuple(f.name for f in dataclasses.fields(Column))
_DEFAULTS: Final = Column()
_SUFFIXES: Final = {".yaml": "yaml", ".yml": "yaml", ".json": "json"}


def schema_to_dict(schema: Schema) -> dict[str, Any]:
    out: dict[str, Any] = {FORMAT_KEY: FORMAT_VERSION}
    if schema.name is not None:
        out["name"] = schema.name
    if schema.strict:
        out["strict"] = True
    out["columns"] = {name: _column_to_dict(col) for name, col in schema.columns.items()}
    return out


def _column_to_dict(column: Column) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in _COLUMN_FIELDS:
        value = getattr(column, name)
        if name == "nullable" or value != getattr(_DEFAULTS, name):
            out[name] = _plain(value)
    return out


def _plain(value: object) -> Any:
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if isinstance(value, date):  # and datetime
        return value.isoformat()
    return value


def schema_from_dict(data: object, *, source: str) -> Schema:
    if not isinstance(data, dict):
        raise _error(source, f"expected a mapping with a 'columns' key, got {_kind(data)}")
    _check_keys(data, _SCHEMA_KEYS, source, "")
    version = data.get(FORMAT_KEY, FORMAT_VERSION)
    if version != FORMAT_VERSION:
        raise _error(
            source,
            f"{FORMAT_KEY}: version {version!r} is not one this conveyor reads "
            f"({FORMAT_VERSION}); it was written by another version of conveyor",
        )
    columns = data.get("columns")
    if not isinstance(columns, dict):
        raise _error(source, f"'columns' must map column names to columns, got {_kind(columns)}")
    parsed = {}
    for name, given in columns.items():
        where = f"column {name!r}: "
        spec = {} if given is None else given  # `amount:` with nothing under it
        if not isinstance(spec, dict):
            raise _error(source, f"{where}expected a mapping of checks, got {_kind(spec)}")
        _check_keys(spec, _COLUMN_FIELDS, source, where)
        try:
            parsed[str(name)] = Column(**_typed(spec))
        except ConveyorError as exc:
            raise _error(source, where + exc.message) from None
    try:
        return Schema(columns=parsed, name=data.get("name"), strict=data.get("strict", False))
    except ConveyorError as exc:
        raise _error(source, exc.message) from None


def _typed(spec: dict[str, Any]) -> dict[str, Any]:
    """``spec`` with ISO text turned into dates where the dtype (or a bound) calls for them."""
    kind = family(spec.get("dtype")) if isinstance(spec.get("dtype"), str) else "other"
    out = dict(spec)
    for name in ("min", "max"):
        value = out.get(name)
        if isinstance(value, str):  # only a date or datetime bound is ever written as text
            out[name] = _parse_time(value, kind if kind in {"date", "datetime"} else None, name)
    if kind in {"date", "datetime"}:
        for name in ("allowed", "forbidden"):
            values = out.get(name)
            if isinstance(values, list):
                out[name] = [
                    _parse_time(v, kind, name) if isinstance(v, str) else v for v in values
                ]
    return out


def _parse_time(text: str, kind: str | None, name: str) -> date:
    try:
        if kind == "date" or (kind is None and len(text) == 10):
            return date.fromisoformat(text)
        return datetime.fromisoformat(text)
    except ValueError:
        want = {"date": "a date", "datetime": "a datetime"}.get(kind or "", "a number or a date")
        raise ConveyorError(f"{name}: expected {want}, got {text!r}") from None


def _check_keys(data: dict[Any, Any], known: tuple[str, ...], source: str, where: str) -> None:
    for key in data:
        if key not in known:
            close = difflib.get_close_matches(str(key), known, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else f" (known: {', '.join(known)})"
            raise _error(source, f"{where}unknown key {key!r}{hint}")


def _kind(value: object) -> str:
    return "nothing" if value is None else type(value).__name__


def _error(source: str, problem: str) -> ConveyorError:
    return ConveyorError(f"{source}: {problem}", source=source, problem=problem)


def dump_yaml(data: dict[str, Any]) -> str:
    import yaml

    text: str = yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
    return text


def parse_yaml(text: str, *, source: str) -> object:
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise _error(source, f"not valid YAML: {exc}") from None


def dump_json(data: dict[str, Any]) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def parse_json(text: str, *, source: str) -> object:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise _error(source, f"not valid JSON: {exc}") from None


def _format(path: Path) -> str:
    fmt = _SUFFIXES.get(path.suffix.lower())
    if fmt is None:
        raise _error(str(path), "a schema file ends in .yaml, .yml or .json")
    return fmt


def save(schema: Schema, path: Path) -> Path:
    fmt = _format(path)
    text = dump_yaml(schema.to_dict()) if fmt == "yaml" else dump_json(schema.to_dict())
    path.write_text(text, encoding="utf-8")
    return path


def load(path: Path) -> Schema:
    fmt = _format(path)
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise _error(source, "no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise _error(source, f"cannot be read: {exc}") from None
    data = parse_yaml(text, source=source) if fmt == "yaml" else parse_json(text, source=source)
    return schema_from_dict(data, source=source)
