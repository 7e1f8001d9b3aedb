"""Raw bytes, stored as they are: files logged with a run, images, a step that returns bytes."""

from __future__ import annotations

from collections.abc import Mapping

from conveyor.data._base import Materialized

NAME = "bytes"


def dump(value: bytes) -> Materialized:
    return Materialized(bytes(value), NAME, "bytes", None, {})


def load(type_name: str, data: bytes, meta: Mapping[str, object]) -> object:
    return bytes(data)
