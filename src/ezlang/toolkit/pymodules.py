"""``import_python(name)`` (and ``use python "name" as x``): an installed Python module as an
EasyLang object.

Registered lazily (``ezlang.extensions.PYTHON_BUILTINS``). Values are converted at the
boundary, both ways:

* Python → EasyLang: ``None``, ``bool``, ``int``, ``float``, ``str`` pass; lists, tuples and
  sets become arrays and dicts become objects (copied, keys as strings); functions become
  EasyLang functions; every other object (a module, a class, an instance) is wrapped in a
  :class:`PythonObject` whose attributes EasyLang reads with ``.name`` and whose methods it
  calls.
* EasyLang → Python: arrays become lists, objects dicts, wrapped objects are unwrapped, and
  EasyLang functions become Python callables (Python may call them back; their errors stay
  EasyLang errors with their own ``.ez`` position).

A Python exception raised by a call becomes an EasyLang ``Error`` whose message reads
``python: ValueError: ...``; the runtime positions it at the ``.ez`` call. A Python function
returning a coroutine is awaited (pausing only the EasyLang caller). Calls are positional
only: EasyLang has no keyword arguments.
"""

from __future__ import annotations

import importlib
import inspect
import sys
from collections.abc import Callable
from typing import Any

from ezlang.lang.asyncbridge import await_
from ezlang.lang.errors import EzError, to_ez_error
from ezlang.lang.registry import register
from ezlang.lang.values import EzObject, is_number, type_name

_MISSING: Any = object()
_SCALARS = (type(None), bool, int, float, str)


def _python_error(exc: Exception) -> EzError:
    err = EzError("Error", f"python: {type(exc).__name__}: {exc}")
    err.__cause__ = exc  # shown with --debug
    return err


def to_python(value: Any) -> Any:
    """An EasyLang value as the Python value a Python function expects."""
    t = type(value)
    if t in _SCALARS:
        return value
    if t is list or t is tuple:
        return [to_python(v) for v in value]
    if t is dict:
        return {k: to_python(v) for k, v in value.items()}
    if isinstance(value, PythonObject):
        return value.wrapped
    unwrapped = getattr(value, "__ez_python__", _MISSING)
    if unwrapped is not _MISSING:
        return unwrapped
    if callable(value):
        return _callback(value)
    return value


def _callback(fn: Callable[..., Any]) -> Callable[..., Any]:
    """An EasyLang function as Python calls it: arguments and result converted, and a failure
    inside it turned into its EasyLang error here, where its ``.ez`` frames are still known."""

    def callback(*args: Any) -> Any:
        try:
            result = fn(*(to_easylang(a) for a in args))
        except EzError:
            raise
        except Exception as exc:
            raise to_ez_error(exc) from exc
        return to_python(result)

    callback.__name__ = callback.__qualname__ = getattr(fn, "__name__", "callback")
    return callback


def to_easylang(value: Any, name: str = "") -> Any:
    """A Python value as an EasyLang value (see the module docstring); ``name`` labels
    functions and objects in messages and stack traces."""
    t = type(value)
    if t in _SCALARS:
        return value
    if isinstance(value, bool | str):  # subclasses (str enums …) as their plain value
        return str(value) if isinstance(value, str) else bool(value)
    if isinstance(value, int | float) and not is_number(value):
        return float(value) if isinstance(value, float) else int(value)
    if isinstance(value, list | tuple | set | frozenset):
        return [to_easylang(v) for v in value]
    if isinstance(value, dict):
        return {_key(k): to_easylang(v) for k, v in value.items()}
    if isinstance(value, EzObject):
        return value
    if inspect.isroutine(value):
        return _function(value, name or getattr(value, "__name__", "python function"))
    return PythonObject(value, name or type(value).__name__)


def _key(key: Any) -> str:
    if type(key) is str:
        return key  # type: ignore[no-any-return]
    if key is None or isinstance(key, bool):
        return "null" if key is None else ("true" if key else "false")
    return str(key)


def _call(fn: Any, args: tuple[Any, ...]) -> Any:
    py_args = [to_python(a) for a in args]
    try:
        result = fn(*py_args)
        if inspect.isawaitable(result):
            result = await_(result)
    except EzError:
        raise  # an EasyLang callback failed: its own error, unchanged
    except Exception as exc:
        raise _python_error(exc) from exc
    return to_easylang(result)


def _function(fn: Any, name: str) -> Callable[..., Any]:
    def call(*args: Any) -> Any:
        return _call(fn, args)

    call.__name__ = call.__qualname__ = name
    call.__ez_name__ = name  # type: ignore[attr-defined]
    call.__ez_python__ = fn  # type: ignore[attr-defined]
    return call


class PythonObject(EzObject):
    """A Python object (module, class, instance) seen from EasyLang.

    ``o.name`` reads an attribute (converted; a missing one reads as null, as for every
    EasyLang object), ``o(args)`` calls it (classes make instances), ``keys(o)`` lists its
    public attribute names.
    """

    ez_type = "object"
    __slots__ = ("wrapped", "name")

    def __init__(self, wrapped: Any, name: str) -> None:
        self.wrapped = wrapped
        self.name = name

    def ez_get(self, name: str) -> Any:
        try:
            value = getattr(self.wrapped, name)
        except AttributeError:
            return None
        except Exception as exc:  # a property that raised
            raise _python_error(exc) from exc
        return to_easylang(value, f"{self.name}.{name}")

    def ez_keys(self) -> list[str]:
        names = getattr(self.wrapped, "__all__", None)
        if not isinstance(names, list | tuple):
            names = dir(self.wrapped)
        return sorted(str(n) for n in names if not str(n).startswith("_"))

    def __call__(self, *args: Any) -> Any:
        if not callable(self.wrapped):
            raise EzError("TypeError", f"{self.name} is not a function (it is a Python object)")
        return _call(self.wrapped, args)

    def __repr__(self) -> str:
        return f"<python {self.name}>"


def import_python(name: Any = _MISSING) -> PythonObject:
    """The installed Python module ``name`` (``"math"``, ``"os.path"``) as an EasyLang object."""
    if type(name) is not str or not name:
        got = "nothing" if name is _MISSING else type_name(name)
        raise EzError(
            "TypeError", f'import_python() expects a module name such as "math", got {got}'
        )
    try:
        module = importlib.import_module(name)
    except ModuleNotFoundError as exc:
        missing = exc.name or name
        top = missing.split(".")[0]
        pip = f"{sys.executable} -m pip install {top}"
        if name == missing or name.startswith(missing + "."):
            message = f'python module "{name}" is not installed (install it with: {pip})'
        else:
            message = (
                f'python module "{name}" needs the module "{missing}", which is not installed '
                f"(install it with: {pip})"
            )
        raise EzError("ImportError", message) from exc
    except Exception as exc:
        raise EzError(
            "ImportError", f'python module "{name}" failed to load: {type(exc).__name__}: {exc}'
        ) from exc
    return PythonObject(module, name)


register("import_python", import_python)
