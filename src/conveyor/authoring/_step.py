"""``@step``: a plain function that becomes a graph node when called inside a ``@pipeline``.

Definition-time validation only; how a step runs is the engine's business.
"""

from __future__ import annotations

import functools
import inspect
import typing
from collections.abc import Callable, Mapping
from typing import Any, Generic, ParamSpec, TypeVar, overload

from conveyor.authoring._building import current_builder
from conveyor.core import Resources, StepSpec
from conveyor.core._errors import MissingInputError, PipelineDefinitionError

P = ParamSpec("P")
R = TypeVar("R")


class Step(Generic[P, R]):
    """A step: call it outside a pipeline and it runs; inside one it adds a node to the graph."""

    def __init__(self, spec: StepSpec) -> None:
        self.spec = spec
        self._signature = inspect.signature(spec.fn)
        functools.update_wrapper(self, spec.fn)

    @property
    def name(self) -> str:
        return self.spec.name

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        builder = current_builder()
        if builder is None:
            return self.spec.fn(*args, **kwargs)  # type: ignore[return-value]
        by_position, by_name = self.bind(args, kwargs)
        return builder.add(self.spec, by_position, by_name)  # type: ignore[return-value]

    def bind(
        self, args: tuple[object, ...], kwargs: dict[str, object]
    ) -> tuple[tuple[object, ...], dict[str, object]]:
        """The call's arguments, keyed by parameter name wherever the signature allows."""
        try:
            bound = self._signature.bind(*args, **kwargs)
        except TypeError as exc:
            raise _binding_error(self.spec.name, self._signature, args, kwargs, exc) from None
        return _by_name(self._signature, bound)

    def with_options(self, **changes: Any) -> Step[P, R]:
        """A copy with other options: ``name``, ``retries``, ``timeout``, ``cache``, ``version``,
        ``resources``."""
        return Step(self.spec.with_options(**changes))

    def __repr__(self) -> str:
        return f"<step {self.spec.name!r}>"


@overload
def step(fn: Callable[P, R], /) -> Step[P, R]: ...
@overload
def step(
    *,
    cache: bool = True,
    retries: int = 0,
    timeout: float | None = None,
    version: str | None = None,
    retry_delay: float = 1.0,
    name: str | None = None,
    validate_inputs: Mapping[str, object] | None = None,
    validate_output: object | None = None,
    resources: Resources | None = None,
) -> Callable[[Callable[P, R]], Step[P, R]]: ...
def step(
    fn: Callable[P, R] | None = None,
    /,
    *,
    cache: bool = True,
    retries: int = 0,
    timeout: float | None = None,
    version: str | None = None,
    retry_delay: float = 1.0,
    name: str | None = None,
    validate_inputs: Mapping[str, object] | None = None,
    validate_output: object | None = None,
    resources: Resources | None = None,
) -> Step[P, R] | Callable[[Callable[P, R]], Step[P, R]]:
    """Make a function a pipeline step.

    Args:
        cache: reuse outputs when code, version, parameters and inputs are unchanged.
        retries: how many times to retry after an error, with exponential backoff.
        timeout: seconds after which an attempt fails with ``StepTimeout``.
        version: a label that, when changed, invalidates the cache like a code change.
        retry_delay: seconds before the first retry; doubled for each further one.
        name: the step's name in pipelines (default: the function's name).
        validate_inputs: ``{parameter: cv.Schema}``; an input that fails its schema ends the
            step with ``DataValidationError`` before the function runs.
        validate_output: a ``cv.Schema`` the returned table must pass, or the step fails
            with ``DataValidationError`` and nothing is stored.
        resources: ``cv.Resources(cpus=, memory=, gpus=)`` a worker must offer to run the
            step (Dask worker resources, Ray task options); a step no worker can take fails
            at once.
    """

    def wrap(f: Callable[P, R]) -> Step[P, R]:
        if not callable(f) or not hasattr(f, "__code__"):
            raise PipelineDefinitionError(
                f"@step decorates a function, got {type(f).__name__}", got=type(f).__name__
            )
        spec = StepSpec(
            name=name or f.__name__,
            fn=f,
            retries=retries,
            timeout=timeout,
            cache=cache,
            version=version,
            retry_delay=retry_delay,
            n_outputs=count_outputs(f),
            validate_inputs=_checked_inputs(f, validate_inputs),
            validate_output=validate_output,
            resources=resources,
        )
        return Step(spec)

    if fn is not None:
        return wrap(fn)
    return wrap


