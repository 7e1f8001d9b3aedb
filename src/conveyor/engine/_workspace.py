"""A workspace: the metadata store and value store a run writes to, opened from settings."""

from __future__ import annotations

import atexit
import os
import threading
from dataclasses import dataclass
from pathlib import Path

from conveyor.core import Settings, active_run, load_settings
from conveyor.engine._values import ValueStore, open_artifacts
from conveyor.store import MetadataStore, open_metadata_store


@dataclass(frozen=True)
class Workspace:
    settings: Settings
    metadata: MetadataStore
    values: ValueStore

    @classmethod
    def open(cls, settings: Settings) -> Workspace:
        metadata = open_metadata_store(settings.db_url, token=settings.token)
        if settings.is_remote:
            from conveyor.store.http import HttpMetadataStore

            assert isinstance(metadata, HttpMetadataStore)
            try:
                # a refused token fails here, with the server's reason, not at the first write
                if metadata.session().encrypted:
                    # no value may rest in plaintext in the metadata store: every one goes to
                    # the (encrypted) artifacts, as with a local encrypted store
                    settings = settings.with_changes(inline_limit=0)
            except BaseException:
                metadata.close()
                raise
        values = ValueStore(open_artifacts(settings), settings.inline_limit)
        return cls(settings, metadata, values)

    @classmethod
    def shared(cls, settings: Settings) -> Workspace:
        """One open workspace per settings for the whole process, for API calls (search,
        models) that would otherwise pay for connecting and checking the schema each time."""
        with _shared_lock:
            workspace = _shared.get(settings)
            if workspace is None:
                workspace = _shared[settings] = cls.open(settings)
            return workspace

    @classmethod
    def for_api(cls, settings: Settings | None = None) -> Workspace:
        """The shared workspace an API call uses: of ``settings`` if given, else of the run
        whose step is calling, else of the environment and ``conveyor.toml``."""
        if settings is None:
            ctx = active_run()
            settings = ctx.settings if ctx is not None else None
        return cls.shared(settings or load_settings(os.environ, Path.cwd()))

    def close(self) -> None:
        self.metadata.close()

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


_shared: dict[Settings, Workspace] = {}
_shared_lock = threading.Lock()


@atexit.register
def _close_shared() -> None:
    for workspace in _shared.values():
        workspace.close()
    _shared.clear()
