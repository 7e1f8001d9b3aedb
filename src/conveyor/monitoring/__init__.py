"""L5 monitoring: drift, rules and actions over the prediction log.

Nothing is public here yet; the package exists so the layer contract covers it from the start.
"""

from __future__ import annotations

__all__: list[str] = []
