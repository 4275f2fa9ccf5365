"""Runtime helpers that compiled EasyLang code calls where Python's own operators disagree with
EasyLang (``+`` between a string and a number, ``==`` without coercion, member access on
objects, …).

They are installed in ``registry.BUILTINS`` under names that start with ``$`` (which no
EasyLang identifier can spell), so compiled code reaches them with a plain ``LOAD_GLOBAL``
on CPython's fast path. Everything here is hot: keep it small and branch on ``type(x) is``.
"""

from __future__ import annotations

import builtins as _py
from typing import Any

from ezlang.lang.errors import EzError, ProgramReturn
from ezlang.lang.registry import BUILTINS
from ezlang.lang.values import (
    ErrorValue,
    EzObject,
    equals,
    format_number,
    to_str,
    truthy,
    type_name,
)

_int = int
_float = float
_str = str
_list = list
_dict = dict


def add(a: Any, b: Any) -> Any:
    """EasyLang ``+``: numbers add, a string on either side concatenates, arrays join."""
    ta = type(a)
    tb = type(b)
    if ta is _str:
        if tb is _str:
            return a + b
        return a + to_str(b)
    if tb is _str:
        return to_str(a) + b
    if (ta is _int or ta is _float or ta is bool) and (tb is _int or tb is _float or tb is bool):
        return a + b
    if ta is _list and tb is _list:
        return a + b
    raise EzError("TypeError", f"cannot use + on {type_name(a)} and {type_name(b)}")


def div(a: Any, b: Any) -> Any:
    """EasyLang ``/``: true division (``7 / 2`` is 3.5). Dividing two whole numbers exactly
    gives a whole number (``6 / 2`` is 3, not 3.0), so the result can repeat a string or
    index an array; EasyLang has one number type, and the two print the same anyway."""
    if type(a) is _int and type(b) is _int and b and a % b == 0:
        return a // b
    try:
        return a / b
    except ZeroDivisionError:
        raise EzError("ValueError", "division by zero") from None


def mod(a: Any, b: Any) -> Any:
    """EasyLang ``%`` on numbers (Python's sign rule: the result has the sign of ``b``)."""
    ta = type(a)
    tb = type(b)
    if (ta is _int or ta is _float) and (tb is _int or tb is _float):
        if b == 0:
            raise EzError("ValueError", "modulo by zero")
        return a % b
    raise EzError("TypeError", f"cannot use % on {type_name(a)} and {type_name(b)}")


def eq(a: Any, b: Any) -> bool:
    """EasyLang ``==``."""
    return equals(a, b)


def member(obj: Any, name: str) -> Any:
    """``obj.name``: a key of an object (missing → null), a member of a host object, or
    ``.length`` of an array or string."""
    t = type(obj)
    if t is _dict:
        return obj.get(name)
    if isinstance(obj, EzObject):
        return obj.ez_get(name)
    if t is _list or t is _str:
        if name == "length":
            return len(obj)
        method = _method(obj, name)
        if method is not None:
            return method
    if obj is None:
        raise EzError("TypeError", f"cannot read '{name}' of null")
    what = type_name(obj)
    if t is _list or t is _str:
        hint = f"; {what}s have .length and methods such as " + (
            ".split() .upper() .trim()" if t is _str else ".push() .pop() .join()"
        )
    else:
        hint = " (only of objects)"
    raise EzError("TypeError", f"cannot read '{name}' of {_a(what)}{hint}")


#: Builtins that make sense as methods of strings and arrays (``s.split(",")``,
#: ``arr.push(4)``): ``x.name(args)`` calls ``name(x, args)``.
_STRING_METHODS = frozenset(
    "split replace upper lower trim starts_with ends_with substr contains index_of slice "
    "reverse length str num int".split()
)
_ARRAY_METHODS = frozenset(
    "push pop append insert remove slice reverse sort join contains index_of length keys "
    "values str".split()
)


def _method(obj: Any, name: str) -> Any:
    names = _STRING_METHODS if type(obj) is _str else _ARRAY_METHODS
    if name not in names:
        return None
    fn = BUILTINS.get(name)
    if fn is None:
        return None

    def method(*args: Any) -> Any:
        return fn(obj, *args)

    method.__ez_name__ = name  # type: ignore[attr-defined]
    method.__name__ = name
    return method


def set_member(obj: Any, name: str, value: Any) -> None:
    """``obj.name = value``."""
    if type(obj) is _dict:
        obj[name] = value
        return
    if obj is None:
        raise EzError("TypeError", f"cannot set '{name}' of null")
    what = "read-only object" if isinstance(obj, EzObject) else type_name(obj)
    raise EzError("TypeError", f"cannot set '{name}' of {_a(what)}")


def _a(noun: str) -> str:
    """``noun`` with its indefinite article: "a number", "an array"."""
    return ("an " if noun[:1] in "aeiou" else "a ") + noun


def _array_index(seq: Any, index: Any, what: str) -> int:
    ti = type(index)
    if ti is _float and index.is_integer():
        index = _int(index)
    elif ti is not _int:
        raise EzError("TypeError", f"{what} index must be a whole number, not {_describe(index)}")
    n = len(seq)
    if -n <= index < n:
        return index  # type: ignore[no-any-return]
    kind = "array" if type(seq) is _list else "string"
    raise EzError("IndexError", f"index {index} is out of range for {kind} of length {n}")


def _describe(v: Any) -> str:
    if type(v) is _str:
        return f'the string "{v}"'
    if type(v) in (_int, _float):
        return format_number(v)
    return type_name(v)


