"""``Schema.from_pandera``: a pandera ``DataFrameSchema`` (pandas or polars) as a conveyor schema.

pandera is not a dependency: the schema is read by duck typing (``columns``, ``checks``,
``statistics``), and pandera is never imported. Built-in checks are recognised by their
registered name *and* their statistics, so a custom check that merely borrows a name is not
mistaken for one. What cannot be translated is collected and reported all at once.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable, Mapping
from typing import Any, Final, Literal

from conveyor.core._errors import ConveyorError, ConveyorWarning
from conveyor.data._schema import Column, Schema
from conveyor.data._schema_dtypes import dtype_name

# pandera's pandas-engine dtype names -> the vocabulary. Others go through their own rules.
_PANDAS_NAMES: Final = {
    "bool": "bool",
    "boolean": "bool",
    "str": "string",
    "string": "string",
    "category": "categorical",
    "date": "date",
    "object": None,  # any Python objects: no dtype to check
}
_PANDAS_DATETIME = re.compile(r"datetime64\[\w+(?:, (.+))?\]")


def translate(schema: object, *, drop_unsupported: bool) -> Schema:
    columns = getattr(schema, "columns", None)
    if not isinstance(columns, Mapping) or not type(schema).__module__.startswith("pandera"):
        raise ConveyorError(
            f"expected a pandera DataFrameSchema, got {type(schema).__module__}."
            f"{type(schema).__qualname__}"
        )
    unsupported: list[tuple[str, str]] = []
    strict = getattr(schema, "strict", False)
    if strict not in (True, False):  # "filter" drops columns: a transformation, not a check
        unsupported.append(("*", f"strict={strict!r}"))
    unique = getattr(schema, "unique", None)
    unique_columns = [unique] if isinstance(unique, str) else list(unique or [])
    if len(unique_columns) > 1:
        unsupported.append(("*", f"unique={unique_columns!r} (unique combination of columns)"))
    unsupported += [("*", _check_name(c)) for c in getattr(schema, "checks", None) or []]
    if getattr(schema, "index", None) is not None:
        unsupported.append(("index", "index schema"))
    out: dict[str, Column] = {}
    for name, pcol in columns.items():
        if getattr(pcol, "regex", False):
            unsupported.append((str(name), "regex column name"))
            continue
        dtype = _dtype(getattr(pcol, "dtype", None))
        if dtype is False:
            unsupported.append((str(name), f"dtype {pcol.dtype}"))
        fields: dict[str, Any] = {
            "dtype": dtype or None,
            "nullable": bool(getattr(pcol, "nullable", False)),
            "unique": bool(getattr(pcol, "unique", False)) or unique_columns == [name],
            "required": bool(getattr(pcol, "required", True)),
        }
        for check in getattr(pcol, "checks", None) or []:
            if not _apply(check, fields):
                unsupported.append((str(name), _check_name(check)))
        try:
            out[str(name)] = Column(**fields)
        except ConveyorError as exc:
            raise ConveyorError(f"pandera column {name!r}: {exc.message}", column=name) from None
    if unsupported:
        listed = "; ".join(f"column {c!r} check {k!r}" for c, k in unsupported)
        if not drop_unsupported:
            raise ConveyorError(
                f"cannot translate from pandera: {listed}. conveyor checks only what it can "
                "run itself; remove these, or pass drop_unsupported=True to leave them out",
                unsupported=[{"column": c, "check": k} for c, k in unsupported],
            )
        warnings.warn(
            f"from_pandera left out checks it cannot translate: {listed}",
            ConveyorWarning,
            stacklevel=3,
        )
    name = getattr(schema, "name", None)
    return Schema(columns=out, name=name if isinstance(name, str) else None, strict=strict is True)


def _dtype(dtype: object) -> str | Literal[False] | None:
    """The vocabulary name of a pandera dtype; None for any dtype, False if it has no name."""
    if dtype is None:
        return None
    if type(dtype).__module__.endswith("polars_engine"):
        return dtype_name(getattr(dtype, "type", None))  # Object and Null: any dtype
    text = str(dtype)
    if text in _PANDAS_NAMES:
        return _PANDAS_NAMES[text]
    if text.startswith("string["):
        return "string"
    if (match := _PANDAS_DATETIME.fullmatch(text)) is not None:
        return "datetime" if match.group(1) is None else f"datetime[{match.group(1)}]"
    if text.startswith("timedelta64"):
        return "duration"
    lowered = text.lower()  # numpy int64 / float32 and pandas' nullable Int64 / Float64
    if re.fullmatch(r"u?int(8|16|32|64)|float(32|64)", lowered):
        return lowered
    return False


def _check_name(check: object) -> str:
    return str(getattr(check, "name", None) or getattr(check, "error", None) or check)


def _apply(check: object, fields: dict[str, Any]) -> bool:
    """Fold one pandera check into ``fields``; False if it cannot be translated."""
    stats = getattr(check, "statistics", None)
    name = getattr(check, "name", None)
    rule = _RULES.get(str(name))
    if rule is None or not isinstance(stats, dict) or getattr(check, "groupby", None):
        return False
    keys, fold = rule
    if not stats or not set(stats) <= keys:
        return False
    try:
        fold({key: _python(value) for key, value in stats.items()}, fields)
    except (ConveyorError, TypeError):  # a second pattern; bounds that do not compare
        return False
    return True


def _python(value: Any) -> Any:
    """numpy scalars and pandas Timestamps as the Python values a ``Column`` holds."""
    if isinstance(value, list | tuple | set | frozenset):
        return [_python(v) for v in value]
    if hasattr(value, "to_pydatetime"):
        return value.to_pydatetime()
    if type(value).__module__ == "numpy" and hasattr(value, "item"):
        return value.item()
    return value


def _lower(fields: dict[str, Any], value: Any, inclusive: bool) -> None:
    current = fields.get("min")
    if current is None or value > current or (value == current and not inclusive):
        fields["min"], fields["min_inclusive"] = value, inclusive


def _upper(fields: dict[str, Any], value: Any, inclusive: bool) -> None:
    current = fields.get("max")
    if current is None or value < current or (value == current and not inclusive):
        fields["max"], fields["max_inclusive"] = value, inclusive


def _in_range(s: dict[str, Any], f: dict[str, Any]) -> None:
    _lower(f, s["min_value"], bool(s["include_min"]))
    _upper(f, s["max_value"], bool(s["include_max"]))


def _allowed(f: dict[str, Any], values: list[Any]) -> None:
    current = f.get("allowed")
    f["allowed"] = values if current is None else [v for v in current if v in values]


def _forbidden(f: dict[str, Any], values: list[Any]) -> None:
    current = f.get("forbidden", [])
    f["forbidden"] = [*current, *(v for v in values if v not in current)]


def _pattern(f: dict[str, Any], pattern: str) -> None:
    if f.get("pattern") not in (None, pattern):
        # Two patterns cannot be folded into one without look-ahead, which polars lacks.
        raise ConveyorError("one string pattern per column")
    f["pattern"] = pattern


def _length(s: dict[str, Any], f: dict[str, Any]) -> None:
    exact = s.get("exact_value")
    low = exact if exact is not None else s.get("min_value")
    high = exact if exact is not None else s.get("max_value")
    if low is not None:
        f["min_length"] = max(low, f.get("min_length") or 0)
    if high is not None:
        f["max_length"] = high if f.get("max_length") is None else min(high, f["max_length"])


def _text(pattern: object) -> str:
    return pattern.pattern if isinstance(pattern, re.Pattern) else str(pattern)


Fold = Callable[[dict[str, Any], dict[str, Any]], None]
_RULES: Final[dict[str, tuple[set[str], Fold]]] = {
    "in_range": ({"min_value", "max_value", "include_min", "include_max"}, _in_range),
    "greater_than": ({"min_value"}, lambda s, f: _lower(f, s["min_value"], False)),
    "greater_than_or_equal_to": ({"min_value"}, lambda s, f: _lower(f, s["min_value"], True)),
    "less_than": ({"max_value"}, lambda s, f: _upper(f, s["max_value"], False)),
    "less_than_or_equal_to": ({"max_value"}, lambda s, f: _upper(f, s["max_value"], True)),
    "equal_to": ({"value"}, lambda s, f: _allowed(f, [s["value"]])),
    "not_equal_to": ({"value"}, lambda s, f: _forbidden(f, [s["value"]])),
    "isin": ({"allowed_values"}, lambda s, f: _allowed(f, list(s["allowed_values"]))),
    "notin": ({"forbidden_values"}, lambda s, f: _forbidden(f, list(s["forbidden_values"]))),
    # pandera's str_matches anchors at the start (re.match); polars searches anywhere.
    "str_matches": ({"pattern"}, lambda s, f: _pattern(f, f"^(?:{_text(s['pattern'])})")),
    "str_contains": ({"pattern"}, lambda s, f: _pattern(f, _text(s["pattern"]))),
    "str_startswith": ({"string"}, lambda s, f: _pattern(f, "^" + re.escape(s["string"]))),
    "str_endswith": ({"string"}, lambda s, f: _pattern(f, re.escape(s["string"]) + "$")),
    "str_length": ({"min_value", "max_value", "exact_value"}, _length),
}
