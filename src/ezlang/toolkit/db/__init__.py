"""The built-in database: a key → JSON value store shared by every process of a bot.

:class:`Database` is the interface; there are two implementations, chosen in one place
(:func:`open_database`, from :func:`configured_location`):

* :class:`~ezlang.toolkit.db.sqlite.SqliteDatabase` — the default: an embedded SQLite file
  next to the main script (``ezlang.db``), WAL mode, safe for many shard processes at once.
* :class:`~ezlang.toolkit.db.redis.RedisDatabase` — when a ``redis://`` URL is configured
  (``$EZLANG_DB`` or ``$EZLANG_REDIS_URL``, which the multi-host shard manager uses), so the
  shards of several hosts share one store.

Both store every value as JSON text (:func:`encode_value` / :func:`decode_value`) and give the
same answers, including ``incr`` (atomic, exact integers, floats as EasyLang adds them).
Storage failures are :class:`DatabaseError`; the EasyLang builtins
(:mod:`ezlang.toolkit.db.builtins`) turn them into EasyLang errors.
"""

from __future__ import annotations

import abc
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: An explicit database location: a file path, or a ``redis://`` URL.
DB_ENV = "EZLANG_DB"
#: The Redis URL a multi-host shard manager shares with its hosts (see docs/SHARDING.md).
REDIS_URL_ENV = "EZLANG_REDIS_URL"
#: The file name of the default database, in the main script's directory.
DEFAULT_FILE_NAME = "ezlang.db"
#: Prefix of every key the Redis backend writes (so the store can share a Redis with the
#: shard manager's own keys).
REDIS_KEY_PREFIX = "ezlang:db:"

_REDIS_SCHEMES = ("redis://", "rediss://", "unix://")


class DatabaseError(Exception):
    """The store could not do the operation (unreachable Redis, unwritable file, lock timeout)."""


class NotANumber(Exception):
    """``incr`` found a value that is not a number; ``type_name`` is its EasyLang type."""

    def __init__(self, type_name: str) -> None:
        super().__init__(type_name)
        self.type_name = type_name


class Unstorable(Exception):
    """A value that JSON cannot hold; ``what`` says which part (``a function``)."""

    def __init__(self, what: str) -> None:
        super().__init__(what)
        self.what = what


# ---------------------------------------------------------------------------------------------
# Values ↔ JSON text (the one format both backends store)

_JSON_TYPE_NAMES = {
    type(None): "null", bool: "boolean", int: "number", float: "number",
    str: "string", list: "array", dict: "object",
}  # fmt: skip


def json_type_name(value: Any) -> str:
    """The EasyLang type name of a decoded JSON value."""
    return _JSON_TYPE_NAMES.get(type(value), "value")


def encode_value(value: Any) -> str:
    """Compact JSON text for an EasyLang value, or :class:`Unstorable`.

    Stricter than ``json_stringify``: a function, a Discord object, NaN/Infinity or an array
    that contains itself cannot round-trip, so they are refused instead of silently dropped.
    """
    active: set[int] = set()

    def check(v: Any) -> None:
        t = type(v)
        if v is None or t is bool or t is int or t is str:
            return
        if t is float:
            if not math.isfinite(v):
                raise Unstorable("NaN or Infinity")
            return
        if t is list or t is dict:
            if id(v) in active:
                raise Unstorable("an array or object that contains itself")
            active.add(id(v))
            try:
                if t is list:
                    for item in v:
                        check(item)
                else:
                    for k, item in v.items():
                        if type(k) is not str:
                            raise Unstorable("a key that is not a string")
                        check(item)
            finally:
                active.discard(id(v))
            return
        if callable(v):
            raise Unstorable("a function")
        # A host object (the client view, an error value): live state, not data.
        raise Unstorable(f"a live object ({type(v).__name__})")

    check(value)
    # check() walked the value, so json.dumps cannot meet a cycle or a foreign type.
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def decode_value(text: str | bytes, key: str) -> Any:
    """The EasyLang value of the JSON text stored under ``key``.

    Text that is not JSON (written into the store by another program) is a
    :class:`DatabaseError` naming the key, not a crash.
    """
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        raise DatabaseError(
            f"the value stored under key {key!r} is not JSON (was it written by another "
            "program?); replace it with 'ezlang db set' or remove it with 'ezlang db delete'"
        ) from None


