"""The database builtins: ``db_get``, ``db_set``, ``db_delete``, ``db_has``, ``db_keys``,
``db_incr``.

Registered lazily (``ezlang.extensions.DB_BUILTINS``): a program that never touches the
database never imports this module. The process's :class:`~ezlang.toolkit.db.Database` is
opened on first use from :func:`~ezlang.toolkit.db.configured_location` and closed when the
program stops. Mistakes become EasyLang errors that name the builtin and the key; the runtime
adds the ``.ez`` position of the call.
"""

from __future__ import annotations

import asyncio
import math
from typing import Any

from ezlang.lang import context
from ezlang.lang.errors import EzError
from ezlang.lang.registry import register
from ezlang.lang.values import type_name
from ezlang.toolkit.db import (
    Database,
    DatabaseError,
    Location,
    NotANumber,
    Unstorable,
    configured_location,
    open_database,
)

_MISSING: Any = object()
_ORDINALS = ("first", "second")

#: The open database per location, with the event loop it was opened in.
_open: dict[Location, tuple[Database, asyncio.AbstractEventLoop]] = {}

_STORABLE = "null, booleans, numbers, strings, arrays and objects"


async def _database() -> Database:
    ctx = context.current()
    location = configured_location(ctx.main_file)
    loop = asyncio.get_running_loop()
    entry = _open.get(location)
    if entry is not None and entry[1] is loop:
        return entry[0]
    db = open_database(location)
    _open[location] = (db, loop)

    async def close() -> None:
        if _open.get(location, (None, None))[0] is db:
            del _open[location]
        try:
            await db.close()
        except DatabaseError as exc:  # closing must not turn a clean stop into a failure
            import sys

            sys.stderr.write(f"warning: closing the database: {exc}\n")

    ctx.on_shutdown(close)
    return db


def _key(fname: str, key: Any, nargs: int) -> str:
    if type(key) is not str:
        got = "nothing" if key is _MISSING else type_name(key)
        which = "its argument" if nargs == 1 else "its first argument"
        raise EzError("TypeError", f"{fname}() expects a string key as {which}, got {got}")
    return key


def _failed(fname: str, exc: DatabaseError) -> EzError:
    return EzError("Error", f"{fname}(): {exc}")


def _unstorable(fname: str, key: str, exc: Unstorable) -> EzError:
    return EzError(
        "ValueError",
        f"{fname}(): cannot store the value for key {key!r}: it contains {exc.what} "
        f"(the database holds {_STORABLE})",
    )


async def db_get(key: Any = _MISSING, default: Any = None) -> Any:
    """``db_get("level:42", 0)``: the stored value, or ``default`` (null) if the key is missing."""
    name = _key("db_get", key, 2)
    try:
        found, value = await (await _database()).get(name)
    except DatabaseError as exc:
        raise _failed("db_get", exc) from None
    return value if found else default


async def db_set(key: Any = _MISSING, value: Any = _MISSING) -> None:
    """``db_set("prefix", "!")``: store a value (anything JSON can hold) under a key."""
    name = _key("db_set", key, 2)
    if value is _MISSING:
        raise EzError("ArgumentError", "db_set() needs a key and a value")
    try:
        await (await _database()).set(name, value)
    except Unstorable as exc:
        raise _unstorable("db_set", name, exc) from None
    except DatabaseError as exc:
        raise _failed("db_set", exc) from None


async def db_delete(key: Any = _MISSING) -> bool:
    """``db_delete("warnings:42")``: remove a key; true if it was there."""
    name = _key("db_delete", key, 1)
    try:
        return await (await _database()).delete(name)
    except DatabaseError as exc:
        raise _failed("db_delete", exc) from None


async def db_has(key: Any = _MISSING) -> bool:
    """``db_has("level:42")``: true if the key is stored (even with the value null)."""
    name = _key("db_has", key, 1)
    try:
        return await (await _database()).has(name)
    except DatabaseError as exc:
        raise _failed("db_has", exc) from None


async def db_keys(prefix: Any = "") -> list[str]:
    """``db_keys("level:")``: the stored keys starting with the prefix, sorted (all for "")."""
    if type(prefix) is not str:
        raise EzError(
            "TypeError",
            f"db_keys() expects a string prefix as its argument, got {type_name(prefix)}",
        )
    try:
        return await (await _database()).keys(prefix)
    except DatabaseError as exc:
        raise _failed("db_keys", exc) from None


async def db_incr(key: Any = _MISSING, by: Any = 1) -> int | float:
    """``db_incr("xp:42", 10)``: add to a stored number atomically (a missing key counts as 0)
    and return the new value; safe when many shard processes count at once."""
    name = _key("db_incr", key, 2)
    if type(by) is not int and type(by) is not float:
        raise EzError(
            "TypeError", f"db_incr() expects a number as its second argument, got {type_name(by)}"
        )
    if not math.isfinite(by):
        raise EzError("ValueError", "db_incr() cannot add NaN or Infinity")
    try:
        return await (await _database()).incr(name, by)
    except NotANumber as exc:
        raise EzError(
            "TypeError",
            f"db_incr(): the value of key {name!r} is {_article(exc.type_name)}, not a number",
        ) from None
    except Unstorable as exc:
        raise _unstorable("db_incr", name, exc) from None
    except DatabaseError as exc:
        raise _failed("db_incr", exc) from None


def _article(word: str) -> str:
    if word == "null":
        return "null"
    return ("an " if word[0] in "aeiou" else "a ") + word


for _fn in (db_get, db_set, db_delete, db_has, db_keys, db_incr):
    register(_fn.__name__, _fn)
