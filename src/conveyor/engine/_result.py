"""What ``Pipeline.run`` returns: the run's id, status, steps and (lazily loaded) outputs."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from conveyor.core._errors import RunFailed
from conveyor.engine._values import ValueStore
from conveyor.store import ArtifactRecord, StepRunRecord


@dataclass(frozen=True, slots=True)
class StepResult:
    name: str
    status: str  # "succeeded" | "failed" | "cached" | "skipped"
    duration: float
    error: str | None = None
    reason: str | None = None
    attempts: int = 0
    id: str = ""

    @property
    def cache_hit(self) -> bool:
        return self.status == "cached"

    @classmethod
    def from_record(cls, record: StepRunRecord) -> StepResult:
        return cls(
            name=record.step,
            status=record.status,
            duration=record.duration,
            error=record.error,
            reason=record.reason,
            attempts=record.attempts,
            id=record.id,
        )


class Outputs(Mapping[str, object]):
    """Step name → output value, loaded from the stores on first access."""

    def __init__(
        self,
        records: Mapping[str, tuple[ArtifactRecord, ...]],
        n_outputs: Mapping[str, int | None],
        kept: Mapping[str, object],
        values: ValueStore,
    ) -> None:
        self._records = {k: v for k, v in records.items() if v}
        self._n_outputs = n_outputs
        self._kept = dict(kept)
        self._values = values

    def __getitem__(self, name: str) -> object:
        try:
            records = self._records[name]
        except KeyError:
            raise KeyError(
                f"step {name!r} has no output in this run (it failed, was skipped, or is not "
                f"a step); outputs: {', '.join(self._records) or 'none'}"
            ) from None
        loaded = [self._load(r) for r in records]
        return tuple(loaded) if self._n_outputs.get(name) is not None else loaded[0]

    def _load(self, record: ArtifactRecord) -> object:
        if record.id not in self._kept:
            self._kept[record.id] = self._values.load(record)
        return self._kept[record.id]

    def __iter__(self) -> Iterator[str]:
        return iter(self._records)

    def __len__(self) -> int:
        return len(self._records)

    def artifact_ids(self, name: str) -> tuple[str, ...]:
        return tuple(r.id for r in self._records.get(name, ()))


class Run:
    """A finished run. ``status`` is "succeeded" or "failed"; ``outputs[step]`` is its value."""

    def __init__(
        self,
        *,
        id: str,
        pipeline: str,
        status: str,
        steps: list[StepResult],
        params: dict[str, object],
        records: Mapping[str, tuple[ArtifactRecord, ...]],
        n_outputs: Mapping[str, int | None],
        kept: Mapping[str, object],
        values: ValueStore,
    ) -> None:
        self.id = id
        self.pipeline = pipeline
        self.status = status
        self.steps = steps
        self.params = params
        self.outputs = Outputs(records, n_outputs, kept, values)

    @property
    def failed_steps(self) -> list[StepResult]:
        return [s for s in self.steps if s.status == "failed"]

    def step(self, name: str) -> StepResult:
        for result in self.steps:
            if result.name == name:
                return result
        raise KeyError(f"no step {name!r} in run {self.id}")

    def raise_for_status(self) -> Run:
        """Raise RunFailed naming the failed steps if the run failed; else return the run."""
        if self.status != "failed":
            return self
        failed = self.failed_steps
        text = "; ".join(f"{s.name}: {s.error}" for s in failed)
        raise RunFailed(
            f"run {self.id} failed at step {failed[0].name!r}: {failed[0].error}"
            if len(failed) == 1
            else f"run {self.id} failed: {text}",
            run_id=self.id,
            failed_steps=[s.name for s in failed],
        )

    def __repr__(self) -> str:
        return f"<Run {self.id} {self.pipeline} {self.status}, {len(self.steps)} steps>"
