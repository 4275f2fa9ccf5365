"""Discord's identify rate limit shared by every host of a bot: :class:`RedisIdentifyQueue`.

The second implementation of :class:`~ezlang.sharding.interfaces.IdentifyQueue`. An IDENTIFY slot
is a key ``SET NX PX <window>`` per bucket, granted by one atomic Lua script, so a host that dies
holding a slot simply lets it expire. Redis's own clock (``TIME``) times the window, so host clocks
do not matter. A Redis that lost its keys (restart, failover, flush) is recognised by its
``run_id`` and refuses grants for one full window before granting again — the grant it forgot may
have been a moment ago.
"""

from __future__ import annotations

import asyncio
import random
import time

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from ezlang.lang.errors import EzError
from ezlang.sharding.redis.connection import (
    REDIS_DOWN_ERRORS,
    RateLimitedWarning,
    Warn,
    back_message,
    close_client,
    connect,
    down_message,
    failure_message,
    stderr_warn,
)
from ezlang.sharding.redis.keys import RedisKeys, default_host_name

__all__ = ["RedisIdentifyQueue"]

# Grant one IDENTIFY slot if the bucket is free and this Redis run has been up for a window.
# KEYS[1] bucket key, KEYS[2] epoch key.
# ARGV[1] hold (ms), ARGV[2] holder description, ARGV[3] run_id of the server as the client saw it.
# Returns 1 when granted, else -(milliseconds to wait before asking again).
_IDENTIFY_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local hold = tonumber(ARGV[1])
local epoch = redis.call('GET', KEYS[2])
local open_at = nil
if epoch then
  local sep = string.find(epoch, ' ', 1, true)
  if sep and string.sub(epoch, 1, sep - 1) == ARGV[3] then
    open_at = tonumber(string.sub(epoch, sep + 1))
  end
end
if not open_at then
  -- A Redis we have not seen granting before (new, restarted, restored from an older snapshot):
  -- it may have forgotten a grant made just before, so nobody identifies for one full window.
  redis.call('SET', KEYS[2], ARGV[3] .. ' ' .. (now + hold))
  return -hold
end
if now < open_at then
  return -(open_at - now)
end
if redis.call('SET', KEYS[1], ARGV[2], 'NX', 'PX', hold) then
  return 1
