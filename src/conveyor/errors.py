"""The public path of conveyor's error tree (defined in ``conveyor.core._errors``)."""

from __future__ import annotations

from conveyor.core._errors import (
    AccessError as AccessError,
)
from conveyor.core._errors import (
    ArtifactCorrupted as ArtifactCorrupted,
)
from conveyor.core._errors import (
    ArtifactDecryptionError as ArtifactDecryptionError,
)
from conveyor.core._errors import (
    ArtifactNotFound as ArtifactNotFound,
)
from conveyor.core._errors import (
    AuthenticationFailed as AuthenticationFailed,
)
from conveyor.core._errors import (
    ConfigurationError as ConfigurationError,
)
from conveyor.core._errors import (
    ConveyorError as ConveyorError,
)
from conveyor.core._errors import (
    ConveyorWarning as ConveyorWarning,
)
from conveyor.core._errors import (
    CycleError as CycleError,
)
from conveyor.core._errors import (
    DatasetNotFound as DatasetNotFound,
)
from conveyor.core._errors import (
    DataSourceError as DataSourceError,
)
from conveyor.core._errors import (
    DataValidationError as DataValidationError,
)
from conveyor.core._errors import (
    ExecutorLost as ExecutorLost,
)
from conveyor.core._errors import (
    GateFailed as GateFailed,
)
from conveyor.core._errors import (
    InsufficientResources as InsufficientResources,
)
from conveyor.core._errors import (
    MissingInputError as MissingInputError,
)
from conveyor.core._errors import (
    ModelNotFound as ModelNotFound,
)
from conveyor.core._errors import (
    MonitoringError as MonitoringError,
)
from conveyor.core._errors import (
    MonitorNotFound as MonitorNotFound,
)
from conveyor.core._errors import (
    NoActiveRunWarning as NoActiveRunWarning,
)
from conveyor.core._errors import (
    ParameterTypeError as ParameterTypeError,
)
from conveyor.core._errors import (
    PermissionDenied as PermissionDenied,
)
from conveyor.core._errors import (
    PickleFallbackWarning as PickleFallbackWarning,
)
from conveyor.core._errors import (
    PipelineDefinitionError as PipelineDefinitionError,
)
from conveyor.core._errors import (
    PipelineNotFound as PipelineNotFound,
)
from conveyor.core._errors import (
    RegistryError as RegistryError,
)
from conveyor.core._errors import (
    RunFailed as RunFailed,
)
from conveyor.core._errors import (
    RunNotFound as RunNotFound,
)
from conveyor.core._errors import (
    ScheduleNotFound as ScheduleNotFound,
)
from conveyor.core._errors import (
    SchedulerError as SchedulerError,
)
from conveyor.core._errors import (
    StepFailed as StepFailed,
)
from conveyor.core._errors import (
    StepTimeout as StepTimeout,
)
from conveyor.core._errors import (
    StoreError as StoreError,
)
from conveyor.core._errors import (
    TokenNotFound as TokenNotFound,
)
from conveyor.core._errors import (
    UnknownParameterError as UnknownParameterError,
)
from conveyor.core._errors import (
    UserNotFound as UserNotFound,
)
from conveyor.core._errors import (
    WorkerLost as WorkerLost,
)

__all__ = [
    "AccessError",
    "ArtifactCorrupted",
    "ArtifactDecryptionError",
    "ArtifactNotFound",
    "AuthenticationFailed",
    "ConfigurationError",
    "ConveyorError",
    "ConveyorWarning",
    "CycleError",
    "DataSourceError",
    "DataValidationError",
    "DatasetNotFound",
    "ExecutorLost",
    "GateFailed",
    "InsufficientResources",
    "MissingInputError",
    "ModelNotFound",
    "MonitorNotFound",
    "MonitoringError",
    "NoActiveRunWarning",
    "ParameterTypeError",
    "PermissionDenied",
    "PickleFallbackWarning",
    "PipelineDefinitionError",
    "PipelineNotFound",
    "RegistryError",
    "RunFailed",
    "RunNotFound",
    "ScheduleNotFound",
    "SchedulerError",
    "StepFailed",
    "StepTimeout",
    "StoreError",
    "TokenNotFound",
    "UnknownParameterError",
    "UserNotFound",
    "WorkerLost",
]
