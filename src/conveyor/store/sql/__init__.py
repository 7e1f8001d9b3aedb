"""The SQL adapter of the metadata store: the only package that imports SQLAlchemy and Alembic.

Imported lazily by ``conveyor.store.open_metadata_store`` when a SQL URL is opened.
"""

from __future__ import annotations

from conveyor.store.sql._repository import SqlMetadataStore as SqlMetadataStore

__all__ = ["SqlMetadataStore"]
