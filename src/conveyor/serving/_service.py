"""What the routes of every protocol share: the served models, their batchers, the metrics and
the prediction log, and the one path a request takes to a prediction.

A route parses its protocol's body into ``Rows`` and calls ``Service.predict``; the checks
against the signature, batching, metrics and logging happen here, the same for each protocol.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from conveyor.core import Settings
from conveyor.core._errors import ConveyorError
from conveyor.engine import Workspace
from conveyor.serving._batcher import Batcher, BatchStats, Prediction, PredictionFailed
from conveyor.serving._errors import ClientError
from conveyor.serving._metrics import ServingMetrics
from conveyor.serving._models import LoadedVersion, ServedModel, load_version
from conveyor.serving._monitor_metrics import monitor_metrics
from conveyor.serving._options import ServingOptions
from conveyor.serving._predlog import LoggedPrediction, PredictionLog
from conveyor.serving._rows import Rows, conform

log = logging.getLogger("conveyor.serving")


@dataclass(frozen=True, slots=True)
class Answer:
    served: ServedModel
    prediction: Prediction
    request_id: str


class Service:
    def __init__(
        self, refs: Sequence[str], options: ServingOptions, settings: Settings | None = None
    ) -> None:
        if not refs:
            raise ConveyorError("serve at least one model: NAME@ALIAS, NAME@VERSION or NAME")
        self.options = options
        self.workspace = Workspace.for_api(settings)
        self.metrics = ServingMetrics()
        self.models: dict[str, ServedModel] = {}
        for ref in refs:
            served = ServedModel.parse(ref)
            if served.name in self.models:
                raise ConveyorError(
                    f"{ref!r} and {self.models[served.name].ref!r} are the same model; "
                    "a server serves one reference per model name",
                    ref=ref,
                )
            self.models[served.name] = served
        self.metrics.add_computed(
            monitor_metrics(self.workspace.metadata, self.models, options.monitor_metrics_ttl_s)
        )
        self.batchers = {
            name: Batcher(
                name,
                max_batch_size=options.max_batch_size,
                max_latency_s=options.max_latency_ms / 1000,
                arriving=self._arriving_count,
                on_batch=self._batched,
            )
            for name in self.models
        }
        self.prediction_log = PredictionLog(
            self.workspace.settings.prediction_log_url,
            max_rows=options.prediction_log_rows,
            flush_seconds=options.prediction_log_flush_s,
            metrics=self.metrics,
            enabled=options.log_predictions,
        )
        self._scores = options.log_predictions and options.log_probabilities
        self._arriving = 0
        self._swap_locks = {name: asyncio.Lock() for name in self.models}

    # -- life cycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Load every model once; a model that fails stays unready and is retried by its
        watcher (see ``_swap``)."""
        self.prediction_log.start()
        await asyncio.gather(*(self.refresh(name, force=True) for name in self.models))

    async def stop(self) -> None:
        for batcher in self.batchers.values():
            await batcher.close()
        await asyncio.to_thread(self.prediction_log.close)

    @property
    def ready(self) -> bool:
        return all(m.current is not None for m in self.models.values())

    def not_ready(self) -> ClientError:
        """What a health check answers while a model is still loading."""
        waiting = [name for name, served in self.models.items() if served.current is None]
        return ClientError(
            503,
            "NotReady",
            f"not every model is loaded yet; waiting for {', '.join(waiting)}",
            models=waiting,
        )

    # -- the request path -------------------------------------------------------------------

    def model(
        self, name: str | None, *, how: str = "send the request to /models/NAME/predict"
    ) -> ServedModel:
        """The model a request is for; ``how`` tells a client that named none how to."""
        if name is None:
            if len(self.models) == 1:
                return next(iter(self.models.values()))
            raise ClientError(
                400,
                "ModelNotSpecified",
                f"this server serves {len(self.models)} models ({', '.join(self.models)}); {how}",
                models=list(self.models),
            )
        served = self.models.get(name)
        if served is None:
            raise ClientError(
                404,
                "ModelNotFound",
                f"no model {name!r} is served here; served: {', '.join(self.models)}",
                model=name,
                models=list(self.models),
            )
        return served

    def loaded(self, served: ServedModel, version: int | None = None) -> LoadedVersion:
        current = served.current
        if current is None:
            raise ClientError(
                503,
                "ModelNotReady",
                f"model {served.name!r} is not loaded yet"
                + (f": {served.problem}" if served.problem else ""),
                model=served.name,
            )
        if version is not None and version != current.version:
            raise ClientError(
                404,
                "VersionNotServed",
                f"model {served.name!r} serves version {current.version}, not {version}",
                model=served.name,
                version=version,
                served_version=current.version,
            )
        return current

    @contextmanager
    def arriving(self) -> Iterator[None]:
        """Marks a request being read, so batches wait for it (see ``Batcher``)."""
        self._arriving += 1
        try:
            yield
        finally:
            self._arriving -= 1

    def _arriving_count(self) -> int:
        return self._arriving

    async def predict(
        self,
        served: ServedModel,
        rows: Rows,
        *,
        protocol: str,
        request_id: str,
        received: float,
        proba: bool = False,
        version: int | None = None,
    ) -> Answer:
        loaded = self.loaded(served, version)
        if proba and not loaded.predictor.has_proba:
            raise ClientError(
                400,
                "ProbabilitiesNotAvailable",
                f"model {served.name!r} version {loaded.version} "
                f"({type(loaded.predictor.model).__name__}) gives no class probabilities",
                model=served.name,
            )
        rows = conform(rows, loaded.signature)
        try:
            prediction = await self.batchers[served.name].submit(
                loaded, rows, proba=proba, scores=self._scores and loaded.scored
            )
        except PredictionFailed as exc:
            if isinstance(exc.cause, ValueError | TypeError | KeyError | IndexError):
                raise ClientError(
                    422,
                    "PredictionFailed",
                    f"model {served.name!r} version {loaded.version} could not predict on "
                    f"this input: {exc}",
                    model=served.name,
                    version=loaded.version,
                ) from exc
            raise
        elapsed = time.perf_counter() - received
        self.prediction_log.add(
            LoggedPrediction(
                model=served.name,
                version=prediction.version,
                request_id=request_id,
                protocol=protocol,
                received_at=datetime.now(UTC) - timedelta(seconds=elapsed),
                latency_ms=elapsed * 1000,
                columns=rows.columns,
                rows=rows.rows,
                outputs=prediction.outputs,
                scores=prediction.scores,
                scored_class=loaded.classes[-1] if prediction.scores is not None else None,
            )
        )
        return Answer(served, prediction, request_id)

    def count(
        self, model: str, version: int | str, protocol: str, status: int, start: float
    ) -> None:
        self.metrics.requests.labels(model, str(version), protocol, str(status)).inc()
        self.metrics.latency.labels(model, protocol).observe(time.perf_counter() - start)

    def _batched(self, stats: BatchStats) -> None:
        current = self.models[stats.name].current
        self.metrics.batch(stats, current.classes if current is not None else ())

    # -- versions ---------------------------------------------------------------------------

    async def refresh(self, name: str, *, force: bool = False) -> dict[str, Any]:
        """Serve the version the model's reference points to now, if it is not served yet.

        The new version is loaded and tried on its sample off the event loop; only then does
        it replace the old one. A version that fails is remembered and not tried again until
        ``force`` (``POST /admin/reload``).
        """
        served = self.models[name]
        async with self._swap_locks[name]:
            try:
                target = await asyncio.to_thread(served.target, self.workspace)
            except ConveyorError as exc:
                served.problem = exc.message
                log.warning("cannot resolve %s: %s", served.ref, exc.message)
                return self._state(served, error=exc.message)
            current = served.current
            if current is not None and current.version == target:
                return self._state(served)
            if served.failed_version == target and not force:
                return self._state(served, error=served.problem)
            try:
                loaded = await asyncio.to_thread(load_version, self.workspace, name, target)
            except Exception as exc:  # any failure of the user's model keeps the old version
                message = exc.message if isinstance(exc, ConveyorError) else f"{exc!r}"
                served.failed_version, served.problem = target, message
                self.metrics.load_failures.labels(name, str(target)).inc()
                log.error(
                    "%s → version %s failed to load; %s",
                    served.ref,
                    target,
                    f"still serving version {current.version}" if current else "not serving",
                    exc_info=exc,
                )
                return self._state(served, error=message)
            served.current, served.failed_version, served.problem = loaded, None, None
            served.history.append(loaded.version)
            self.metrics.served(served.ref, loaded, current)
            if current is not None:
                served.swaps += 1
                self.metrics.swaps.labels(name).inc()
                log.info("%s: swapped version %s for %s", served.ref, current.version, target)
            else:
                log.info("%s: serving version %s", served.ref, target)
            return self._state(served, swapped=True)

    def _state(
        self, served: ServedModel, *, swapped: bool = False, error: str | None = None
    ) -> dict[str, Any]:
        current = served.current
        return {
            "model": served.name,
            "ref": served.ref,
            "version": None if current is None else current.version,
            "swapped": swapped,
            "error": error,
        }