def _checked_inputs(
    fn: Callable[..., object], schemas: Mapping[str, object] | None
) -> tuple[tuple[str, object], ...]:
    if not schemas:
        return ()
    parameters = inspect.signature(fn).parameters
    unknown = [name for name in schemas if name not in parameters]
    if unknown:
        raise PipelineDefinitionError(
            f"step {fn.__name__!r}: validate_inputs names {', '.join(map(repr, unknown))}, "
            f"which {'is not a parameter' if len(unknown) == 1 else 'are not parameters'}; "
            f"its parameters are {', '.join(parameters)}",
            step=fn.__name__,
        )
    return tuple(schemas.items())


def _by_name(
    signature: inspect.Signature, bound: inspect.BoundArguments
) -> tuple[tuple[object, ...], dict[str, object]]:
    """Arguments keyed by parameter name wherever the signature allows it, so cache keys and
    explanations speak of ``n_estimators``, not of the third positional argument."""
    kinds = {name: p.kind for name, p in signature.parameters.items()}
    if any(kinds[n] is inspect.Parameter.VAR_POSITIONAL and v for n, v in bound.arguments.items()):
        return tuple(bound.args), dict(bound.kwargs)
    args: list[object] = []
    kwargs: dict[str, object] = {}
    for name, value in bound.arguments.items():
        kind = kinds[name]
        if kind is inspect.Parameter.POSITIONAL_ONLY:
            args.append(value)
        elif kind is inspect.Parameter.VAR_KEYWORD:
            kwargs.update(value)
        elif kind is not inspect.Parameter.VAR_POSITIONAL:
            kwargs[name] = value
    return tuple(args), kwargs


def count_outputs(fn: Callable[..., object]) -> int | None:
    """How many outputs the return annotation declares: ``tuple[A, B]`` → 2; otherwise None."""
    annotation = inspect.signature(fn, eval_str=False).return_annotation
    if isinstance(annotation, str):
        return _count_in_text(annotation)
    if typing.get_origin(annotation) is tuple:
        args = typing.get_args(annotation)
        if args and Ellipsis not in args:
            return len(args)
    return None


def _count_in_text(text: str) -> int | None:
    text = text.strip()
    for prefix in ("tuple[", "Tuple[", "typing.Tuple["):
        if text.startswith(prefix) and text.endswith("]"):
            inner = text[len(prefix) : -1]
            parts, depth, current = [], 0, ""
            for char in inner:
                depth += char in "[("
                depth -= char in "])"
                if char == "," and depth == 0:
                    parts.append(current)
                    current = ""
                else:
                    current += char
            parts.append(current)
            parts = [p.strip() for p in parts if p.strip()]
            return None if not parts or "..." in parts else len(parts)
    return None


def _binding_error(
    name: str,
    signature: inspect.Signature,
    args: tuple[object, ...],
    kwargs: dict[str, object],
    exc: TypeError,
) -> PipelineDefinitionError:
    given = set(kwargs)
    positional = [
        p.name
        for p in signature.parameters.values()
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    given.update(positional[: len(args)])
    missing = [
        p.name
        for p in signature.parameters.values()
        if p.default is p.empty
        and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        and p.name not in given
    ]
    if missing:
        return MissingInputError(
            f"step {name!r} is missing input {', '.join(repr(m) for m in missing)}; "
            f"its signature is {name}{signature}",
            step=name,
            missing=missing,
        )
    return PipelineDefinitionError(
        f"step {name!r} cannot be called this way: {exc}; its signature is {name}{signature}",
        step=name,
    )
