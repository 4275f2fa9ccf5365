"""Arrays and objects: push, pop, slice, sort, keys, values, contains…"""

from __future__ import annotations

from typing import Any

from ezlang.lang.builtins.args import (
    _MISSING,
    _arr,
    _ez,
    _func,
    _int,
    _str,
    _type_error,
)
from ezlang.lang.errors import EzError
from ezlang.lang.registry import register
from ezlang.lang.values import (
    EzObject,
    equals,
    type_name,
)

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
