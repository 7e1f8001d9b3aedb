"""The cache: find a step run whose key matches and whose outputs are still available, and
explain a miss. A collaborator of the runner, never a branch inside its loop.

Looking keys up one by one costs a query each, so the step runs of the pipeline's latest runs
are read up front in a few queries: an unchanged or slightly changed re-run then resolves
from memory, and only keys not seen there go to the store.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from conveyor.engine import _keys
from conveyor.engine._values import ValueStore
from conveyor.store import ArtifactRecord, MetadataStore, StepRunRecord

RECENT_RUNS = 1  # the latest run: enough for an unchanged or slightly changed re-run


@dataclass(frozen=True, slots=True)
class Hit:
    step_run: StepRunRecord
    outputs: tuple[ArtifactRecord, ...]


class Cache:
    def __init__(self, metadata: MetadataStore, values: ValueStore, pipeline: str) -> None:
        self._metadata = metadata
        self._values = values
        self._pipeline = pipeline
        self._by_key: dict[str, StepRunRecord] = {}
        self._last_by_step: dict[str, StepRunRecord] = {}
        self._artifacts: dict[str, ArtifactRecord] = {}
        self.first_run = False
        self._read_ahead()

    def _read_ahead(self) -> None:
        recent = self._metadata.list_runs(pipeline=self._pipeline, limit=RECENT_RUNS)
        # No earlier run: no step of this pipeline has run before, so a miss needs no query
        # for what changed since the last time.
        self.first_run = not recent
        for run in reversed(recent):  # oldest first, so newer step runs win
            for step_run in self._metadata.step_runs(run.id):
                if step_run.cache_key is None:
                    continue
                if step_run.status in ("succeeded", "cached"):
                    self._by_key[step_run.cache_key] = step_run
                if step_run.status in ("succeeded", "failed"):
                    self._last_by_step[step_run.step] = step_run
        ids = {link.artifact_id for s in self._by_key.values() for link in s.outputs}
        self._artifacts.update(self._metadata.get_artifacts(ids))

    def check(self, step: str, key: str, parts: Mapping[str, str]) -> Hit | str:
        """A verified hit (the step run with this key, its outputs all still readable), or why
        ``step`` must execute: what changed since it last ran."""
        step_run = self._by_key.get(key) or self._metadata.find_cached(key)
        if step_run is None:
            previous = self._last_by_step.get(step)
            if previous is None and not self.first_run:
                previous = self._metadata.last_step_run(self._pipeline, step)
            return _keys.explain_miss(parts, previous.key_parts if previous else None)
        return self._verified(step_run) or "cached outputs are missing from the artifact store"

    def _verified(self, step_run: StepRunRecord) -> Hit | None:
        missing = [
            link.artifact_id for link in step_run.outputs if link.artifact_id not in self._artifacts
        ]
        if missing:
            self._artifacts.update(self._metadata.get_artifacts(missing))
        try:
            outputs = tuple(self._artifacts[link.artifact_id] for link in step_run.outputs)
        except KeyError:
            return None
        if not all(self._values.is_available(record) for record in outputs):
            return None
        return Hit(step_run, outputs)
