"""Values as JSON can hold them: JSON has no NaN or infinity, and the store's JSON columns and
the CLI's ``--json`` output refuse them."""

from __future__ import annotations

import math
from collections.abc import Mapping


def finite(value: object) -> object:
    """``value`` with non-finite floats as None, tuples as lists and keys as text."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite(v) for v in value]
    return value