def _key(index: Any) -> str:
    t = type(index)
    if t is _str:
        return index  # type: ignore[no-any-return]
    if t is _int or t is _float or t is bool or index is None:
        return to_str(index)
    raise EzError("TypeError", f"an object key must be a string, not {type_name(index)}")


def index(obj: Any, idx: Any) -> Any:
    """``obj[idx]``: array/string element (out of range → IndexError; negative counts from
    the end), object key (missing → null)."""
    t = type(obj)
    if t is _list:
        if type(idx) is _int:
            try:
                return obj[idx]
            except IndexError:
                pass
        return obj[_array_index(obj, idx, "an array")]
    if t is _dict:
        return obj.get(idx if type(idx) is _str else _key(idx))
    if t is _str:
        return obj[_array_index(obj, idx, "a string")]
    if isinstance(obj, EzObject):
        return obj.ez_get(_key(idx))
    if obj is None:
        raise EzError("TypeError", f"cannot index null (reading [{to_str(idx)}])")
    raise EzError("TypeError", f"cannot index a {type_name(obj)}")


def set_index(obj: Any, idx: Any, value: Any) -> None:
    """``obj[idx] = value``."""
    t = type(obj)
    if t is _list:
        obj[_array_index(obj, idx, "an array")] = value
    elif t is _dict:
        obj[_key(idx)] = value
    elif t is _str:
        raise EzError("TypeError", "strings cannot be changed; build a new one instead")
    elif obj is None:
        raise EzError("TypeError", f"cannot set [{to_str(idx)}] of null")
    else:
        raise EzError("TypeError", f"cannot set an element of a {type_name(obj)}")


def iterate(v: Any) -> Any:
    """What ``for x in v`` walks: array elements, string characters, object keys."""
    t = type(v)
    if t is _list or t is _str or t is range:
        return v
    if t is _dict:
        return _list(v)  # a snapshot, so the loop body may change the object
    if t is tuple:
        return v
    if isinstance(v, EzObject):
        return v.ez_keys()
    raise EzError("TypeError", f"cannot loop over {_describe(v)} (use an array, string or object)")


def throw(value: Any) -> BaseException:
    """The exception ``throw value`` raises (rethrowing a caught error keeps its kind)."""
    if isinstance(value, ErrorValue) and isinstance(value.error, EzError):
        return value.error
    if type(value) is _dict and type(value.get("message")) is _str:
        message = value["message"]
    else:
        message = to_str(value)
    return EzError("Error", message, value=value)


def catch(exc: BaseException) -> ErrorValue:
    """The object ``catch err`` binds for an exception raised in EasyLang code."""
    from ezlang.lang.errors import to_ez_error

    err = to_ez_error(exc, locate=False)
    return ErrorValue(err.kind, err.message, err.value, err)


def _import_names(namespace: dict[str, Any], path: str, importer: str) -> None:
    from ezlang.lang.modules import import_names

    import_names(namespace, path, importer)


def _import_module(namespace: dict[str, Any], path: str, importer: str) -> dict[str, Any]:
    from ezlang.lang.modules import import_module

    return import_module(namespace, path, importer)


def contains(item: Any, container: Any) -> bool:
    """``item in container``: a key of an object, an element of an array (by ``==``), a
    substring of a string."""
    t = type(container)
    if t is dict:
        if type(item) is str:
            return item in container
        # {1: "a"} has the key "1", so 1 in {1: "a"} is true, as in JavaScript.
        return type(item) in (int, float) and format_number(item) in container
    if t is list:
        return any(equals(x, item) for x in container)
    if t is str:
        if type(item) is not str:
            raise EzError(
                "TypeError",
                f"'in' on a string looks for a string, got {_a(type_name(item))} "
                f"(write str(x) in s)",
            )
        return item in container
    if isinstance(container, EzObject):
        return type(item) is str and item in container.ez_keys()
    raise EzError(
        "TypeError",
        f"'in' needs an object, an array or a string on its right, got {_a(type_name(container))}",
    )


def delete_key(obj: Any, key: Any) -> None:
    """``delete obj[key]``: remove the key from an object (a missing key is fine)."""
    if type(obj) is _dict:
        obj.pop(_key(key), None)
    elif type(obj) is _list:
        raise EzError("TypeError", "delete works on object keys; use remove(array, index)")
    else:
        raise EzError("TypeError", f"cannot delete a key of {_a(type_name(obj))}")


def _include(namespace: dict[str, Any], path: str, includer: str) -> None:
    from ezlang.lang.modules import include

    include(namespace, path, includer)


#: Helpers by the name compiled code uses for them.
HELPERS: dict[str, Any] = {
    "$add": add,
    "$mod": mod,
    "$div": div,
    "$eq": eq,
    "$truthy": truthy,
    "$member": member,
    "$setmember": set_member,
    "$index": index,
    "$setindex": set_index,
    "$iter": iterate,
    "$throw": throw,
    "$catch": catch,
    "$import_names": _import_names,
    "$import_module": _import_module,
    "$include": _include,
    "$delete": delete_key,
    "$in": contains,
    "$ProgramReturn": ProgramReturn,
    "$type": _py.type,
    "$int": _py.int,
    "$float": _py.float,
    "$bool": _py.bool,
    "$TypeError": _py.TypeError,
    "$Exception": _py.Exception,
    "$globals": _py.globals,
}


def install() -> None:
    """Put the helpers into ``BUILTINS`` (idempotent; the compiler calls it)."""
    BUILTINS.update(HELPERS)


install()
