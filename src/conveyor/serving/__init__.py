"""L5 serving: the model server (batching, protocols, hot swap).

Nothing is public here yet; the package exists so the layer contract covers it from the start.
"""

from __future__ import annotations

__all__: list[str] = []
