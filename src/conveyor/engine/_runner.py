"""The run loop: start each step as soon as its inputs exist, reuse cached outputs, retry,
time out, skip what a failure cuts off, and hand finished steps to the recorder.

The loop runs on the caller's thread; attempts run on the executor. Key computation is in
``_keys``, loading and saving values in ``_values``, writing records in ``_recorder``.
"""

from __future__ import annotations

import collections
import contextlib
import functools
import heapq
import queue
import time
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from conveyor.core import (
    Gather,
    Graph,
    Literal,
    Node,
    OutputRef,
    RunContext,
    RunFinished,
    RunStarted,
    StepFinished,
    StepStarted,
    content_address,
    hash_parts,
    new_id,
)
from conveyor.core._errors import ExecutorLost, InsufficientResources, StepFailed, WorkerLost
from conveyor.data import MATERIALIZER_VERSION, Dataset, materialize
from conveyor.data._partitions import Partition
from conveyor.engine import _environment, _keys, _mapping, _tracking, _validation
from conveyor.engine._attempt import (
    ArgValue,
    GatherInput,
    Loaded,
    Outcome,
    Stored,
    Task,
    execute,
)
from conveyor.engine._caching import Cache
from conveyor.engine._fingerprint import fingerprint
from conveyor.engine._hooks import Hooks
from conveyor.engine._recorder import Recorder
from conveyor.engine._result import Run, StepResult
from conveyor.engine._workspace import Workspace
from conveyor.engine.executors import Executor, partition_executor
from conveyor.store import ArtifactLink, ArtifactRecord, AttemptRecord, StepRunRecord
from conveyor.store._records import AttemptStatus


@dataclass
class _Pending:
    node: Node
    key: str
    parts: dict[str, str]
    reason: str
    inputs: tuple[ArtifactLink, ...]
    input_records: tuple[ArtifactRecord, ...]
    started_at: datetime
    attempt: int = 1
    deadline: float | None = None
    future: Future[Outcome] | None = None
    errors: list[str] = field(default_factory=list)
    history: list[AttemptRecord] = field(default_factory=list)
    map_state: _MapState | None = None  # set on one partition of a mapped step
    index: int = -1  # which partition

    @property
    def name(self) -> str:
        if self.map_state is None:
            return self.node.name
        return _mapping.partition_name(self.node.name, self.index)


@dataclass
class _MapState:
    """A mapped step while its partitions run; ``step`` is the step's own record in the
    making, each partition has a ``_Pending`` of its own."""

    step: _Pending
    pieces: tuple[Partition, ...]
    call: _mapping.PartitionCall  # one object for all partitions: pickled once
    results: list[ArtifactRecord | None] = field(default_factory=list)
    outstanding: int = 0  # partitions to run that have not finished
    executed: int = 0
    failed: bool = False
    wall: float = 0.0
    cpu: float = 0.0
    peak_rss: int | None = None
    logs: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.results = [None] * len(self.pieces)


@dataclass
class _Slots:
    """An executor's workers as the runner hands them out. An attempt waits here until a
    worker is free, not in the executor's queue, so that its timeout and its recorded start
    count from when it can run. The exception: a partition of a map with no timeout may wait
    in the executor's queue, one per worker, so that a worker finishing one partition starts
    the next at once instead of waiting for the runner to hear of it and send another (its
    recorded start is when it ran). Executors that do not say how many workers they have
    (``workers``) take every attempt at once."""

    executor: Executor
    busy: int = 0  # attempts submitted whose futures have not completed
    waiting: collections.deque[_Pending] = field(default_factory=collections.deque)

    def takes(self, pending: _Pending) -> bool:
        """Whether ``pending`` may be submitted now."""
        workers: int | None = getattr(self.executor, "workers", None)
        if workers is None:
            return True
        queued = pending.map_state is not None and pending.node.spec.timeout is None
        return self.busy < (2 * workers if queued else workers)


