"""L1 storage: the ports (Protocols), their records, and the adapters behind them.

``open_metadata_store`` and ``open_artifact_store`` pick an adapter by URL; the SQL adapter
(SQLAlchemy, Alembic) is imported only when a SQL URL is opened, so ``import conveyor`` stays light.
"""

from __future__ import annotations

from conveyor.store._access_checks import role as check_role
from conveyor.store._access_checks import user_name as check_user_name
from conveyor.store._access_records import ROLES as ROLES
from conveyor.store._access_records import AuditEntry as AuditEntry
from conveyor.store._access_records import Role as Role
from conveyor.store._access_records import TokenRecord as TokenRecord
from conveyor.store._access_records import UserRecord as UserRecord
from conveyor.store._artifacts import FsspecArtifactStore as FsspecArtifactStore
from conveyor.store._artifacts import is_server_url as is_server_url
from conveyor.store._artifacts import open_artifact_store as open_artifact_store
from conveyor.store._artifacts import raw_artifact_store as raw_artifact_store
from conveyor.store._checks import alias_name as check_alias_name
from conveyor.store._checks import dataset_name as check_dataset_name
from conveyor.store._checks import model_name as check_model_name
from conveyor.store._checks import monitor_name as check_monitor_name
from conveyor.store._checks import tracking_key as check_tracking_key
from conveyor.store._encryption import Census as Census
from conveyor.store._encryption import EncryptedArtifactStore as EncryptedArtifactStore
from conveyor.store._encryption import RawArtifactStore as RawArtifactStore
from conveyor.store._encryption import RotationReport as RotationReport
from conveyor.store._encryption import census as census
from conveyor.store._encryption import generate_key as generate_key
from conveyor.store._encryption import key_id as key_id
from conveyor.store._folders import Folder as Folder
from conveyor.store._memory import MemoryArtifactStore as MemoryArtifactStore
from conveyor.store._memory import MemoryMetadataStore as MemoryMetadataStore
from conveyor.store._monitor_records import MonitorAction as MonitorAction
from conveyor.store._monitor_records import MonitorAlert as MonitorAlert
from conveyor.store._monitor_records import MonitorEvaluation as MonitorEvaluation
from conveyor.store._monitor_records import MonitorRecord as MonitorRecord
from conveyor.store._ports import AccessStore as AccessStore
from conveyor.store._ports import ArtifactStore as ArtifactStore
from conveyor.store._ports import AuditStore as AuditStore
from conveyor.store._ports import MetadataStore as MetadataStore
from conveyor.store._ports import MonitorStore as MonitorStore
from conveyor.store._ports import RegistryStore as RegistryStore
from conveyor.store._ports import ScheduleStore as ScheduleStore
from conveyor.store._ports import TrackingStore as TrackingStore
from conveyor.store._records import RUN_STATUSES as RUN_STATUSES
from conveyor.store._records import STEP_STATUSES as STEP_STATUSES
from conveyor.store._records import ArtifactLink as ArtifactLink
from conveyor.store._records import ArtifactRecord as ArtifactRecord
from conveyor.store._records import AttemptRecord as AttemptRecord
from conveyor.store._records import DatasetVersionRecord as DatasetVersionRecord
from conveyor.store._records import RunRecord as RunRecord
from conveyor.store._records import RunStatus as RunStatus
from conveyor.store._records import StepRunRecord as StepRunRecord
from conveyor.store._records import StepStatus as StepStatus
from conveyor.store._records import WriteBatch as WriteBatch
from conveyor.store._schedule_checks import schedule_name as check_schedule_name
from conveyor.store._schedule_records import FIRE_STATUSES as FIRE_STATUSES
from conveyor.store._schedule_records import MISSED_POLICIES as MISSED_POLICIES
from conveyor.store._schedule_records import TRIGGER_KINDS as TRIGGER_KINDS
from conveyor.store._schedule_records import FireStatus as FireStatus
from conveyor.store._schedule_records import LeaseRecord as LeaseRecord
from conveyor.store._schedule_records import MissedPolicy as MissedPolicy
from conveyor.store._schedule_records import ScheduleFire as ScheduleFire
from conveyor.store._schedule_records import ScheduleRecord as ScheduleRecord
from conveyor.store._schedule_records import TriggerKind as TriggerKind
from conveyor.store._tokens import PROTECTED_ALIASES as PROTECTED_ALIASES
from conveyor.store._tokens import TOKEN_PREFIX as TOKEN_PREFIX
from conveyor.store._tokens import allowed as allowed
from conveyor.store._tokens import authenticate as authenticate
from conveyor.store._tokens import create_token as create_token
from conveyor.store._tokens import hash_token as hash_token
from conveyor.store._tokens import require as require
from conveyor.store._tokens import role_to_promote as role_to_promote
from conveyor.store._tracking_records import ATTRIBUTES as RUN_ATTRIBUTES
from conveyor.store._tracking_records import AliasMove as AliasMove
from conveyor.store._tracking_records import Condition as Condition
from conveyor.store._tracking_records import FieldKind as FieldKind
from conveyor.store._tracking_records import GateDecision as GateDecision
from conveyor.store._tracking_records import LoggedArtifact as LoggedArtifact
from conveyor.store._tracking_records import MetricPoint as MetricPoint
from conveyor.store._tracking_records import ModelSummary as ModelSummary
from conveyor.store._tracking_records import ModelVersionRecord as ModelVersionRecord
from conveyor.store._tracking_records import MoveKind as MoveKind
from conveyor.store._tracking_records import Operator as Operator
from conveyor.store._tracking_records import Ordering as Ordering
from conveyor.store._tracking_records import RunData as RunData
from conveyor.store._tracking_records import RunQuery as RunQuery
from conveyor.store._tracking_records import RunTable as RunTable
from conveyor.store._tracking_records import TrackingBatch as TrackingBatch


