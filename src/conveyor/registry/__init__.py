"""L4 registry: model versions, aliases with history, and promotion gates.

``register`` saves a model in its flavor's native format with its lineage, metrics, input
signature and reference profile; ``load("name@alias")`` follows aliases and caches per version;
``promote`` (through a ``Gate``), ``rollback`` and ``history`` move and explain aliases.
"""

from __future__ import annotations

from conveyor.registry._aliases import history as history
from conveyor.registry._aliases import promote as promote
from conveyor.registry._aliases import remove_alias as remove_alias
from conveyor.registry._aliases import rollback as rollback
from conveyor.registry._gate import Gate as Gate
from conveyor.registry._listing import aliases as aliases
from conveyor.registry._listing import decisions as decisions
from conveyor.registry._listing import list_models as list_models
from conveyor.registry._step import register_model as register_model
from conveyor.registry._versions import ModelVersion as ModelVersion
from conveyor.registry._versions import get as get
from conveyor.registry._versions import load as load
from conveyor.registry._versions import parse_ref as parse_ref
from conveyor.registry._versions import register as register
from conveyor.registry._versions import versions as versions

__all__ = [
    "Gate",
    "ModelVersion",
    "aliases",
    "decisions",
    "get",
    "history",
    "list_models",
    "load",
    "parse_ref",
    "promote",
    "register",
    "register_model",
    "remove_alias",
    "rollback",
    "versions",
]
