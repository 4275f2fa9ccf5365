"""Registration and argument checking shared by the core builtins."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ezlang.lang.errors import EzError
from ezlang.lang.registry import register
from ezlang.lang.values import (
    EzObject,
    format_number,
    type_name,
)

# ---------------------------------------------------------------------------------------------
# Registration and argument checking helpers


def _ez(name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register the decorated function as builtin ``name``.

    The Python function is renamed to the EasyLang name so that anything which reports the
    function (argument-count errors, stack traces, ``print(upper)``) speaks EasyLang.
    """

    def deco(fn: Callable[..., Any]) -> Callable[..., Any]:
        fn.__name__ = name
        fn.__qualname__ = name
        register(name, fn)
        return fn

    return deco


# Sentinel for "argument not given", so that an explicit ``null`` can be told apart.
_MISSING: Any = object()

_ORDINALS = ("first", "second", "third", "fourth")


def _desc(fname: str, pos: int, nargs: int) -> str:
    """``upper() expects a string as its argument`` / ``... as its second argument``."""
    which = "its argument" if nargs == 1 else f"its {_ORDINALS[pos]} argument"
    return f"{fname}() expects {{}} as {which}, got {{}}"


def _type_error(fname: str, expected: str, value: Any, pos: int = 0, nargs: int = 1) -> EzError:
    got = type_name(value) if value is not _MISSING else "nothing"
    return EzError("TypeError", _desc(fname, pos, nargs).format(expected, got))


def _is_number(v: Any) -> bool:
    t = type(v)
    return t is int or t is float


def _num(fname: str, v: Any, pos: int = 0, nargs: int = 1) -> int | float:
    if type(v) is int or type(v) is float:
        return v  # type: ignore[no-any-return]
    raise _type_error(fname, "a number", v, pos, nargs)


def _str(fname: str, v: Any, pos: int = 0, nargs: int = 1) -> str:
    if type(v) is str:
        return v  # type: ignore[no-any-return]
    raise _type_error(fname, "a string", v, pos, nargs)


def _arr(fname: str, v: Any, pos: int = 0, nargs: int = 1) -> list[Any]:
    if type(v) is list:
        return v  # type: ignore[no-any-return]
    raise _type_error(fname, "an array", v, pos, nargs)


def _int(fname: str, v: Any, pos: int = 0, nargs: int = 1, what: str = "a whole number") -> int:
    """An integer argument; ``2.0`` is accepted as ``2`` (numbers print the same)."""
    if type(v) is int:
        return v  # type: ignore[no-any-return]
    if type(v) is float and v.is_integer():
        return int(v)
    if type(v) is float:
        raise EzError("ValueError", _desc(fname, pos, nargs).format(what, format_number(v)))
    raise _type_error(fname, what, v, pos, nargs)


def _func(fname: str, v: Any, pos: int, nargs: int) -> Callable[..., Any]:
    if callable(v) and not isinstance(v, EzObject):
        return v  # type: ignore[no-any-return]
    raise _type_error(fname, "a function", v, pos, nargs)


def _norm_num(x: float) -> int | float:
    """Whole floats from int-producing operations become ints (``floor(2.5)`` is ``2``)."""
    return int(x) if x.is_integer() else x
