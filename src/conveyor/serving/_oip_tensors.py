"""Tensors of the Open Inference Protocol: input tensors (JSON ``data`` or Triton's binary
tensor extension) read into ``Rows``, and answers written back as output tensors.

A request sends either one tensor ``[n, k]`` holding whole rows (k values in the order of the
signature's columns, under any name) or one tensor per column, named after it, of shape ``[n]``
or ``[n, 1]``. Here a tensor's values are checked against its own shape and datatype; whether
they fit the model is ``conform``'s business, except that a datatype no column of its type
could take is refused here, where the error can name the tensor.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np

from conveyor.serving._errors import ClientError
from conveyor.serving._rows import Rows, invalid, only_fields

# Triton's wire format is little-endian whatever the host is
NUMPY: Final[Mapping[str, str]] = {
    "BOOL": "|b1",
    "INT8": "<i1",
    "INT16": "<i2",
    "INT32": "<i4",
    "INT64": "<i8",
    "UINT8": "<u1",
    "UINT16": "<u2",
    "UINT32": "<u4",
    "UINT64": "<u8",
    "FP16": "<f2",
    "FP32": "<f4",
    "FP64": "<f8",
}
DATATYPES: Final = (*NUMPY, "BYTES")
FLOATS: Final = frozenset({"FP16", "FP32", "FP64"})
_INTS: Final = frozenset(d for d in NUMPY if "INT" in d)
NUMBERS: Final = FLOATS | _INTS
# what a column of each signature type can be sent as; an integer column takes floats too, as
# conform accepts whole ones
_FITS: Final[Mapping[str, frozenset[str]]] = {
    "float": NUMBERS,
    "integer": NUMBERS,
    "boolean": frozenset({"BOOL"}),
    "string": frozenset({"BYTES"}),
    "category": frozenset({"BYTES"}),
    "datetime": frozenset({"BYTES"}),
}
_TENSOR_KEYS: Final = frozenset({"name", "shape", "datatype", "parameters", "data"})
_UNSUPPORTED_PARAMETERS: Final = ("shared_memory_region", "classification")


@dataclass(frozen=True, slots=True)
class Tensor:
    name: str
    shape: tuple[int, ...]
    datatype: str
    values: list[Any]  # flat, row-major
    field: str  # "inputs[2]"


def input_tensors(inputs: object, binary: bytes | None) -> list[Tensor]:
    """The request's ``inputs``; ``binary`` is what follows the JSON header (None: no header),
    shared out among the inputs with ``parameters.binary_data_size`` in their order."""
    if not isinstance(inputs, list) or not inputs:
        raise invalid("inputs", "'inputs' must be a non-empty list of tensors")
    tensors = []
    at = 0
    for i, spec in enumerate(inputs):
        tensor, at = _tensor(spec, f"inputs[{i}]", binary, at)
        tensors.append(tensor)
    if binary is not None and at != len(binary):
        raise invalid(
            "Inference-Header-Content-Length",
            f"the body has {len(binary)} bytes after the JSON part (Inference-Header-"
            f"Content-Length), but the inputs' binary_data_size add up to {at}",
        )
    return tensors


def _tensor(spec: object, field: str, binary: bytes | None, at: int) -> tuple[Tensor, int]:
    if not isinstance(spec, dict):
        raise invalid(field, f"{field} must be an object with name, shape, datatype and data")
    only_fields(spec, _TENSOR_KEYS, field)
    name = spec.get("name")
    if not isinstance(name, str) or not name:
        raise invalid(f"{field}.name", f"{field}.name must be a non-empty string")
    shape = _shape(spec.get("shape"), f"{field}.shape")
    datatype = spec.get("datatype")
    if datatype not in DATATYPES:
        raise invalid(
            f"{field}.datatype",
            f"{field}.datatype {datatype!r} is not supported; use one of {', '.join(DATATYPES)}",
        )
    parameters = object_of(spec.get("parameters"), f"{field}.parameters")
    refuse_unsupported(parameters, f"{field}.parameters")
    count = math.prod(shape)
    size = parameters.get("binary_data_size")
    if size is None:
        if "data" not in spec:
            raise invalid(
                f"{field}.data",
                f"{field} has no data: send the values in 'data', or as binary tensor data "
                "with parameters.binary_data_size",
            )
        values, nested = _flatten(spec["data"], shape, f"{field}.data")
        _check_values(values, str(datatype), shape if nested else (), f"{field}.data")
    else:
        values, at = _binary(spec, size, binary, at, str(datatype), count, field)
    if len(values) != count:
        raise invalid(
            f"{field}.data",
            f"{field}.data has {len(values)} values but shape {list(shape)} holds {count}",
            shape=list(shape),
        )
    return Tensor(name, shape, str(datatype), values, field), at


def object_of(value: object, field: str) -> dict[str, Any]:
    """An optional JSON object of the request (``parameters``), {} when absent."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise invalid(field, f"{field} must be an object")
    return value


