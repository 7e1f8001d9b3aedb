"""The storage ports, as Protocols. Adapters live beside this module; callers see only these.

No adapter code here, and nothing that imports SQLAlchemy or fsspec.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import Protocol

from conveyor.store._access_records import AuditEntry, Role, TokenRecord, UserRecord
from conveyor.store._monitor_records import (
    MonitorAction,
    MonitorAlert,
    MonitorEvaluation,
    MonitorRecord,
)
from conveyor.store._records import (
    ArtifactRecord,
    DatasetVersionRecord,
    RunRecord,
    RunStatus,
    StepRunRecord,
    WriteBatch,
)
from conveyor.store._schedule_records import (
    FireStatus,
    LeaseRecord,
    ScheduleFire,
    ScheduleRecord,
)
from conveyor.store._tracking_records import (
    AliasMove,
    GateDecision,
    LoggedArtifact,
    MetricPoint,
    ModelSummary,
    ModelVersionRecord,
    RunData,
    RunQuery,
    RunTable,
    TrackingBatch,
)


class ArtifactStore(Protocol):
    """Blobs by content address. Writes are atomic; identical bytes are stored once."""

    def put(self, data: bytes) -> str:
        """Store ``data`` and return its address (``sha256:<hex>``)."""
        ...

    def get(self, address: str) -> bytes:
        """The bytes at ``address``, verified against it; ArtifactNotFound / ArtifactCorrupted."""
        ...

    def exists(self, address: str) -> bool: ...


class TrackingStore(Protocol):
    """Parameters, metric series, tags and logged artifacts of runs, and searching runs by them."""

    def log_batch(self, batch: TrackingBatch) -> None:
        """Write the batch in one transaction; artifacts it names must be stored already.

        The run must exist (RunNotFound). Keys are 1-250 characters; a NaN or infinite metric
        value is stored as such. Fast path: thousands of points per call.
        """
        ...

    def run_data(self, run_ids: Collection[str]) -> dict[str, RunData]:
        """Params, latest metrics and tags of each run; runs with none get an empty RunData."""
        ...

    def metric_history(self, run_id: str, key: str) -> list[MetricPoint]:
        """Every point of ``key`` in the run, by step, then time, then logging order."""
        ...

    def logged_artifacts(self, run_id: str) -> list[LoggedArtifact]:
        """By name."""
        ...

    def search_runs(self, query: RunQuery) -> list[RunRecord]:
        """Runs matching every condition, in the query's order, then newest first.

        Bad keys or operators the parser let through raise ConveyorError naming them.
        """
        ...

    def search_table(self, query: RunQuery) -> RunTable:
        """What ``search_runs`` finds, with the tracked values of each run, as plain rows: the
        fast path of a search shown as one table (run_data's records cost too much there)."""
        ...

    def child_runs(self, parent_id: str) -> list[RunRecord]:
        """Oldest first."""
        ...


class RegistryStore(Protocol):
    """Model versions, aliases with their full history, and gate decisions. Registering,
    moving an alias and recording a decision each write an audit entry in the same transaction
    (see AuditStore)."""

    def register_model_version(self, record: ModelVersionRecord) -> ModelVersionRecord:
        """Store ``record`` as the next version of its name (its ``version`` is ignored).

        The model's artifact must be in the metadata store already (``commit`` it first).
        Numbers are assigned atomically across threads and processes, as for datasets.
        """
        ...

    def get_model_version(self, name: str, version: int | None = None) -> ModelVersionRecord:
        """The version (None: the newest), or ModelNotFound naming the versions there are."""
        ...

    def list_model_versions(self, name: str) -> list[ModelVersionRecord]:
        """Oldest first; ModelNotFound when the name has no versions."""
        ...

    def list_models(self) -> list[ModelSummary]:
        """By name."""
        ...

    def aliases(self, name: str) -> dict[str, int]:
        """Alias -> version for the model (empty when it has none)."""
        ...

    def move_alias(self, move: AliasMove) -> AliasMove:
        """Point ``move.alias`` at ``move.version`` (None removes it) and append the move to the
        history, in one transaction. ``move.previous`` is filled in by the store from the state
        it replaced, as is ``seq``. The version must exist (ModelNotFound)."""
        ...

    def alias_history(self, name: str, alias: str | None = None) -> list[AliasMove]:
        """Moves of the model's aliases (or one alias), oldest first."""
        ...

    def record_gate_decision(self, decision: GateDecision) -> GateDecision:
        """Store the decision and return it with its id."""
        ...

    def gate_decisions(self, name: str, version: int | None = None) -> list[GateDecision]:
        """Oldest first."""
        ...


class MonitorStore(Protocol):
    """Monitor definitions, and every evaluation, alert and action with its figures."""

    def put_monitor(self, record: MonitorRecord) -> MonitorRecord:
        """Create or replace the monitor named ``record.name``; a replaced monitor keeps its
        ``created_at`` and its history. The name is checked like a dataset name."""
        ...

    def get_monitor(self, name: str) -> MonitorRecord:
        """The monitor, or MonitorNotFound naming the monitors there are."""
        ...

    def list_monitors(self) -> list[MonitorRecord]:
        """By name."""
        ...

    def delete_monitor(self, name: str) -> None:
        """Remove the definition (MonitorNotFound if absent); its history is kept."""
        ...

    def record_evaluation(
        self, evaluation: MonitorEvaluation, alerts: Sequence[MonitorAlert] = ()
    ) -> tuple[MonitorEvaluation, list[MonitorAlert]]:
        """Store the evaluation and the alerts it raised in one transaction; both come back
        with their ids (the alerts' ``evaluation_id`` filled in)."""
        ...

    def evaluations(self, monitor: str, limit: int = 100) -> list[MonitorEvaluation]:
        """The monitor's newest ``limit`` evaluations, newest first."""
        ...

    def latest_evaluations(self, models: Collection[str] | None = None) -> list[MonitorEvaluation]:
        """The newest evaluation of each monitor (of monitors watching these model names, when
        given), by monitor name: what a metrics endpoint exports."""
        ...

    def alerts(self, monitor: str | None = None, limit: int = 100) -> list[MonitorAlert]:
        """Newest first."""
        ...

    def record_action(self, action: MonitorAction) -> MonitorAction:
        """Store the action and return it with its id."""
        ...

    def actions(self, monitor: str, evaluation_id: int | None = None) -> list[MonitorAction]:
        """Oldest first."""
        ...


class ScheduleStore(Protocol):
    """Schedules, every fire with its outcome, the files a file trigger has seen, and the
    lease that lets one scheduler at a time run them."""

    def add_schedule(
        self, record: ScheduleRecord, seen_files: Collection[str] = ()
    ) -> ScheduleRecord:
        """Store a new schedule, and the files it is to treat as seen already, in one
        transaction. Its id and its name (when given) must be new (StoreError)."""
        ...

    def get_schedule(self, ref: str) -> ScheduleRecord:
        """The schedule with this id or name, or ScheduleNotFound naming the ones there are."""
        ...

    def list_schedules(self) -> list[ScheduleRecord]:
        """Oldest first."""
        ...

    def delete_schedule(self, ref: str) -> ScheduleRecord:
        """Remove the schedule (by id or name) and its seen files; its fires are kept."""
        ...

    def seen_files(self, schedule_id: str) -> set[str]: ...

    def record_fire(
        self,
        fire: ScheduleFire,
        *,
        handled_until: datetime | None = None,
        seen_files: Collection[str] = (),
    ) -> ScheduleFire:
        """Store the fire, move the schedule's ``handled_until`` (when given) and add the seen
        files, in one transaction, so a slot is never both handled and not recorded. The
        schedule must exist (ScheduleNotFound). Returns the fire with its id."""
        ...

    def update_fire(self, fire: ScheduleFire) -> ScheduleFire:
        """Replace the status, end, run id, reason, host and pid of the fire with ``fire.id``
        (StoreError if there is none); its schedule and times of due and start stay."""
        ...

    def fires(
        self, schedule_id: str | None = None, *, status: FireStatus | None = None, limit: int = 100
    ) -> list[ScheduleFire]:
        """Newest first; of one schedule and with one status when given."""
        ...

    def acquire_lease(
        self, lease: LeaseRecord, now: datetime, *, replacing: str | None = None
    ) -> LeaseRecord:
        """Take ``lease.name`` for ``lease.holder`` if nobody holds it, its lease expired by
        ``now``, or it is held by ``lease.holder`` or ``replacing`` (a holder known to be gone).
        Atomic across processes and hosts. Returns the lease in force afterwards: ``lease``
        when taken, otherwise the current holder's."""
        ...

    def renew_lease(self, name: str, holder: str, expires_at: datetime) -> bool:
        """Extend ``holder``'s lease; False if it no longer holds it."""
        ...

    def release_lease(self, name: str, holder: str) -> None:
        """Give the lease up if ``holder`` holds it; otherwise do nothing."""
        ...

    def get_lease(self, name: str) -> LeaseRecord | None: ...


class AuditStore(Protocol):
    """Who changed what, when, with the figures. The store writes an entry itself, in the same
    transaction, for every model version registered, alias moved, gate decided, and user or
    token changed; the actor is ``conveyor.core.current_actor()``."""

    def record_audit(self, entry: AuditEntry) -> AuditEntry:
        """Store an entry of a change made elsewhere; returns it with its id. An empty
        ``actor`` is filled in with ``current_actor()``."""
        ...

    def audit(
        self,
        *,
        actor: str | None = None,
        target: str | None = None,
        action: str | None = None,
        since: datetime | None = None,
        limit: int = 100,
    ) -> list[AuditEntry]:
        """The newest ``limit`` entries matching every filter given, newest first.

        ``target`` matches itself and, for a model's name, every version and alias of it
        (``churn`` matches ``churn@3`` and ``churn@production``); ``action`` matches itself and
        the actions under it (``alias`` matches ``alias.promote``); ``since`` keeps entries at
        or after it.
        """
        ...


class AccessStore(Protocol):
    """Users with their roles, and their API tokens (stored as hashes). Every change is audited
    in its own transaction (see AuditStore)."""

    def add_user(self, record: UserRecord) -> UserRecord:
        """Store a new user; a name that exists already is refused (StoreError)."""
        ...

    def get_user(self, name: str) -> UserRecord:
        """The user, or UserNotFound naming the users there are."""
        ...

    def list_users(self) -> list[UserRecord]:
        """By name."""
        ...

    def set_role(self, name: str, role: Role, *, at: datetime) -> UserRecord:
        """Give the user ``role``; returns the user as changed (UserNotFound if absent)."""
        ...

    def set_disabled(self, name: str, disabled: bool, *, at: datetime) -> UserRecord:
        """Disable (or enable again) the user; a disabled user's tokens are refused."""
        ...

    def remove_user(self, name: str, *, at: datetime) -> UserRecord:
        """Delete the user and their tokens; returns the user as it was. The audit log keeps
        everything they did."""
        ...

    def add_token(self, record: TokenRecord) -> TokenRecord:
        """Store a new token of an existing user (UserNotFound); its id and hash are new."""
        ...

    def token_by_hash(self, token_hash: str) -> TokenRecord | None:
        """The token whose secret hashes to ``token_hash``, revoked or not; None if none."""
        ...

    def list_tokens(self, user: str | None = None) -> list[TokenRecord]:
        """Every token (of ``user``, when given), oldest first."""
        ...

    def revoke_token(self, token_id: str, *, at: datetime) -> TokenRecord:
        """Revoke the token for good (TokenNotFound if absent); revoking it again changes
        nothing. Returns the token as revoked."""
        ...

    def touch_token(self, token_id: str, last_used_at: datetime) -> None:
        """Record a use of the token; an earlier time than the one stored is ignored. Not
        audited (TokenNotFound if absent)."""
        ...


class MetadataStore(
    TrackingStore, RegistryStore, MonitorStore, ScheduleStore, AccessStore, AuditStore, Protocol
):
    """Runs, step runs, artifacts and their lineage; named dataset versions; tracking; models.

    Every method is safe to call from several threads and several processes at once.
    """

    def create_run(self, run: RunRecord) -> None: ...

    def commit(self, batch: WriteBatch) -> None:
        """Write the batch in one transaction: artifacts if absent, step runs with their links."""
        ...

    def heartbeat(self, run_id: str, at: datetime) -> None: ...

    def finish_run(
        self, run_id: str, status: RunStatus, finished_at: datetime, error: str | None = None
    ) -> None: ...

    def get_run(self, run_id: str) -> RunRecord:
        """The run, or RunNotFound. A unique prefix of an id is accepted."""
        ...

    def list_runs(
        self, *, pipeline: str | None = None, status: RunStatus | None = None, limit: int = 50
    ) -> list[RunRecord]:
        """Newest first."""
        ...

    def step_runs(self, run_id: str) -> list[StepRunRecord]:
        """The run's step runs, with their input and output links, in the order they finished."""
        ...

    def find_cached(self, cache_key: str) -> StepRunRecord | None:
        """The newest succeeded step run with this key, or None."""
        ...

    def last_step_run(self, pipeline: str, step: str) -> StepRunRecord | None:
        """The newest succeeded or failed step run of ``step`` in ``pipeline`` that has a key."""
        ...

    def get_artifact(self, artifact_id: str) -> ArtifactRecord:
        """The artifact, or ArtifactNotFound. A unique prefix of an id is accepted."""
        ...

    def get_artifacts(self, artifact_ids: Collection[str]) -> dict[str, ArtifactRecord]:
        """The artifacts with these exact ids; ids not in the store are left out."""
        ...

    def producers(self, artifact_id: str) -> list[StepRunRecord]:
        """Succeeded or cached step runs that output the artifact, oldest first."""
        ...

    def register_dataset_version(
        self,
        name: str,
        artifact: ArtifactRecord,
        *,
        created_at: datetime,
        rows: int | None = None,
        run_id: str | None = None,
        description: str = "",
        meta: Mapping[str, object] | None = None,
    ) -> DatasetVersionRecord:
        """Record ``artifact`` (inserted if absent) as the next version of dataset ``name``.

        Numbers are assigned atomically: registrations of one name from several threads or
        processes at once get distinct, consecutive numbers. A name is 1-200 characters of
        letters, digits, ``_``, ``.`` and ``-``; anything else is a ConveyorError.
        """
        ...

    def get_dataset_version(self, name: str, version: int | None = None) -> DatasetVersionRecord:
        """The version (None: the newest), or DatasetNotFound naming the versions there are."""
        ...

    def list_dataset_versions(self, name: str | None = None) -> list[DatasetVersionRecord]:
        """Every version of ``name`` (None: of every dataset), by name, then oldest first."""
        ...

    def close(self) -> None: ...
