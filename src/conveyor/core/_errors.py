"""Every error conveyor raises on purpose.

ConveyorError
├── ConfigurationError
├── PipelineDefinitionError ── CycleError, MissingInputError, UnknownParameterError,
│                              ParameterTypeError, PipelineNotFound
├── StepFailed ─────────────── StepTimeout
├── RunFailed
├── DataSourceError
├── DataValidationError
├── RegistryError ──────────── ModelNotFound, GateFailed
├── SchedulerError
├── AccessError ────────────── AuthenticationFailed, PermissionDenied
└── StoreError ─────────────── ArtifactNotFound, ArtifactCorrupted, RunNotFound, DatasetNotFound,
                               ScheduleNotFound, UserNotFound, TokenNotFound,
                               ArtifactDecryptionError

Warnings: ConveyorWarning ── PickleFallbackWarning, NoActiveRunWarning.

This module holds only the classes; where they are raised is up to each layer.
"""

from __future__ import annotations

from collections.abc import Sequence


class ConveyorError(Exception):
    """Catch this to handle anything conveyor raised deliberately."""

    def __init__(self, message: str, **details: object) -> None:
        super().__init__(message)
        self.message = message
        self.details = details  # rendered as JSON by the API, as text by the CLI


class ConfigurationError(ConveyorError):
    """A setting (environment variable or conveyor.toml) has a value conveyor cannot use."""


class PipelineDefinitionError(ConveyorError):
    """A pipeline or step is defined or called in a way that cannot run."""


class CycleError(PipelineDefinitionError):
    def __init__(self, cycle: Sequence[str]) -> None:
        super().__init__("pipeline has a cycle: " + " -> ".join(cycle), cycle=list(cycle))


class MissingInputError(PipelineDefinitionError):
    """A step was called without one of its required inputs."""


class UnknownParameterError(PipelineDefinitionError):
    """A run parameter was given that the pipeline function does not declare."""


class ParameterTypeError(PipelineDefinitionError):
    """A run parameter's value does not fit the annotated type."""


class PipelineNotFound(PipelineDefinitionError):
    """The named pipeline is not defined in the given file."""


class StepFailed(ConveyorError):
    """A step raised; ``details`` carry the step name and the original error."""


class StepTimeout(StepFailed):
    """A step ran longer than its ``timeout``."""


class WorkerLost(StepFailed):
    """The worker running an attempt died or left the cluster (``details['worker']``); the
    attempt counts as failed and is retried within the step's ``retries``."""


class ExecutorLost(ConveyorError):
    """The distributed scheduler (Dask) or cluster (Ray) a run used went away; the run fails
    and a new run reuses every step that finished, from the cache."""


class InsufficientResources(ConveyorError):
    """A step asks for more CPUs, memory or GPUs than any worker has; never retried."""


class RunFailed(ConveyorError):
    """A run finished with at least one failed step; ``details['run_id']`` names it."""


class DataSourceError(ConveyorError):
    """A data source could not be read: ``details['source']`` names it (a path, URL or query)."""


class DataValidationError(ConveyorError):
    """Data did not match its schema; ``details['failures']`` lists each failing check."""


class RegistryError(ConveyorError):
    """A model registry operation could not be carried out."""


class ModelNotFound(RegistryError):
    """No model version matches the given reference."""


class GateFailed(RegistryError):
    """A promotion gate rejected a model version."""


class StoreError(ConveyorError):
    """The metadata or artifact store failed or holds something unexpected."""


class ArtifactNotFound(StoreError):
    def __init__(self, address: str) -> None:
        super().__init__(f"artifact {address} is not in the artifact store", address=address)


class ArtifactCorrupted(StoreError):
    def __init__(self, address: str, actual: str) -> None:
        super().__init__(
            f"artifact {address} failed verification: its bytes hash to {actual}; "
            "the file was changed or damaged after it was written",
            address=address,
            actual=actual,
        )


class ArtifactDecryptionError(StoreError):
    """An encrypted artifact could not be decrypted: the key it was written with is not
    configured, or its bytes fail authentication. Nothing is returned in either case.

    ``details``: ``address``, ``key_id`` (of the key the blob needs) and ``reason``:
    ``missing_key``, ``failed_authentication`` or ``unknown_format``.
    """

    def __init__(
        self, address: str, key_id: str, reason: str, configured: Sequence[str] = ()
    ) -> None:
        if reason == "missing_key":
            have = ", ".join(configured) if configured else "none"
            message = (
                f"artifact {address} is encrypted with key {key_id}, which is not configured "
                f"here (configured keys: {have}). Set CONVEYOR_ENCRYPTION_KEY (or "
                "CONVEYOR_ENCRYPTION_KEY_FILE) to that key, or add it to "
                "CONVEYOR_ENCRYPTION_OLD_KEYS (or CONVEYOR_ENCRYPTION_OLD_KEYS_FILE)"
            )
        elif reason == "failed_authentication":
            message = (
                f"artifact {address} failed authentication under key {key_id}: its encrypted "
                "bytes were changed or damaged after they were written, or were copied from "
                "another address. Restore the blob from a backup, or re-run the step that "
                "produced it"
            )
        else:
            message = (
                f"artifact {address} is stored in an encrypted format this version of conveyor "
                "cannot read; upgrade conveyor to read it"
            )
        super().__init__(
            message, address=address, key_id=key_id, reason=reason, configured=list(configured)
        )


class RunNotFound(StoreError):
    def __init__(self, ref: str) -> None:
        super().__init__(
            f"no run or artifact matches {ref!r}; `conveyor runs list` shows the runs", ref=ref
        )


class DatasetNotFound(StoreError):
    """No dataset version matches the given name and version."""


class MonitorNotFound(StoreError):
    """No monitor has the given name."""


class MonitoringError(ConveyorError):
    """A monitor is defined wrongly, or could not be evaluated or act."""


class SchedulerError(ConveyorError):
    """A schedule is defined wrongly, or the scheduler cannot run (another one holds the lease)."""


class ScheduleNotFound(StoreError):
    """No schedule has the given id or name."""


class AccessError(ConveyorError):
    """A user, role or token does not allow what was asked."""


class AuthenticationFailed(AccessError):
    """A token is malformed, unknown, revoked or expired, or its user is disabled;
    ``details['reason']`` says which."""


class PermissionDenied(AccessError):
    """The user's role is below the role an action needs; ``details`` name both."""


class UserNotFound(StoreError):
    """No user has the given name."""


class TokenNotFound(StoreError):
    """No API token has the given id."""


class ConveyorWarning(UserWarning):
    """Base of the warnings conveyor emits."""


class PickleFallbackWarning(ConveyorWarning):
    """An output had no safe format and was stored with cloudpickle."""


class NoActiveRunWarning(ConveyorWarning):
    """A run-only call (log_metric, current_run) was made outside a run."""
