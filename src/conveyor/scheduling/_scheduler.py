"""The scheduler: on each tick, start the pipeline runs and monitor evaluations that are due,
and record what became of the runs it started.

Everything it needs to go on after a restart is in the store: each schedule's last handled due
time, the files each file trigger has seen, and the fires still running. A due time is marked
handled in the same transaction that records its fire, before the run starts, so a crash can
lose a run but never repeat one. Time comes from an injected clock and processes from an
injected launcher, so tests drive it tick by tick. Waiting and signals are ``_serve``'s.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from conveyor.core._errors import ConveyorError, SchedulerError
from conveyor.engine import is_crashed
from conveyor.scheduling import _files
from conveyor.scheduling._due import due, when
from conveyor.scheduling._launch import Launcher, Process
from conveyor.scheduling._lease import Lease, process_alive
from conveyor.scheduling._monitors import Evaluate, MonitorTicker
from conveyor.scheduling._outcome import exit_outcome, find_run, run_outcome
from conveyor.scheduling._triggers import time_trigger
from conveyor.store import FireStatus, MetadataStore, RunRecord, ScheduleFire, ScheduleRecord

MIN_GRACE = timedelta(seconds=60)
MIN_LEASE_SECONDS = 30.0
KILL_AFTER = 10.0  # seconds a terminated pipeline gets to exit before it is killed


def grace_for(poll: float) -> timedelta:
    """How late a due time may be seen and still count as on time: a minute, or two polls."""
    return max(MIN_GRACE, timedelta(seconds=2 * poll))


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(slots=True)
class _Active:
    """A fire whose pipeline is running."""

    schedule_id: str
    label: str
    pipeline: str  # "" when the schedule was removed and its pipeline is unknown
    fire: ScheduleFire
    process: Process | None  # None: started by an earlier scheduler, watched by pid and run


class Scheduler:
    """Runs a store's schedules and monitors: ``start`` once, ``tick`` every poll, then
    ``drain`` and ``close``."""

    def __init__(
        self,
        store: MetadataStore,
        launcher: Launcher,
        *,
        evaluate_monitor: Evaluate | None = None,
        clock: Callable[[], datetime] = utc_now,
        poll: float = 5.0,
        lease_seconds: float | None = None,
        log: Callable[[str], None] = lambda _line: None,
        host: str | None = None,
        pid: int | None = None,
        is_alive: Callable[[int], bool] = process_alive,
    ) -> None:
        self._store = store
        self._launcher = launcher
        self._clock = clock
        self.poll = poll
        self._grace = grace_for(poll)
        self.log = log
        self._is_alive = is_alive
        # The lease outlives three polls, so one slow poll never loses it.
        seconds = lease_seconds if lease_seconds is not None else max(MIN_LEASE_SECONDS, 3 * poll)
        self._lease = Lease(store, clock, seconds, host=host, pid=pid, is_alive=is_alive)
        self.host = self._lease.host
        self._monitors = (
            None if evaluate_monitor is None else MonitorTicker(store, evaluate_monitor, log)
        )
        self._active: dict[str, _Active] = {}  # by schedule id
        self._seen: dict[str, set[str]] = {}  # by schedule id: the store's, cached
        self._broken: set[str] = set()  # schedules whose stored trigger cannot be read
        self.stopping = False
        self._renewed = time.monotonic()

    # -- the life cycle -----------------------------------------------------------------

    def start(self) -> None:
        """Take the lease (SchedulerError naming the holder if another scheduler has it) and
        take over the fires an earlier scheduler left running."""
        self._lease.acquire()
        self.log(f"scheduler started (pid {self._lease.pid} on {self.host})")
        try:
            self._adopt(self._clock())
        except BaseException:
            self._lease.release()
            raise

    def tick(self) -> None:
        """Renew the lease (SchedulerError if it was lost), record the runs that ended, then
        start what is due. A schedule that cannot be handled is logged and left for the next
        tick; it never stops the others."""
        self._renew()
        now = self._clock()
        self._reap(now)
        if self.stopping:
            return
        schedules = self._store.list_schedules()
        for schedule in schedules:
            try:
                self._consider(schedule, now)
            except Exception as exc:  # one bad schedule (or glob, or launch) must not stop all
                self.log(f"schedule {_label(schedule)}: {_text(exc)}")
        self._forget_all_but(schedules)
        if self._monitors is not None:
            try:
                self._monitors.tick(now)
            except Exception as exc:
                self.log(f"monitors: {_text(exc)}")

    def running(self) -> list[ScheduleFire]:
        """The fires whose pipelines are running now."""
        return [active.fire for active in self._active.values()]

    def has_work(self) -> bool:
        """Whether pipelines this scheduler started, or monitor evaluations, are still going."""
        own = any(a.process is not None for a in self._active.values())
        return own or (self._monitors is not None and self._monitors.busy())

    def reap(self) -> None:
        """Start nothing more; record the runs that ended, keeping the lease (renewed once a
        poll) while waiting for the rest."""
        self.stopping = True
        if self._lease.held and time.monotonic() - self._renewed >= self.poll:
            try:
                self._renew()
            except SchedulerError as exc:
                self.log(f"error: {exc}")
        self._reap(self._clock())

    def terminate(self, sleep: Callable[[float], None] = time.sleep) -> None:
        """Stop the pipelines this scheduler started: SIGTERM, then SIGKILL after
        ``KILL_AFTER`` seconds; each fire is recorded as failed, stopped with the scheduler."""
        children = [a.process for a in self._active.values() if a.process is not None]
        if children:
            self.log(f"stopping {len(children)} run(s) that did not end in time")
        for child in children:
            child.terminate()
        waited = 0.0
        while waited < KILL_AFTER and any(c.poll() is None for c in children):
            sleep(0.1)
            waited += 0.1
        for child in children:
            child.kill()
        for _ in range(50):  # a killed process is reaped within moments
            if all(c.poll() is not None for c in children):
                break
            sleep(0.1)
        now = self._clock()
        for active in list(self._active.values()):
            if active.process is None:  # an adopted run is left to the next scheduler
                continue
            code = active.process.poll()
            status, reason = exit_outcome(-9 if code is None else code, "")
            if status == "failed":
                reason = f"stopped with the scheduler ({reason})"
            try:
                self._finish(active, now, status, reason)
            except ConveyorError as exc:  # the next scheduler settles it from its run
                self.log(f"schedule {active.label}: could not record fire {active.fire.id}: {exc}")

    def wait_for_monitors(self, timeout: float | None) -> None:
        """Wait up to ``timeout`` seconds for the monitor evaluations running now."""
        if self._monitors is not None:
            self._monitors.wait(timeout)

    def close(self) -> None:
        """Give the lease up. Evaluations still running are abandoned with the process."""
        self._lease.release()
        self.log("scheduler stopped")

    # -- deciding -----------------------------------------------------------------------

    def _consider(self, schedule: ScheduleRecord, now: datetime) -> None:
        if schedule.trigger == "files":
            self._consider_files(schedule, now)
            return
        try:
            trigger = time_trigger(schedule)
        except SchedulerError as exc:
            if schedule.id not in self._broken:
                self._broken.add(schedule.id)
                self.log(f"schedule {_label(schedule)} is ignored: {exc}")
            return
        since = schedule.handled_until or schedule.created_at
        decision = due(trigger, since=since, now=now, missed=schedule.missed, grace=self._grace)
        if decision is None:
            return
        if not decision.run:
            self._skip(schedule, now, decision.at, decision.reason)
            return
        active = self._active.get(schedule.id)
        if active is not None:
            busy = (
                f"the previous run is still going (fire {active.fire.id}, started "
                f"{when(active.fire.started_at)}, pid {active.fire.pid})"
            )
            self._skip(schedule, now, decision.at, _join(busy, decision.reason))
            return
        self._start(schedule, now, decision.at, decision.reason, handled_until=decision.at)

    def _consider_files(self, schedule: ScheduleRecord, now: datetime) -> None:
        # Files that arrive during a run stay unseen, so they start the next run when this
        # one ends instead of being skipped: unlike a due time, they do not come round again.
        if schedule.id in self._active:
            return
        seen = self._seen.get(schedule.id)
        if seen is None:
            seen = self._seen[schedule.id] = self._store.seen_files(schedule.id)
        new = _files.new_files(schedule.spec, schedule.workdir, seen)
        if not new:
            return
        reason = _files.describe_new(new, schedule.workdir)
        self._start(schedule, now, now, reason, seen_files=new)
        seen.update(new)

    # -- acting -------------------------------------------------------------------------

    def _skip(self, schedule: ScheduleRecord, now: datetime, at: datetime, reason: str) -> None:
        fire = ScheduleFire(
            schedule.id, at, "skipped", now, finished_at=now, reason=reason, host=self.host
        )
        self._store.record_fire(fire, handled_until=at)
        self.log(f"schedule {_label(schedule)}: skipped {when(at)}: {reason}")

    def _start(
        self,
        schedule: ScheduleRecord,
        now: datetime,
        at: datetime,
        reason: str,
        *,
        handled_until: datetime | None = None,
        seen_files: Iterable[str] = (),
    ) -> None:
        fire = self._store.record_fire(
            ScheduleFire(schedule.id, at, "running", now, reason=reason, host=self.host),
            handled_until=handled_until,
            seen_files=list(seen_files),
        )
        active = _Active(schedule.id, _label(schedule), schedule.pipeline, fire, None)
        try:
            process = self._launcher.launch(schedule)
        except Exception as exc:  # a folder gone, no processes left: the fire must still end
            self._finish(active, self._clock(), "failed", f"could not start the pipeline: {exc}")
            return
        active.fire = dataclasses.replace(fire, pid=process.pid)
        active.process = process
        self._active[schedule.id] = active
        try:
            self._store.update_fire(active.fire)
        except ConveyorError as exc:  # the run goes on; its end is recorded with the pid
            self.log(f"schedule {active.label}: could not record the run's pid: {exc}")
        self.log(
            f"schedule {active.label}: started {schedule.target} for {when(at)} "
            f"(fire {fire.id}, pid {process.pid})" + (f": {reason}" if reason else "")
        )

    def _reap(self, now: datetime) -> None:
        for active in list(self._active.values()):
            try:
                self._reap_one(active, now)
            except Exception as exc:  # e.g. the store is out of reach: try again next poll
                self.log(
                    f"schedule {active.label}: could not record fire {active.fire.id}: {_text(exc)}"
                )

    def _reap_one(self, active: _Active, now: datetime) -> None:
        if active.process is not None:
            code = active.process.poll()
            if code is None:
                return
            status, reason = exit_outcome(code, active.process.output_tail())
        else:
            run = self._find_run(active)
            if self._still_running(active.fire, run, now):
                return
            status, reason = run_outcome(run)
        self._finish(active, now, status, reason)

    def _finish(self, active: _Active, now: datetime, status: FireStatus, reason: str) -> None:
        run = self._find_run(active) if active.fire.pid is not None else None
        done = dataclasses.replace(
            active.fire,
            status=status,
            finished_at=now,
            run_id=run.id if run is not None else None,
            reason=_join(active.fire.reason, reason),
        )
        self._store.update_fire(done)
        if self._active.get(active.schedule_id) is active:
            del self._active[active.schedule_id]
        run_text = f" (run {run.id})" if run is not None else ""
        self.log(
            f"schedule {active.label}: fire {done.id}{run_text} {status}"
            + (f": {reason}" if reason else "")
        )

    def _adopt(self, now: datetime) -> None:
        """Take over the fires an earlier scheduler left running: watch those whose pipelines
        still run, and settle the rest from the runs they recorded."""
        schedules = {s.id: s for s in self._store.list_schedules()}
        for fire in reversed(self._store.fires(status="running", limit=10_000)):
            schedule = schedules.get(fire.schedule_id)
            active = _Active(
                fire.schedule_id,
                _label(schedule) if schedule is not None else fire.schedule_id,
                schedule.pipeline if schedule is not None else "",
                fire,
                None,
            )
            if fire.pid is None:
                self._finish(active, now, "failed", "the scheduler stopped before the run began")
                continue
            run = self._find_run(active)
            if self._still_running(fire, run, now):
                self._active[fire.schedule_id] = active
                self.log(
                    f"schedule {active.label}: watching fire {fire.id} (pid {fire.pid}), "
                    "left running by an earlier scheduler"
                )
                continue
            status, reason = run_outcome(run)
            self._finish(active, now, status, reason)

    # -- helpers ------------------------------------------------------------------------

    def _renew(self) -> None:
        self._lease.renew()
        self._renewed = time.monotonic()

    def _find_run(self, active: _Active) -> RunRecord | None:
        try:
            return find_run(
                self._store,
                active.pipeline or None,
                active.fire.host,
                active.fire.pid,
                active.fire.started_at,
            )
        except ConveyorError as exc:
            self.log(f"schedule {active.label}: could not look up the run: {exc}")
            return None

    def _still_running(self, fire: ScheduleFire, run: RunRecord | None, now: datetime) -> bool:
        """Whether a pipeline this scheduler did not start is still going: by its process on
        this machine, by its run's heartbeat on another."""
        if fire.host == self.host:
            return fire.pid is not None and self._is_alive(fire.pid)
        return run is not None and run.status == "running" and not is_crashed(run, now)

    def _forget_all_but(self, schedules: Iterable[ScheduleRecord]) -> None:
        present = {s.id for s in schedules}
        for schedule_id in list(self._seen):
            if schedule_id not in present:
                del self._seen[schedule_id]
        self._broken &= present


def _label(schedule: ScheduleRecord) -> str:
    return schedule.name or schedule.id


def _join(first: str, second: str) -> str:
    return "; ".join(part for part in (first, second) if part)


def _text(exc: Exception) -> str:
    return str(exc) if isinstance(exc, ConveyorError) else f"{type(exc).__name__}: {exc}"
