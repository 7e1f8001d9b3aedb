"""One HTTP route per metadata store method: what the server serves and the client calls.

A route names the method, its HTTP verb and path under ``/api/v1``, and the least role that may
call it. Arguments named in the path are path segments; the others are query parameters for
GET and DELETE, and fields of a JSON body otherwise. Arguments that may hold any text (a
pipeline, a step, a metric key, a schedule reference) travel in the query, never in the path.
The argument and return types are read from the ``MetadataStore`` protocol itself, so the API
cannot drift from the store.
"""

from __future__ import annotations

import inspect
import re
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Final, Literal

from conveyor.store._ports import MetadataStore

Role = Literal["viewer", "editor", "admin"]
Verb = Literal["GET", "POST", "PUT", "DELETE"]
PREFIX: Final = "/api/v1"
_PLACEHOLDER = re.compile(r"{(\w+)}")


@dataclass(frozen=True)
class Route:
    method: str  # the MetadataStore method
    verb: Verb
    path: str  # under PREFIX, with {placeholders} named as the method's arguments
    role: Role
    summary: str = ""
    tags: tuple[str, ...] = field(default=())

    @cached_property
    def signature(self) -> inspect.Signature:
        return inspect.signature(getattr(MetadataStore, self.method))

    @cached_property
    def hints(self) -> Mapping[str, Any]:
        """The type of each argument, and ``"return"``."""
        return typing.get_type_hints(getattr(MetadataStore, self.method))

    @cached_property
    def in_path(self) -> tuple[str, ...]:
        return tuple(_PLACEHOLDER.findall(self.path))

    @property
    def arguments(self) -> list[str]:
        return [p for p in self.signature.parameters if p != "self"]

    @property
    def in_body(self) -> bool:
        return self.verb in {"POST", "PUT"}

    def url(self, values: Mapping[str, object]) -> str:
        from urllib.parse import quote

        return PREFIX + _PLACEHOLDER.sub(
            lambda m: quote(str(values[m.group(1)]), safe=""), self.path
        )


def is_text(hint: object) -> bool:
    """Whether an argument of type ``hint`` is text (``str`` or ``str | None``): sent in a
    query as it is, where anything else is sent as JSON."""
    if hint is str:
        return True
    return isinstance(hint, types.UnionType) and set(typing.get_args(hint)) <= {str, type(None)}


def _routes(*rows: tuple[str, Verb, str, Role]) -> dict[str, Route]:
    return {method: Route(method, verb, path, role) for method, verb, path, role in rows}


ROUTES: Final[Mapping[str, Route]] = _routes(
    # runs, steps, artifacts' metadata, datasets
    ("create_run", "POST", "/runs", "editor"),
    ("commit", "POST", "/commits", "editor"),
    ("heartbeat", "POST", "/runs/{run_id}/heartbeat", "editor"),
    ("finish_run", "POST", "/runs/{run_id}/finish", "editor"),
    ("get_run", "GET", "/runs/{run_id}", "viewer"),
    ("list_runs", "GET", "/runs", "viewer"),
    ("step_runs", "GET", "/runs/{run_id}/steps", "viewer"),
    ("find_cached", "GET", "/step-runs/cached", "viewer"),
    ("last_step_run", "GET", "/step-runs/last", "viewer"),
    ("get_artifact", "GET", "/artifact-records/{artifact_id}", "viewer"),
    ("get_artifacts", "POST", "/artifact-records/lookup", "viewer"),
    ("producers", "GET", "/artifact-records/{artifact_id}/producers", "viewer"),
    ("register_dataset_version", "POST", "/datasets/{name}/versions", "editor"),
    ("get_dataset_version", "GET", "/datasets/{name}/version", "viewer"),
    ("list_dataset_versions", "GET", "/datasets", "viewer"),
    # tracking
    ("log_batch", "POST", "/tracking/batches", "editor"),
    ("run_data", "POST", "/tracking/run-data", "viewer"),
    ("metric_history", "GET", "/runs/{run_id}/metric-history", "viewer"),
    ("logged_artifacts", "GET", "/runs/{run_id}/logged-artifacts", "viewer"),
    ("search_runs", "POST", "/runs/search", "viewer"),
    ("search_table", "POST", "/runs/search-table", "viewer"),
    ("child_runs", "GET", "/runs/{parent_id}/children", "viewer"),
    # registry
    ("register_model_version", "POST", "/models/versions", "editor"),
    ("get_model_version", "GET", "/models/{name}/version", "viewer"),
    ("list_model_versions", "GET", "/models/{name}/versions", "viewer"),
    ("list_models", "GET", "/models", "viewer"),
    ("aliases", "GET", "/models/{name}/aliases", "viewer"),
    ("move_alias", "POST", "/models/alias-moves", "editor"),  # admin for a protected alias
    ("alias_history", "GET", "/models/{name}/alias-history", "viewer"),
    ("record_gate_decision", "POST", "/models/gate-decisions", "editor"),
    ("gate_decisions", "GET", "/models/{name}/gate-decisions", "viewer"),
    # monitors
    ("put_monitor", "PUT", "/monitors", "editor"),
    ("get_monitor", "GET", "/monitors/{name}", "viewer"),
    ("list_monitors", "GET", "/monitors", "viewer"),
    ("delete_monitor", "DELETE", "/monitors/{name}", "editor"),
    ("record_evaluation", "POST", "/monitor-evaluations", "editor"),
    ("evaluations", "GET", "/monitors/{monitor}/evaluations", "viewer"),
    ("latest_evaluations", "POST", "/monitor-evaluations/latest", "viewer"),
    ("alerts", "GET", "/alerts", "viewer"),
    ("record_action", "POST", "/monitor-actions", "editor"),
    ("actions", "GET", "/monitors/{monitor}/actions", "viewer"),
    # schedules
    ("add_schedule", "POST", "/schedules", "editor"),
    ("get_schedule", "GET", "/schedule", "viewer"),
    ("list_schedules", "GET", "/schedules", "viewer"),
    ("delete_schedule", "DELETE", "/schedule", "editor"),
    ("seen_files", "GET", "/schedule/seen-files", "viewer"),
    ("record_fire", "POST", "/schedule-fires", "editor"),
    ("update_fire", "PUT", "/schedule-fires", "editor"),
    ("fires", "GET", "/schedule-fires", "viewer"),
    ("acquire_lease", "POST", "/leases/acquire", "editor"),
    ("renew_lease", "POST", "/leases/{name}/renew", "editor"),
    ("release_lease", "POST", "/leases/{name}/release", "editor"),
    ("get_lease", "GET", "/leases/{name}", "viewer"),
    # users and tokens are an admin's, the audit log anyone's to read; a token's hash is
    # looked up only by the server itself, and audit entries are written by the store alone
    ("add_user", "POST", "/users", "admin"),
    ("get_user", "GET", "/users/{name}", "admin"),
    ("list_users", "GET", "/users", "admin"),
    ("set_role", "POST", "/users/{name}/role", "admin"),
    ("set_disabled", "POST", "/users/{name}/disabled", "admin"),
    ("remove_user", "DELETE", "/users/{name}", "admin"),
    ("add_token", "POST", "/tokens", "admin"),
    ("list_tokens", "GET", "/tokens", "admin"),
    ("revoke_token", "POST", "/tokens/{token_id}/revoke", "admin"),
    ("audit", "GET", "/audit", "viewer"),
)

# MetadataStore methods with no route
SERVER_ONLY: Final = ("token_by_hash", "touch_token", "record_audit", "close")
