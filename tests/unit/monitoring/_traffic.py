"""A registered model with reference data, and traffic written by the serving prediction log
itself: what a monitor reads in production."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression

import conveyor as cv
from conveyor.core import Settings
from conveyor.data._predlog_files import FEEDBACK, LogFolder
from conveyor.serving._metrics import ServingMetrics
from conveyor.serving._predlog import LoggedPrediction, PredictionLog
from conveyor.serving._predlog_arrow import feedback_table

NOON = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
COLUMNS = ("age", "income", "tenure")


def training(rows: int = 2000, shift: float = 0.0, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "age": rng.normal(40 + shift * 15, 10, rows),
            "income": rng.normal(50 + shift * 30, 12, rows),
            "tenure": rng.normal(5, 2, rows),
        }
    )
    frame["churned"] = (frame["age"] + rng.normal(0, 5, rows) > 40 + shift * 15).astype(int)
    return frame


def register(
    settings: Settings,
    frame: pd.DataFrame | None = None,
    alias: str = "production",
    accuracy: float = 0.9,
) -> int:
    data = training() if frame is None else frame
    model = LogisticRegression().fit(data[list(COLUMNS)], data["churned"])
    version = cv.models.register(
        "churn",
        model,
        reference=data[list(COLUMNS)],
        metrics={"accuracy": accuracy},
        settings=settings,
    )
    cv.models.promote("churn", version.version, alias, settings=settings)
    return version.version


def send(
    settings: Settings,
    frame: pd.DataFrame,
    at: datetime = NOON,
    version: int = 1,
    predictions: list[int] | None = None,
    scores: list[float] | None = None,
) -> list[str]:
    """Log each row as one request, spread over the 30 minutes before ``at``; ``scores`` are
    the probabilities of class 1, as a server logs them for a binary classifier."""
    log = PredictionLog(
        settings.artifacts, metrics=ServingMetrics(), max_rows=100_000, flush_seconds=3600.0
    )
    ids = []
    step = timedelta(minutes=30) / max(len(frame), 1)
    outputs = predictions if predictions is not None else [0] * len(frame)
    for i, row in enumerate(frame[list(COLUMNS)].itertuples(index=False)):
        rid = uuid.uuid4().hex
        ids.append(rid)
        log.add(
            LoggedPrediction(
                model="churn",
                version=version,
                request_id=rid,
                protocol="predict",
                received_at=at - timedelta(minutes=30) + i * step,
                latency_ms=1.0,
                columns=COLUMNS,
                rows=[list(row)],
                outputs=[outputs[i]],
                scores=None if scores is None else [scores[i]],
                scored_class=None if scores is None else 1,
            )
        )
    log.close()
    return ids


def label(settings: Settings, ids: list[str], labels: list[int], at: datetime = NOON) -> None:
    table = feedback_table(ids, labels, "churn", at)
    LogFolder(settings.artifacts).write(FEEDBACK, "churn", at.date(), table)