#: ``add_numbers``'s ``current`` for a key that is not stored (a stored null is not a number).
MISSING: Any = object()


def add_numbers(current: Any, by: int | float) -> int | float:
    """``current + by`` for ``incr`` (:data:`MISSING` counts as 0), or :class:`NotANumber`."""
    if current is MISSING:
        return by
    t = type(current)
    if t is not int and t is not float:
        raise NotANumber(json_type_name(current))
    result = current + by
    if type(result) is float and not math.isfinite(result):
        raise Unstorable("a number too large to store")
    return result


# ---------------------------------------------------------------------------------------------
# The interface


class Database(abc.ABC):
    """A key → value store; keys are strings, values EasyLang values that JSON can hold.

    Methods are coroutines so a networked store never blocks the event loop. Every method may
    raise :class:`DatabaseError`; ``set``/``incr`` also :class:`Unstorable`, ``incr``
    :class:`NotANumber`.
    """

    #: Where the data lives, for messages: a file path or a Redis URL without password.
    location: str

    @abc.abstractmethod
    async def get(self, key: str) -> tuple[bool, Any]:
        """``(True, value)`` for a stored key, ``(False, None)`` for a missing one."""

    @abc.abstractmethod
    async def set(self, key: str, value: Any) -> None:
        """Store ``value`` under ``key`` (replacing any value)."""

    @abc.abstractmethod
    async def delete(self, key: str) -> bool:
        """Remove ``key``; True if it existed."""

    @abc.abstractmethod
    async def has(self, key: str) -> bool:
        """True if ``key`` is stored (even with the value null)."""

    @abc.abstractmethod
    async def keys(self, prefix: str = "") -> list[str]:
        """The stored keys that start with ``prefix``, sorted."""

    @abc.abstractmethod
    async def incr(self, key: str, by: int | float = 1) -> int | float:
        """Atomically add ``by`` to the number under ``key`` (missing = 0); the new value."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Release connections and files (idempotent)."""


# ---------------------------------------------------------------------------------------------
# Choosing the backend


@dataclass(frozen=True)
class Location:
    """Which backend and where: ``kind`` is ``"sqlite"`` (``target`` a file path) or
    ``"redis"`` (``target`` a URL)."""

    kind: str
    target: str


def is_redis_url(text: str) -> bool:
    """True for the URL schemes the Redis backend accepts."""
    return text.startswith(_REDIS_SCHEMES)


def configured_location(main_file: Path | None, env: dict[str, str] | None = None) -> Location:
    """Where this process's database is: ``$EZLANG_DB`` (a path or a Redis URL), else
    ``$EZLANG_REDIS_URL`` (a multi-host bot), else ``ezlang.db`` beside the main script (the
    current directory without one)."""
    environ = os.environ if env is None else env
    explicit = environ.get(DB_ENV, "").strip()
    if explicit:
        if is_redis_url(explicit):
            return Location("redis", explicit)
        return Location("sqlite", str(Path(explicit).expanduser().absolute()))
    redis_url = environ.get(REDIS_URL_ENV, "").strip()
    if redis_url:
        return Location("redis", redis_url)
    base = main_file.absolute().parent if main_file is not None else Path.cwd()
    return Location("sqlite", str(base / DEFAULT_FILE_NAME))


def open_database(location: Location) -> Database:
    """The backend for ``location`` (opened lazily: the first operation connects)."""
    if location.kind == "redis":
        from ezlang.toolkit.db.redis import RedisDatabase

        return RedisDatabase(location.target)
    from ezlang.toolkit.db.sqlite import SqliteDatabase

    return SqliteDatabase(location.target)
