"""L5 monitoring: drift of production data from a model's reference, rules and actions.

``drift(reference, current)`` measures it feature by feature (KS or chi-square, PSI,
Jensen–Shannon); serving and monitoring meet only through the prediction log.
"""

from __future__ import annotations

from conveyor.monitoring._drift import DriftReport as DriftReport
from conveyor.monitoring._drift import FeatureDrift as FeatureDrift
from conveyor.monitoring._drift import drift as drift

__all__ = ["DriftReport", "FeatureDrift", "drift"]
