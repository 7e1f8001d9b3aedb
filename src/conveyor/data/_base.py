"""What every format shares: the ``Materialized`` record, the ``Materializer`` seam, and the
signal a format gives when it cannot store a value.

Only these definitions belong here; the formats themselves live in their own modules and the
choice between them in ``_materializers.py``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Materialized:
    """A value turned into bytes, with what is needed to turn it back.

    Attributes:
        data: The bytes; their content address is the artifact's id. Empty when ``file`` is
            set.
        materializer: The format: ``"json"``, ``"parquet"``, ``"npy"``, ``"joblib"``,
            ``"cloudpickle"``, or the name of a registered materializer.
        type_name: The type the value loads back as, e.g. ``"pandas.DataFrame"``.
        rows: Row count of a table, length of an array's first axis, otherwise ``None``.
        meta: JSON-able facts about the value: a table's schema (``columns``, ``dtypes``), the
            recorded hash and library version of a joblib model, the Python of a pickle.
        file: The file holding the bytes instead of ``data``: a large table written straight
            to disk, only when the caller of ``materialize`` gave a folder. Whoever stores the
            value owns the file.
    """

    data: bytes
    materializer: str
    type_name: str
    rows: int | None
    meta: Mapping[str, object]
    file: str | None = None


class Materializer(Protocol):
    """A format for values of some types; register one with ``register_materializer``."""

    @property
    def name(self) -> str:
        """The format's name, recorded with every artifact it writes and used to load it."""
        ...

    @property
    def version(self) -> str:
        """The revision of the format; change it whenever the bytes it writes change."""
        ...

    def handles(self, value: object) -> bool:
        """Whether this format stores ``value``. Called for every step output, so keep it cheap."""
        ...

    def dump(self, value: object) -> Materialized:
        """The value as bytes; ``materializer`` must be this format's ``name``."""
        ...

    def load(self, type_name: str, data: bytes, meta: Mapping[str, object]) -> object:
        """The value back from what ``dump`` returned."""
        ...


class Unsupported(Exception):
    """A built-in format cannot store this particular value; it goes to cloudpickle instead.

    ``reason`` ends up in the PickleFallbackWarning, so it is written for the user.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
