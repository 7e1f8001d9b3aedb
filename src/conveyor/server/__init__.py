"""L7 server: the team server's REST API, web UI and auth.

Nothing is public here yet; the package exists so the layer contract covers it from the start.
"""

from __future__ import annotations

__all__: list[str] = []
