"""conveyor: an assembly line for machine learning.

``import conveyor as cv``: ``@cv.step`` and ``@cv.pipeline`` define pipelines; ``pipe.run()``
executes them with caching, lineage and tracking. This facade stays light: heavy libraries are
imported only when a feature needs them.
"""

from __future__ import annotations

from conveyor import errors as errors
from conveyor.authoring import Handle as Handle
from conveyor.authoring import Pipeline as Pipeline
from conveyor.authoring import Step as Step
from conveyor.authoring import pipeline as pipeline
from conveyor.authoring import step as step
from conveyor.core import RunContext as RunContext
from conveyor.core import Settings as Settings
from conveyor.core import current_run as current_run
from conveyor.core import load_settings as load_settings
from conveyor.engine import Run as Run
from conveyor.engine import StepResult as StepResult

__version__ = "0.1.0"

__all__ = [
    "Handle",
    "Pipeline",
    "Run",
    "RunContext",
    "Settings",
    "Step",
    "StepResult",
    "__version__",
    "current_run",
    "errors",
    "load_settings",
    "pipeline",
    "step",
]
