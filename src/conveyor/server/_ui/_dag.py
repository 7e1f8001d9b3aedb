"""The graphs the UI draws: a run's steps joined by the artifacts they pass, and the lineage
around an artifact (upstream producers, downstream consumers).

Pure: store records in, ``_graph.Layout`` out. Equal bytes share one artifact, so a step that
passes an input through "produces" it again; the producer of a step's input is the step of the
same run that output it and finished last before the consumer started (the rule of
``engine.Lineage.producer_of``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from conveyor.engine import Lineage
from conveyor.server._ui._charts import seconds
from conveyor.server._ui._formats import segment, short
from conveyor.server._ui._graph import Layout, Node, layout
from conveyor.store import ArtifactRecord, StepRunRecord

MAX_NODES = 400  # a graph beyond this is unreadable, and slow to draw


def step_state(step: StepRunRecord) -> str:
    """``cached`` for a cache hit, else the step's status."""
    return "cached" if step.cached_from is not None else step.status


def step_edges(steps: Sequence[StepRunRecord]) -> list[tuple[str, str]]:
    """(producer step run id, consumer step run id) for every input made inside the run."""
    made_by: dict[str, list[StepRunRecord]] = {}
    for step in steps:
        for link in step.outputs:
            made_by.setdefault(link.artifact_id, []).append(step)
    edges = []
    for consumer in steps:
        for link in consumer.inputs:
            others = [s for s in made_by.get(link.artifact_id, ()) if s is not consumer]
            before = [s for s in others if s.finished_at <= consumer.started_at] or others
            if before:
                producer = max(before, key=lambda s: s.finished_at)
                edges.append((producer.id, consumer.id))
    return edges


def run_graph(steps: Sequence[StepRunRecord]) -> Layout:
    nodes = [
        Node(
            step.id,
            step.step,
            f"{step_state(step)} · {seconds(step.duration)}",
            step_state(step),
            f"#step-{segment(step.step)}",
            f"{step.step}: {step_state(step)}" + (f" ({step.reason})" if step.reason else ""),
        )
        for step in steps[:MAX_NODES]
    ]
    return layout(nodes, step_edges(steps))


def lineage_graph(
    root: str,
    upstream: Lineage,
    downstream: Iterable[StepRunRecord],
    artifacts: Mapping[str, ArtifactRecord],
) -> Layout:
    """The lineage around artifact ``root``: every step run and artifact upstream of it, and
    the step runs that read it with what they wrote."""
    readers = {s.id: s for s in downstream}
    steps = {**{s.id: s for s in upstream.steps.values()}, **readers}
    edges: set[tuple[str, str]] = set()
    seen: set[str] = set()
    for step in steps.values():
        # a reader's other inputs are not this artifact's lineage: only its edge from the root
        inputs = [i for i in step.inputs if step.id not in readers or i.artifact_id == root]
        for link in inputs:
            edges.add((link.artifact_id, step.id))
            seen.add(link.artifact_id)
        for link in step.outputs:
            edges.add((step.id, link.artifact_id))
            seen.add(link.artifact_id)
    known = {**upstream.artifacts, **artifacts}
    nodes = [_step_node(step) for step in steps.values()]
    nodes += [_artifact_node(a, known.get(a), a == root) for a in sorted(seen | {root})]
    if len(nodes) > MAX_NODES:  # keep the root and what is nearest it in the listing
        nodes = sorted(nodes, key=lambda n: n.id != root)[:MAX_NODES]
    return layout(nodes, sorted(edges))


def _step_node(step: StepRunRecord) -> Node:
    return Node(
        step.id,
        step.step,
        f"{step_state(step)} · {short(step.run_id, 8)}",
        step_state(step),
        f"/ui/runs/{segment(step.run_id)}#step-{segment(step.step)}",
        f"step {step.step} of run {step.run_id}",
    )


def _artifact_node(address: str, record: ArtifactRecord | None, is_root: bool) -> Node:
    kind = "root" if is_root else "artifact"
    if record is None:
        return Node(address, short(address), "", kind, f"/ui/artifacts/{segment(address)}")
    rows = f" · {record.rows:,} rows" if record.rows is not None else ""
    return Node(
        address,
        record.type_name.rsplit(".", 1)[-1],
        f"{short(address, 8)}{rows}",
        kind,
        f"/ui/artifacts/{segment(address)}",
        f"{record.type_name} ({record.materializer}) {address}",
    )
