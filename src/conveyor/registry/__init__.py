"""L4 registry: model versions, aliases with history, and promotion gates.

Nothing is public here yet; the package exists so the layer contract covers it from the start.
"""

from __future__ import annotations

__all__: list[str] = []
