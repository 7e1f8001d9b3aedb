"""Following aliases: a served model whose alias moved is reloaded in the background.

Each watched model polls its alias every ``poll_interval``; ``Service.refresh`` does the load,
the try on the sample and the swap. Reading an alias is one indexed query, so polling every
couple of seconds costs the store next to nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from conveyor.serving._service import Service

log = logging.getLogger("conveyor.serving")


class Watcher:
    def __init__(self, service: Service) -> None:
        self.service = service
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        for name, served in self.service.models.items():
            # a fixed version never moves; but one that failed to load is retried
            if served.follows or served.current is None:
                self._tasks.append(asyncio.create_task(self._follow(name), name=f"watch-{name}"))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _follow(self, name: str) -> None:
        served = self.service.models[name]
        interval = self.service.options.poll_interval_s
        while True:
            await asyncio.sleep(interval)
            if not served.follows and served.current is not None:
                return
            try:
                await self.service.refresh(name)
            except Exception:  # the store is unreachable for a moment: keep serving, retry
                log.exception("checking %s for a new version failed", served.ref)
