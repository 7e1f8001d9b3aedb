"""conveyor: an assembly line for machine learning.

``import conveyor as cv``: ``@cv.step`` and ``@cv.pipeline`` define pipelines; ``pipe.run()``
executes them with caching, lineage and tracking. Names are imported on first use, so
``import conveyor`` (and the CLI's start-up) costs next to nothing.
"""

from __future__ import annotations

import importlib as _importlib
from typing import TYPE_CHECKING as _TYPE_CHECKING

if _TYPE_CHECKING:
    from conveyor import datasets as datasets
    from conveyor import errors as errors
    from conveyor.authoring import Handle as Handle
    from conveyor.authoring import Pipeline as Pipeline
    from conveyor.authoring import Step as Step
    from conveyor.authoring import map as map
    from conveyor.authoring import pipeline as pipeline
    from conveyor.authoring import step as step
    from conveyor.core import RunContext as RunContext
    from conveyor.core import Settings as Settings
    from conveyor.core import current_run as current_run
    from conveyor.core import load_settings as load_settings
    from conveyor.data import Column as Column
    from conveyor.data import Dataset as Dataset
    from conveyor.data import Profile as Profile
    from conveyor.data import Schema as Schema
    from conveyor.data import ValidationReport as ValidationReport
    from conveyor.data import anonymize as anonymize
    from conveyor.data import profile as profile
    from conveyor.data import profile_diff as profile_diff
    from conveyor.data import read_csv as read_csv
    from conveyor.data import read_http as read_http
    from conveyor.data import read_json as read_json
    from conveyor.data import read_parquet as read_parquet
    from conveyor.data import read_sql as read_sql
    from conveyor.engine import Run as Run
    from conveyor.engine import StepResult as StepResult

__version__ = "0.1.0"

_WHERE = {
    "Handle": "conveyor.authoring",
    "Pipeline": "conveyor.authoring",
    "Step": "conveyor.authoring",
    "pipeline": "conveyor.authoring",
    "step": "conveyor.authoring",
    "map": "conveyor.authoring",
    "Dataset": "conveyor.data",
    "Profile": "conveyor.data",
    "anonymize": "conveyor.data",
    "profile": "conveyor.data",
    "profile_diff": "conveyor.data",
    "Column": "conveyor.data",
    "Schema": "conveyor.data",
    "ValidationReport": "conveyor.data",
    "read_csv": "conveyor.data",
    "read_http": "conveyor.data",
    "read_sql": "conveyor.data",
    "read_json": "conveyor.data",
    "read_parquet": "conveyor.data",
    "RunContext": "conveyor.core",
    "Settings": "conveyor.core",
    "current_run": "conveyor.core",
    "load_settings": "conveyor.core",
    "Run": "conveyor.engine",
    "StepResult": "conveyor.engine",
}


def __getattr__(name: str) -> object:
    if name in ("errors", "datasets"):
        return _importlib.import_module(f"conveyor.{name}")
    try:
        module = _importlib.import_module(_WHERE[name])
    except KeyError:
        raise AttributeError(f"module 'conveyor' has no attribute {name!r}") from None
    value = getattr(module, name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


__all__ = [
    "Column",
    "Dataset",
    "Handle",
    "Pipeline",
    "Profile",
    "Run",
    "RunContext",
    "Schema",
    "Settings",
    "Step",
    "StepResult",
    "ValidationReport",
    "__version__",
    "anonymize",
    "current_run",
    "datasets",
    "errors",
    "load_settings",
    "map",
    "pipeline",
    "profile",
    "profile_diff",
    "read_csv",
    "read_http",
    "read_json",
    "read_parquet",
    "read_sql",
    "step",
]
