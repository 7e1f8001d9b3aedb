"""Figures as the store keeps them: JSON, which has no NaN or infinity."""

from __future__ import annotations

import math
from collections.abc import Mapping


def json_safe(value: object) -> object:
    """``value`` with non-finite floats as None, tuples as lists and keys as text."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value
