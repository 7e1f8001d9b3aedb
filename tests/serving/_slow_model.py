"""A model whose predict takes a while: requests are in flight when the server is stopped."""

from __future__ import annotations

import time
from typing import Any

import numpy as np


class Slow:
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def predict(self, data: Any) -> Any:
        time.sleep(self.seconds)
        return np.zeros(len(data), dtype=np.int64)
