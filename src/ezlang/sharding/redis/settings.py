"""The settings every manager of one bot must share, fixed in Redis by the first one.

``total_shards``, ``max_concurrency`` and the identify window are decided once per bot: the first
live manager writes them (one atomic script, first writer wins) and the later ones adopt them. The
decision carries a TTL the live hosts keep refreshing, so once every host is gone for a while a new
fleet may choose again.
"""

from __future__ import annotations

from dataclasses import dataclass

import redis.asyncio as aioredis

from ezlang.lang.errors import EzError
from ezlang.sharding.redis.connection import REDIS_FAILURES, failure_message
from ezlang.sharding.redis.keys import RedisKeys

__all__ = ["RedisSettingsStore", "SharedSettings"]


@dataclass(frozen=True, slots=True)
class SharedSettings:
    """What every manager of one bot must agree on, as fixed by the first one."""

    total_shards: int
    max_concurrency: int
    identify_window: float
    decided_by: str
    #: True when this manager made the decision (it was the first).
    first: bool


# Fix the shared settings unless a live decision exists. KEYS[1] config hash.
# ARGV: total_shards, max_concurrency, identify_window, decided_by, ttl_ms.
# Returns {created(0/1), total_shards, max_concurrency, identify_window, decided_by}.
_DECIDE_SCRIPT = """
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('HSET', KEYS[1], 'total_shards', ARGV[1], 'max_concurrency', ARGV[2],
             'identify_window', ARGV[3], 'decided_by', ARGV[4])
  redis.call('PEXPIRE', KEYS[1], ARGV[5])
  return {1, ARGV[1], ARGV[2], ARGV[3], ARGV[4]}
end
local v = redis.call('HMGET', KEYS[1], 'total_shards', 'max_concurrency', 'identify_window',
                     'decided_by')
return {0, v[1], v[2], v[3], v[4]}
"""


class RedisSettingsStore:
    """Decides or adopts a bot's :class:`SharedSettings` in Redis (the ``config`` hash)."""

    def __init__(self, client: aioredis.Redis, keys: RedisKeys, redis_url: str) -> None:
        self._script = client.register_script(_DECIDE_SCRIPT)
        self.keys = keys
        self.redis_url = redis_url

    async def decide(
        self,
        *,
        host: str,
        total_shards: int,
        explicit: bool,
        max_concurrency: int,
        identify_window: float,
        ttl: float,
    ) -> SharedSettings:
        """Fix or adopt the bot's shared settings; the decision lives ``ttl`` seconds.

        ``total_shards`` is this manager's value (``"auto"`` already resolved); ``explicit`` says
        whether the user set it. The first live manager's values win; a later manager with an
        explicit different ``total_shards`` gets a ``ShardingError``.
        """
        try:
            res = await self._script(
                keys=[self.keys.config],
                args=[
                    total_shards,
                    max_concurrency,
                    repr(float(identify_window)),
                    host,
                    int(ttl * 1000),
                ],
            )
        except REDIS_FAILURES as exc:
            doing = "agree on total_shards with the other hosts"
            raise EzError("ShardingError", failure_message(self.redis_url, doing, exc)) from None
        created, total, conc, window, by = res
        settings = SharedSettings(
            total_shards=int(total),
            max_concurrency=int(conc),
            identify_window=float(window),
            decided_by=str(by),
            first=bool(int(created)),
        )
        if explicit and settings.total_shards != total_shards:
            raise EzError(
                "ShardingError",
                f"total_shards {total_shards} conflicts with total_shards "
                f"{settings.total_shards} already fixed for application {self.keys.app_id} by "
                f"host '{settings.decided_by}'; use total_shards: {settings.total_shards} (or "
                '"auto") on this host, or stop every host of this bot first',
            )
        return settings

    async def reassert(self, settings: SharedSettings, ttl: float) -> None:
        """Put ``settings`` back if Redis lost them (a restart); a live decision still wins."""
        await self._script(
            keys=[self.keys.config],
            args=[
                settings.total_shards,
                settings.max_concurrency,
                repr(settings.identify_window),
                settings.decided_by,
                int(ttl * 1000),
            ],
        )