def refuse_unsupported(parameters: Mapping[str, Any], field: str) -> None:
    for name in _UNSUPPORTED_PARAMETERS:
        if name in parameters:
            raise invalid(
                f"{field}.{name}",
                f"{field}.{name}: this server does not support the {name.split('_')[0]} "
                "extension; send the tensor data in the request",
            )


def _shape(value: object, field: str) -> tuple[int, ...]:
    if (
        not isinstance(value, list)
        or not all(type(d) is int and d >= 0 for d in value)
        or not 1 <= len(value) <= 2
    ):
        raise invalid(
            field,
            f"{field} must be [rows], [rows, 1] or [rows, columns] (whole numbers), not "
            f"{value!r:.60}",
        )
    if value[0] == 0:
        raise invalid(field, f"{field} {value} holds no rows")
    return tuple(value)


def _flatten(data: object, shape: tuple[int, ...], field: str) -> tuple[list[Any], bool]:
    """``data`` row-major and flat, and whether it was nested; nested data must follow the
    shape level by level."""
    if not isinstance(data, list):
        raise invalid(field, f"{field} must be a list of values, flat or nested by the shape")
    if not any(isinstance(v, list) for v in data):
        return data, False
    level: list[Any] = [data]
    for depth, size in enumerate(shape):
        deeper: list[Any] = []
        for k, node in enumerate(level):
            if not isinstance(node, list) or len(node) != size:
                where = field if depth == 0 else _index(field, k, shape[:depth])
                raise invalid(
                    where,
                    f"{where} must be a list of {size} values to follow shape {list(shape)}",
                    shape=list(shape),
                )
            deeper.extend(node)
        level = deeper
    return level, True


def _check_values(values: list[Any], datatype: str, shape: tuple[int, ...], field: str) -> None:
    """Each value is of the datatype or null (a missing value). ``shape`` names a value of
    nested data by its indices; () names flat data by its position, as sent."""
    if datatype in FLOATS:
        accepted: tuple[type, ...] = (float, int)
    elif datatype in _INTS:
        accepted = (int,)
    elif datatype == "BOOL":
        accepted = (bool,)
    else:
        accepted = (str,)
    for j, value in enumerate(values):
        if type(value) in accepted or value is None:  # null is a missing value
            if datatype.startswith("UINT") and value is not None and value < 0:
                where = _index(field, j, shape)
                raise invalid(where, f"{where}: {value} is negative, not a {datatype}")
            continue
        where = _index(field, j, shape)
        raise invalid(
            where,
            f"{where}: {value!r:.40} is not a {datatype} value",
            datatype=datatype,
        )


def _index(field: str, flat: int, shape: Sequence[int]) -> str:
    if not shape:
        return f"{field}[{flat}]"
    return field + "".join(f"[{k}]" for k in np.unravel_index(flat, tuple(shape)))


def _binary(
    spec: Mapping[str, Any],
    size: object,
    binary: bytes | None,
    at: int,
    datatype: str,
    count: int,
    field: str,
) -> tuple[list[Any], int]:
    where = f"{field}.parameters.binary_data_size"
    if "data" in spec:
        raise invalid(where, f"{where}: {field} has 'data' too; send the values one way")
    if binary is None:
        raise invalid(
            where,
            f"{where}: binary tensor data needs the Inference-Header-Content-Length header "
            "giving the size of the JSON part of the body",
        )
    if type(size) is not int or size < 0:
        raise invalid(where, f"{where} must be a whole number of bytes")
    if at + size > len(binary):
        raise invalid(
            where,
            f"{where} is {size} bytes, but only {len(binary) - at} bytes of binary data are "
            "left in the body",
        )
    chunk = binary[at : at + size]
    if datatype == "BYTES":
        return _strings(chunk, where), at + size
    dtype = np.dtype(NUMPY[datatype])
    if size != count * dtype.itemsize:
        raise invalid(
            where,
            f"{where} is {size} bytes; {count} {datatype} values take {count * dtype.itemsize}",
        )
    return np.frombuffer(chunk, dtype=dtype).tolist(), at + size


def _strings(chunk: bytes, field: str) -> list[Any]:
    """BYTES elements: each is a 4-byte little-endian length, then that many bytes."""
    values: list[Any] = []
    at = 0
    while at < len(chunk):
        if at + 4 > len(chunk):
            raise invalid(field, f"{field}: BYTES element {len(values)} is cut short")
        (length,) = struct.unpack_from("<I", chunk, at)
        at += 4
        if at + length > len(chunk):
            raise invalid(field, f"{field}: BYTES element {len(values)} is cut short")
        try:
            values.append(chunk[at : at + length].decode())
        except UnicodeDecodeError:
            raise invalid(
                field, f"{field}: BYTES element {len(values)} is not UTF-8 text"
            ) from None
        at += length
    return values


# -- tensors to rows --------------------------------------------------------------------------


