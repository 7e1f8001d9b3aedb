"""The one small vocabulary of dtype names a ``Schema`` uses, and its mapping from polars.

pandas and Arrow tables reach validation as polars (``_tables.to_polars``), so polars dtypes are
the only ones mapped here; a pandas ``float64`` or an Arrow ``large_string`` arrive as polars
``Float64`` and ``String``. The mapping works on dtype class names, so this module imports no
table library. What a check may compare a dtype with (its *family*) is decided here too.
"""

from __future__ import annotations

import re
from typing import Final, Literal

Family = Literal["numeric", "bool", "string", "date", "datetime", "other"]

# polars class name -> conveyor name. Datetime is handled apart: its name carries the zone.
_POLARS_NAMES: Final[dict[str, str]] = {
    "Int8": "int8",
    "Int16": "int16",
    "Int32": "int32",
    "Int64": "int64",
    "Int128": "int128",
    "UInt8": "uint8",
    "UInt16": "uint16",
    "UInt32": "uint32",
    "UInt64": "uint64",
    "UInt128": "uint128",
    "Float32": "float32",
    "Float64": "float64",
    "Decimal": "decimal",
    "Boolean": "bool",
    "String": "string",
    "Categorical": "categorical",
    "Enum": "categorical",
    "Date": "date",
    "Time": "time",
    "Duration": "duration",
    "Binary": "binary",
    "List": "list",
    "Array": "list",
    "Struct": "struct",
}

DTYPES: Final[tuple[str, ...]] = (
    *dict.fromkeys(_POLARS_NAMES.values()),
    "datetime",
)
_ZONED = re.compile(r"datetime\[([^\[\]]+)\]")
INTEGERS: Final = frozenset(n for n in DTYPES if n.startswith(("int", "uint")))
FLOATS: Final = frozenset({"float32", "float64"})


def is_dtype(name: str) -> bool:
    """Whether ``name`` belongs to the vocabulary (``datetime[Europe/Paris]`` included)."""
    return name in DTYPES or _ZONED.fullmatch(name) is not None


def dtype_name(dtype: object) -> str | None:
    """The vocabulary name of a polars dtype (class or instance); None if it has none."""
    cls = dtype if isinstance(dtype, type) else type(dtype)
    if cls.__name__ == "Datetime":
        zone = None if isinstance(dtype, type) else getattr(dtype, "time_zone", None)
        return "datetime" if zone is None else f"datetime[{zone}]"
    return _POLARS_NAMES.get(cls.__name__)


def time_zone(name: str) -> str | None:
    """The zone of ``datetime[<zone>]``; None for any other name."""
    match = _ZONED.fullmatch(name)
    return match.group(1) if match else None


def family(name: str | None) -> Family:
    """What values of dtype ``name`` compare with: numbers, booleans, strings, dates, datetimes."""
    if name is None:
        return "other"
    if name in INTEGERS or name in FLOATS or name == "decimal":
        return "numeric"
    if name == "bool":
        return "bool"
    if name in {"string", "categorical"}:
        return "string"
    if name == "date":
        return "date"
    if name == "datetime" or time_zone(name) is not None:
        return "datetime"
    return "other"
