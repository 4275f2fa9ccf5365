"""The core EasyLang builtins (``print``, ``length``, ``json_parse``, ``wait`` ...).

Importing this module registers every core builtin of the language reference with
:mod:`ezlang.lang.registry`. Builtins take and return EasyLang values (see
``docs/ARCHITECTURE.md``: ``None``, ``bool``, ``int``/``float``, ``str``, ``list``, ``dict``,
callables and ``EzObject`` host objects) and report user mistakes as
``EzError(kind, message)`` whose message names the builtin and the argument, for example
``upper() expects a string as its argument, got number``. The runtime adds the ``.ez``
position.

Only the standard library is imported here: ``ezlang run empty.ez`` must stay fast, so
nothing heavy (discord.py, aiohttp, rich) may be pulled in at import time.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import sys
import time as _time
from collections.abc import Callable
from typing import Any

from ezlang.lang import context
from ezlang.lang.errors import EzError
from ezlang.lang.registry import register
from ezlang.lang.values import (
    MAX_INT_DIGITS,
    EzObject,
    equals,
    format_number,
    to_str,
    truthy,
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
# Arrays


@_ez("push")
def ez_push(arr: Any = _MISSING, value: Any = None) -> int:
    """``push(arr, v)`` adds ``v`` at the end of ``arr`` (in place); returns the new length."""
    items = _arr("push", arr, 0, 2)
    items.append(value)
    return len(items)


@_ez("append")
def ez_append(arr: Any = _MISSING, value: Any = None) -> list[Any]:
    """Adds ``v`` at the end of ``arr`` (in place) and returns ``arr``, as the older EasyLang's
    ``append`` did (so ``items = append(items, v)`` works); ``push`` returns the new length."""
    items = _arr("append", arr, 0, 2)
    items.append(value)
    return items


@_ez("pop")
def ez_pop(arr: Any = _MISSING) -> Any:
    """Removes and returns the last item of ``arr``; an empty array is an IndexError."""
    items = _arr("pop", arr)
    if not items:
        raise EzError("IndexError", "pop() from an empty array")
    return items.pop()


@_ez("insert")
def ez_insert(arr: Any = _MISSING, index: Any = _MISSING, value: Any = None) -> None:
    """``insert(arr, i, v)`` puts ``v`` before position ``i`` (0 ≤ i ≤ length; negative counts
    from the end)."""
    items = _arr("insert", arr, 0, 3)
    i = _int("insert", index, 1, 3, "an index")
    n = len(items)
    if i < 0:
        i += n
    if not 0 <= i <= n:
        raise EzError(
            "IndexError", f"insert() index {index} is out of range for an array of length {n}"
        )
    items.insert(i, value)


@_ez("remove")
def ez_remove(container: Any = _MISSING, key: Any = _MISSING) -> Any:
    """``remove(arr, i)`` removes and returns item ``i``; ``remove(obj, k)`` deletes key ``k``."""
    if type(container) is dict:
        k = _str("remove", key, 1, 2)
        return container.pop(k, None)
    items = _arr("remove", container, 0, 2)
    i = _int("remove", key, 1, 2, "an index")
    n = len(items)
    if not -n <= i < n:
        raise EzError(
            "IndexError", f"remove() index {key} is out of range for an array of length {n}"
        )
    return items.pop(i)


def _clamp_index(i: int, n: int) -> int:
    if i < 0:
        i += n
    return 0 if i < 0 else (n if i > n else i)


@_ez("slice")
def ez_slice(value: Any = _MISSING, start: Any = _MISSING, end: Any = None) -> Any:
    """``slice(v, start, end?)``: a copy of part of an array or string (negative from the end)."""
    if type(value) is not list and type(value) is not str:
        raise _type_error("slice", "an array or a string", value, 0, 3)
    n = len(value)
    s = _clamp_index(_int("slice", 0 if start is _MISSING or start is None else start, 1, 3), n)
    e = n if end is None else _clamp_index(_int("slice", end, 2, 3), n)
    return value[s:e]


@_ez("reverse")
def ez_reverse(value: Any = _MISSING) -> Any:
    """A reversed copy of an array or string (the original is left unchanged)."""
    if type(value) is list or type(value) is str:
        return value[::-1]
    raise _type_error("reverse", "an array or a string", value)


def _sort_key_check(fname: str, keys: list[Any]) -> None:
    """Sorting compares numbers with numbers and strings with strings only."""
    kind = None
    for k in keys:
        t = type(k)
        this = "number" if t is int or t is float else ("string" if t is str else None)
        if this is None:
            raise EzError(
                "TypeError", f"{fname}() can only sort numbers or strings, got {type_name(k)}"
            )
        if kind is None:
            kind = this
        elif kind != this:
            raise EzError("TypeError", f"{fname}() cannot compare a number with a string")


@_ez("sort")
def ez_sort(arr: Any = _MISSING, key_func: Any = None) -> list[Any]:
    """Sorts ``arr`` in place (numbers numerically, strings alphabetically) and returns it.

    ``key_func(item)`` gives the value to sort by. Mixing numbers and strings is a TypeError.
    """
    items = _arr("sort", arr, 0, 2)
    if key_func is None:
        _sort_key_check("sort", items)
        items.sort()
        return items
    fn = _func("sort", key_func, 1, 2)
    keys = [fn(item) for item in items]
    _sort_key_check("sort", keys)
    order = sorted(range(len(items)), key=keys.__getitem__)
    items[:] = [items[i] for i in order]
    return items


# ---------------------------------------------------------------------------------------------
# Objects


def _obj_keys(fname: str, obj: Any) -> list[str]:
    if type(obj) is dict:
        return list(obj)
    if isinstance(obj, EzObject):
        return list(obj.ez_keys())
    raise _type_error(fname, "an object", obj)


@_ez("keys")
def ez_keys(obj: Any = _MISSING) -> list[str]:
    """The keys of an object, in insertion order."""
    return _obj_keys("keys", obj)


register("object_keys", ez_keys)


@_ez("values")
def ez_values(obj: Any = _MISSING) -> list[Any]:
    """The values of an object, in insertion order."""
    if type(obj) is dict:
        return list(obj.values())
    if isinstance(obj, EzObject):
        return [obj.ez_get(k) for k in obj.ez_keys()]
    raise _type_error("values", "an object", obj)


@_ez("has_key")
def ez_has_key(obj: Any = _MISSING, key: Any = _MISSING) -> bool:
    """True if the object has the key (even when its value is ``null``)."""
    if type(obj) is dict:
        return _str("has_key", key, 1, 2) in obj
    if isinstance(obj, EzObject):
        return _str("has_key", key, 1, 2) in obj.ez_keys()
    raise _type_error("has_key", "an object", obj, 0, 2)


@_ez("contains")
def ez_contains(haystack: Any = _MISSING, needle: Any = _MISSING) -> bool:
    """Substring of a string, item of an array (by value), or key of an object."""
    t = type(haystack)
    if t is str:
        return _str("contains", needle, 1, 2) in haystack
    if t is list:
        return any(equals(item, needle) for item in haystack)
    if t is dict:
        return needle in haystack if type(needle) is str else False
    if isinstance(haystack, EzObject):
        return needle in haystack.ez_keys()
    raise _type_error("contains", "a string, an array or an object", haystack, 0, 2)


@_ez("index_of")
def ez_index_of(value: Any = _MISSING, item: Any = _MISSING) -> int:
    """Position of ``item`` in an array or string, or ``-1`` if it is not there."""
    if type(value) is str:
        return value.find(_str("index_of", item, 1, 2))
    if type(value) is list:
        for i, x in enumerate(value):
            if equals(x, item):
                return i
        return -1
    raise _type_error("index_of", "an array or a string", value, 0, 2)


# ---------------------------------------------------------------------------------------------
# Strings


@_ez("split")
def ez_split(s: Any = _MISSING, sep: Any = None) -> list[str]:
    """``split("a,b", ",")`` is ``["a", "b"]``; no separator splits on whitespace; ``""``
    splits into characters."""
    text = _str("split", s, 0, 2)
    if sep is None:
        return text.split()
    separator = _str("split", sep, 1, 2)
    if separator == "":
        return list(text)
    return text.split(separator)


@_ez("join")
def ez_join(arr: Any = _MISSING, sep: Any = ",") -> str:
    """``join(["a", "b"], "-")`` is ``"a-b"``; items are shown as ``str`` shows them."""
    items = _arr("join", arr, 0, 2)
    separator = _str("join", sep, 1, 2)
    return separator.join([x if type(x) is str else to_str(x) for x in items])


@_ez("replace")
def ez_replace(s: Any = _MISSING, old: Any = _MISSING, new: Any = _MISSING) -> str:
    """Replaces every occurrence of ``old`` in ``s`` with ``new``."""
    return _str("replace", s, 0, 3).replace(_str("replace", old, 1, 3), _str("replace", new, 2, 3))


@_ez("upper")
def ez_upper(s: Any = _MISSING) -> str:
    """``upper("hi")`` is ``"HI"``."""
    return _str("upper", s).upper()


@_ez("lower")
def ez_lower(s: Any = _MISSING) -> str:
    """``lower("HI")`` is ``"hi"``."""
    return _str("lower", s).lower()


@_ez("trim")
def ez_trim(s: Any = _MISSING) -> str:
    """Removes whitespace at both ends."""
    return _str("trim", s).strip()


@_ez("starts_with")
def ez_starts_with(s: Any = _MISSING, prefix: Any = _MISSING) -> bool:
    """``starts_with("!ping", "!")`` is ``true``."""
    return _str("starts_with", s, 0, 2).startswith(_str("starts_with", prefix, 1, 2))


@_ez("ends_with")
def ez_ends_with(s: Any = _MISSING, suffix: Any = _MISSING) -> bool:
    """``ends_with("file.ez", ".ez")`` is ``true``."""
    return _str("ends_with", s, 0, 2).endswith(_str("ends_with", suffix, 1, 2))


@_ez("substr")
def ez_substr(s: Any = _MISSING, start: Any = _MISSING, end: Any = None) -> str:
    """``substr(s, start, end?)``: the characters from ``start`` up to (not including) ``end``,
    or to the end of ``s``; the older EasyLang's substr, which was JavaScript's ``substring``:
    indexes below 0 count as 0, past the end as the end, and ``start > end`` swaps them."""
    text = _str("substr", s, 0, 3)
    n = len(text)
    begin = min(max(_int("substr", start, 1, 3), 0), n)
    stop = n if end is None else min(max(_int("substr", end, 2, 3), 0), n)
    if begin > stop:
        begin, stop = stop, begin
    return text[begin:stop]


# ---------------------------------------------------------------------------------------------
# Math


@_ez("floor")
def ez_floor(x: Any = _MISSING) -> int | float:
    """``floor(2.7)`` is ``2``."""
    v = _num("floor", x)
    return v if type(v) is int or not math.isfinite(v) else math.floor(v)


@_ez("ceil")
def ez_ceil(x: Any = _MISSING) -> int | float:
    """``ceil(2.1)`` is ``3``."""
    v = _num("ceil", x)
    return v if type(v) is int or not math.isfinite(v) else math.ceil(v)


@_ez("round")
def ez_round(x: Any = _MISSING, digits: Any = None) -> int | float:
    """``round(2.5)`` is ``3`` (halves round away from zero); ``round(3.14159, 2)`` is ``3.14``."""
    v = _num("round", x, 0, 2)
    places = 0 if digits is None else _int("round", digits, 1, 2)
    if type(v) is int and places >= 0:
        return v
    if not math.isfinite(v):
        return v
    # Imported here: decimal (and random, below) cost start-up time most programs never use.
    from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

    try:
        # Decimal of repr() rounds the number as it is written: round(1.005, 2) is 1.01.
        rounded = Decimal(repr(v)).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    except InvalidOperation:
        return v  # more digits asked than the number has
    return int(rounded) if places <= 0 else _norm_num(float(rounded))


@_ez("abs")
def ez_abs(x: Any = _MISSING) -> int | float:
    """``abs(-3)`` is ``3``."""
    return abs(_num("abs", x))


def _min_max(fname: str, args: tuple[Any, ...], pick: Callable[..., Any]) -> Any:
    values: Any = args
    if len(args) == 1 and type(args[0]) is list:
        values = args[0]
    if not values:
        raise EzError("ValueError", f"{fname}() needs at least one number")
    all_numbers = all(type(v) is int or type(v) is float for v in values)
    if not all_numbers and not all(type(v) is str for v in values):
        bad = next(v for v in values if type(v) is not int and type(v) is not float)
        raise EzError(
            "TypeError",
            f"{fname}() expects numbers (or one array of numbers), got {type_name(bad)}",
        )
    return pick(values)


@_ez("min")
def ez_min(*args: Any) -> Any:
    """``min(3, 1, 2)`` and ``min([3, 1, 2])`` are ``1``."""
    return _min_max("min", args, min)


@_ez("max")
def ez_max(*args: Any) -> Any:
    """``max(3, 1, 2)`` and ``max([3, 1, 2])`` are ``3``."""
    return _min_max("max", args, max)


@_ez("sqrt")
def ez_sqrt(x: Any = _MISSING) -> int | float:
    """``sqrt(9)`` is ``3``; a negative number is a ValueError."""
    v = _num("sqrt", x)
    if v < 0:
        raise EzError("ValueError", f"sqrt() of a negative number ({format_number(v)})")
    if type(v) is int:
        r = math.isqrt(v)
        if r * r == v:
            return r
    return math.sqrt(v)


@_ez("pow")
def ez_pow(base: Any = _MISSING, exponent: Any = _MISSING) -> int | float:
    """``pow(2, 10)`` is ``1024``."""
    a = _num("pow", base, 0, 2)
    b = _num("pow", exponent, 1, 2)
    if type(a) is int and type(b) is int and b >= 0 and (b <= 64 or abs(a) <= 1):
        return a**b
    try:
        result = math.pow(a, b)
    except OverflowError:
        return math.inf if a > 0 or (type(b) is int and b % 2 == 0) else -math.inf
    except ValueError:
        raise EzError(
            "ValueError",
            f"pow() of {format_number(a)} to the power {format_number(b)} is not a number",
        ) from None
    return _norm_num(result) if abs(result) < 2**53 else result


@_ez("random")
def ez_random(low: Any = _MISSING, high: Any = _MISSING) -> int | float:
    """``random()``: a number from 0 (inclusive) to 1 (exclusive); ``random(1, 6)``: a whole
    number from ``low`` to ``high``, both included (as the older EasyLang's random)."""
    import random

    if low is _MISSING and high is _MISSING:
        return random.random()
    if high is _MISSING:
        raise EzError(
            "ArgumentError", "random() takes no arguments or two (random(min, max)), got 1"
        )
    lo = _int("random", low, 0, 2)
    hi = _int("random", high, 1, 2)
    if lo > hi:
        raise EzError("ValueError", f"random() needs min <= max, got {lo} and {hi}")
    return random.randint(lo, hi)


@_ez("random_int")
def ez_random_int(a: Any = _MISSING, b: Any = _MISSING) -> int:
    """``random_int(1, 6)``: a random whole number from ``a`` to ``b``, both included."""
    lo = _int("random_int", a, 0, 2)
    hi = _int("random_int", b, 1, 2)
    if lo > hi:
        raise EzError("ValueError", f"random_int() needs a <= b, got {lo} and {hi}")
    import random

    return random.randint(lo, hi)


# ---------------------------------------------------------------------------------------------
# Time and pausing


@_ez("time")
def ez_time() -> int:
    """Milliseconds since 1970, a whole number, as the older EasyLang's ``time()`` (and
    JavaScript's ``Date.now()``); the same as ``now()``."""
    return _time.time_ns() // 1_000_000


@_ez("now")
def ez_now() -> int:
    """Milliseconds since 1970, a whole number (like JavaScript's ``Date.now()``)."""
    return _time.time_ns() // 1_000_000


def _seconds(fname: str, value: Any) -> float:
    v = _num(fname, value)
    if math.isnan(v):
        raise EzError(
            "ValueError",
            f"{fname}() needs a number of {('seconds' if fname == 'wait' else 'milliseconds')}, got NaN",
        )
    return max(0.0, float(v))


async def ez_wait(seconds: Any = _MISSING) -> None:
    """``wait(1.5)`` pauses the calling function for 1.5 seconds; the rest of the bot keeps running."""
    await asyncio.sleep(_seconds("wait", seconds))


async def ez_sleep(milliseconds: Any = _MISSING) -> None:
    """``sleep(500)`` pauses the calling function for 500 milliseconds."""
    await asyncio.sleep(_seconds("sleep", milliseconds) / 1000)


ez_wait.__name__ = ez_wait.__qualname__ = "wait"
ez_sleep.__name__ = ez_sleep.__qualname__ = "sleep"
register("wait", ez_wait)
register("sleep", ez_sleep)


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
# JSON


class _JsonConstantError(ValueError):
    """NaN / Infinity in JSON text (Python accepts them; JSON does not)."""


def _reject_constant(name: str) -> Any:
    raise _JsonConstantError(f"{name} is not valid JSON")


@_ez("json_parse")
def ez_json_parse(text: Any = _MISSING) -> Any:
    """``json_parse('{"a": [1, 2]}')`` gives an object; bad JSON is a ValueError with its position."""
    s = _str("json_parse", text)
    try:
        return json.loads(s, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise EzError(
            "ValueError",
            f"json_parse(): invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}",
        ) from None
    except _JsonConstantError as exc:
        raise EzError("ValueError", f"json_parse(): {exc}") from None
    except ValueError:
        # The only other ValueError json.loads raises: a whole number past Python's digit limit.
        message = f"json_parse(): a number in the JSON has more than {MAX_INT_DIGITS} digits"
        raise EzError("ValueError", message) from None
    except RecursionError:
        raise EzError("ValueError", "json_parse(): JSON is nested too deeply") from None


def _json_number(x: int | float) -> str:
    if type(x) is float and not math.isfinite(x):
        return "null"  # as JavaScript's JSON.stringify does
    return format_number(x)


class _JsonWriter:
    """JSON text like JavaScript's ``JSON.stringify`` (numbers print like EasyLang numbers)."""

    def __init__(self, indent: str) -> None:
        self.indent = indent
        self.active: set[int] = set()  # ids of containers being written: cycle detection

    def write(self, v: Any, depth: int) -> str | None:
        """JSON for ``v``; ``None`` means "leave out" (functions, like JavaScript)."""
        if v is None:
            return "null"
        t = type(v)
        if t is bool:
            return "true" if v else "false"
        if t is int or t is float:
            return _json_number(v)
        if t is str:
            return json.dumps(v, ensure_ascii=False)
        if t is list or t is dict or isinstance(v, EzObject):
            if id(v) in self.active:
                raise EzError(
                    "ValueError", "json_stringify() cannot write a value that contains itself"
                )
            self.active.add(id(v))
            try:
                return self._container(v, depth)
            finally:
                self.active.discard(id(v))
        if callable(v):
            return None
        return json.dumps(to_str(v), ensure_ascii=False)

    def _container(self, v: Any, depth: int) -> str:
        parts: list[str] = []
        if type(v) is list:
            open_, close = "[", "]"
            for item in v:
                text = self.write(item, depth + 1)
                parts.append("null" if text is None else text)
        else:
            open_, close = "{", "}"
            pairs = v.items() if type(v) is dict else ((k, v.ez_get(k)) for k in v.ez_keys())
            colon = ": " if self.indent else ":"
            for key, item in pairs:
                text = self.write(item, depth + 1)
                if text is not None:
                    parts.append(json.dumps(str(key), ensure_ascii=False) + colon + text)
        if not parts:
            return open_ + close
        if not self.indent:
            return open_ + ",".join(parts) + close
        inner = "\n" + self.indent * (depth + 1)
        return open_ + inner + ("," + inner).join(parts) + "\n" + self.indent * depth + close


@_ez("json_stringify")
def ez_json_stringify(value: Any = None, indent: Any = None) -> Any:
    """``json_stringify({k: [1, 2]})`` is ``{"k":[1,2]}``; ``json_stringify(v, 2)`` indents by 2."""
    if indent is None:
        pad = ""
    elif type(indent) is str:
        pad = indent[:10]
    elif _is_number(indent):
        # Like JavaScript: at most 10 spaces; less than 1 (or NaN) means compact.
        width = 0 if indent != indent else max(0, min(10, indent))
        pad = " " * int(width)
    else:
        raise _type_error("json_stringify", "a number or a string", indent, 1, 2)
    text = _JsonWriter(pad).write(value, 0)
    return text  # None (null) for a lone function, like JavaScript's undefined


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
