"""The ``torch`` flavor: a ``torch.nn.Module`` as a ``torch.export`` program (a PT2 archive).

``torch.export`` traces the module on an example input into a graph of PyTorch operators plus
its weights as raw tensor bytes, so loading rebuilds the module without importing the user's
class. PyTorch 2.13 deprecates TorchScript in its favour, and tracing needs an input, so an
example is required. The batch dimension is exported as dynamic when the module allows it.

``torch.export.load`` still unpickles a few kinds of entry (tensor subclasses, custom objects,
the stored example input, weights in the legacy layout). A module exported here has none of them
except the example, so the archive is checked before loading: anything pickled is refused, and
the example must load with ``torch.load(weights_only=True)``, which only rebuilds tensors.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Mapping
from typing import Final

import numpy as np
import torch
from torch.export.pt2_archive import constants

from conveyor.core._errors import RegistryError

FORMAT = "torch.export"

_PAYLOADS: Final = {
    constants.WEIGHTS_DIR: constants.WEIGHT_FILENAME_PREFIX,
    constants.CONSTANTS_DIR: constants.TENSOR_CONSTANT_FILENAME_PREFIX,
}


def save(model: object, example: object | None) -> tuple[bytes, dict[str, object]]:
    if not isinstance(model, torch.nn.Module):
        raise RegistryError(
            f"the torch flavor stores torch.nn.Module, not {type(model).__qualname__}",
            model_class=type(model).__qualname__,
        )
    if example is None:
        raise RegistryError(
            f"cannot register the PyTorch model {type(model).__qualname__} without an example "
            "input: torch.export traces the model on one to store it without pickle. Pass a few "
            "rows of input as reference= (a DataFrame, an array or a tensor)",
            model_class=type(model).__qualname__,
        )
    inputs = as_tensor(example)
    # each submodule's own mode, since a model may hold some parts (a frozen encoder) in eval
    modes = [(module, module.training) for module in model.modules()]
    model.eval()  # export the inference graph: dropout off, batch norm on running statistics
    try:
        program, batch = _export(model, inputs)
    finally:
        for module, training in modes:
            module.training = training
    buffer = io.BytesIO()
    torch.export.save(program, buffer)
    meta: dict[str, object] = {
        "format": FORMAT,
        "input": {
            "dtype": str(inputs.dtype).removeprefix("torch."),
            "shape": [batch, *inputs.shape[1:]],
        },
        "versions": {"torch": torch.__version__},
    }
    return buffer.getvalue(), meta


def load(data: bytes, meta: Mapping[str, object]) -> object:
    if meta.get("format", FORMAT) != FORMAT:
        raise RegistryError(
            f"a PyTorch model must be stored as {FORMAT}, not {meta.get('format')!r}",
            format=meta.get("format"),
        )
    refused = pickled_entries(data)
    if refused:
        raise RegistryError(
            "refusing to load the PyTorch model: its archive holds pickled entries, which run "
            "code when loaded: " + ", ".join(refused),
            refused=refused,
        )
    return torch.export.load(io.BytesIO(data)).module()


def as_tensor(example: object) -> torch.Tensor:
    """A tensor of the example input: tensors as they are, tables and arrays as float32."""
    if isinstance(example, torch.Tensor):
        return example.detach()  # keep its dtype: integer token ids must stay integers
    if type(example).__module__.partition(".")[0] == "pyarrow":
        columns = [column.to_numpy() for column in example.columns]  # type: ignore[attr-defined]
        array = np.column_stack(columns)
    else:
        to_numpy = getattr(example, "to_numpy", None)
        array = np.asarray(to_numpy() if callable(to_numpy) else example)
    try:
        return torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))
    except (TypeError, ValueError) as exc:
        raise RegistryError(
            f"the example input for a PyTorch model must be numeric: {exc}",
            example_type=type(example).__qualname__,
        ) from exc


def pickled_entries(data: bytes) -> list[str]:
    """The entries of a PT2 archive that ``torch.export.load`` would unpickle unsafely."""
    refused: list[str] = []
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for name in archive.namelist():
            folder = next((d for d in _PAYLOADS if f"/{d}" in f"/{name}"), None)
            if name.endswith(".json") and folder is not None:
                config = json.loads(archive.read(name)).get("config", {})
                refused.extend(
                    f"{name}:{key}"
                    for key, entry in config.items()
                    if entry.get("use_pickle")
                    or not str(entry.get("path_name", "")).startswith(_PAYLOADS[folder])
                )
            elif name.endswith(".pt") and not _loads_as_tensors(archive, name):
                refused.append(name)
    return refused


def _loads_as_tensors(archive: zipfile.ZipFile, name: str) -> bool:
    if f"/{constants.SAMPLE_INPUTS_DIR}" not in f"/{name}":
        return False  # weights or constants in the legacy layout: a whole pickle
    try:
        torch.load(io.BytesIO(archive.read(name)), weights_only=True)
    except Exception:  # any failure means it needs more than tensors to load
        return False
    return True


def _export(
    model: torch.nn.Module, inputs: torch.Tensor
) -> tuple[torch.export.ExportedProgram, int]:
    """The exported program and its batch size, -1 when any batch size works."""
    if inputs.ndim == 0:
        raise RegistryError("the example input for a PyTorch model needs a batch dimension")
    # export fixes a dimension that is 1 in the example, so a single row is given twice
    doubled = inputs if inputs.shape[0] > 1 else torch.cat([inputs, inputs])
    batch = torch.export.Dim.DYNAMIC
    try:
        return torch.export.export(model, (doubled,), dynamic_shapes=({0: batch},)), -1
    except Exception:  # the module fixes its batch size; export it for that size only
        pass
    try:
        return torch.export.export(model, (inputs,)), int(inputs.shape[0])
    except Exception as exc:
        raise RegistryError(
            f"torch.export could not trace {type(model).__qualname__} on the example input: {exc}",
            model_class=type(model).__qualname__,
        ) from exc
