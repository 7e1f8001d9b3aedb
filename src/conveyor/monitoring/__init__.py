"""L5 monitoring: drift of production data from a model's reference, live metrics, and
monitors whose rules fire actions (webhook, log, retrain, promote).

``drift(reference, current)`` measures it feature by feature (KS or chi-square, PSI,
Jensen–Shannon); ``monitor(...)`` stores a monitor and ``evaluate(name)`` runs it once.
Serving and monitoring meet only through the prediction log.
"""

from __future__ import annotations

from conveyor.monitoring._actions import Log as Log
from conveyor.monitoring._actions import Promote as Promote
from conveyor.monitoring._actions import Retrain as Retrain
from conveyor.monitoring._actions import Webhook as Webhook
from conveyor.monitoring._drift import DriftReport as DriftReport
from conveyor.monitoring._drift import FeatureDrift as FeatureDrift
from conveyor.monitoring._drift import drift as drift
from conveyor.monitoring._evaluate import Check as Check
from conveyor.monitoring._evaluate import evaluate as evaluate
from conveyor.monitoring._html import render as render_html
from conveyor.monitoring._monitor import Monitor as Monitor
from conveyor.monitoring._monitor import list_monitors as list_monitors
from conveyor.monitoring._monitor import load as load
from conveyor.monitoring._monitor import monitor as monitor
from conveyor.monitoring._monitor import save as save
from conveyor.monitoring._rules import DriftRule as DriftRule
from conveyor.monitoring._rules import MetricRule as MetricRule
from conveyor.monitoring._window import Performance as Performance
from conveyor.monitoring._window import features as features
from conveyor.monitoring._window import performance as performance
from conveyor.monitoring._window import window as window

__all__ = [
    "Check",
    "DriftReport",
    "DriftRule",
    "FeatureDrift",
    "Log",
    "MetricRule",
    "Monitor",
    "Performance",
    "Promote",
    "Retrain",
    "Webhook",
    "drift",
    "evaluate",
    "features",
    "list_monitors",
    "load",
    "monitor",
    "performance",
    "render_html",
    "save",
    "window",
]