def open_metadata_store(url: str, *, token: str | None = None) -> MetadataStore:
    """The metadata store at a SQLAlchemy URL (``sqlite:///…``, ``postgresql+psycopg://…``),
    created or migrated to the current schema on first use; ``memory://`` for tests; a team
    server's ``http(s)://`` URL, spoken to with ``token``."""
    if url == "memory://":
        return MemoryMetadataStore()
    if is_server_url(url):
        from typing import cast

        from conveyor.store.http import HttpMetadataStore

        # its methods are made from the MetadataStore protocol itself (``http._routes``)
        return cast(MetadataStore, HttpMetadataStore(url, token))
    from conveyor.store.sql import SqlMetadataStore

    return SqlMetadataStore.open(url)


__all__ = [
    "FIRE_STATUSES",
    "MISSED_POLICIES",
    "PROTECTED_ALIASES",
    "ROLES",
    "RUN_ATTRIBUTES",
    "RUN_STATUSES",
    "STEP_STATUSES",
    "TOKEN_PREFIX",
    "TRIGGER_KINDS",
    "AccessStore",
    "AliasMove",
    "ArtifactLink",
    "ArtifactRecord",
    "ArtifactStore",
    "AttemptRecord",
    "AuditEntry",
    "AuditStore",
    "Census",
    "Condition",
    "DatasetVersionRecord",
    "EncryptedArtifactStore",
    "FieldKind",
    "FireStatus",
    "Folder",
    "FsspecArtifactStore",
    "GateDecision",
    "LeaseRecord",
    "LoggedArtifact",
    "MemoryArtifactStore",
    "MemoryMetadataStore",
    "MetadataStore",
    "MetricPoint",
    "MissedPolicy",
    "ModelSummary",
    "ModelVersionRecord",
    "MonitorAction",
    "MonitorAlert",
    "MonitorEvaluation",
    "MonitorRecord",
    "MonitorStore",
    "MoveKind",
    "Operator",
    "Ordering",
    "RawArtifactStore",
    "RegistryStore",
    "Role",
    "RotationReport",
    "RunData",
    "RunQuery",
    "RunRecord",
    "RunStatus",
    "RunTable",
    "ScheduleFire",
    "ScheduleRecord",
    "ScheduleStore",
    "StepRunRecord",
    "StepStatus",
    "TokenRecord",
    "TrackingBatch",
    "TrackingStore",
    "TriggerKind",
    "UserRecord",
    "WriteBatch",
    "allowed",
    "authenticate",
    "census",
    "check_alias_name",
    "check_dataset_name",
    "check_model_name",
    "check_monitor_name",
    "check_role",
    "check_schedule_name",
    "check_tracking_key",
    "check_user_name",
    "create_token",
    "generate_key",
    "hash_token",
    "is_server_url",
    "key_id",
    "open_artifact_store",
    "open_metadata_store",
    "raw_artifact_store",
    "require",
    "role_to_promote",
]
