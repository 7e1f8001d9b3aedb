"""How conveyor writes a table as Parquet: zstd level 3, with an encoding chosen per column.

Most of a write's time goes into encoding and compressing fixed-width numbers, and the default
choice (a dictionary for every column) is slow for them twice over: it hashes every value, and
when the values hardly repeat, it ends up with a dictionary as large as the column. So each
numeric or temporal column is looked at first. One that repeats its values often (distinct
values fewer than half its rows, the dictionary within its size limit) keeps the dictionary,
which is then the smallest encoding. Another is written without one: floats split into their
bytes' streams (BYTE_STREAM_SPLIT, where zstd finds the repeated sign and exponent bytes
quickly), integers and times as bit-packed differences (DELTA_BINARY_PACKED: an ascending id
or timestamp shrinks to almost nothing, and even random integers leave zstd less to do).
Strings, booleans and nested columns keep the dictionary.

The number of distinct values is estimated, not counted: a value is sampled when a hash of its
bits falls in the top 1/64 of the hashes' range, so every copy of a sampled value is sampled
too, and the distinct values in the sample, times 64, estimate those of the column. It costs
about three passes over the column's memory and one sort of a small sample. Integers whose
range is narrower than half the rows need no estimate. The choice depends only on the values,
not on how the table is cut into chunks, so equal tables give equal bytes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, BinaryIO, Final

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt
    import pyarrow as pa

ZSTD_LEVEL: Final = 3  # zstd's own default, and polars' and DuckDB's
# pyarrow's limit for one column chunk's dictionary page: past it, a writer falls back to
# plain pages in the middle of the column.
_DICTIONARY_BYTES: Final = 1 << 20
# Pages end at pyarrow's 1 MiB of data rather than its 20,000 rows: fewer pages, each compressed
# with more context. Small pages serve readers that skip pages; conveyor reads whole files.
_PAGE_ROWS: Final = 1 << 20
_REPEATING: Final = 0.5  # distinct values per row below which a dictionary is kept
_SAMPLE_SHIFT: Final = 6  # one distinct value in 2**6 is sampled
_SAMPLE_CAP: Final = 8192  # past this many, a sample is thinned by another 2**6
_FIBONACCI: Final = 0x9E3779B97F4A7C15  # 2**64 / golden ratio: multiplying spreads the bits
_SMALL_ROWS: Final = 4096  # below this, the choice saves nothing worth a look


def write_parquet(table: pa.Table, where: str | BinaryIO | pa.NativeFile) -> None:
    """Write ``table`` to ``where`` (a path or a writable file) as zstd Parquet."""
    import pyarrow.parquet as pq

    dictionary, encoding = _encodings(table)
    pq.write_table(
        table,
        where,
        compression="zstd",
        compression_level=ZSTD_LEVEL,
        use_dictionary=dictionary,
        column_encoding=encoding,
        max_rows_per_page=_PAGE_ROWS,
    )


def parquet_bytes(table: pa.Table) -> bytes:
    """``table`` as the bytes of a zstd Parquet file."""
    import pyarrow as pa

    sink = pa.BufferOutputStream()
    write_parquet(table, sink)
    data: bytes = sink.getvalue().to_pybytes()
    return data


def _encodings(table: pa.Table) -> tuple[bool | list[str], dict[str, str] | None]:
    """The columns to dictionary-encode, and the encoding of each other numeric column (for
    ``pyarrow.parquet.write_table``)."""
    import pyarrow as pa

    if table.num_rows < _SMALL_ROWS:
        return True, None
    undecided: list[str] = []
    dictionary: list[str] = []
    encoding: dict[str, str] = {}
    for field, column in zip(table.schema, table.columns, strict=True):
        kind = field.type
        if not _fixed_width_number(kind):
            undecided.append(field.name)
        elif _repeats(column, kind.bit_width // 8):
            dictionary.append(field.name)
        elif pa.types.is_floating(kind):
            encoding[field.name] = "BYTE_STREAM_SPLIT"
        else:
            encoding[field.name] = "DELTA_BINARY_PACKED"
    if not encoding:
        return True, None
    # A list of names switches the dictionary off for every column not in it, nested leaves
    # included, so the columns left as they were are named leaf by leaf.
    return dictionary + _leaf_paths(table.schema, set(undecided)), encoding


def _fixed_width_number(kind: pa.DataType) -> bool:
    import pyarrow as pa

    return (
        pa.types.is_integer(kind)
        or pa.types.is_float32(kind)
        or pa.types.is_float64(kind)
        or pa.types.is_temporal(kind)
    ) and kind.bit_width in (8, 16, 32, 64)


def _repeats(column: pa.ChunkedArray, width: int) -> bool:
    """Whether a dictionary suits the column: its distinct values (counted within a range of
    integers, estimated otherwise) are fewer than half its non-null values, and their
    dictionary fits its page."""
    import numpy as np
    import pyarrow as pa

    valid = len(column) - column.null_count
    if valid == 0:
        return True
    values = [_values(chunk, width) for chunk in column.chunks if len(chunk) > chunk.null_count]
    if not pa.types.is_floating(column.type):
        span = int(max(v.max() for v in values)) - int(min(v.min() for v in values)) + 1
        if span < _REPEATING * valid:  # no more distinct values than the span holds
            return span * width <= _DICTIONARY_BYTES
    sample = np.concatenate([_sampled(v, width) for v in values])
    shift = _SAMPLE_SHIFT
    while sample.size > _SAMPLE_CAP:  # a frequent value was drawn: sample the sample
        shift += _SAMPLE_SHIFT
        sample = sample[sample >= _sampled_from(shift)]
    sample.sort()
    distinct = int(np.count_nonzero(sample[1:] != sample[:-1])) + bool(sample.size)
    estimate = distinct << shift
    return estimate < _REPEATING * valid and estimate * width <= _DICTIONARY_BYTES


def _values(chunk: pa.Array, width: int) -> npt.NDArray[Any]:
    """The non-null values of ``chunk``, as numpy integers of their width (floats as their
    bits), signed unless the type is unsigned."""
    import numpy as np
    import pyarrow as pa

    if chunk.null_count:
        chunk = chunk.drop_null()
    kind = (
        "u" if pa.types.is_floating(chunk.type) or pa.types.is_unsigned_integer(chunk.type) else "i"
    )
    return np.frombuffer(
        chunk.buffers()[1], dtype=f"{kind}{width}", count=len(chunk), offset=chunk.offset * width
    )


def _sampled(values: npt.NDArray[Any], width: int) -> npt.NDArray[np.uint64]:
    """The hashes of ``values`` that fall in the sampled range. The hash, a product with an
    odd number modulo 2**64, maps distinct values to distinct hashes."""
    import numpy as np

    bits = values.view(np.uint64) if width == 8 else values.astype(np.uint64)
    hashed = np.multiply(bits, np.uint64(_FIBONACCI))
    return hashed[hashed >= _sampled_from(_SAMPLE_SHIFT)]


def _sampled_from(shift: int) -> np.uint64:
    """Where the top 1/2**shift of the hashes begins (zero, a common value, is never in it)."""
    import numpy as np

    return np.uint64((1 << 64) - (1 << (64 - shift)))


def _leaf_paths(schema: pa.Schema, names: set[str]) -> list[str]:
    """The Parquet column paths of the fields named ``names``: a nested field's are those of
    its leaves (``tags.list.element``)."""
    import pyarrow as pa

    if not any(pa.types.is_nested(field.type) for field in schema):
        return [field.name for field in schema if field.name in names]
    import pyarrow.parquet as pq

    # The writer's own names for nested leaves, from an empty file's schema; a file lists
    # each field's leaves in turn, in the fields' order.
    sink = pa.BufferOutputStream()
    pq.write_table(schema.empty_table(), sink)
    meta = pq.read_metadata(pa.BufferReader(sink.getvalue()))
    paths = iter(meta.schema.column(i).path for i in range(meta.num_columns))
    chosen = []
    for field in schema:
        leaves = [next(paths) for _ in range(_leaf_count(field.type))]
        if field.name in names:
            chosen += leaves
    return chosen


def _leaf_count(kind: pa.DataType) -> int:
    import pyarrow as pa

    if pa.types.is_struct(kind):
        return sum(_leaf_count(kind.field(i).type) for i in range(kind.num_fields))
    if pa.types.is_map(kind):
        return _leaf_count(kind.key_type) + _leaf_count(kind.item_type)
    lists = (
        pa.types.is_list,
        pa.types.is_large_list,
        pa.types.is_fixed_size_list,
        pa.types.is_list_view,
        pa.types.is_large_list_view,
    )
    if any(is_list(kind) for is_list in lists):
        return _leaf_count(kind.value_type)
    return 1
