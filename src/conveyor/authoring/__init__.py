"""L2 authoring: ``@step`` and ``@pipeline`` turn plain functions into a ``core.Graph``.

Pure: no I/O, no store; the single upward call is ``Pipeline.run`` into the engine.
"""

from __future__ import annotations

from conveyor.authoring._building import Handle as Handle
from conveyor.authoring._map import map as map
from conveyor.authoring._params import parameter_types as parameter_types
from conveyor.authoring._pipeline import Pipeline as Pipeline
from conveyor.authoring._pipeline import pipeline as pipeline
from conveyor.authoring._step import Step as Step
from conveyor.authoring._step import step as step

__all__ = ["Handle", "Pipeline", "Step", "map", "parameter_types", "pipeline", "step"]
