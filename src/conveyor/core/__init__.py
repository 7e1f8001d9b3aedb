"""L0: settings, ids, hashing, events, the error tree, the run context and the graph data type.

Standard library only; every other package may import this one.
"""

from __future__ import annotations

from conveyor.core._actor import acting_as as acting_as
from conveyor.core._actor import current_actor as current_actor
from conveyor.core._context import RunContext as RunContext
from conveyor.core._context import TrackingSink as TrackingSink
from conveyor.core._context import activate as activate
from conveyor.core._context import active_run as active_run
from conveyor.core._context import current_run as current_run
from conveyor.core._events import RunFinished as RunFinished
from conveyor.core._events import RunStarted as RunStarted
from conveyor.core._events import StepFinished as StepFinished
from conveyor.core._events import StepStarted as StepStarted
from conveyor.core._graph import Gather as Gather
from conveyor.core._graph import Graph as Graph
from conveyor.core._graph import Input as Input
from conveyor.core._graph import Literal as Literal
from conveyor.core._graph import MapOver as MapOver
from conveyor.core._graph import Node as Node
from conveyor.core._graph import OutputRef as OutputRef
from conveyor.core._graph import StepSpec as StepSpec
from conveyor.core._graph import refs_of as refs_of
from conveyor.core._hashing import canonical_json as canonical_json
from conveyor.core._hashing import content_address as content_address
from conveyor.core._hashing import hash_parts as hash_parts
from conveyor.core._ids import new_id as new_id
from conveyor.core._resources import Resources as Resources
from conveyor.core._settings import Settings as Settings
from conveyor.core._settings import load_settings as load_settings

__all__ = [
    "Gather",
    "Graph",
    "Input",
    "Literal",
    "MapOver",
    "Node",
    "OutputRef",
    "Resources",
    "RunContext",
    "RunFinished",
    "RunStarted",
    "Settings",
    "StepFinished",
    "StepSpec",
    "StepStarted",
    "TrackingSink",
    "acting_as",
    "activate",
    "active_run",
    "canonical_json",
    "content_address",
    "current_actor",
    "current_run",
    "hash_parts",
    "load_settings",
    "new_id",
    "refs_of",
]
