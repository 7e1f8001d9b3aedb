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
    from conveyor import models as models
    from conveyor import monitoring as monitoring
    from conveyor import serving as serving
    from conveyor.authoring import Handle as Handle
    from conveyor.authoring import Pipeline as Pipeline
    from conveyor.authoring import Step as Step
    from conveyor.authoring import map as map
    from conveyor.authoring import pipeline as pipeline
    from conveyor.authoring import step as step
    from conveyor.core import Resources as Resources
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
    from conveyor.engine import DaskExecutor as DaskExecutor
    from conveyor.engine import RayExecutor as RayExecutor
    from conveyor.engine import Run as Run
    from conveyor.engine import StepResult as StepResult
    from conveyor.monitoring import DriftRule as DriftRule
    from conveyor.monitoring import Log as Log
    from conveyor.monitoring import MetricRule as MetricRule
    from conveyor.monitoring import Promote as Promote
    from conveyor.monitoring import Retrain as Retrain
    from conveyor.monitoring import Webhook as Webhook
    from conveyor.monitoring import monitor as monitor
    from conveyor.registry import Gate as Gate
    from conveyor.registry import ModelVersion as ModelVersion
    from conveyor.registry import register_model as register_model
    from conveyor.tracking import TrackedRun as TrackedRun
    from conveyor.tracking import Trial as Trial
    from conveyor.tracking import TrialPruned as TrialPruned
    from conveyor.tracking import TuneResult as TuneResult
    from conveyor.tracking import cross_validate as cross_validate
    from conveyor.tracking import evaluate as evaluate
    from conveyor.tracking import get_run as get_run
    from conveyor.tracking import log_artifact as log_artifact
    from conveyor.tracking import log_figure as log_figure
    from conveyor.tracking import log_metric as log_metric
    from conveyor.tracking import log_metrics as log_metrics
    from conveyor.tracking import log_param as log_param
    from conveyor.tracking import log_params as log_params
    from conveyor.tracking import search_runs as search_runs
    from conveyor.tracking import set_tag as set_tag
    from conveyor.tracking import set_tags as set_tags
    from conveyor.tracking import tune as tune

from conveyor.core._version import __version__ as __version__

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
    "Resources": "conveyor.core",
    "RunContext": "conveyor.core",
    "Settings": "conveyor.core",
    "current_run": "conveyor.core",
    "load_settings": "conveyor.core",
    "Run": "conveyor.engine",
    "DaskExecutor": "conveyor.engine",
    "RayExecutor": "conveyor.engine",
    "StepResult": "conveyor.engine",
    "tune": "conveyor.tracking",
    "Trial": "conveyor.tracking",
    "TrialPruned": "conveyor.tracking",
    "TuneResult": "conveyor.tracking",
    "register_model": "conveyor.registry",
    "Gate": "conveyor.registry",
    "DriftRule": "conveyor.monitoring",
    "MetricRule": "conveyor.monitoring",
    "Webhook": "conveyor.monitoring",
    "Log": "conveyor.monitoring",
    "Retrain": "conveyor.monitoring",
    "Promote": "conveyor.monitoring",
    "monitor": "conveyor.monitoring",
    "ModelVersion": "conveyor.registry",
    "TrackedRun": "conveyor.tracking",
    "cross_validate": "conveyor.tracking",
    "evaluate": "conveyor.tracking",
    "get_run": "conveyor.tracking",
    "log_artifact": "conveyor.tracking",
    "log_figure": "conveyor.tracking",
    "log_metric": "conveyor.tracking",
    "log_metrics": "conveyor.tracking",
    "log_param": "conveyor.tracking",
    "log_params": "conveyor.tracking",
    "search_runs": "conveyor.tracking",
    "set_tag": "conveyor.tracking",
    "set_tags": "conveyor.tracking",
}


def __getattr__(name: str) -> object:
    if name in ("errors", "datasets", "models", "monitoring", "serving"):
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
    "DaskExecutor",
    "Dataset",
    "DriftRule",
    "Gate",
    "Handle",
    "Log",
    "MetricRule",
    "ModelVersion",
    "Pipeline",
    "Profile",
    "Promote",
    "RayExecutor",
    "Resources",
    "Retrain",
    "Run",
    "RunContext",
    "Schema",
    "Settings",
    "Step",
    "StepResult",
    "TrackedRun",
    "Trial",
    "TrialPruned",
    "TuneResult",
    "ValidationReport",
    "Webhook",
    "__version__",
    "anonymize",
    "cross_validate",
    "current_run",
    "datasets",
    "errors",
    "evaluate",
    "get_run",
    "load_settings",
    "log_artifact",
    "log_figure",
    "log_metric",
    "log_metrics",
    "log_param",
    "log_params",
    "map",
    "models",
    "monitor",
    "monitoring",
    "pipeline",
    "profile",
    "profile_diff",
    "read_csv",
    "read_http",
    "read_json",
    "read_parquet",
    "read_sql",
    "register_model",
    "search_runs",
    "serving",
    "set_tag",
    "set_tags",
    "step",
    "tune",
]
