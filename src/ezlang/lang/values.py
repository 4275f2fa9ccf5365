"""EasyLang values: the one home of value semantics (printing, types, truthiness, equality).

EasyLang values are plain Python objects (see docs/ARCHITECTURE.md): ``None``, ``bool``,
``int``/``float`` (never ``bool``), ``str``, ``list``, ``dict`` with ``str`` keys, any callable,
and :class:`EzObject` host objects. Everything that must behave the same in the compiler's
runtime helpers, the builtins and the extension layers lives here.
"""

from __future__ import annotations

import json
import math
import sys
from typing import Any

__all__ = [
    "EzObject",
    "ErrorValue",
    "format_number",
    "to_str",
    "to_repr",
    "type_name",
    "python_type_name",
    "truthy",
    "equals",
    "is_number",
    "MAX_INT_DIGITS",
]

#: Most decimal digits a whole number may have when converted from or to text. Python refuses
#: longer conversions (they take quadratic time; see ``sys.set_int_max_str_digits``), and
#: EasyLang reports them as a clear ValueError instead. Python's 0 means "no limit".
MAX_INT_DIGITS = sys.get_int_max_str_digits() or sys.maxsize


class EzObject:
    """A host object whose members EasyLang reads with ``o.name`` (read-only views).

    Subclasses override :meth:`ez_get` and :meth:`ez_keys`; ``ez_type`` is what ``type()`` says.
    """

    ez_type: str = "object"

    def ez_get(self, name: str) -> Any:
        """The value of member ``name``; an unknown member reads as ``None`` (null)."""
        return None

    def ez_keys(self) -> list[str]:
        """Member names, for ``keys()``, printing and JSON."""
        return []


class ErrorValue(EzObject):
    """What ``catch err`` binds: ``err.message``, ``err.kind``; ``str(err)`` is the message.

    ``err.value`` is the thrown value for ``throw value``. When an object was thrown, its keys
    can be read on the error too (``throw {code: 42}`` → ``err.code`` is 42), so catching a
    thrown object feels like catching the object itself.
    """

    ez_type = "object"
    __slots__ = ("kind", "message", "value", "error")

    def __init__(self, kind: str, message: str, value: Any = None, error: Any = None) -> None:
        self.kind = kind
        self.message = message
        self.value = value
        # The EzError this value was made from (so `throw err` rethrows it unchanged).
        self.error = error

    def ez_get(self, name: str) -> Any:
        if name == "message":
            return self.message
        if name == "kind":
            return self.kind
        if name == "value":
            return self.value
        if name == "stack":
            if self.error is None:
                return []
            from ezlang.lang.errors import to_ez_error

            stack = to_ez_error(self.error).stack
            return [f"{fn} at {pos}" for fn, pos in stack]
        if type(self.value) is dict:
            return self.value.get(name)
        return None

    def ez_keys(self) -> list[str]:
        keys = ["kind", "message"]
        if type(self.value) is dict:
            keys += [k for k in self.value if k not in keys]
        return keys

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return f"<ErrorValue {self.kind}: {self.message}>"


def is_number(v: Any) -> bool:
    """True for EasyLang numbers (``int``/``float`` but never ``bool``)."""
    t = type(v)
    return t is int or t is float


def format_number(x: int | float) -> str:
    """Format a number the way JavaScript does: ``3.0`` → ``3``, ``1e21`` → ``1e+21``.

    Integers print exactly (Python ints are arbitrary precision; JavaScript would round them
    above 2**53). Floats use the shortest round-tripping digits (as ``repr`` and JavaScript
    both do) laid out by the ECMAScript Number::toString rules.
    """
    if type(x) is int:
        try:
            return str(x)
        except ValueError:
            from ezlang.lang.errors import EzError

            message = f"the number has more than {MAX_INT_DIGITS} digits, too many to show as text"
            raise EzError("ValueError", message) from None
    if type(x) is bool:
        return "true" if x else "false"
    if x != x:
        return "NaN"
    if x == math.inf:
        return "Infinity"
    if x == -math.inf:
        return "-Infinity"
    if x == 0:
        return "0"  # also -0.0, as in JavaScript
    if float(x).is_integer() and abs(x) < 1e21:
        return str(int(x))
    sign = "-" if x < 0 else ""
    text = repr(abs(x))
    mantissa, _, exp_text = text.partition("e")
    exponent = int(exp_text) if exp_text else 0
    int_part, _, frac_part = mantissa.partition(".")
    digits = int_part + frac_part
    # value = 0.DIGITS * 10**n, i.e. n = position of the decimal point after the first digit
    n = len(int_part) + exponent
    stripped = digits.lstrip("0")
    n -= len(digits) - len(stripped)
    digits = stripped.rstrip("0") or "0"
    k = len(digits)
    if k <= n <= 21:
        body = digits + "0" * (n - k)
    elif 0 < n <= 21:
        body = digits[:n] + "." + digits[n:]
    elif -6 < n <= 0:
        body = "0." + "0" * (-n) + digits
    else:
        e = n - 1
        e_text = ("+" if e >= 0 else "-") + str(abs(e))
        body = digits + "e" + e_text if k == 1 else digits[0] + "." + digits[1:] + "e" + e_text
    return sign + body


