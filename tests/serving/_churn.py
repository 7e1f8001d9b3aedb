"""A tiny ``churn`` model (numeric ``age`` and ``plan``) in a store of a test's own, and
reading ``/metrics`` text back as samples."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample
from sklearn.linear_model import LogisticRegression

import conveyor as cv
from conveyor.core import Settings
from conveyor.testing import settings_for

# what each type of family adds to its name in the samples it may export
_SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
    "summary": ("", "_count", "_sum", "_created"),
}


def register_churn(folder: Path) -> Settings:
    """Registers ``churn`` version 1 as ``churn@production`` in a store under ``folder``."""
    settings = settings_for(folder)
    frame = pd.DataFrame({"age": [20.0, 35.0, 50.0, 65.0] * 5, "plan": [0.0, 1.0] * 10})
    model = LogisticRegression().fit(frame, [0, 1, 1, 0] * 5)
    cv.models.register("churn", model, reference=frame, settings=settings)
    cv.models.promote("churn", 1, "production", settings=settings)
    return settings


def samples_of(text: str) -> dict[str, list[Sample]]:
    found: dict[str, list[Sample]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found.setdefault(sample.name, []).append(sample)
    return found


def names_of(text: str) -> set[str]:
    """Every series name the text exports or declares: a labelled metric that has counted
    nothing yet has no samples, but its family is declared, so its names are known."""
    names: set[str] = set()
    for family in text_string_to_metric_families(text):
        names.update(s.name for s in family.samples)
        names.update(family.name + suffix for suffix in _SUFFIXES.get(family.type, ("",)))
    return names
