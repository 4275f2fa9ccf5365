"""Output, conversion, arguments and errors: print, str, num, type, length, range, assert…"""

from __future__ import annotations

import json
import math
import os
import sys
from typing import Any

from ezlang.lang import context
from ezlang.lang.builtins.args import (
    _MISSING,
    _ez,
    _int,
    _is_number,
    _str,
    _type_error,
)
from ezlang.lang.errors import EzError
from ezlang.lang.registry import register
from ezlang.lang.values import (
    MAX_INT_DIGITS,
    EzObject,
    format_number,
    to_str,
    truthy,
    type_name,
)

# ---------------------------------------------------------------------------------------------
# Output and conversion


@_ez("print")
def ez_print(*values: Any) -> None:
    """``print(a, b)`` writes the values separated by one space, then a newline."""
    try:
        sys.stdout.write(" ".join([to_str(v) for v in values]) + "\n")
    except BrokenPipeError:
        _stdout_gone()


def _stdout_gone() -> None:
    """The reader of stdout went away (``ezlang run x.ez | head``): stop quietly."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # later writes and the final flush succeed
        os.close(devnull)
    except (OSError, ValueError):
        pass
    from ezlang.lang.runner import request_stop

    request_stop()


@_ez("str")
def ez_str(value: Any = None) -> str:
    """``str(v)``: the text ``print`` would show for ``v``."""
    return to_str(value)


def _parse_number(fname: str, text: str) -> int | float | None:
    """Parse number text the way the lexer reads number literals (plus a sign); ``None`` if it
    is not a number. Too many digits for a whole number is a ValueError naming ``fname``."""
    s = text.strip()
    if not s:
        return None
    sign = 1
    if s[0] in "+-":
        sign = -1 if s[0] == "-" else 1
        s = s[1:]
    if not s or "__" in s or s.startswith("_") or s.endswith("_"):
        return None
    try:
        if s[:2] in ("0x", "0X"):
            return sign * int(s[2:], 16)
        if s[:2] in ("0b", "0B"):
            return sign * int(s[2:], 2)
        if s[:2] in ("0o", "0O"):
            return sign * int(s[2:], 8)
        if s.isdigit() or s.replace("_", "").isdigit():
            digits = len(s) - s.count("_")
            if digits > MAX_INT_DIGITS:
                raise EzError(
                    "ValueError",
                    f"{fname}() cannot convert a {digits}-digit number: "
                    f"at most {MAX_INT_DIGITS} digits",
                )
            return sign * int(s)
        if s.lower().lstrip(".0123456789_e+-") != "":
            return None  # rejects "inf", "nan", "infinity" which float() would accept
        value = float(s)
    except ValueError:
        return None
    if math.isinf(value):
        return None
    return sign * value


@_ez("num")
def ez_num(value: Any = _MISSING) -> int | float:
    """``num("3.5")`` is ``3.5``; text that is not a number is a ValueError."""
    if _is_number(value):
        return value  # type: ignore[no-any-return]
    if type(value) is bool:
        return 1 if value else 0
    if type(value) is str:
        parsed = _parse_number("num", value)
        if parsed is None:
            raise EzError("ValueError", f"num() cannot convert {json.dumps(value)} to a number")
        return parsed
    raise _type_error("num", "a number, a string or a boolean", value)


@_ez("int")
def ez_int(value: Any = _MISSING) -> int:
    """``int(3.7)`` is ``3`` (towards zero); ``int("42")`` is ``42``."""
    if type(value) is str:
        parsed = _parse_number("int", value)
        if parsed is None:
            raise EzError("ValueError", f"int() cannot convert {json.dumps(value)} to a number")
        value = parsed
    elif type(value) is bool:
        return 1 if value else 0
    if type(value) is int:
        return value  # type: ignore[no-any-return]
    if type(value) is float:
        if math.isnan(value) or math.isinf(value):
            raise EzError(
                "ValueError", f"int() cannot convert {format_number(value)} to a whole number"
            )
        return int(value)
    raise _type_error("int", "a number, a string or a boolean", value)


@_ez("type")
def ez_type(value: Any = None) -> str:
    """``type(v)``: "number", "string", "boolean", "null", "array", "object" or "function"."""
    return type_name(value)


register("typeof", ez_type)


@_ez("length")
def ez_length(value: Any = _MISSING) -> int:
    """Number of characters of a string, items of an array, or keys of an object."""
    t = type(value)
    if t is str or t is list or t is dict:
        return len(value)
    if isinstance(value, EzObject):
        return len(value.ez_keys())
    raise _type_error("length", "a string, an array or an object", value)


@_ez("range")
def ez_range(a: Any = _MISSING, b: Any = _MISSING, step: Any = _MISSING) -> list[int]:
    """``range(n)`` is 0..n-1, ``range(a, b)`` is a..b-1, ``range(a, b, step)`` steps by ``step``."""
    nargs = 1 if b is _MISSING else (2 if step is _MISSING else 3)
    start = _int("range", a, 0, nargs)
    if b is _MISSING:
        return _range_list(range(start))
    stop = _int("range", b, 1, nargs)
    if step is _MISSING:
        return _range_list(range(start, stop))
    by = _int("range", step, 2, nargs)
    if by == 0:
        raise EzError("ValueError", "range() step cannot be 0")
    return _range_list(range(start, stop, by))


#: range() makes a real array; beyond this many numbers it would eat gigabytes of memory.
MAX_RANGE = 10_000_000


def _range_list(r: range) -> list[int]:
    try:
        count = len(r)
    except OverflowError:  # more numbers than a machine word can count
        count = MAX_RANGE + 1
    if count > MAX_RANGE:
        raise EzError(
            "ValueError",
            f"range() would make more than {MAX_RANGE} numbers; use a while loop to count that far",
        )
    return list(r)


# ---------------------------------------------------------------------------------------------
# Program arguments and environment


@_ez("get_argument")
def ez_get_argument(name: Any = _MISSING, default: Any = None) -> Any:
    """``get_argument("ROUNDS")``: ``ROUNDS=...`` from the command line, else the environment,
    else ``default`` (``null`` if not given). Values are strings."""
    key = _str("get_argument", name, 0, 2)
    args = context.current().arguments
    if key in args:
        return args[key]
    return os.environ.get(key, default)


@_ez("get_env")
def ez_get_env(name: Any = _MISSING, default: Any = None) -> Any:
    """``get_env("HOME")``: an environment variable, or ``default`` (``null``) if unset."""
    return os.environ.get(_str("get_env", name, 0, 2), default)


# ---------------------------------------------------------------------------------------------
# Errors


@_ez("error")
def ez_error(message: Any = "error") -> None:
    """``error("bad input")`` raises an error of kind ``Error`` with that message."""
    raise EzError("Error", message if type(message) is str else to_str(message), value=message)


@_ez("assert")
def ez_assert(condition: Any = _MISSING, message: Any = None) -> None:
    """``assert(x > 0, "x must be positive")`` raises kind ``Error`` when the condition is falsy.

    Without a message the error says ``assertion failed``.
    """
    if condition is _MISSING:
        raise EzError("ArgumentError", "assert() needs a condition")
    if not truthy(condition):
        text = "assertion failed" if message is None else to_str(message)
        raise EzError("Error", text, value=text)
