"""Named dataset versions: ``cv.datasets.register``, ``get`` and ``versions``.

A version is an immutable copy of the rows in the artifact store (Parquet parts), with its
schema and profile; ``conveyor data list/show/diff`` show them.
"""

from __future__ import annotations

from conveyor.engine._datasets import DatasetVersion as DatasetVersion
from conveyor.engine._datasets import get as get
from conveyor.engine._datasets import register as register
from conveyor.engine._datasets import versions as versions

__all__ = ["DatasetVersion", "get", "register", "versions"]
