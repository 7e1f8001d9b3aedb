"""Test doubles that ship with conveyor, for its own tests and for users' pipeline tests.

``FakeClock``, in-memory stores, an inline executor that runs steps one at a time in the
calling thread, and ``settings_for(path)`` to point a run at a temporary folder.
"""

from __future__ import annotations

from conveyor.store import MemoryArtifactStore as MemoryArtifactStore
from conveyor.store import MemoryMetadataStore as MemoryMetadataStore
from conveyor.testing._doubles import FakeClock as FakeClock
from conveyor.testing._doubles import InlineExecutor as InlineExecutor
from conveyor.testing._doubles import memory_workspace as memory_workspace
from conveyor.testing._doubles import settings_for as settings_for

__all__ = [
    "FakeClock",
    "InlineExecutor",
    "MemoryArtifactStore",
    "MemoryMetadataStore",
    "memory_workspace",
    "settings_for",
]
