"""How to call each kind of model on a batch: ``predict``, and class probabilities if it has them.

Models of every flavor come back from the registry as objects; this module is the one place
that knows which method of which object gives predictions, so the batcher stays generic.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from conveyor.serving._forest import ForestPath


class CannotPredictProba(Exception):
    """The model gives no class probabilities."""


@dataclass(frozen=True, slots=True)
class Predictor:
    model: Any
    flavor: str
    forest: ForestPath | None = None  # the compiled trees, once confirmed on the sample

    @property
    def classes(self) -> list[Any] | None:
        classes = getattr(self.model, "classes_", None)
        return None if classes is None else np.asarray(classes).tolist()

    @property
    def has_proba(self) -> bool:
        return hasattr(self.model, "predict_proba")

    def predict(self, data: object) -> np.ndarray[Any, Any]:
        if self.forest is not None:
            return self.forest.predict(data)
        if self.flavor == "torch":
            return _torch_forward(self.model, data)
        # a plain callable registered with the python flavor has no predict method
        call = self.model.predict if hasattr(self.model, "predict") else self.model
        return np.asarray(call(data))

    def predict_with_proba(self, data: object) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
        """Predictions and class probabilities; a forest computes the probabilities once."""
        if self.forest is not None and self.forest.classifier:
            proba = self.forest.predict_proba(data)
            return self.forest.labels(proba), proba
        return self.predict(data), self.predict_proba(data)

    def predict_proba(self, data: object) -> np.ndarray[Any, Any]:
        if not self.has_proba:
            raise CannotPredictProba(
                f"this {type(self.model).__name__} model gives no class probabilities"
            )
        if self.forest is not None:
            return self.forest.predict_proba(data)
        return np.asarray(self.model.predict_proba(data))


def _torch_forward(module: Any, data: object) -> np.ndarray[Any, Any]:
    import torch

    values = data.to_numpy() if hasattr(data, "to_numpy") else np.asarray(data)
    with torch.inference_mode():
        out = module(torch.as_tensor(np.asarray(values, dtype=np.float32)))
    result: np.ndarray[Any, Any] = out.detach().cpu().numpy()
    return result[:, 0] if result.ndim == 2 and result.shape[1] == 1 else result