class Runner:
    def __init__(
        self,
        workspace: Workspace,
        executor: Executor,
        hooks: Iterable[object] = (),
        no_cache: bool = False,
        partition_executor: Executor | None = None,
        partition_workers: int | None = None,
        parent_id: str | None = None,
        keep_executor: bool = False,
    ) -> None:
        self._ws = workspace
        self._executor = executor
        self._keep_executor = keep_executor  # the caller's to close (an object it passed in)
        self._hooks = Hooks(hooks)
        self._no_cache = no_cache
        executor.bind(workspace.values)
        # cv.map's partitions: the given executor, else worker processes started on first use
        self._partition_executor = partition_executor
        self._partition_workers = partition_workers
        self._parent_id = parent_id

    def run(
        self,
        graph: Graph,
        params: Mapping[str, object],
        targets: Sequence[str] | None = None,
        source: str = "",
    ) -> Run:
        selected = graph.select(targets) if targets else graph
        self._graph = selected
        order = selected.topological_order()
        self._run_id = new_id("run")
        started = time.perf_counter()
        self._cache = Cache(self._ws.metadata, self._ws.values, graph.name)
        parent = self._ws.metadata.get_run(self._parent_id) if self._parent_id else None
        self._ws.metadata.create_run(
            _environment.new_run(
                self._run_id,
                graph.name,
                params,
                source=source,
                targets=targets or (),
                parent=parent,
            )
        )
        self._recorder = Recorder(self._ws.metadata, self._run_id)
        _tracking.connect(self._run_id, self._recorder.track)
        self._hooks.emit(RunStarted(self._run_id, graph.name, order))
        self._outputs: dict[str, tuple[ArtifactRecord, ...]] = {}
        self._values: dict[str, object] = {}  # artifact id → value, while a consumer needs it
        self._consumers = selected.downstream()
        self._waiting = {name: len(self._consumers[name]) for name in order}
        self._missing = {name: set(selected.nodes[name].upstream()) for name in order}
        self._results: dict[str, StepResult] = {}
        self._running: dict[str, _Pending] = {}
        self._retries: list[tuple[float, str]] = []
        self._retrying: dict[str, _Pending] = {}
        self._done: queue.SimpleQueue[tuple[str, _Slots | None, Future[Outcome]]] = (
            queue.SimpleQueue()
        )
        self._step_slots = _Slots(self._executor)
        self._partition_slots: _Slots | None = None
        self._decoded = _mapping.DecodedCopies(
            selected, self._ws.settings.home / "scratch" / self._run_id
        )
        if self._executor.in_process and len(order) > 1:
            _import_table_engines()
        ready = [name for name in order if not self._missing[name]]
        status = "failed"
        try:
            self._loop(ready)
            failed = any(r.status == "failed" for r in self._results.values())
            status = "failed" if failed else "succeeded"
        finally:
            if not self._keep_executor:
                self._executor.shutdown()
            partitions = self._partition_executor
            if partitions is not None and partitions is not self._executor:
                partitions.shutdown()
            self._decoded.close()
            _tracking.disconnect(self._run_id)
            try:
                self._recorder.close()
            finally:
                error = self._first_error()
                self._ws.metadata.finish_run(self._run_id, status, _now(), error)  # type: ignore[arg-type]
                self._hooks.emit(RunFinished(self._run_id, status, time.perf_counter() - started))
        steps = [self._results[name] for name in order if name in self._results]
        return Run(
            id=self._run_id,
            pipeline=graph.name,
            status=status,
            steps=steps,
            params=dict(params),
            records={name: self._outputs.get(name, ()) for name in order},
            n_outputs={name: selected.nodes[name].spec.n_outputs for name in order},
            kept=dict(self._values),
            values=self._ws.values,
        )

    # -- the loop --------------------------------------------------------------------------

    def _loop(self, ready: list[str]) -> None:
        while True:
            while ready:
                self._start(ready.pop(0), ready)
            if not self._running and not self._retries and not self._queued():
                return
            wait = self._next_wakeup()
            try:
                name, slots, future = self._done.get(timeout=wait)
            except queue.Empty:
                self._expire(ready)
                continue
            pending = self._running.get(name)
            if pending is None or pending.future is not future:
                self._free(slots)
                continue  # a timed-out attempt finishing late: already failed
            del self._running[name]
            # The worker is free now: the next waiting attempt goes to it before this one's
            # outcome is recorded, which takes the loop a few milliseconds per partition.
            self._free(slots)
            outcome = _outcome_of(name, future)
            _note_attempt(pending, outcome)
            if outcome.tracked is not None:  # logged in a worker process
                self._recorder.track(*outcome.tracked)
            if pending.map_state is not None:
                self._partition_done(pending, outcome, ready)
            elif outcome.ok:
                self._succeeded(pending, outcome, ready)
            else:
                self._attempt_failed(pending, outcome.error or "failed", outcome, ready)
            self._expire(ready)

    def _queued(self) -> bool:
        """Whether an attempt waits for a worker. It may wait on a timed-out attempt, which
        has left ``_running`` but keeps its worker until it returns."""
        slots = (self._step_slots, self._partition_slots)
        return any(s is not None and s.waiting for s in slots)

    def _free(self, slots: _Slots | None) -> None:
        """A worker of ``slots`` is free again: start the next attempt waiting for one."""
        if slots is None:
            return  # an attempt run on the loop's own thread
        slots.busy -= 1
        while slots.waiting and slots.takes(slots.waiting[0]):
            slots.busy += 1
            self._launch(slots.waiting.popleft(), slots)

    def _next_wakeup(self) -> float | None:
        times = [p.deadline for p in self._running.values() if p.deadline is not None]
        if self._retries:
            times.append(self._retries[0][0])
        if not times:
            return None
        return max(0.0, min(times) - time.monotonic())

    def _expire(self, ready: list[str]) -> None:
        now = time.monotonic()
        for name, pending in list(self._running.items()):
            if pending.deadline is not None and now >= pending.deadline:
                del self._running[name]
                timeout = pending.node.spec.timeout
                error = f"StepTimeout: step {name!r} ran longer than its timeout of {timeout:g}s"
                pending.history.append(
                    AttemptRecord(pending.attempt, "", "timed out", float(timeout or 0), error)
                )
                if pending.map_state is not None:
                    self._partition_failed(pending, error, None, ready)
                else:
                    self._attempt_failed(pending, error, None, ready)
        while self._retries and self._retries[0][0] <= now:
            _, name = heapq.heappop(self._retries)
            self._submit(self._retrying.pop(name))

    # -- starting a step -------------------------------------------------------------------

    def _start(self, name: str, ready: list[str]) -> None:
        node = self._graph.nodes[name]
        inputs, input_records = self._input_links(node)
        parts = self._key_parts(node, inputs)
        key = _keys.key_of(parts)
        reason = self._check_cache(node, key, parts, inputs, ready)
        if reason is None:
            return
        if node.map_over is not None:
            self._start_map(node, key, parts, reason, inputs, input_records, ready)
            return
        pending = _Pending(node, key, parts, reason, inputs, input_records, _now())
        # Alone (nothing else ready, running or waiting to retry) and without a timeout, a step
        # may run on this thread: nothing else can start before it ends, and two thread
        # switches per step are most of the engine's cost on a chain of quick steps.
        alone = not ready and not self._running and not self._retries and not self._queued()
        self._submit(
            pending,
            inline=alone
            and self._executor.in_process
            and node.spec.timeout is None
            and node.spec.resources is None,
        )

    def _check_cache(
        self,
        node: Node,
        key: str,
        parts: dict[str, str],
        inputs: tuple[ArtifactLink, ...],
        ready: list[str],
    ) -> str | None:
        """None when the step was satisfied from the cache; else why it must execute."""
        if self._no_cache:
            return "caching disabled for this run (--no-cache)"
        if not node.spec.cache:
            return "caching is off for this step (cache=False)"
        found = self._cache.check(node.name, key, parts)
        if isinstance(found, str):
            return found
        self._cached(node, key, parts, inputs, found.step_run, found.outputs, ready)
        return None

    def _submit(self, pending: _Pending, inline: bool = False) -> None:
        if inline:
            self._launch(pending, None)
            return
        slots = self._step_slots if pending.map_state is None else self._slots_for_partitions()
        if not slots.waiting and slots.takes(pending):
            slots.busy += 1
            self._launch(pending, slots)
        else:
            slots.waiting.append(pending)

    def _slots_for_partitions(self) -> _Slots:
        if self._partition_slots is None:
            executor = self._partitions()
            same = executor is self._executor
            self._partition_slots = self._step_slots if same else _Slots(executor)
        return self._partition_slots

    def _launch(self, pending: _Pending, slots: _Slots | None) -> None:
        """Start the attempt: on ``slots``' executor, or on this thread when None."""
        node = pending.node
        spec = node.spec
        name = pending.name
        if pending.map_state is None:
            executor = self._executor
            task = Task(
                step=node.name,
                fn=_validation.wrap(spec),
                args=tuple(self._arg(i) for i in node.args),
                kwargs=tuple((k, self._arg(v)) for k, v in node.kwargs),
                n_outputs=spec.n_outputs,
                context=RunContext(
                    self._run_id,
                    self._graph.name,
                    node.name,
                    pending.attempt,
                    settings=self._ws.settings,
                    inputs=tuple((link.name, link.artifact_id) for link in pending.inputs),
                ),
                artifacts_url=self._ws.settings.artifacts,
                inline_limit=self._ws.settings.inline_limit,
                keep_values=self._executor.in_process,
                resources=spec.resources,
            )
        else:
            executor = self._partitions()
            task = self._partition_task(pending, executor)
        self._hooks.emit(StepStarted(self._run_id, name, pending.attempt))
        if spec.timeout is not None:
            pending.deadline = time.monotonic() + spec.timeout
        if slots is None:
            future: Future[Outcome] = Future()
            future.set_result(execute(task, self._ws.values))
        else:
            future = executor.submit(task)
        pending.future = future
        self._running[name] = pending
        future.add_done_callback(functools.partial(self._on_done, name, slots))

    def _on_done(self, name: str, slots: _Slots | None, future: Future[Outcome]) -> None:
        self._done.put((name, slots, future))

    def _arg(self, value: object) -> ArgValue:
        if isinstance(value, Literal):
            return Loaded(value.value)
        if isinstance(value, OutputRef):
            return self._from_output(value)
        if not isinstance(value, Gather):
            raise TypeError(f"unexpected step input {value!r}")
        items = tuple(
            Loaded(i.value) if isinstance(i, Literal) else self._value_or_record(self._one(i))
            for i in value.items
        )
        return GatherInput(items, value.as_tuple)

    def _one(self, ref: OutputRef) -> ArtifactRecord:
        return self._outputs[ref.step][ref.index or 0]

    def _from_output(self, ref: OutputRef) -> Stored | Loaded | GatherInput:
        records = self._outputs[ref.step]
        if ref.index is None and self._graph.nodes[ref.step].spec.n_outputs is not None:
            # the whole tuple: each element resolved where the step runs, like a gathered list
            return GatherInput(tuple(self._value_or_record(r) for r in records), as_tuple=True)
        return self._value_or_record(records[ref.index or 0])

    def _value_or_record(self, record: ArtifactRecord) -> Stored | Loaded:
        if self._executor.in_process and record.id in self._values:
            return Loaded(self._values[record.id])
        return Stored(record)

    # -- mapped steps (cv.map) -------------------------------------------------------------

    def _start_map(
        self,
        node: Node,
        key: str,
        parts: dict[str, str],
        reason: str,
        inputs: tuple[ArtifactLink, ...],
        input_records: tuple[ArtifactRecord, ...],
        ready: list[str],
    ) -> None:
        over = node.map_over
        assert over is not None
        try:
            value = self._input_value(node, over.input)
            dataset = _mapping.as_dataset(value, node.name, over.partitions)
            pieces = dataset.split(over.partitions).partitions
            if getattr(self._partitions(), "local", False):  # its workers see this disk
                pieces = self._decoded.wrap(node, pieces)
        except Exception as exc:  # an unreadable source fails this step, like a step's error
            pending = _Pending(node, key, parts, reason, inputs, input_records, _now())
            self._step_failed(pending, f"{type(exc).__name__}: {exc}", None, ready)
            return
        step = _Pending(node, key, parts, reason, inputs, input_records, _now())
        state = _MapState(step, pieces, _mapping.partition_call(node))
        self._hooks.emit(StepStarted(self._run_id, node.name, 1))
        for index, piece in enumerate(pieces):
            own = _mapping.partition_key_parts(parts, over, piece)
            own_key = _keys.key_of(own)
            name = _mapping.partition_name(node.name, index)
            own_reason = reason
            if not self._no_cache and node.spec.cache:
                found = self._cache.check(name, own_key, own)
                if not isinstance(found, str):
                    state.results[index] = found.outputs[0]
                    continue
                own_reason = "new partition" if found == _keys.FIRST_RUN else found
            pending = _Pending(node, own_key, own, own_reason, (), (), _now())
            pending.map_state, pending.index = state, index
            state.outstanding += 1
            self._submit(pending)
        if not state.outstanding:
            self._map_finished(state, ready)

    def _input_value(self, node: Node, input_name: str) -> object:
        value = dict(node.named_inputs())[input_name]
        if isinstance(value, Literal):
            return value.value
        if not isinstance(value, OutputRef):
            raise TypeError(f"cv.map cannot map over a list of outputs ({input_name})")
        record = self._one(value)
        if record.id in self._values:
            return self._values[record.id]
        return self._ws.values.load(record)

    def _partitions(self) -> Executor:
        if self._partition_executor is None:
            settings = self._ws.settings
            self._partition_executor = partition_executor(
                self._executor, settings.artifacts, self._partition_workers or settings.workers
            )
        return self._partition_executor

    def _partition_task(self, pending: _Pending, executor: Executor) -> Task:
        state = pending.map_state
        assert state is not None
        assert state.step.node.map_over is not None
        node = pending.node
        over = state.step.node.map_over
        piece = Loaded(Dataset([state.pieces[pending.index]]))

        def arg(name: str, value: object) -> ArgValue:
            return piece if name == over.input else self._arg(value)

        return Task(
            step=pending.name,
            fn=state.call,
            args=tuple(arg(f"arg{i}", v) for i, v in enumerate(node.args)),
            kwargs=tuple((k, arg(k, v)) for k, v in node.kwargs),
            n_outputs=None,
            context=RunContext(
                self._run_id,
                self._graph.name,
                pending.name,
                pending.attempt,
                settings=self._ws.settings,
            ),
            artifacts_url=self._ws.settings.artifacts,
            inline_limit=self._ws.settings.inline_limit,
            keep_values=False,  # parts stay in the artifact store: memory holds one at a time
            as_files=True,  # written by the worker, in parallel, not copied there by the runner
            resources=node.spec.resources,
        )

    def _partition_done(self, pending: _Pending, outcome: Outcome, ready: list[str]) -> None:
        state = pending.map_state
        assert state is not None
        if not outcome.ok:
            self._partition_failed(pending, outcome.error or "failed", outcome, ready)
            return
        state.outstanding -= 1
        state.executed += 1
        state.results[pending.index] = outcome.outputs[0]
        state.wall += outcome.wall
        state.cpu += outcome.cpu
        if outcome.peak_rss is not None:
            state.peak_rss = max(state.peak_rss or 0, outcome.peak_rss)
        if outcome.logs:
            state.logs.append(f"[{pending.name}] {outcome.logs}")
        if not state.failed:
            record = self._step_record(pending, "succeeded", outcome)
            self._recorder.record(record, outcome.outputs)
        if not state.outstanding and not state.failed:
            self._map_finished(state, ready)

    def _partition_failed(
        self, pending: _Pending, error: str, outcome: Outcome | None, ready: list[str]
    ) -> None:
        state = pending.map_state
        assert state is not None
        pending.errors.append(error)
        if not state.failed and _retryable(outcome) and self._retry(pending):
            return
        state.outstanding -= 1
        if state.failed:
            return  # the step already failed on another partition
        state.failed = True
        slots = self._partition_slots
        if slots is not None:  # partitions still waiting for a worker never start
            slots.waiting = collections.deque(p for p in slots.waiting if p.map_state is not state)
        piece = state.pieces[pending.index]
        error = f"{error} (partition {pending.index}: {piece.source})"
        for name, other in list(self._running.items()):
            if other.map_state is state:
                del self._running[name]  # its result, when it comes, is ignored
        state.step.errors = [*pending.errors[:-1], error]
        state.step.attempt = pending.attempt
        record = self._step_record(state.step, "failed", outcome, error=error)
        self._recorder.record(record)
        self._finish(state.step.node.name, record, ready)
        self._skip_downstream(state.step.node.name)

    def _map_finished(self, state: _MapState, ready: list[str]) -> None:
        values = self._ws.values
        try:
            dataset = _mapping.parts_dataset(state.results, values.artifacts, values.load)
            output = values.save(dataset)
        except Exception as exc:
            self._step_failed(state.step, f"{type(exc).__name__}: {exc}", None, ready)
            return
        name = state.step.node.name
        self._outputs[name] = (output,)
        if self._executor.in_process:
            self._values[output.id] = dataset
        cached = len(state.pieces) - state.executed
        if cached:
            state.step.reason += (
                f"; {state.executed} of {len(state.pieces)} partitions ran, {cached} cached"
            )
        outcome = Outcome(
            step=name,
            ok=True,
            outputs=(output,),
            logs="\n".join(state.logs)[-20_000:],
            wall=state.wall,
            cpu=state.cpu,
            peak_rss=state.peak_rss,
        )
        record = self._step_record(state.step, "succeeded", outcome)
        self._recorder.record(record, (output,))
        self._finish(name, record, ready)

    # -- keys ------------------------------------------------------------------------------

    def _input_links(
        self, node: Node
    ) -> tuple[tuple[ArtifactLink, ...], tuple[ArtifactRecord, ...]]:
        links: list[ArtifactLink] = []
        records: list[ArtifactRecord] = []
        for name, value in node.named_inputs():
            refs: list[tuple[str, OutputRef]] = []
            if isinstance(value, OutputRef):
                refs.append((name, value))
            elif isinstance(value, Gather):
                refs.extend(
                    (f"{name}[{i}]", item)
                    for i, item in enumerate(value.items)
                    if isinstance(item, OutputRef)
                )
            for link_name, ref in refs:
                outputs = self._outputs[ref.step]
                chosen = outputs if ref.index is None else (outputs[ref.index],)
                for position, record in enumerate(chosen):
                    suffix = f".{position}" if len(chosen) > 1 else ""
                    links.append(ArtifactLink(link_name + suffix, record.id))
                    records.append(record)
        return tuple(links), tuple(records)

    def _key_parts(self, node: Node, inputs: tuple[ArtifactLink, ...]) -> dict[str, str]:
        spec = node.spec
        parts = {
            _keys.CODE: fingerprint(spec.fn),
            _keys.VERSION: spec.version or "",
            _keys.MATERIALIZER: MATERIALIZER_VERSION,
            _keys.OUTPUTS: str(spec.n_outputs),
        }
        validation = _validation.key_part(spec)
        if validation is not None:
            parts[_keys.VALIDATION] = validation
        for name, value in node.named_inputs():
            if isinstance(value, Literal):
                # a dataset given in the pipeline body is data, not a setting
                prefix = _keys.INPUT if isinstance(value.value, Dataset) else _keys.PARAM
                parts[prefix + name] = _literal_hash(value.value)
            elif isinstance(value, Gather):
                literals = [_literal_hash(i.value) for i in value.items if isinstance(i, Literal)]
                if literals:
                    parts[_keys.PARAM + name] = hash_parts(literals)
        for link in inputs:
            parts[_keys.INPUT + link.name] = link.artifact_id
        return parts

    # -- finishing a step ------------------------------------------------------------------

    def _succeeded(self, pending: _Pending, outcome: Outcome, ready: list[str]) -> None:
        name = pending.node.name
        outputs = outcome.outputs
        self._outputs[name] = outputs
        # keep values in memory while a consumer still needs them, and a final step's for
        # Run.outputs; everything else is loaded from the stores on demand
        if outcome.values is not None and (self._waiting[name] or not self._consumers[name]):
            for artifact, value in zip(outputs, outcome.values, strict=True):
                self._values[artifact.id] = value
        record = self._step_record(pending, "succeeded", outcome)
        self._recorder.record(record, outputs)
        self._finish(name, record, ready)

    def _cached(
        self,
        node: Node,
        key: str,
        parts: dict[str, str],
        inputs: tuple[ArtifactLink, ...],
        hit: StepRunRecord,
        records: tuple[ArtifactRecord, ...],
        ready: list[str],
    ) -> None:
        now = _now()
        self._outputs[node.name] = records
        record = StepRunRecord(
            id=new_id("step"),
            run_id=self._run_id,
            step=node.name,
            status="cached",
            started_at=now,
            finished_at=now,
            cache_key=key,  # key_parts stay with the step run that executed (cached_from)
            cached_from=hit.cached_from or hit.id,
            rows_out=_sum_rows(records),
            bytes_out=sum(r.size for r in records),
            inputs=inputs,
            outputs=hit.outputs,
        )
        self._recorder.record(record)
        self._finish(node.name, record, ready)

    def _attempt_failed(
        self, pending: _Pending, error: str, outcome: Outcome | None, ready: list[str]
    ) -> None:
        pending.errors.append(error)
        if _retryable(outcome) and self._retry(pending):
            return
        self._step_failed(pending, error, outcome, ready, counted=True)

    def _step_failed(
        self,
        pending: _Pending,
        error: str,
        outcome: Outcome | None,
        ready: list[str],
        counted: bool = False,
    ) -> None:
        """Record the step as failed, with no further attempt (a mapped step's own work, as
        opposed to its partitions, is not retried: it would call the function on the whole
        dataset)."""
        name = pending.node.name
        if not counted:
            pending.errors.append(error)
        record = self._step_record(pending, "failed", outcome, error=error)
        self._recorder.record(record)
        self._finish(name, record, ready)
        self._skip_downstream(name)

    def _retry(self, pending: _Pending) -> bool:
        """Schedule another attempt if the step has retries left."""
        spec = pending.node.spec
        if pending.attempt > spec.retries:
            return False
        delay = spec.retry_delay * 2 ** (pending.attempt - 1)
        pending.attempt += 1
        self._retrying[pending.name] = pending
        heapq.heappush(self._retries, (time.monotonic() + delay, pending.name))
        return True

    def _skip_downstream(self, failed: str) -> None:
        stack = list(self._consumers[failed])
        while stack:
            name = stack.pop()
            if name in self._results:
                continue
            now = _now()
            record = StepRunRecord(
                id=new_id("step"),
                run_id=self._run_id,
                step=name,
                status="skipped",
                started_at=now,
                finished_at=now,
                reason=f"upstream step {failed!r} failed",
            )
            self._recorder.record(record)
            self._results[name] = StepResult.from_record(record)
            self._hooks.emit(StepFinished(self._run_id, name, "skipped", 0.0, False))
            stack.extend(self._consumers[name])

    def _finish(self, name: str, record: StepRunRecord, ready: list[str]) -> None:
        self._results[name] = StepResult.from_record(record)
        self._hooks.emit(
            StepFinished(
                self._run_id,
                name,
                record.status,
                record.duration,
                record.status == "cached",
                record.error,
                record.reason,
            )
        )
        for upstream in self._graph.nodes[name].upstream():
            self._waiting[upstream] -= 1
            if self._waiting[upstream] == 0 and self._consumers[upstream]:
                for done in self._outputs.get(upstream, ()):
                    self._values.pop(done.id, None)  # no consumer left: free the memory
        if record.status in ("succeeded", "cached"):
            for consumer in self._consumers[name]:
                missing = self._missing[consumer]
                missing.discard(name)
                if not missing and consumer not in self._results:
                    ready.append(consumer)

    def _step_record(
        self, pending: _Pending, status: str, outcome: Outcome | None, error: str | None = None
    ) -> StepRunRecord:
        outputs = outcome.outputs if outcome is not None and outcome.ok else ()
        errors = pending.errors
        if len(errors) > 1:
            error = (
                f"{errors[-1]} (after {len(errors)} attempts; earlier: {'; '.join(errors[:-1])})"
            )
        finished = _now()
        started = pending.started_at
        if outcome is not None and pending.attempt == 1:
            # a step queued behind others (the partitions of a map) started when a worker
            # took it, not when it was submitted
            started = max(started, finished - timedelta(seconds=outcome.wall))
        return StepRunRecord(
            id=new_id("step"),
            run_id=self._run_id,
            step=pending.name,
            status=status,  # type: ignore[arg-type]
            started_at=started,
            finished_at=finished,
            cache_key=pending.key,
            key_parts=pending.parts,
            reason=pending.reason,
            attempts=pending.attempt,
            duration=outcome.wall if outcome else 0.0,
            cpu_seconds=outcome.cpu if outcome else 0.0,
            peak_rss_bytes=outcome.peak_rss if outcome else None,
            rows_in=_sum_rows(pending.input_records),
            rows_out=_sum_rows(outputs),
            bytes_in=sum(r.size for r in pending.input_records),
            bytes_out=sum(r.size for r in outputs),
            error=error,
            traceback=outcome.traceback if outcome else None,
            logs=outcome.logs if outcome else "",
            inputs=pending.inputs,
            attempt_log=tuple(pending.history),
            outputs=tuple(
                ArtifactLink(
                    "out" if len(outputs) == 1 and pending.node.spec.n_outputs is None else str(i),
                    r.id,
                )
                for i, r in enumerate(outputs)
            ),
        )

    def _first_error(self) -> str | None:
        for result in self._results.values():
            if result.status == "failed":
                return f"step {result.name!r} failed: {result.error}"
        return None


