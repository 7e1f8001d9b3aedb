"""Lineage: the graph of step runs and artifacts upstream of a run or an artifact.

Reads the metadata store through its port; renders nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from conveyor.core._errors import ArtifactNotFound, RunNotFound, StoreError
from conveyor.store import ArtifactRecord, MetadataStore, RunRecord, StepRunRecord


@dataclass
class Lineage:
    """Step runs and artifacts, with edges artifact → step run (input) and step run → artifact."""

    root: str
    run: RunRecord | None = None
    steps: dict[str, StepRunRecord] = field(default_factory=dict)
    artifacts: dict[str, ArtifactRecord] = field(default_factory=dict)

    def inputs_of(self, step_run_id: str) -> list[tuple[str, str]]:
        return [(link.name, link.artifact_id) for link in self.steps[step_run_id].inputs]

    def outputs_of(self, step_run_id: str) -> list[tuple[str, str]]:
        return [(link.name, link.artifact_id) for link in self.steps[step_run_id].outputs]

    def producer_of(
        self, artifact_id: str, consumer: StepRunRecord | None = None
    ) -> StepRunRecord | None:
        """The step run that produced the artifact a consumer read. Equal bytes share one
        artifact, so a step that passes its input through "produces" it again: the producer is
        the last one to finish before the consumer started, never the consumer itself."""
        candidates = [
            (step.finished_at, order, step)
            for order, step in enumerate(self.steps.values())
            if step is not consumer
            and any(link.artifact_id == artifact_id for link in step.outputs)
            and (
                consumer is None
                or step.finished_at <= consumer.started_at
                or step.run_id != consumer.run_id
            )
        ]
        return max(candidates, key=lambda c: c[:2])[2] if candidates else None


def lineage(store: MetadataStore, ref: str) -> Lineage:
    """Everything upstream of ``ref``: a run id (or unique prefix) or an artifact id."""
    if ref.startswith("sha256:"):
        return _of_artifact(store, ref)
    try:
        run = store.get_run(ref)
    except RunNotFound:
        try:
            return _of_artifact(store, ref)
        except (ArtifactNotFound, StoreError):
            raise RunNotFound(ref) from None
    graph = Lineage(root=run.id, run=run)
    frontier: list[str] = []
    for step in store.step_runs(run.id):
        graph.steps[step.id] = step
        for link in (*step.inputs, *step.outputs):
            frontier.append(link.artifact_id)
    _walk(store, graph, frontier)
    return graph


def _of_artifact(store: MetadataStore, ref: str) -> Lineage:
    artifact = store.get_artifact(ref)
    graph = Lineage(root=artifact.id)
    _walk(store, graph, [artifact.id])
    return graph


def _walk(store: MetadataStore, graph: Lineage, frontier: list[str]) -> None:
    while frontier:
        artifact_id = frontier.pop()
        if artifact_id in graph.artifacts:
            continue
        graph.artifacts[artifact_id] = store.get_artifact(artifact_id)
        if graph.producer_of(artifact_id) is not None:
            continue
        producers = store.producers(artifact_id)
        if producers:
            step = producers[0]
            graph.steps[step.id] = step
            frontier.extend(link.artifact_id for link in step.inputs)
