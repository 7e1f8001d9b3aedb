"""Reading the registry: models with their aliases, and the gate decisions of a model."""

from __future__ import annotations

from conveyor.core import Settings
from conveyor.engine import Workspace
from conveyor.store._tracking_records import GateDecision, ModelSummary


def list_models(*, settings: Settings | None = None) -> list[ModelSummary]:
    """Every registered model, by name: newest version, how many, aliases."""
    return Workspace.for_api(settings).metadata.list_models()


def aliases(name: str, *, settings: Settings | None = None) -> dict[str, int]:
    """Alias → version for the model."""
    store = Workspace.for_api(settings).metadata
    store.list_model_versions(name)  # ModelNotFound for an unknown model
    return store.aliases(name)


def decisions(
    name: str, version: int | None = None, *, settings: Settings | None = None
) -> list[GateDecision]:
    """The gate decisions taken on the model's versions (or one), oldest first."""
    return Workspace.for_api(settings).metadata.gate_decisions(name, version)