def _import_table_engines() -> None:
    """Import polars before steps run on threads. Storing a table imports it on first use
    (profiles are computed with it), and libraries such as scikit-learn look it up in
    sys.modules without the import lock: a step on another thread would find it half
    initialised and fail."""
    with contextlib.suppress(ImportError):
        import polars  # noqa: F401


def _outcome_of(name: str, future: Future[Outcome]) -> Outcome:
    try:
        return future.result()
    except WorkerLost as exc:  # a distributed executor's worker died running it
        worker = str(exc.details.get("worker", ""))
        return Outcome(step=name, ok=False, error=f"WorkerLost: {exc}", worker=worker, lost=True)
    except (InsufficientResources, ExecutorLost) as exc:  # another attempt would meet the same
        return Outcome(step=name, ok=False, error=f"{type(exc).__name__}: {exc}", retryable=False)
    except StepFailed as exc:  # the executor could not run it; its worker is fine
        return Outcome(step=name, ok=False, error=f"{type(exc).__name__}: {exc}")
    except BaseException as exc:  # the worker itself died (e.g. a process killed by the OS)
        error = f"worker failed: {type(exc).__name__}: {exc}"
        return Outcome(step=name, ok=False, error=error, lost=True)


def _note_attempt(pending: _Pending, outcome: Outcome) -> None:
    status: AttemptStatus = "succeeded"
    if not outcome.ok:
        status = "worker lost" if outcome.lost else "failed"
    error = None if outcome.ok else outcome.error
    pending.history.append(
        AttemptRecord(pending.attempt, outcome.worker, status, outcome.wall, error)
    )


def _retryable(outcome: Outcome | None) -> bool:
    return outcome is None or outcome.retryable


def _literal_hash(value: object) -> str:
    if value is None or type(value) in (int, str, bool):
        return content_address(repr(value).encode())
    return content_address(materialize(value).data)


def _sum_rows(records: Iterable[ArtifactRecord]) -> int | None:
    rows = [r.rows for r in records if r.rows is not None]
    return sum(rows) if rows else None


def _now() -> datetime:
    return datetime.now(UTC)
