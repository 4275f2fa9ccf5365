"""Numbers and time: floor, round, min, max, random, time, wait…"""

from __future__ import annotations

import asyncio
import math
import time as _time
from collections.abc import Callable
from typing import Any

from ezlang.lang.builtins.args import (
    _MISSING,
    _ez,
    _int,
    _norm_num,
    _num,
)
from ezlang.lang.errors import EzError
from ezlang.lang.registry import register
from ezlang.lang.values import (
    format_number,
    type_name,
)

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
