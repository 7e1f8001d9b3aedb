"""L5 serving: the model server.

``create_app("churn@production")`` is an ASGI app (Starlette) that serves registered models
over conveyor's JSON protocol, the Open Inference Protocol v2 and MLflow's scoring protocol,
with adaptive micro-batching, checks against each version's signature, hot swaps when an alias
moves, Prometheus metrics and a prediction log. ``conveyor serve`` runs it on uvicorn.
"""

from __future__ import annotations

from conveyor.serving._app import create_app as create_app
from conveyor.serving._options import ServingOptions as ServingOptions

__all__ = ["ServingOptions", "create_app"]
