"""The model registry: ``cv.models.register``, ``load``, ``promote``, ``rollback`` and more.

``conveyor models list/show/promote/rollback/history`` do the same from the terminal.
"""

from __future__ import annotations

from conveyor.registry import Gate as Gate
from conveyor.registry import ModelVersion as ModelVersion
from conveyor.registry import aliases as aliases
from conveyor.registry import decisions as decisions
from conveyor.registry import get as get
from conveyor.registry import history as history
from conveyor.registry import list_models as list
from conveyor.registry import load as load
from conveyor.registry import promote as promote
from conveyor.registry import register as register
from conveyor.registry import remove_alias as remove_alias
from conveyor.registry import rollback as rollback
from conveyor.registry import versions as versions

__all__ = [
    "Gate",
    "ModelVersion",
    "aliases",
    "decisions",
    "get",
    "history",
    "list",
    "load",
    "promote",
    "register",
    "remove_alias",
    "rollback",
    "versions",
]
