"""The database in Redis, for bots whose shards run on several hosts.

Every key is stored as the Redis string ``ezlang:db:<key>`` holding the value's JSON text, so
``GET``/``SET``/``DEL``/``EXISTS`` map one to one and ``keys`` is a ``SCAN`` over the prefix.

``incr`` must give exactly the SQLite backend's answers. A small Lua script does the common
case inside Redis (atomic by construction): a missing value or an integer of at most 15
digits plus an integer of at most 15 digits — exact in Lua's doubles. Anything else (floats,
big integers, a value that is not a number) is computed in Python from the value the script
saw and written back with a compare-and-set script, retried if another client changed the
key meanwhile (optimistic concurrency; two round trips per attempt, where WATCH/MULTI needs
three). Neither path can lose an update.

The client is ``redis.asyncio``: a call pauses only the EasyLang code that made it.
"""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from ezlang.toolkit.db import (
    MISSING,
    REDIS_KEY_PREFIX,
    Database,
    DatabaseError,
    add_numbers,
    decode_value,
    encode_value,
)

# Integer fast path. Returns {1, new value} when it added, else {0, current value or ""}
# so the caller can compute the sum itself without another read.
_INCR_INTEGERS = """
local cur = redis.call('GET', KEYS[1])
local by = ARGV[1]
local n = cur or '0'
if #n <= 15 and #by <= 15 and string.match(n, '^-?%d+$') and string.match(by, '^-?%d+$') then
  local text = string.format('%d', tonumber(n) + tonumber(by))
  redis.call('SET', KEYS[1], text)
  return {1, text}
end
return {0, cur or ''}
"""

# Compare-and-set: store ARGV[2] if the value is still ARGV[1] ("" = missing). Returns
# {1} when it stored, else {0, current value or ""} for the next attempt.
_COMPARE_AND_SET = """
local cur = redis.call('GET', KEYS[1]) or ''
if cur == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2])
  return {1}
end
return {0, cur}
"""

_SMALL_INT = 10**15


def redact(url: str) -> str:
    """``url`` without its password (for messages and logs)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    user = f"{parts.username}:***@" if parts.username else "***@"
    return urlunsplit((parts.scheme, user + host, parts.path, parts.query, parts.fragment))


def _glob_escape(text: str) -> str:
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)


class RedisDatabase(Database):
    """The :class:`~ezlang.toolkit.db.Database` in the Redis server at ``url``."""

    def __init__(self, url: str, prefix: str = REDIS_KEY_PREFIX) -> None:
        self.url = url
        self.location = redact(url)
        self.prefix = prefix
        self._client: aioredis.Redis | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._incr_script: Any = None
        self._cas_script: Any = None

    def _redis(self) -> aioredis.Redis:
        # A redis.asyncio client belongs to the event loop it first ran on.
        loop = asyncio.get_running_loop()
        if self._client is None or self._loop is not loop:
            try:
                client = aioredis.Redis.from_url(
                    self.url, socket_connect_timeout=5, socket_timeout=10
                )
            except ValueError as exc:  # a malformed URL
                raise DatabaseError(f"bad Redis URL {self.location}: {exc}") from None
            self._client, self._loop = client, loop
            self._incr_script = client.register_script(_INCR_INTEGERS)
            self._cas_script = client.register_script(_COMPARE_AND_SET)
        return self._client

    def _error(self, exc: RedisError) -> DatabaseError:
        return DatabaseError(f"the Redis database at {self.location} failed: {exc}")

    def _key(self, key: str) -> str:
        return self.prefix + key

    async def get(self, key: str) -> tuple[bool, Any]:
        try:
            raw = await self._redis().get(self._key(key))
        except RedisError as exc:
            raise self._error(exc) from None
        return (False, None) if raw is None else (True, decode_value(raw, key))

    async def set(self, key: str, value: Any) -> None:
        text = encode_value(value)
        try:
            await self._redis().set(self._key(key), text)
        except RedisError as exc:
            raise self._error(exc) from None

    async def delete(self, key: str) -> bool:
        try:
            return int(await self._redis().delete(self._key(key))) > 0
        except RedisError as exc:
            raise self._error(exc) from None

    async def has(self, key: str) -> bool:
        try:
            return int(await self._redis().exists(self._key(key))) > 0
        except RedisError as exc:
            raise self._error(exc) from None

    async def keys(self, prefix: str = "") -> list[str]:
        pattern = _glob_escape(self.prefix + prefix) + "*"
        start = len(self.prefix)
        found: set[str] = set()
        try:
            # SCAN may return a key twice; the set removes repeats.
            async for raw in self._redis().scan_iter(match=pattern, count=1000):
                found.add(raw.decode("utf-8")[start:])
        except RedisError as exc:
            raise self._error(exc) from None
        return sorted(found)

    async def incr(self, key: str, by: int | float = 1) -> int | float:
        self._redis()
        name = self._key(key)
        # The Lua fast path only for integers it adds exactly; it also returns the value it
        # saw, so the Python path starts without a read of its own.
        by_text = str(by) if type(by) is int and -_SMALL_INT < by < _SMALL_INT else "x"
        try:
            done, raw = await self._incr_script(keys=[name], args=[by_text])
            if done:
                return int(raw)
            while True:
                current = MISSING if raw == b"" else decode_value(raw, key)
                result = add_numbers(current, by)
                reply = await self._cas_script(keys=[name], args=[raw, encode_value(result)])
                if reply[0]:
                    return result
                raw = reply[1]  # another client changed the key: try again from its value
        except RedisError as exc:
            raise self._error(exc) from None

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None and self._loop is asyncio.get_running_loop():
            await client.aclose()
