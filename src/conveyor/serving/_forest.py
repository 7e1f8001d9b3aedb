"""A faster predict for scikit-learn's random forests and extra trees, exact to the bit.

A forest's own ``predict`` validates its input once per tree and dispatches the trees through
joblib, which costs ~15 ms for 100 trees whether it predicts 1 row or 64; calling each fitted
tree's compiled ``tree_.predict`` on the batch, and averaging as scikit-learn does, gives the
same numbers in well under a millisecond. The server uses it only for the forest classes it
knows, with one output, and only after it matched the model's own answers on the version's
reference rows (``confirmed``), so a scikit-learn release that changes the arithmetic turns it
off rather than changing a prediction.
"""

from __future__ import annotations

from typing import Any, Final

import numpy as np

_CLASSIFIERS: Final = frozenset({"RandomForestClassifier", "ExtraTreesClassifier"})
_REGRESSORS: Final = frozenset({"RandomForestRegressor", "ExtraTreesRegressor"})

Array = np.ndarray[Any, Any]


class ForestPath:
    """``predict`` and ``predict_proba`` of one fitted forest, tree by tree."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self.trees = [tree.tree_ for tree in model.estimators_]
        self.classifier = type(model).__name__ in _CLASSIFIERS

    def predict_proba(self, data: object) -> Array:
        features = self._features(data)
        total: Array | None = None
        for tree in self.trees:
            # the leaves hold class fractions already, as DecisionTreeClassifier returns them
            proba = tree.predict(features)[:, : self.model.n_classes_]
            total = proba if total is None else total + proba
        assert total is not None
        return total / len(self.trees)

    def _features(self, data: object) -> Array:
        # scikit-learn's own float32 conversion; the compiled trees index columns unchecked,
        # so the width is checked here
        features = np.ascontiguousarray(data, dtype=np.float32)
        if features.ndim != 2 or features.shape[1] != self.model.n_features_in_:
            raise ValueError(
                f"X has {features.shape[-1]} features, but the model expects "
                f"{self.model.n_features_in_}"
            )
        return features

    def labels(self, proba: Array) -> Array:
        """The predicted classes, from probabilities this path computed (as the forest does)."""
        return np.asarray(self.model.classes_.take(np.argmax(proba, axis=1), axis=0))

    def predict(self, data: object) -> Array:
        if self.classifier:
            return self.labels(self.predict_proba(data))
        features = self._features(data)
        total: Array | None = None
        for tree in self.trees:
            values = tree.predict(features)[:, 0]
            total = values if total is None else total + values
        assert total is not None
        return total / len(self.trees)


def forest_path(model: object) -> ForestPath | None:
    """The fast path for ``model``, or None if it is not a single-output forest."""
    name = type(model).__name__
    if type(model).__module__.partition(".")[0] != "sklearn":
        return None
    if name not in _CLASSIFIERS | _REGRESSORS:
        return None
    if getattr(model, "n_outputs_", 1) != 1 or not hasattr(model, "estimators_"):
        return None
    return ForestPath(model)


def confirmed(path: ForestPath, model: Any, sample: object) -> bool:
    """Whether the fast path gives exactly the model's own answers on ``sample``."""
    try:
        if not np.array_equal(path.predict(sample), np.asarray(model.predict(sample))):
            return False
        if path.classifier:
            return bool(np.array_equal(path.predict_proba(sample), model.predict_proba(sample)))
    except Exception:  # an input the fast path cannot take: keep the model's own predict
        return False
    return True