#: EasyLang type names of the Python types that represent EasyLang values.
_TYPE_NAMES: dict[type, str] = {
    bool: "boolean", int: "number", float: "number", str: "string", type(None): "null",
    list: "array", tuple: "array", dict: "object",
}  # fmt: skip


def python_type_name(t: type) -> str:
    """The EasyLang type name for a Python type (used to reword Python error messages)."""
    name = _TYPE_NAMES.get(t)
    if name is not None:
        return name
    if isinstance(t, type) and issubclass(t, EzObject):
        return t.ez_type
    return "function"


def type_name(v: Any) -> str:
    """What ``type(v)`` says: number, string, boolean, null, array, object or function."""
    if isinstance(v, EzObject):
        return v.ez_type
    name = _TYPE_NAMES.get(type(v))
    if name is not None:
        return name
    return "function" if callable(v) else "object"


def truthy(v: Any) -> bool:
    """EasyLang truthiness: ``false``, ``null``, ``0``, ``NaN`` and ``""`` are falsy; all else
    (empty arrays and objects too) is truthy."""
    if v is None or v is False:
        return False
    if v is True:
        return True
    t = type(v)
    if t is int:
        return v != 0
    if t is float:
        return v == v and v != 0.0
    if t is str:
        return v != ""
    return True


def equals(a: Any, b: Any) -> bool:
    """EasyLang ``==``: by value without coercion; arrays and objects by content.

    ``1 == 1.0`` is true, ``true == 1`` and ``1 == "1"`` are false.
    """
    ta = type(a)
    tb = type(b)
    if ta is not tb:
        if (ta is int or ta is float) and (tb is int or tb is float):
            return bool(a == b)
        if (ta is list or ta is tuple) and (tb is list or tb is tuple):
            return _seq_equals(a, b)
        if isinstance(a, dict) and isinstance(b, dict):
            return _map_equals(a, b)  # e.g. a read-only Discord object and a plain object
        return False
    if ta is list or ta is tuple:
        return _seq_equals(a, b)
    if ta is dict:
        return _map_equals(a, b)
    if ta is str or ta is int or ta is float or ta is bool or a is None:
        return bool(a == b)
    if issubclass(ta, dict):  # read-only objects (Discord messages, users…) are objects too
        return _map_equals(a, b)
    return a is b


def _map_equals(a: dict[Any, Any], b: dict[Any, Any]) -> bool:
    if a is b:
        return True
    if len(a) != len(b):
        return False
    for key, value in a.items():
        if key not in b or not equals(value, b[key]):
            return False
    return True


def _seq_equals(a: Any, b: Any) -> bool:
    if a is b:
        return True
    if len(a) != len(b):
        return False
    return all(equals(x, y) for x, y in zip(a, b, strict=True))


def _function_name(v: Any) -> str:
    name = getattr(v, "__ez_name__", None)
    if name is None:
        name = getattr(v, "__name__", "") or ""
        name = name.split("$", 1)[0]
    return name or "anonymous"


def to_str(v: Any) -> str:
    """What ``str(v)`` and ``print`` show: strings bare, containers JSON-like with ``, `` and
    ``: `` separators and quoted strings inside (``[1, "a", null]``, ``{"k": [1, 2]}``)."""
    t = type(v)
    if t is str:
        return v  # type: ignore[no-any-return]
    if v is None:
        return "null"
    if t is bool:
        return "true" if v else "false"
    if t is int or t is float:
        return format_number(v)
    if isinstance(v, ErrorValue):
        return v.message
    return _container_str(v, set())


def to_repr(v: Any) -> str:
    """How ``v`` shows inside an array or object: like :func:`to_str` but strings quoted."""
    if type(v) is str:
        return json.dumps(v, ensure_ascii=False)
    return _container_str(v, set()) if not _is_scalar(v) else to_str(v)


def _is_scalar(v: Any) -> bool:
    t = type(v)
    return v is None or t is str or t is bool or t is int or t is float


def _container_str(v: Any, seen: set[int]) -> str:
    t = type(v)
    if _is_scalar(v):
        return json.dumps(v, ensure_ascii=False) if t is str else to_str(v)
    if id(v) in seen:
        return "[...]" if t is list else "{...}"
    if t is list or t is tuple:
        seen.add(id(v))
        try:
            return "[" + ", ".join(_container_str(x, seen) for x in v) + "]"
        finally:
            seen.discard(id(v))
    if t is dict:
        seen.add(id(v))
        try:
            items = (
                json.dumps(str(k), ensure_ascii=False) + ": " + _container_str(x, seen)
                for k, x in v.items()
            )
            return "{" + ", ".join(items) + "}"
        finally:
            seen.discard(id(v))
    if isinstance(v, ErrorValue):
        return v.message if not seen else json.dumps(v.message, ensure_ascii=False)
    if isinstance(v, EzObject):
        seen.add(id(v))
        try:
            items = (
                json.dumps(k, ensure_ascii=False) + ": " + _container_str(v.ez_get(k), seen)
                for k in v.ez_keys()
            )
            return "{" + ", ".join(items) + "}"
        finally:
            seen.discard(id(v))
    if callable(v):
        prefix = "builtin" if getattr(v, "__ez_name__", None) else "function"
        return f"<{prefix} {_function_name(v)}>"
    return f"<{type(v).__name__}>"
