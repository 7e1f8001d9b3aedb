"""Loading ``FILE[:PIPELINE]``: import the user's file as a module and pick the pipeline."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

from conveyor.authoring import Pipeline
from conveyor.core._errors import PipelineDefinitionError, PipelineNotFound


def split_ref(ref: str) -> tuple[Path, str | None]:
    path_text, _, name = ref.partition(":")
    if len(path_text) == 1 and name and name[:1] in "\\/":  # a Windows drive letter
        drive_path, _, name = ref[2:].partition(":")
        path_text = ref[:2] + drive_path
    return Path(path_text), (name or None)


def load_pipeline(ref: str) -> tuple[Pipeline, Path]:
    """The pipeline named in ``FILE[:PIPELINE]`` (the only one in the file if no name is given)."""
    path, name = split_ref(ref)
    if not path.is_file():
        raise PipelineNotFound(f"no such file: {path}", file=str(path))
    module = _import_file(path.resolve())
    by_attr = {attr: v for attr, v in vars(module).items() if isinstance(v, Pipeline)}
    if name is not None:
        by_name = {p.name: p for p in by_attr.values()}  # @pipeline(name=...) may differ
        chosen = by_attr.get(name) or by_name.get(name)
        if chosen is None:
            listed = ", ".join(sorted(by_attr)) or "none"
            raise PipelineNotFound(
                f"{path} has no pipeline named {name!r}; pipelines in it: {listed}",
                file=str(path),
                pipeline=name,
                available=sorted(by_attr),
            )
        return chosen, path
    if len(by_attr) == 1:
        return next(iter(by_attr.values())), path
    if not by_attr:
        raise PipelineNotFound(
            f"{path} defines no @pipeline function", file=str(path), available=[]
        )
    raise PipelineNotFound(
        f"{path} defines several pipelines ({', '.join(sorted(by_attr))}); "
        f"name one: {path}:{sorted(by_attr)[0]}",
        file=str(path),
        available=sorted(by_attr),
    )


def _import_file(path: Path) -> object:
    module_name = path.stem if path.stem.isidentifier() else "conveyor_pipeline"
    existing = sys.modules.get(module_name)
    if existing is not None and getattr(existing, "__file__", None) != str(path):
        module_name = f"conveyor_user_{abs(hash(str(path)))}"
    folder = str(path.parent)
    if folder not in sys.path:
        sys.path.insert(0, folder)  # so the file's own imports of its neighbours work
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise PipelineDefinitionError(f"cannot import {path} as Python", file=str(path))
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except PipelineDefinitionError:
        raise
    except Exception as exc:
        del sys.modules[module_name]
        raise PipelineDefinitionError(
            f"importing {path} failed: {type(exc).__name__}: {exc}", file=str(path)
        ) from exc
    import cloudpickle

    # A pipeline file is no installed module: a worker on another machine, or one started
    # before the file's folder was put on sys.path (a Dask or Ray cluster), could not import
    # it by name. Its steps travel by value instead, pickled once per function.
    cloudpickle.register_pickle_by_value(module)
    return module
