"""``cv.register_model``: registering a model as a step of a pipeline, or by a direct call."""

from __future__ import annotations

from collections.abc import Mapping

from conveyor.authoring import step
from conveyor.data import register_materializer
from conveyor.registry._versions import ModelVersion, ModelVersionFormat, register

register_materializer(ModelVersionFormat())


# Cached like any step: a rerun whose model, figures and reference are unchanged keeps the
# version registered before instead of adding an identical one (--no-cache forces a new one).
@step(name="register_model")
def register_model(
    name: str,
    model: object,
    metrics: Mapping[str, float] | None = None,
    reference: object | None = None,
    description: str = "",
    flavor: str | None = None,
) -> ModelVersion:
    """Register ``model`` as the next version of ``name``; see ``cv.models.register``."""
    return register(
        name,
        model,
        metrics=metrics,
        reference=reference,
        description=description,
        flavor=flavor,
    )
