"""Discord's global REST limit shared by every host of a bot: :class:`RedisGlobalLimiter`.

The multi-host :class:`~ezlang.sharding.rest_limits.GlobalLimiter`: one sorted set per bot token
holds the grants of the last ``window + margin`` seconds of Redis time (``TIME``, so host clocks
do not matter); one atomic Lua script drops the old ones and grants when fewer than ``rate``
remain, or says how long to wait. The key is named after a digest of the token (the limit is
per token), never the token itself.

When Redis is unreachable the host grants from a local window at the full rate (the bot keeps
working; while several hosts do so at once they may exceed the limit together and discord.py
waits out the global 429s) and says so once; it returns to Redis by itself.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import os
import time

from ezlang.sharding.redis.connection import (
    REDIS_FAILURES,
    RateLimitedWarning,
    Warn,
    close_client,
    connect,
    down_message,
    redact_url,
    stderr_warn,
)
from ezlang.sharding.rest_limits import MARGIN, WINDOW, SlidingWindow

__all__ = ["RedisGlobalLimiter"]

#: Seconds between attempts to reach Redis again while it is down.
RETRY_DOWN = 2.0

# KEYS[1] the grants (sorted set, score: Redis time in µs). ARGV[1] rate, ARGV[2] span (µs),
# ARGV[3] a unique member. Returns 0 when granted, else the µs to wait before asking again.
_GRANT_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local span = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - span)
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('ZADD', KEYS[1], now, ARGV[3])
  redis.call('PEXPIRE', KEYS[1], math.ceil(span / 1000) + 1000)
  return 0
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
local wait = tonumber(oldest[2]) + span - now
if wait < 1 then wait = 1 end
return wait
"""


class RedisGlobalLimiter:
    """At most ``rate`` REST requests per ``window + margin`` seconds for all hosts of a bot."""

    def __init__(
        self,
        url: str,
        token: str,
        rate: int,
        *,
        window: float = WINDOW,
        margin: float = MARGIN,
        warn: Warn = stderr_warn,
    ) -> None:
        self.url = url
        self.rate = rate
        self.span_us = int((window + margin) * 1_000_000)
        digest = hashlib.sha256(token.encode()).hexdigest()[:16]
        self.key = f"ezlang:{{token-{digest}}}:rest:global"
        self._redis = connect(url)
        self._script = self._redis.register_script(_GRANT_SCRIPT)
        self._lock = asyncio.Lock()  # this host's shards ask in turn (FIFO)
        self._ids = itertools.count()
        self._me = f"{os.getpid()}-{id(self):x}"
        self._local = SlidingWindow(rate, window, margin)
        self._warnings = RateLimitedWarning(warn)
        self._down = False
        self._retry_at = 0.0

    async def acquire(self) -> None:
        async with self._lock:
            while True:
                if self._down and time.monotonic() < self._retry_at:
                    await self._local.acquire()  # Redis is down: ask it again now and then
                    return
                try:
                    member = f"{self._me}-{next(self._ids)}"
                    args: list[str | int] = [self.rate, self.span_us, member]
                    wait_us = int(await self._script(keys=[self.key], args=args))
                except REDIS_FAILURES as exc:
                    self._down = True
                    self._retry_at = time.monotonic() + RETRY_DOWN
                    self._warnings(
                        "down",
                        down_message(self.url, exc)
                        + "; meanwhile this host grants its REST requests alone",
                    )
                    await self._local.acquire()
                    return
                if self._down:
                    self._down = False
                    self._warnings.resolved(
                        "down",
                        f"Redis at {redact_url(self.url)} is reachable again; the hosts share "
                        "the global REST limit again",
                    )
                if wait_us <= 0:
                    return
                await asyncio.sleep(wait_us / 1_000_000)

    async def close(self) -> None:
        await close_client(self._redis, "the REST limiter's Redis connection")
