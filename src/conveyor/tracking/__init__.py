"""L4 tracking: what runs log, and finding, reading and comparing runs afterwards.

Inside a step: ``log_param(s)``, ``log_metric(s)``, ``set_tags``, ``log_artifact``,
``log_figure`` (buffered; stored before the step counts as finished). Afterwards:
``search_runs`` (a DataFrame), ``get_run``. Models: ``evaluate``, ``cross_validate``, ``tune``.
"""

from __future__ import annotations

from conveyor.tracking._evaluate import cross_validate as cross_validate
from conveyor.tracking._evaluate import evaluate as evaluate
from conveyor.tracking._log import log_artifact as log_artifact
from conveyor.tracking._log import log_figure as log_figure
from conveyor.tracking._log import log_metric as log_metric
from conveyor.tracking._log import log_metrics as log_metrics
from conveyor.tracking._log import log_param as log_param
from conveyor.tracking._log import log_params as log_params
from conveyor.tracking._log import set_tag as set_tag
from conveyor.tracking._log import set_tags as set_tags
from conveyor.tracking._runs import TrackedRun as TrackedRun
from conveyor.tracking._runs import get_run as get_run
from conveyor.tracking._runs import search_runs as search_runs
from conveyor.tracking._tune import Trial as Trial
from conveyor.tracking._tune import TrialPruned as TrialPruned
from conveyor.tracking._tune import TuneResult as TuneResult
from conveyor.tracking._tune import tune as tune

__all__ = [
    "TrackedRun",
    "Trial",
    "TrialPruned",
    "TuneResult",
    "cross_validate",
    "evaluate",
    "get_run",
    "log_artifact",
    "log_figure",
    "log_metric",
    "log_metrics",
    "log_param",
    "log_params",
    "search_runs",
    "set_tag",
    "set_tags",
    "tune",
]
