"""Classify wines from their chemistry: the pipeline `conveyor quickstart` runs.

Data: scikit-learn's bundled wine data (178 wines, 13 measurements, 3 cultivars), delivered
as CSV files in `data/` (nothing is downloaded). Each file is one partition: `cv.map` cleans
the files in parallel worker processes, and a file that arrives later is the only one cleaned
on the next run. Run it yourself with `conveyor run pipeline.py:wine -p n_estimators=50`.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from sklearn.ensemble import RandomForestClassifier

import conveyor as cv

LABEL = "cultivar"
DATA = Path(__file__).resolve().parent / "data"
MEASUREMENTS = [
    "alcohol", "malic_acid", "ash", "alcalinity_of_ash", "magnesium", "total_phenols",
    "flavanoids", "nonflavanoid_phenols", "proanthocyanins", "color_intensity", "hue",
    "od280/od315_of_diluted_wines", "proline",
]  # fmt: skip

# What a delivery of wine measurements must look like; a file that breaks it stops the run
# with the column, the check, how many rows fail and a few of their values.
WINE = cv.Schema(
    columns={
        **{m: cv.Column(dtype="float64", nullable=False, min=0) for m in MEASUREMENTS},
        LABEL: cv.Column(dtype="int64", nullable=False, allowed=[0, 1, 2]),
    },
    name="wine",
)


def deliver(files: int = 3, folder: Path = DATA) -> list[Path]:
    """Write the wine data as `files` CSV files (of 4) into `folder`, if they are not there."""
    from sklearn.datasets import load_wine

    frame = load_wine(as_frame=True).frame.rename(columns={"target": LABEL})
    frame = frame.sample(frac=1.0, random_state=7).reset_index(drop=True)  # mix the cultivars
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for i in range(files):
        path = folder / f"wine-{i + 1}.csv"
        if not path.exists():
            frame.iloc[i::4].to_csv(path, index=False)
        written.append(path)
    return written


def deliver_new_vintage(folder: Path = DATA, rows: int = 400, seed: int = 1) -> pd.DataFrame:
    """Wines from a new vintage: riper and darker than anything trained on. Written to
    `folder` as `wine-new-vintage.csv` (labelled, as the cellar's records arrive) and returned
    without the label, as production traffic would see them."""
    from sklearn.datasets import load_wine

    frame = load_wine(as_frame=True).frame.rename(columns={"target": LABEL})
    new = frame.sample(n=rows, replace=True, random_state=seed).reset_index(drop=True)
    ripeness = {"alcohol": 1.1, "color_intensity": 1.6, "proline": 1.35, "malic_acid": 1.5}
    for column, factor in ripeness.items():
        new[column] = (new[column] * factor).round(2)
    new.to_csv(folder / "wine-new-vintage.csv", index=False)
    traffic: pd.DataFrame = new.drop(columns=LABEL)
    return traffic


@cv.step(validate_inputs={"part": WINE})
def clean(part: pd.DataFrame) -> pd.DataFrame:
    """Check one delivered file against the schema and drop duplicate wines."""
    return part.drop_duplicates()


@cv.step
def combine(parts: cv.Dataset) -> pd.DataFrame:
    """All cleaned files as one table."""
    table = parts.to_pandas()
    print(f"{len(table)} wines from {len(parts.partitions)} files")
    return table


@cv.step
def profile(table: pd.DataFrame) -> dict[str, float]:
    """Summary figures of the data (runs in parallel with the feature step)."""
    stats = cv.profile(table)
    return {
        "rows": float(stats.rows),
        "mean_alcohol": round(float(stats.columns["alcohol"].mean or 0.0), 3),
        "share_cultivar_0": round(float((table[LABEL] == 0).mean()), 3),
    }


@cv.step
def features(
    table: pd.DataFrame, test_size: float = 0.25, seed: int = 0
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Add ratio features and split into stratified train and test sets."""
    from sklearn.model_selection import train_test_split

    table = table.assign(
        flavanoid_share=table["flavanoids"] / table["total_phenols"],
        color_per_hue=table["color_intensity"] / table["hue"],
    )
    train_df, test_df = train_test_split(
        table, test_size=test_size, random_state=seed, stratify=table[LABEL]
    )
    return train_df, test_df


@cv.step
def train(train_df: pd.DataFrame, n_estimators: int = 100, seed: int = 0) -> RandomForestClassifier:
    """Fit a random forest, logging its settings and how well it fits the training data."""
    model = RandomForestClassifier(
        n_estimators=n_estimators, random_state=seed, n_jobs=1, oob_score=True
    )
    cv.log_params({"max_features": "sqrt", "rows": len(train_df)})
    model.fit(train_df.drop(columns=LABEL), train_df[LABEL])
    cv.log_metric("oob_accuracy", float(model.oob_score_))
    return model


@cv.step
def evaluate(model: RandomForestClassifier, test_df: pd.DataFrame) -> dict[str, float]:
    """Score the model on wines it has not seen (metrics and a confusion matrix are logged)."""
    scores = cv.evaluate(model, test_df.drop(columns=LABEL), test_df[LABEL])
    scores = {k: round(v, 4) for k, v in scores.items() if k in ("accuracy", "f1", "log_loss")}
    print(f"scores: {scores}")
    return scores


@cv.pipeline
def wine(n_estimators: int = 100, test_size: float = 0.25, seed: int = 0) -> None:
    """Clean each file → combine → features → train → evaluate → register the model, with a
    profile on the side."""
    if not DATA.exists():
        deliver()
    table = combine(cv.map(clean, cv.read_csv(DATA / "*.csv")))
    profile(table)
    train_df, test_df = features(table, test_size=test_size, seed=seed)
    model = train(train_df, n_estimators=n_estimators, seed=seed)
    scores = evaluate(model, test_df)
    cv.register_model("wine", model, metrics=scores, reference=train_df)
