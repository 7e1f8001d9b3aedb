"""One way in for tabular data: pandas, polars, pyarrow or a ``Dataset``, as polars or Arrow.

Schemas, profiles and anonymization accept whatever table the user has and work on polars
(or Arrow) underneath; converting here keeps that choice in one place. Arrow ↔ polars is
zero-copy for most types, pandas → Arrow copies once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal, cast

from conveyor.core._errors import ConveyorError

if TYPE_CHECKING:
    import pandas as pd
    import polars as pl
    import pyarrow as pa

TableKind = Literal["pandas", "polars", "arrow", "dataset"]


def kind_of(data: object) -> TableKind:
    """Which kind of table ``data`` is.

    Raises:
        ConveyorError: it is not a pandas or polars DataFrame, a pyarrow Table or a Dataset.
    """
    package = type(data).__module__.partition(".")[0]
    name = type(data).__name__
    if package == "pandas" and name == "DataFrame":
        return "pandas"
    if package == "polars" and name in {"DataFrame", "LazyFrame"}:
        return "polars"
    if package == "pyarrow" and name in {"Table", "RecordBatch"}:
        return "arrow"
    if package == "conveyor" and name == "Dataset":
        return "dataset"
    raise ConveyorError(
        f"expected a table (pandas or polars DataFrame, pyarrow Table or conveyor Dataset), "
        f"got {type(data).__module__}.{type(data).__qualname__}",
        type=f"{type(data).__module__}.{type(data).__qualname__}",
    )


def to_polars(data: object) -> pl.DataFrame:
    """``data`` as a polars DataFrame (a Dataset is read whole)."""
    import polars as pl

    kind = kind_of(data)
    if kind == "polars":
        frame = data.collect() if isinstance(data, pl.LazyFrame) else data
        return cast("pl.DataFrame", frame)
    if kind == "dataset":
        return cast("pl.DataFrame", data.to_polars())  # type: ignore[attr-defined]
    result = pl.from_arrow(to_arrow(data))
    return cast("pl.DataFrame", result)


def to_arrow(data: object) -> pa.Table:
    """``data`` as a pyarrow Table (a Dataset is read whole; a pandas index is dropped)."""
    import pyarrow as pa

    kind = kind_of(data)
    if kind == "arrow":
        return data if isinstance(data, pa.Table) else pa.Table.from_batches([data])
    if kind == "polars":
        return to_polars(data).to_arrow()
    if kind == "dataset":
        return cast("pa.Table", data.to_arrow())  # type: ignore[attr-defined]
    return pa.Table.from_pandas(cast("pd.DataFrame", data), preserve_index=False)


def like(template: object, table: pa.Table) -> object:
    """``table`` converted back to the kind of ``template`` (pandas, polars or Arrow)."""
    kind = kind_of(template)
    if kind == "pandas":
        return table.to_pandas()
    if kind == "polars":
        import polars as pl

        return pl.from_arrow(table)
    return table