end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 1 then ttl = 1 end
return -ttl
"""


class RedisIdentifyQueue:
    """Discord's identify rate limit shared by every host of a bot, through Redis.

    At most ``max_concurrency`` IDENTIFYs per ``window`` seconds across all hosts: one per bucket
    ``shard_id % max_concurrency``, each grant holding its bucket for ``window + margin`` seconds
    of Redis time. ``margin`` absorbs the network delay between the grant and the IDENTIFY
    actually reaching Discord.

    When Redis is unreachable :meth:`acquire` waits (printing a rate-limited warning) and
    resumes when Redis returns; after a Redis restart it waits one more full window.
    """

    def __init__(
        self,
        redis_url: str,
        app_id: str | int,
        max_concurrency: int,
        window: float,
        *,
        margin: float | None = None,
        host: str | None = None,
        warn: Warn = stderr_warn,
        warn_interval: float = 30.0,
        warnings: RateLimitedWarning | None = None,
        client: aioredis.Redis | None = None,
    ) -> None:
        if max_concurrency < 1:
            raise ValueError("max_concurrency must be at least 1")
        if window <= 0:
            raise ValueError("window must be positive")
        self.redis_url = redis_url
        self.keys = RedisKeys(str(app_id))
        self.max_concurrency = max_concurrency
        self.window = window
        # Discord times the window on receipt; a grant travels Redis -> manager -> shard ->
        # gateway first, and two hosts' paths differ. The floor covers that hop on a busy host.
        self.margin = max(0.15, min(0.25, window * 0.05)) if margin is None else margin
        self.host = host or default_host_name()
        self._redis = client or connect(redis_url)
        self._owns_client = client is None
        self._script = self._redis.register_script(_IDENTIFY_SCRIPT)
        # Shared with the other Redis parts of one manager: one outage, one warning.
        self._warnings = warnings or RateLimitedWarning(warn, warn_interval)
        # Shards of one bucket on this host queue in order instead of all polling Redis.
        self._bucket_locks: dict[int, asyncio.Lock] = {}
        self._waiters: set[asyncio.Task[None]] = set()
        self._closed = False
        # Bucket -> monotonic time it is expected free again (only for next_slot_in()).
        self._free_at: dict[int, float] = {}
        #: How many slots this queue granted (for tests and stats).
        self.granted = 0

    def configure(self, max_concurrency: int, window: float) -> None:
        """Adopt the bot's shared values (from ``GET /gateway/bot`` or the first host)."""
        if max_concurrency < 1 or window <= 0:
            raise ValueError("max_concurrency must be >= 1 and window > 0")
        self.max_concurrency = max_concurrency
        self.window = window

    def next_slot_in(self) -> float:
        """Seconds until the earliest bucket is free, as last seen from Redis (for progress)."""
        now = time.monotonic()
        waits = [max(0.0, self._free_at.get(b, 0.0) - now) for b in range(self.max_concurrency)]
        return min(waits) if waits else 0.0

    @property
    def hold_ms(self) -> int:
        """How long one grant keeps its bucket, in Redis milliseconds."""
        return int(round((self.window + self.margin) * 1000))

    async def acquire(self, shard_id: int) -> None:
        """Return when shard ``shard_id`` may IDENTIFY now; the slot is taken on return."""
        if self._closed:
            raise EzError("ShardingError", "the identify queue is closed")
        bucket = shard_id % self.max_concurrency
        lock = self._bucket_locks.setdefault(bucket, asyncio.Lock())
        task = asyncio.current_task()
        if task is not None:
            self._waiters.add(task)  # type: ignore[arg-type]
        try:
            async with lock:
                await self._acquire_bucket(bucket, shard_id)
        finally:
            if task is not None:
                self._waiters.discard(task)  # type: ignore[arg-type]

    async def _acquire_bucket(self, bucket: int, shard_id: int) -> None:
        backoff = 0.2
        holder = f"{self.host} shard {shard_id}"
        while True:
            try:
                wait_ms = await self._try_grant(bucket, holder)
            except REDIS_DOWN_ERRORS as exc:
                self._warnings("down", down_message(self.redis_url, exc))
                await asyncio.sleep(backoff * (0.5 + random.random()))
                backoff = min(backoff * 2, 2.0)
                continue
            except RedisError as exc:  # refused, not down (an ACL without EVALSHA or INFO)
                doing = f"grant shard {shard_id} an IDENTIFY"
                raise EzError(
                    "ShardingError", failure_message(self.redis_url, doing, exc)
                ) from None
            self._warnings.resolved("down", back_message(self.redis_url))
            backoff = 0.2
            if wait_ms <= 0:
                self.granted += 1
                self._free_at[bucket] = time.monotonic() + self.hold_ms / 1000
                return
            self._free_at[bucket] = time.monotonic() + wait_ms / 1000
            # Sleep until the bucket frees, plus a little jitter so hosts do not ask in lockstep.
            await asyncio.sleep(wait_ms / 1000 + random.uniform(0.001, 0.02))

    async def _try_grant(self, bucket: int, holder: str) -> int:
        """One atomic attempt. Returns 0 when granted, else milliseconds to wait."""
        info = await self._redis.info("server")
        run_id = str(info.get("run_id", ""))
        result = int(
            await self._script(
                keys=[self.keys.identify_bucket(bucket), self.keys.identify_epoch],
                args=[self.hold_ms, holder, run_id],
            )
        )
        return 0 if result > 0 else -result

    async def close(self) -> None:
        """Cancel pending ``acquire`` calls and close the connection."""
        self._closed = True
        for task in list(self._waiters):
            task.cancel()
        if self._owns_client:
            await close_client(self._redis, "identify queue")
