"""L5 monitoring: drift of production data from a model's reference, rules and actions.

``drift(reference, current)`` measures it feature by feature (KS or chi-square, PSI,
Jensen–Shannon); serving and monitoring meet only through the prediction log.
"""

from __future__ import annotations

from conveyor.monitoring._drift import DriftReport as DriftReport
from conveyor.monitoring._drift import FeatureDrift as FeatureDrift
from conveyor.monitoring._drift import drift as drift
from conveyor.monitoring._window import Performance as Performance
from conveyor.monitoring._window import features as features
from conveyor.monitoring._window import performance as performance
from conveyor.monitoring._window import window as window

__all__ = [
    "DriftReport",
    "FeatureDrift",
    "Performance",
    "drift",
    "features",
    "performance",
    "window",
]
