"""Where builtins live, and how extension modules add theirs without touching the compiler.

The compiler makes :data:`BUILTINS` the ``__builtins__`` of every compiled EasyLang module, so
a name that is not a variable is looked up here. Builtins are plain Python callables taking
and returning EasyLang values (None, bool, int, float, str, list, dict, callables, and
objects implementing the ``EzObject`` protocol of ``ezlang.lang.values``).

* :func:`register` adds one builtin. An ``async def`` builtin is wrapped so that
  EasyLang code calls it like a plain function (it pauses only the caller; see
  ``asyncbridge``).
* :func:`register_lazy` declares names whose module is imported on first use, so heavy
  extensions (discord.py costs ~0.3 s to import) do not slow down programs that never use them.
  ``ezlang.extensions`` lists the lazy extensions of the Discord and sharding layers.
"""

from __future__ import annotations

import functools
import importlib
import inspect
from collections.abc import Callable, Iterable
from typing import Any

from ezlang.lang.asyncbridge import await_

BUILTINS: dict[str, Any] = {}


def _syncify(fn: Callable[..., Any]) -> Callable[..., Any]:
    if not inspect.iscoroutinefunction(fn):
        return fn

    @functools.wraps(fn)
    def call(*args: Any) -> Any:
        return await_(fn(*args))

    call.__ez_async__ = fn  # type: ignore[attr-defined]
    return call


def register(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    """Make ``fn`` the builtin ``name`` (replacing any lazy placeholder)."""
    wrapped = _syncify(fn)
    try:
        wrapped.__ez_name__ = name  # type: ignore[attr-defined]
    except (AttributeError, TypeError):
        # C functions (list.append, math.sqrt…) take no attributes: wrap them.
        inner = wrapped

        def wrapped(*args: Any) -> Any:
            return inner(*args)

        wrapped.__name__ = wrapped.__qualname__ = name
        wrapped.__ez_name__ = name  # type: ignore[attr-defined]
    BUILTINS[name] = wrapped
    return wrapped


class _LazyBuiltin:
    """Placeholder that imports its module on first call; the module must ``register`` the name."""

    __slots__ = ("name", "module", "__ez_name__")

    def __init__(self, name: str, module: str) -> None:
        self.name = name
        self.module = module
        self.__ez_name__ = name

    def resolve(self) -> Callable[..., Any]:
        importlib.import_module(self.module)
        real = BUILTINS.get(self.name)
        if real is None or real is self:
            raise RuntimeError(f"module {self.module} did not register builtin {self.name}")
        return real  # type: ignore[no-any-return]

    def __call__(self, *args: Any) -> Any:
        return self.resolve()(*args)

    def __repr__(self) -> str:
        return f"<builtin {self.name}>"


def register_lazy(names: Iterable[str], module: str) -> None:
    """Declare builtins provided by ``module``, imported the first time one of them is called."""
    for name in names:
        if name not in BUILTINS:
            BUILTINS[name] = _LazyBuiltin(name, module)


def resolve(value: Any) -> Any:
    """The real function behind a possibly-lazy builtin (for code that inspects builtins)."""
    return value.resolve() if isinstance(value, _LazyBuiltin) else value
