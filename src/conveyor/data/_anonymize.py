"""``anonymize(data, columns)``: replace personal data by keyed tokens or masks, or drop it.

``hash`` turns each value into the first 32 hex characters (128 bits) of its HMAC-SHA256
under a secret key: the same value and key give the same token in every table, so anonymized
tables still join on it, while without the key a token can neither be traced back nor
recomputed from a guess. ``mask`` keeps the last characters and stars the rest; ``drop``
removes the column. Nulls stay null. Values that are not text are hashed and masked as the
text polars writes for them (``42``, ``1.5``, ``2024-01-31``, ``true``).

A table comes back as the kind it was (pandas, polars, Arrow; a Dataset lazily, partition by
partition); only the named columns are converted. The key is never stored or printed: a mapped
Dataset names it by a keyed fingerprint.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Final, Literal, TypeVar, cast

from conveyor.core._errors import ConfigurationError, ConveyorError
from conveyor.data._tables import kind_of

if TYPE_CHECKING:
    import pandas as pd
    import polars as pl
    import pyarrow as pa

T = TypeVar("T")

KEY_ENV: Final = "CONVEYOR_ANON_KEY"
TOKEN_CHARS: Final = 32
MASK_KEEP: Final = 4
METHODS: Final = ("hash", "mask", "mask:N", "drop")
_SCHEME: Final = f"hmac-sha256/{TOKEN_CHARS}"  # changes whenever tokens would
_BLOCK: Final = 64  # SHA-256's block size in bytes, which HMAC pads the key to


@dataclass(frozen=True, slots=True)
class Rule:
    """What to do with one column: ``hash``, ``mask`` keeping ``keep`` characters, or ``drop``."""

    column: str
    method: Literal["hash", "mask", "drop"]
    keep: int = MASK_KEEP

    def __str__(self) -> str:
        method = f"mask:{self.keep}" if self.method == "mask" else self.method
        return f"{self.column}={method}"


def anonymize(
    data: T,
    columns: Mapping[str, str],
    *,
    salt_env: str = KEY_ENV,
    salt: str | bytes | None = None,
    environ: Mapping[str, str] | None = None,
) -> T:
    """``data`` with the personal data in ``columns`` hashed, masked or dropped.

    Args:
        data: A pandas or polars DataFrame, a polars LazyFrame, a pyarrow Table or a Dataset.
        columns: Column name → method. ``"hash"``: the HMAC-SHA256 of the value under the key,
            as 32 hex characters. ``"mask"``: every character but the last 4 replaced by
            ``*`` (``"mask:N"`` keeps the last N; a value of N characters or fewer is starred
            whole). ``"drop"``: the column is removed.
        salt_env: The environment variable holding the key for ``"hash"``.
        salt: The key itself (text or bytes), instead of the environment variable.
        environ: Where ``salt_env`` is looked up; the process environment by default.

    Returns:
        The same kind of table (a polars LazyFrame stays lazy; a Dataset is mapped lazily,
        so a missing column is reported when its partitions are read).

    Raises:
        ConfigurationError: A column is hashed, but no key is given or the key is empty.
        ConveyorError: A method or column is unknown, or ``data`` is not a table.
    """
    rules = parse_rules(columns)
    key = _key(salt, salt_env, environ) if any(r.method == "hash" for r in rules) else b""
    anonymizer = Anonymizer(rules, key)
    kind = kind_of(data)
    if kind == "dataset":
        return cast(T, data.map_partitions(anonymizer))  # type: ignore[attr-defined]
    if kind == "polars":
        return cast(T, anonymizer(cast("pl.DataFrame | pl.LazyFrame", data)))
    if kind == "arrow":
        return cast(T, _anonymize_arrow(cast("pa.Table", data), rules, key))
    return cast(T, _anonymize_pandas(cast("pd.DataFrame", data), rules, key))


def parse_rules(columns: Mapping[str, str]) -> tuple[Rule, ...]:
    """The rules ``columns`` asks for.

    Raises:
        ConveyorError: a method is not ``hash``, ``mask``, ``mask:N`` (N >= 0) or ``drop``.
    """
    rules = []
    for column, method in columns.items():
        name, colon, keep = str(method).partition(":")
        if name in {"hash", "drop"} and not colon:
            rules.append(Rule(column, cast(Literal["hash", "drop"], name)))
        elif name == "mask" and (not colon or keep.isdigit()):
            rules.append(Rule(column, "mask", int(keep) if colon else MASK_KEEP))
        else:
            raise ConveyorError(
                f"unknown anonymization method {method!r} for column {column!r}: "
                f"use one of {', '.join(METHODS)} (N: how many last characters mask keeps)",
                column=column,
                method=method,
                valid=list(METHODS),
            )
    return tuple(rules)


def token(key: bytes, value: str) -> str:
    """The ``hash`` token of ``value`` under ``key``."""
    return hmac.digest(key, value.encode(), "sha256").hex()[:TOKEN_CHARS]


def tokenizer(key: bytes) -> Callable[[str], str]:
    """``token`` with ``key`` bound, about twice as fast on many values: the HMAC (RFC 2104)
    with its inner and outer hash states keyed once, not once per value."""
    if len(key) > _BLOCK:
        key = hashlib.sha256(key).digest()
    key = key.ljust(_BLOCK, b"\0")
    inner = hashlib.sha256(bytes(b ^ 0x36 for b in key)).copy
    outer = hashlib.sha256(bytes(b ^ 0x5C for b in key)).copy

    def keyed(value: str) -> str:
        digest = inner()
        digest.update(value.encode())
        result = outer()
        result.update(digest.digest())
        return result.hexdigest()[:TOKEN_CHARS]

    return keyed


@dataclass(frozen=True, slots=True, repr=False)
class Anonymizer:
    """The rules and key as one function of a polars DataFrame or LazyFrame, picklable so a
    Dataset's partitions can be anonymized in worker processes."""

    rules: tuple[Rule, ...]
    key: bytes

    def __call__(self, frame: pl.DataFrame | pl.LazyFrame) -> pl.DataFrame | pl.LazyFrame:
        import polars as pl

        names = frame.collect_schema().names() if isinstance(frame, pl.LazyFrame) else frame.columns
        check_columns(self.rules, names)
        exprs = [_expr(rule, self.key) for rule in self.rules if rule.method != "drop"]
        dropped = [rule.column for rule in self.rules if rule.method == "drop"]
        try:
            return frame.with_columns(exprs).drop(dropped)
        except pl.exceptions.PolarsError as exc:
            raise ConveyorError(f"cannot anonymize: {exc}", error=str(exc)) from exc

    def __repr__(self) -> str:
        # Dataset fingerprints use this text: it names the rules and the key, never the key.
        rules = ", ".join(map(str, self.rules))
        if not self.key:
            return f"anonymize({rules})"
        return f"anonymize({rules}; {_SCHEME} key {token(self.key, 'conveyor.anonymize')[:16]})"


