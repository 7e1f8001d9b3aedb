"""The JSON format: values that JSON stores exactly, written as canonical JSON.

"Exactly" means the value loads back equal and of the same types: None, bool, int, float, str,
and lists and str-keyed dicts of these. Tuples, sets, int keys, subclasses (IntEnum,
OrderedDict, numpy scalars) would come back changed, so they are left to other formats.
Choosing between formats is not done here.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from json.encoder import encode_basestring
from typing import Any, cast

NAME = "json"

# One encoder for every call: building a JSONEncoder per call costs more than encoding a small
# value. check_circular is off because is_exact() has already rejected every repeated container.
_ENCODER = json.JSONEncoder(
    ensure_ascii=False,
    check_circular=False,
    allow_nan=True,
    sort_keys=True,
    separators=(",", ":"),
)


def _float(value: float) -> str:
    # The same text json.dumps writes, including its non-standard NaN and Infinity.
    if math.isfinite(value):
        return float.__repr__(value)
    if math.isnan(value):
        return "NaN"
    return "Infinity" if value > 0 else "-Infinity"


# Exact types only: bool must not take int's branch, and a float subclass is not a float here.
SCALARS: Mapping[type, Callable[[Any], str]] = {
    int: int.__repr__,
    str: encode_basestring,
    float: _float,
    bool: lambda value: "true" if value else "false",
    type(None): lambda _: "null",
}


def encode(text: str) -> bytes:
    # surrogatepass keeps a lone surrogate in a str storable; json.loads reads bytes the same way.
    return text.encode("utf-8", "surrogatepass")


def is_exact(value: object) -> bool:
    """Whether JSON stores ``value`` exactly: known types only, no container reached twice.

    A container reached twice is either a cycle, which JSON cannot write, or shared, which JSON
    would split into copies; both go to a format that keeps identity.
    """
    stack = [value]
    seen: set[int] = set()
    while stack:
        item = stack.pop()
        cls = type(item)
        if cls in SCALARS:
            continue
        if cls is list:
            stack.extend(cast("list[object]", item))
        elif cls is dict:
            for key, child in cast("dict[object, object]", item).items():
                if type(key) is not str:
                    return False
                stack.append(child)
        else:
            return False
        if id(item) in seen:
            return False
        seen.add(id(item))
    return True


def dumps(value: object) -> bytes | None:
    """Canonical JSON bytes of ``value`` (sorted keys, no spaces), or None if not exact."""
    if not is_exact(value):
        return None
    try:
        return encode(_ENCODER.encode(value))
    except ValueError:  # an int longer than the interpreter's limit on digits in a str
        return None


def load(type_name: str, data: bytes, meta: Mapping[str, object]) -> object:
    return json.loads(data)
