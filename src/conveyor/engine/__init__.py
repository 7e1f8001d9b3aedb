"""L3 engine: plans, runs, caches and records pipelines; owns lineage and crash reconciliation.

Executors (``engine.executors``) only run attempts; everything else here behaves the same
whichever executor is used.
"""

from __future__ import annotations

from conveyor.engine._api import run_pipeline as run_pipeline
from conveyor.engine._crash import is_crashed as is_crashed
from conveyor.engine._crash import reconcile as reconcile
from conveyor.engine._environment import current_user as current_user
from conveyor.engine._fingerprint import fingerprint as fingerprint
from conveyor.engine._hooks import RunHook as RunHook
from conveyor.engine._lineage import Lineage as Lineage
from conveyor.engine._lineage import lineage as lineage
from conveyor.engine._loading import load_pipeline as load_pipeline
from conveyor.engine._result import Run as Run
from conveyor.engine._result import StepResult as StepResult
from conveyor.engine._runner import Runner as Runner
from conveyor.engine._workspace import Workspace as Workspace
from conveyor.engine.executors import Executor as Executor
from conveyor.engine.executors import ProcessExecutor as ProcessExecutor
from conveyor.engine.executors import ThreadExecutor as ThreadExecutor
from conveyor.engine.executors._dask import DaskExecutor as DaskExecutor
from conveyor.engine.executors._ray import RayExecutor as RayExecutor

__all__ = [
    "DaskExecutor",
    "Executor",
    "Lineage",
    "ProcessExecutor",
    "RayExecutor",
    "Run",
    "RunHook",
    "Runner",
    "StepResult",
    "ThreadExecutor",
    "Workspace",
    "current_user",
    "fingerprint",
    "is_crashed",
    "lineage",
    "load_pipeline",
    "reconcile",
    "run_pipeline",
]
