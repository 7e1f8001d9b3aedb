"""L4 tracking: runs, params, metrics and their comparison.

Nothing is public here yet; the package exists so the layer contract covers it from the start.
"""

from __future__ import annotations

__all__: list[str] = []
