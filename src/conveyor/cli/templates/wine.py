"""Classify wines from their chemistry: the pipeline `conveyor quickstart` runs.

Data: scikit-learn's bundled wine data (178 wines, 13 measurements, 3 cultivars); nothing is
downloaded. Run it yourself with `conveyor run pipeline.py:wine -p n_estimators=50`.
"""

from __future__ import annotations

import pandas as pd
from sklearn.ensemble import RandomForestClassifier

import conveyor as cv
from conveyor.errors import DataValidationError

LABEL = "cultivar"


@cv.step
def ingest() -> pd.DataFrame:
    """Load the measurements and the cultivar of each wine."""
    from sklearn.datasets import load_wine

    frame: pd.DataFrame = load_wine(as_frame=True).frame.rename(columns={"target": LABEL})
    print(f"loaded {len(frame)} wines with {frame.shape[1] - 1} measurements")
    return frame


@cv.step
def validate(raw: pd.DataFrame) -> pd.DataFrame:
    """Stop the pipeline on data that a model should not be trained on."""
    problems = []
    missing = raw.columns[raw.isna().any()].tolist()
    if missing:
        problems.append(f"missing values in {missing}")
    negative = [c for c in raw.columns if c != LABEL and (raw[c] < 0).any()]
    if negative:
        problems.append(f"negative measurements in {negative}")
    unknown = sorted(set(raw[LABEL].unique()) - {0, 1, 2})
    if unknown:
        problems.append(f"unknown cultivars {unknown}")
    if problems:
        raise DataValidationError("wine data failed validation: " + "; ".join(problems))
    return raw


@cv.step
def profile(clean: pd.DataFrame) -> dict[str, float]:
    """Summary figures of the data (runs in parallel with the feature step)."""
    return {
        "rows": float(len(clean)),
        "mean_alcohol": round(float(clean["alcohol"].mean()), 3),
        "share_cultivar_0": round(float((clean[LABEL] == 0).mean()), 3),
    }


@cv.step
def features(
    clean: pd.DataFrame, test_size: float = 0.25, seed: int = 0
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Add ratio features and split into stratified train and test sets."""
    from sklearn.model_selection import train_test_split

    table = clean.assign(
        flavanoid_share=clean["flavanoids"] / clean["total_phenols"],
        color_per_hue=clean["color_intensity"] / clean["hue"],
    )
    train_df, test_df = train_test_split(
        table, test_size=test_size, random_state=seed, stratify=table[LABEL]
    )
    return train_df, test_df


@cv.step
def train(train_df: pd.DataFrame, n_estimators: int = 100, seed: int = 0) -> RandomForestClassifier:
    """Fit a random forest."""
    model = RandomForestClassifier(n_estimators=n_estimators, random_state=seed, n_jobs=1)
    model.fit(train_df.drop(columns=LABEL), train_df[LABEL])
    return model


@cv.step
def evaluate(model: RandomForestClassifier, test_df: pd.DataFrame) -> dict[str, float]:
    """Score the model on wines it has not seen."""
    from sklearn.metrics import accuracy_score, f1_score

    predicted = model.predict(test_df.drop(columns=LABEL))
    scores = {
        "accuracy": round(float(accuracy_score(test_df[LABEL], predicted)), 4),
        "f1_macro": round(float(f1_score(test_df[LABEL], predicted, average="macro")), 4),
    }
    print(f"scores: {scores}")
    return scores


@cv.pipeline
def wine(n_estimators: int = 100, test_size: float = 0.25, seed: int = 0) -> None:
    """Ingest → validate → features → train → evaluate, with a data profile on the side."""
    clean = validate(ingest())
    profile(clean)
    train_df, test_df = features(clean, test_size=test_size, seed=seed)
    model = train(train_df, n_estimators=n_estimators, seed=seed)
    evaluate(model, test_df)
