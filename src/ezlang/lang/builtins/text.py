"""Strings and JSON: split, join, replace, substr…, json_parse, json_stringify."""

from __future__ import annotations

import json
import math
from typing import Any

from ezlang.lang.builtins.args import (
    _MISSING,
    _arr,
    _ez,
    _int,
    _is_number,
    _str,
    _type_error,
)
from ezlang.lang.errors import EzError
from ezlang.lang.values import (
    MAX_INT_DIGITS,
    EzObject,
    format_number,
    to_str,
)

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
