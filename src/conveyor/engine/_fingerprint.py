"""Code fingerprints for cache keys: a step's bytecode and constants, plus the module-level
helpers, classes and constants of the user's own code that it refers to.

Comments, blank lines and moved code do not change a fingerprint (line numbers are left out);
a change to the body, a default, or a helper it calls does. Library code (anything installed
under the interpreter's prefix) is not followed: upgrading a library is not a code change here.
"""

from __future__ import annotations

import contextlib
import hashlib
import sys
import sysconfig
import types
import weakref
from collections.abc import Callable
from pathlib import Path

_MAX_DEPTH = 8  # helpers of helpers: deep enough for real code, bounded for pathological graphs

_cache: weakref.WeakKeyDictionary[Callable[..., object], str] = weakref.WeakKeyDictionary()


def fingerprint(fn: Callable[..., object]) -> str:
    """A hex digest of ``fn``'s code and the user code it reaches (cached per function object)."""
    try:
        return _cache[fn]
    except (KeyError, TypeError):
        pass
    digest = hashlib.sha256()
    _Walker(digest).function(fn, depth=0)
    result = digest.hexdigest()
    with contextlib.suppress(TypeError):  # not weak-referenceable (a builtin): don't cache
        _cache[fn] = result
    return result


def _library_roots() -> tuple[str, ...]:
    roots = {sys.prefix, sys.base_prefix, sys.exec_prefix}
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        path = sysconfig.get_paths().get(key)
        if path:
            roots.add(path)
    return tuple(str(Path(r).resolve()) for r in roots)


_LIBRARY_ROOTS = _library_roots()


def is_user_code(module_name: str | None) -> bool:
    """True for modules of the user's project: not built in, not under the interpreter's prefix,
    and not conveyor itself (an editable install lives in a project folder too)."""
    if not module_name or module_name == "conveyor" or module_name.startswith("conveyor."):
        return False
    module = sys.modules.get(module_name)
    path = getattr(module, "__file__", None)
    if path is None:
        return module_name == "__main__" or module is None
    resolved = str(Path(path).resolve())
    return not resolved.startswith(_LIBRARY_ROOTS)


class _Walker:
    def __init__(self, digest: hashlib._Hash) -> None:
        self._digest = digest
        self._seen: set[int] = set()

    def _add(self, *parts: object) -> None:
        for part in parts:
            text = part if isinstance(part, bytes) else _stable(part).encode("utf-8", "replace")
            self._digest.update(len(text).to_bytes(8, "little"))
            self._digest.update(text)

    def function(self, fn: Callable[..., object], depth: int) -> None:
        inner = getattr(fn, "spec", None)  # a Step called as a plain function inside another
        target = getattr(inner, "fn", fn)
        target = getattr(target, "__wrapped__", target)
        if id(target) in self._seen:
            return
        self._seen.add(id(target))
        code = getattr(target, "__code__", None)
        if code is None:
            self._add("opaque", getattr(target, "__qualname__", type(target).__name__))
            return
        self._add("fn", target.__qualname__, target.__defaults__, target.__kwdefaults__)
        self.code(code)
        if depth < _MAX_DEPTH:
            self.globals_of(code, target.__globals__, depth)

    def code(self, code: types.CodeType) -> None:
        self._add(code.co_code, code.co_names, code.co_varnames, code.co_argcount)
        for const in code.co_consts:
            if isinstance(const, types.CodeType):
                self.code(const)
            else:
                self._add(const)

    def globals_of(self, code: types.CodeType, namespace: dict[str, object], depth: int) -> None:
        for name in sorted(_all_names(code)):
            if name not in namespace:
                continue
            value = namespace[name]
            self.reference(name, value, _all_names(code), depth)

    def reference(self, name: str, value: object, names: set[str], depth: int) -> None:
        if isinstance(value, bool | int | float | str | bytes | tuple | frozenset | type(None)):
            self._add("const", name, value)
        elif isinstance(value, types.FunctionType) or hasattr(value, "spec"):
            module = getattr(getattr(value, "spec", value), "__module__", None)
            module = module or getattr(getattr(value, "spec", None), "fn", value).__module__
            if is_user_code(module):
                self._add("calls", name)
                self.function(value, depth + 1)  # type: ignore[arg-type]
        elif isinstance(value, type) and is_user_code(value.__module__):
            self._add("class", name)
            for attr_name, attr in sorted(vars(value).items()):
                fn = getattr(attr, "__func__", attr)
                if isinstance(fn, types.FunctionType):
                    self._add(attr_name)
                    self.function(fn, depth + 1)
        elif isinstance(value, types.ModuleType) and is_user_code(value.__name__):
            for attr in sorted(names):
                member = getattr(value, attr, None)
                if isinstance(member, types.FunctionType) and member.__module__ == value.__name__:
                    self._add("module-fn", value.__name__, attr)
                    self.function(member, depth + 1)


_PLAIN = (bool, int, float, complex, str, bytes, type(None), type(Ellipsis))


def _stable(value: object) -> str:
    """A text for ``value`` that is the same in every process: sets are written sorted (their
    order follows string hashing, which is salted per process), and objects without a plain
    value by their type (their default repr holds a memory address)."""
    if isinstance(value, _PLAIN):
        return repr(value)
    if isinstance(value, tuple | list):
        return "(" + ",".join(_stable(v) for v in value) + ")"
    if isinstance(value, dict):
        items = sorted(f"{_stable(k)}:{_stable(v)}" for k, v in value.items())
        return "{" + ",".join(items) + "}"
    if isinstance(value, frozenset | set):
        return "{" + ",".join(sorted(_stable(v) for v in value)) + "}"
    if isinstance(value, type):
        return f"<class {value.__module__}.{value.__qualname__}>"
    return f"<{type(value).__module__}.{type(value).__qualname__}>"


def _all_names(code: types.CodeType) -> set[str]:
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _all_names(const)
    return names