def check_columns(rules: Sequence[Rule], names: Sequence[str]) -> None:
    """Raises ConveyorError naming the columns of ``rules`` that ``names`` lacks."""
    present = set(names)
    missing = [rule.column for rule in rules if rule.column not in present]
    if missing:
        shown = ", ".join(map(repr, names[:20])) + (", …" if len(names) > 20 else "")
        raise ConveyorError(
            f"cannot anonymize {', '.join(map(repr, missing))}: no such column "
            f"(the columns are {shown or 'none'})",
            missing=missing,
            columns=list(names),
        )


def _key(salt: str | bytes | None, salt_env: str, environ: Mapping[str, str] | None) -> bytes:
    if salt is not None:
        key = salt.encode() if isinstance(salt, str) else bytes(salt)
        if not key:
            raise ConfigurationError("the anonymization key salt= is empty", parameter="salt")
        return key
    value = (os.environ if environ is None else environ).get(salt_env, "")
    if not value:
        raise ConfigurationError(
            f"hashing a column needs a secret key: set the environment variable {salt_env} "
            "(or pass salt=); values are never hashed without one",
            variable=salt_env,
        )
    return value.encode()


def _expr(rule: Rule, key: bytes) -> pl.Expr:
    import polars as pl

    column = pl.col(rule.column)
    if rule.method == "hash":
        return column.map_batches(
            partial(_hash_series, key=key), return_dtype=pl.String, is_elementwise=True
        )
    text = column.cast(pl.String)
    length = text.str.len_chars()
    kept = pl.lit("") if rule.keep == 0 else text.str.slice(-rule.keep)
    tail = pl.when(length > rule.keep).then(kept).otherwise(pl.lit(""))
    return tail.str.pad_start(length, "*").alias(rule.column)


def _hash_series(series: pl.Series, key: bytes) -> pl.Series:
    """The token of each distinct value, computed once and mapped back onto the rows; when
    most values are distinct (ids, emails), mapping back costs more than hashing every row."""
    import polars as pl

    keyed = tokenizer(key)
    text = series.cast(pl.String)
    distinct = text.unique().drop_nulls()
    if 2 * distinct.len() > text.len():
        tokens = [None if value is None else keyed(value) for value in text.to_list()]
        return pl.Series(text.name, tokens, dtype=pl.String)
    mapped = pl.Series([keyed(value) for value in distinct.to_list()], dtype=pl.String)
    return text.replace_strict(distinct, mapped, return_dtype=pl.String)


def _anonymize_arrow(table: pa.Table, rules: Sequence[Rule], key: bytes) -> pa.Table:
    import polars as pl
    import pyarrow as pa

    batch = isinstance(table, pa.RecordBatch)
    if batch:
        table = pa.Table.from_batches([table])
    check_columns(rules, table.column_names)
    for rule in rules:
        if rule.method == "drop":
            table = table.drop_columns([rule.column])
            continue
        index = table.schema.get_field_index(rule.column)
        series = cast("pl.Series", pl.from_arrow(table.column(index)))
        values = _polars_column(series, rule, key).to_arrow()
        kept = table.schema.field(index).type
        target = kept if kept in (pa.string(), pa.large_string()) else pa.string()
        table = table.set_column(index, rule.column, values.cast(target))
    if batch:
        table = table.combine_chunks()
        batches = table.to_batches()
        return batches[0] if batches else pa.RecordBatch.from_pylist([], schema=table.schema)
    return table


def _anonymize_pandas(frame: pd.DataFrame, rules: Sequence[Rule], key: bytes) -> pd.DataFrame:
    import polars as pl

    check_columns(rules, list(frame.columns))
    result = frame.drop(columns=[rule.column for rule in rules if rule.method == "drop"])
    for rule in rules:
        if rule.method == "drop":
            continue
        try:
            series = pl.from_pandas(frame[rule.column])
        except (TypeError, ValueError, pl.exceptions.PolarsError) as exc:
            raise ConveyorError(
                f"cannot anonymize {rule.column!r}: {exc}", column=rule.column
            ) from exc
        values = _polars_column(series, rule, key).to_pandas()
        values.index = frame.index
        result[rule.column] = values
    return result


def _polars_column(series: pl.Series, rule: Rule, key: bytes) -> pl.Series:
    import polars as pl

    try:
        return series.to_frame(rule.column).select(_expr(rule, key)).to_series()
    except pl.exceptions.PolarsError as exc:
        raise ConveyorError(f"cannot anonymize {rule.column!r}: {exc}", column=rule.column) from exc
