"""How a server is set up: what ``conveyor serve`` and ``create_app`` take."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from conveyor.core._errors import ConfigurationError

MAX_BODY_BYTES = 10 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class ServingOptions:
    """Tuning and safety knobs of one server process.

    ``max_latency_ms`` is the longest a request waits for others to join its batch; a request
    that arrives while nothing else is on its way is predicted at once, so batching costs a
    lone client nothing.
    """

    max_batch_size: int = 64
    max_latency_ms: float = 5.0
    max_body_bytes: int = MAX_BODY_BYTES
    api_keys: Sequence[str] = field(default=(), repr=False)
    poll_interval_s: float = 2.0  # how often the alias of a served model is read
    log_predictions: bool = True
    # a binary classifier's probability of its second class is logged with each prediction
    log_probabilities: bool = True
    prediction_log_rows: int = 10_000  # buffered rows; more are dropped (and counted)
    prediction_log_flush_s: float = 5.0
    monitor_metrics_ttl_s: float = 5.0  # how long /metrics reuses monitor evaluations it read

    def __post_init__(self) -> None:
        if self.max_batch_size < 1:
            raise ConfigurationError(
                f"max_batch_size must be at least 1, got {self.max_batch_size}"
            )
        if self.max_latency_ms < 0:
            raise ConfigurationError(f"max_latency_ms must be 0 or more, got {self.max_latency_ms}")
        if self.max_body_bytes < 1:
            raise ConfigurationError(
                f"max_body_bytes must be at least 1, got {self.max_body_bytes}"
            )
        if self.poll_interval_s <= 0:
            raise ConfigurationError(
                f"poll_interval_s must be more than 0, got {self.poll_interval_s}"
            )
        if self.prediction_log_rows < 1:
            raise ConfigurationError(
                f"prediction_log_rows must be at least 1, got {self.prediction_log_rows}"
            )
        if self.prediction_log_flush_s <= 0:
            raise ConfigurationError(
                f"prediction_log_flush_s must be more than 0, got {self.prediction_log_flush_s}"
            )
        if self.monitor_metrics_ttl_s < 0:
            raise ConfigurationError(
                f"monitor_metrics_ttl_s must be 0 or more, got {self.monitor_metrics_ttl_s}"
            )
        if any(not key for key in self.api_keys):
            raise ConfigurationError("an API key must not be empty")
