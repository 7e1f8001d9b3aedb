"""L6 scheduling: cron, interval and file-arrival schedules that start pipelines, and the
scheduler that runs them and the stored monitors.

``add_schedule`` checks and stores a schedule; ``run_scheduler`` is ``conveyor scheduler``:
one process per store (a lease in the store keeps it so across machines) that starts each
pipeline in a process of its own and records every fire. ``Scheduler`` is its engine, driven
tick by tick with an injected clock and launcher in tests.
"""

from __future__ import annotations

from conveyor.scheduling._due import Due as Due
from conveyor.scheduling._due import due as due
from conveyor.scheduling._due import next_due as next_due
from conveyor.scheduling._launch import Launcher as Launcher
from conveyor.scheduling._launch import Process as Process
from conveyor.scheduling._launch import SubprocessLauncher as SubprocessLauncher
from conveyor.scheduling._lease import LEASE_NAME as LEASE_NAME
from conveyor.scheduling._lease import Lease as Lease
from conveyor.scheduling._scheduler import Scheduler as Scheduler
from conveyor.scheduling._scheduler import grace_for as grace_for
from conveyor.scheduling._schedules import Schedule as Schedule
from conveyor.scheduling._schedules import add_schedule as add_schedule
from conveyor.scheduling._schedules import get_schedule as get_schedule
from conveyor.scheduling._schedules import list_schedules as list_schedules
from conveyor.scheduling._schedules import remove_schedule as remove_schedule
from conveyor.scheduling._schedules import schedule_fires as schedule_fires
from conveyor.scheduling._serve import run_scheduler as run_scheduler
from conveyor.scheduling._serve import serve as serve
from conveyor.scheduling._triggers import Cron as Cron
from conveyor.scheduling._triggers import Every as Every
from conveyor.scheduling._triggers import parse_interval as parse_interval

__all__ = [
    "LEASE_NAME",
    "Cron",
    "Due",
    "Every",
    "Launcher",
    "Lease",
    "Process",
    "Schedule",
    "Scheduler",
    "SubprocessLauncher",
    "add_schedule",
    "due",
    "get_schedule",
    "grace_for",
    "list_schedules",
    "next_due",
    "parse_interval",
    "remove_schedule",
    "run_scheduler",
    "schedule_fires",
    "serve",
]
