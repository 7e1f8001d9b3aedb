"""An artifact and its lineage: what it is (type, size, schema, profile), which step runs
produced it, which read it, and a graph to walk upstream and downstream from it.

The store keeps who produced an artifact; who read it is found in the runs that produced it
(at most ``MAX_RUNS`` of them), which is where an artifact is passed from step to step.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from conveyor.core._errors import ConveyorError
from conveyor.data import Profile
from conveyor.engine import lineage
from conveyor.server._auth import Identity
from conveyor.server._ui._dag import lineage_graph
from conveyor.server._ui._graph import Layout
from conveyor.server._ui._render import render
from conveyor.server._ui._site import Site, context
from conveyor.store import ArtifactRecord, DatasetVersionRecord, MetadataStore, StepRunRecord

MAX_RUNS: Final = 20
PREVIEW_CHARS: Final = 4000


@dataclass(frozen=True)
class ArtifactPage:
    artifact: ArtifactRecord
    producers: list[StepRunRecord]
    consumers: list[StepRunRecord]
    graph: Layout
    datasets: list[DatasetVersionRecord]
    columns: list[tuple[str, str]]  # (name, dtype): the schema
    profile: Profile | None
    profile_problem: str
    preview: str  # a small JSON value, pretty-printed


def read_artifact(store: MetadataStore, ref: str) -> ArtifactPage:
    artifact = store.get_artifact(ref)
    producers = store.producers(artifact.id)
    consumers = [
        step
        for run_id in list(dict.fromkeys(p.run_id for p in producers))[:MAX_RUNS]
        for step in store.step_runs(run_id)
        if any(link.artifact_id == artifact.id for link in step.inputs)
    ]
    written = {link.artifact_id for step in consumers for link in step.outputs}
    graph = lineage_graph(
        artifact.id, lineage(store, artifact.id), consumers, store.get_artifacts(written)
    )
    profile, problem = _profile(artifact.meta)
    return ArtifactPage(
        artifact,
        producers,
        consumers,
        graph,
        [d for d in store.list_dataset_versions() if d.artifact_id == artifact.id],
        _columns(artifact.meta, profile),
        profile,
        problem,
        _preview(artifact),
    )


def _profile(meta: Mapping[str, object]) -> tuple[Profile | None, str]:
    stored = meta.get("profile")
    if not isinstance(stored, Mapping):
        return None, str(meta.get("profile_error", ""))
    try:
        return Profile.from_dict(stored), ""
    except ConveyorError as exc:
        return None, exc.message


def _columns(meta: Mapping[str, object], profile: Profile | None) -> list[tuple[str, str]]:
    dtypes = meta.get("dtypes")
    if isinstance(dtypes, Mapping):
        return [(str(name), str(dtype)) for name, dtype in dtypes.items()]
    if profile is not None:
        return [(name, column.dtype) for name, column in profile.columns.items()]
    return []


def _preview(artifact: ArtifactRecord) -> str:
    """A JSON value kept inline (a step's small output: scores, a config) as text."""
    if artifact.materializer != "json" or artifact.inline is None:
        return ""
    try:
        text = json.dumps(json.loads(artifact.inline), indent=2, sort_keys=True)
    except ValueError:
        return ""
    return text if len(text) <= PREVIEW_CHARS else text[:PREVIEW_CHARS] + "\n…"


def lineage_routes(site: Site) -> list[BaseRoute]:
    async def artifact_page(request: Request, identity: Identity) -> Response:
        ref = request.path_params["artifact_id"]
        page = await site.read(lambda store: read_artifact(store, ref))
        return render("artifact.html", context(request, identity, page=page, a=page.artifact))

    return [Route("/ui/artifacts/{artifact_id}", site.page(artifact_page), methods=["GET"])]