def to_rows(tensors: list[Tensor], signature: Mapping[str, Any]) -> Rows:
    inputs: Sequence[Mapping[str, Any]] = signature.get("inputs") or ()
    types = {str(i["name"]): str(i["type"]) for i in inputs}
    first = tensors[0]
    if (
        len(tensors) == 1
        and len(first.shape) == 2
        and (first.name not in types or first.shape[1] != 1)
    ):
        return _matrix(first, inputs)
    return _columns(tensors, types)


def _matrix(tensor: Tensor, inputs: Sequence[Mapping[str, Any]]) -> Rows:
    n, k = tensor.shape
    if inputs and k != len(inputs):
        raise ClientError(
            422,
            "SignatureMismatch",
            f"{tensor.field}.shape {list(tensor.shape)} has {k} values a row; the model takes "
            f"{len(inputs)} (or send one tensor per column, named after it)",
            field=f"{tensor.field}.shape",
            expected=[str(i["name"]) for i in inputs],
        )
    for spec in inputs:
        _check_fit(tensor, str(spec["name"]), str(spec["type"]))
    values = tensor.values
    return Rows(None, [values[r * k : (r + 1) * k] for r in range(n)], f"{tensor.field}.data")


def _columns(tensors: list[Tensor], types: Mapping[str, str]) -> Rows:
    seen: dict[str, str] = {}
    n = tensors[0].shape[0]
    for tensor in tensors:
        if len(tensor.shape) == 2 and tensor.shape[1] != 1:
            raise invalid(
                f"{tensor.field}.shape",
                f"{tensor.field}.shape is {list(tensor.shape)}: with several inputs, each is "
                "one column of shape [rows] or [rows, 1]",
            )
        if tensor.name in seen:
            raise invalid(
                f"{tensor.field}.name",
                f"{tensor.field}.name {tensor.name!r} is sent twice (also {seen[tensor.name]})",
            )
        seen[tensor.name] = tensor.field
        if types and tensor.name not in types:
            names = list(types)
            shown = ", ".join(map(repr, names[:12])) + (" …" if len(names) > 12 else "")
            raise ClientError(
                422,
                "SignatureMismatch",
                f"{tensor.field}.name {tensor.name!r} is not a column of the model ({shown}); "
                f"send one tensor per column, named after it, or whole rows as one tensor of "
                f"shape [rows, {len(names)}]",
                field=f"{tensor.field}.name",
                expected=names,
            )
        if tensor.shape[0] != n:
            raise invalid(
                f"{tensor.field}.shape",
                f"{tensor.field}.shape {list(tensor.shape)} has {tensor.shape[0]} rows, "
                f"{tensors[0].field} has {n}",
            )
        if types:
            _check_fit(tensor, tensor.name, types[tensor.name])
    columns = tuple(t.name for t in tensors)
    rows = [list(row) for row in zip(*(t.values for t in tensors), strict=True)]
    return Rows(columns, rows, "inputs", cells=tuple(f"{t.field}.data" for t in tensors))


def _check_fit(tensor: Tensor, column: str, kind: str) -> None:
    fits = _FITS.get(kind)
    if fits is not None and tensor.datatype not in fits:
        raise ClientError(
            422,
            "SignatureMismatch",
            f"{tensor.field}.datatype {tensor.datatype} cannot hold column {column!r} of type "
            f"{kind}; send it as {' or '.join(sorted(fits)) if len(fits) < 3 else 'a number'}",
            field=f"{tensor.field}.datatype",
            column=column,
            expected=kind,
        )


# -- outputs and metadata ---------------------------------------------------------------------


def output_tensor(name: str, values: list[Any], binary: bool) -> tuple[dict[str, Any], bytes]:
    """A tensor of one value (or one list of equal length) per row; with ``binary``, its data
    comes back as bytes to put after the JSON header instead of in ``data``."""
    shape = [len(values)]
    flat = values
    if values and all(isinstance(v, list) for v in values):
        widths = {len(v) for v in values}
        if len(widths) == 1:
            shape.append(widths.pop())
            flat = [x for v in values for x in v]
    datatype = datatype_of(flat)
    if datatype == "BYTES":
        flat = [v if isinstance(v, str) else str(v) for v in flat]
    tensor: dict[str, Any] = {"name": name, "datatype": datatype, "shape": shape}
    if not binary:
        tensor["data"] = flat
        return tensor, b""
    if datatype == "BYTES":
        encoded = [v.encode() for v in flat]
        data = b"".join(struct.pack("<I", len(e)) + e for e in encoded)
    else:
        numbers = [math.nan if v is None else v for v in flat]
        data = np.asarray(numbers, dtype=NUMPY[datatype]).tobytes()
    tensor["parameters"] = {"binary_data_size": len(data)}
    return tensor, data


def datatype_of(values: Sequence[Any]) -> str:
    """The datatype that holds ``values`` as they are (FP64 for numbers with a null)."""
    kinds = {type(v) for v in values}
    if kinds == {bool}:
        return "BOOL"
    if kinds == {int}:
        return "INT64"
    if kinds and kinds <= {int, float, type(None)} and kinds & {int, float}:
        return "FP64"
    return "BYTES"
