"""The constructor parameters of a scikit-learn style model, kept when they survive JSON.

The XGBoost and LightGBM flavors store their wrappers' parameters in ``meta`` (plain JSON in the
metadata store) so a loaded model reports, and refits with, the parameters it was trained with.
"""

from __future__ import annotations

import json
from collections.abc import Mapping


def json_params(params: Mapping[str, object]) -> tuple[dict[str, object], list[str]]:
    """The parameters that JSON gives back unchanged, and the names of those it does not.

    The second kind (a callable metric, a ``RandomState``) only matter for refitting, and JSON
    would turn them into something else, so they are left to their defaults when loading.
    """
    kept: dict[str, object] = {}
    dropped: list[str] = []
    for key, value in params.items():
        if _survives_json(value):
            kept[key] = value
        else:
            dropped.append(key)
    return kept, dropped


def _survives_json(value: object) -> bool:
    try:
        return bool(json.loads(json.dumps(value)) == value)
    except (TypeError, ValueError):
        return False
