"""Multi-host sharding over Redis: the global identify queue and the shard directory.

These are the second implementations of :class:`~ezlang.sharding.interfaces.IdentifyQueue` and
:class:`~ezlang.sharding.interfaces.ShardDirectory`; the manager picks them when the ``redis``
option (or ``$EZLANG_REDIS_URL``) is set and otherwise never imports this module.

Design in one paragraph: Redis is the only shared state and every decision that two hosts could
race on is one atomic Lua script. An IDENTIFY slot is a key ``SET NX PX <window>`` per bucket, so
a host that dies holding a slot simply lets it expire. Redis's own clock (``TIME``) times the
window, so host clocks do not matter. A Redis that lost its keys (restart, failover, flush) is
recognised by its ``run_id`` and refuses grants for one full window before granting again — the
grant it forgot may have been a moment ago. The directory keeps one heartbeat key per host (TTL)
and one hash entry per shard; a shard whose owner's heartbeat expired is "unreachable".
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis

from ezlang.lang.errors import EzError
from ezlang.sharding.pids import pid_alive
from ezlang.sharding.redis_common import (
    REDIS_DOWN_ERRORS,
    RateLimitedWarning,
    RedisKeys,
    Warn,
    back_message,
    connect,
    default_host_name,
    describe_error,
    down_message,
    redact_url,
    stderr_warn,
)

__all__ = [
    "RedisIdentifyQueue",
    "RedisShardDirectory",
    "SharedSettings",
]

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
            with contextlib.suppress(Exception):
                await self._redis.aclose()


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

# Claim shards for a host unless a live other host owns one.
# KEYS[1] shards hash. ARGV[1] host, ARGV[2] host-key prefix, ARGV[3] number of shards n,
# ARGV[4..3+n] shard ids, ARGV[4+n..3+2n] their JSON infos.
# Returns {} on success, else {shard id, owner}.
_CLAIM_SCRIPT = """
local n = tonumber(ARGV[3])
for i = 1, n do
  local cur = redis.call('HGET', KEYS[1], ARGV[3 + i])
  if cur then
    local ok, info = pcall(cjson.decode, cur)
    local owner = ok and info['host'] or nil
    if owner and owner ~= ARGV[1] and redis.call('EXISTS', ARGV[2] .. owner) == 1 then
      return {ARGV[3 + i], owner}
    end
  end
end
for i = 1, n do
  redis.call('HSET', KEYS[1], ARGV[3 + i], ARGV[3 + n + i])
end
return {}
"""

# Publish shard infos only where this host still owns the shard (or nobody does, e.g. after a
# Redis restart). KEYS[1] shards hash. ARGV[1] host, ARGV[2] n, then n ids, then n JSON infos.
# Returns the ids now owned by someone else.
_PUBLISH_SCRIPT = """
local n = tonumber(ARGV[2])
local lost = {}
for i = 1, n do
  local id = ARGV[2 + i]
  local cur = redis.call('HGET', KEYS[1], id)
  local mine = true
  if cur then
    local ok, info = pcall(cjson.decode, cur)
    if ok and info['host'] and info['host'] ~= ARGV[1] then mine = false end
  end
  if mine then
    redis.call('HSET', KEYS[1], id, ARGV[2 + n + i])
  else
    table.insert(lost, id)
  end
end
return lost
"""

# Remove shard entries still owned by this host. KEYS[1] shards hash; ARGV[1] host, rest ids.
_RELEASE_SCRIPT = """
for i = 2, #ARGV do
  local cur = redis.call('HGET', KEYS[1], ARGV[i])
  if cur then
    local ok, info = pcall(cjson.decode, cur)
    if ok and info['host'] == ARGV[1] then redis.call('HDEL', KEYS[1], ARGV[i]) end
  end
end
return 1
"""


# Delete this manager's host key, but only if it is still this manager's (same machine and pid).
# When no shard of the bot is claimed any more (every host stopped cleanly), forget the shared
# decision too, so the next start may choose another total_shards at once.
# KEYS[1] host key, KEYS[2] shards hash, KEYS[3] config; ARGV[1] machine, ARGV[2] pid.
_DROP_HOST_SCRIPT = """
local cur = redis.call('GET', KEYS[1])
if cur then
  local ok, rec = pcall(cjson.decode, cur)
  if ok and rec['machine'] == ARGV[1] and tostring(rec['pid']) == ARGV[2] then
    redis.call('DEL', KEYS[1])
  end
end
if redis.call('HLEN', KEYS[2]) == 0 then redis.call('DEL', KEYS[3]) end
return 1
"""


class RedisShardDirectory:
    """Which host runs which shard of the bot, shared through Redis.

    * :meth:`decide` — the first manager of a bot fixes ``total_shards`` and ``max_concurrency``;
      later ones adopt them, and an explicit conflicting ``total_shards`` is a ``ShardingError``.
    * :meth:`claim` / :meth:`update` / :meth:`release` — shard ownership with status and pid.
    * A background heartbeat (started by :meth:`claim`, or :meth:`start`) keeps this host's
      key alive every ``ttl / 3`` seconds and republishes this host's shards after a Redis
      restart. A host whose key expired is gone: :meth:`entries` reports its shards
      ``status: "unreachable"``.

    Redis being down never raises out of :meth:`update` or the heartbeat (local shards keep
    running); :meth:`entries` then answers from the last snapshot, remote shards unreachable.
    """

    def __init__(
        self,
        redis_url: str,
        app_id: str | int,
        *,
        host: str | None = None,
        ttl: float = 10.0,
        warn: Warn = stderr_warn,
        warn_interval: float = 30.0,
        warnings: RateLimitedWarning | None = None,
        client: aioredis.Redis | None = None,
    ) -> None:
        if ttl <= 0:
            raise ValueError("ttl must be positive")
        self.redis_url = redis_url
        self.app_id = str(app_id)
        self.keys = RedisKeys(self.app_id)
        self.host = host or default_host_name()
        self.ttl = ttl
        self.machine = socket.gethostname()
        self._redis = client or connect(redis_url)
        self._owns_client = client is None
        self._claim = self._redis.register_script(_CLAIM_SCRIPT)
        self._publish = self._redis.register_script(_PUBLISH_SCRIPT)
        self._release = self._redis.register_script(_RELEASE_SCRIPT)
        self._decide = self._redis.register_script(_DECIDE_SCRIPT)
        self._drop_host = self._redis.register_script(_DROP_HOST_SCRIPT)
        # Shared with the other Redis parts of one manager: one outage, one warning.
        self._warnings = warnings or RateLimitedWarning(warn, warn_interval)
        self._local: dict[int, dict[str, Any]] = {}
        self._snapshot: dict[int, dict[str, Any]] = {}
        #: Why Redis was unreachable at the last directory read (None when it answered).
        self.redis_down: str | None = None
        self._settings: SharedSettings | None = None
        self._heartbeat_task: asyncio.Task[None] | None = None
        self._started_at = time.time()
        #: Called with the shard ids another host took over while this one was cut off.
        self.on_lost: Callable[[list[int]], Awaitable[None] | None] | None = None

    # -- shared decisions ------------------------------------------------------------------

    @property
    def config_ttl(self) -> float:
        """The shared decision outlives the last host by this long, then a new one may be made."""
        return max(self.ttl * 3, 30.0)

    async def decide(
        self,
        *,
        total_shards: int,
        explicit: bool,
        max_concurrency: int,
        identify_window: float,
    ) -> SharedSettings:
        """Fix or adopt the bot's shared settings.

        ``total_shards`` is this manager's value (``"auto"`` already resolved); ``explicit`` says
        whether the user set it. The first live manager's values win; a later manager with an
        explicit different ``total_shards`` gets a ``ShardingError``.
        """
        try:
            res = await self._decide(
                keys=[self.keys.config],
                args=[
                    total_shards,
                    max_concurrency,
                    repr(float(identify_window)),
                    self.host,
                    int(self.config_ttl * 1000),
                ],
            )
        except REDIS_DOWN_ERRORS as exc:
            raise EzError(
                "ShardingError",
                f"cannot reach Redis at {redact_url(self.redis_url)} to agree on total_shards "
                f"with the other hosts ({describe_error(exc)})",
            ) from None
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
                f"{settings.total_shards} already fixed for application {self.app_id} by host "
                f"'{settings.decided_by}'; use total_shards: {settings.total_shards} (or "
                '"auto") on this host, or stop every host of this bot first',
            )
        self._settings = settings
        return settings

    # -- ownership ------------------------------------------------------------------------

    def _host_record(self) -> str:
        return json.dumps(
            {
                "host": self.host,
                "machine": self.machine,
                "pid": os.getpid(),
                "started_at": self._started_at,
                "shards": sorted(self._local),
            }
        )

    async def _beat(self) -> None:
        """One heartbeat: host key, decision TTL, this host's shard entries."""
        pipe = self._redis.pipeline(transaction=False)
        pipe.set(self.keys.host(self.host), self._host_record(), px=int(self.ttl * 1000))
        pipe.pexpire(self.keys.config, int(self.config_ttl * 1000))
        # The shards hash outlives every host by a day so a restarted fleet still sees
        # which host last ran each shard; it is cleaned up by then.
        pipe.expire(self.keys.shards, 86400)
        await pipe.execute()
        if self._settings is not None:
            # Redis may have lost the decision (restart): put ours back (first writer wins).
            s = self._settings
            await self._decide(
                keys=[self.keys.config],
                args=[
                    s.total_shards,
                    s.max_concurrency,
                    repr(s.identify_window),
                    s.decided_by,
                    int(self.config_ttl * 1000),
                ],
            )
        if self._local:
            lost = await self._publish_local(list(self._local))
            if lost:
                await self._handle_lost(lost)
        # Keep a recent picture of the other hosts: if Redis goes away, calls can still say
        # where each shard was and why it cannot be reached.
        await self._read_entries()

    async def _publish_local(self, shard_ids: list[int]) -> list[int]:
        infos = [json.dumps(self._local[i]) for i in shard_ids]
        lost = await self._publish(
            keys=[self.keys.shards],
            args=[self.host, len(shard_ids), *shard_ids, *infos],
        )
        return [int(x) for x in lost]

    async def _handle_lost(self, lost: list[int]) -> None:
        for shard_id in lost:
            self._local.pop(shard_id, None)
        self._warnings(
            f"lost {lost}",
            f"shards {lost} are now run by another host (this host was cut off from Redis "
            "longer than the TTL and they were claimed elsewhere); stopping them here",
        )
        if self.on_lost is not None:
            result = self.on_lost(lost)
            if asyncio.iscoroutine(result):
                await result

    async def start(self) -> None:
        """Publish this host's heartbeat now and keep it alive in the background."""
        await self._beat()
        if self._heartbeat_task is None:
            self._heartbeat_task = asyncio.create_task(
                self._heartbeat_loop(), name=f"ezlang redis heartbeat {self.host}"
            )

    async def _heartbeat_loop(self) -> None:
        interval = self.ttl / 3
        while self._heartbeat_task is not None:  # None once close() began
            await asyncio.sleep(interval)
            try:
                await asyncio.wait_for(self._beat(), timeout=max(interval, 1.0))
            except REDIS_DOWN_ERRORS as exc:
                self.redis_down = describe_error(exc)
                self._warnings("down", down_message(self.redis_url, exc))
            else:
                self.redis_down = None
                self._warnings.resolved("down", back_message(self.redis_url))

    async def claim(self, shard_ids: list[int]) -> None:
        """Register this host as the owner of ``shard_ids``; refuse if a live host owns one."""
        ids = sorted(set(shard_ids))
        try:
            await self._check_name_is_free()
            await self.start()
            for _attempt in range(3):
                infos = [
                    json.dumps(
                        {"host": self.host, "pid": None, "status": "starting", "ready": False}
                    )
                    for _ in ids
                ]
                res = await self._claim(
                    keys=[self.keys.shards],
                    args=[self.host, self.keys.host_prefix, len(ids), *ids, *infos],
                )
                if not res:
                    break
                shard_id, owner = int(res[0]), str(res[1])
                if await self._owner_is_dead_here(owner):
                    continue  # its key is gone now; try again
                raise EzError("ShardingError", await self._conflict_message(shard_id, owner))
        except REDIS_DOWN_ERRORS as exc:
            raise EzError(
                "ShardingError",
                f"cannot reach Redis at {redact_url(self.redis_url)} to claim shards "
                f"{ids} ({describe_error(exc)})",
            ) from None
        for i in ids:
            self._local[i] = {"host": self.host, "pid": None, "status": "starting", "ready": False}

    async def _check_name_is_free(self) -> None:
        """Refuse to run under the name of another live manager (same EZLANG_HOST_NAME twice).

        Two managers sharing a name would each take the other's shards for their own.
        """
        if self._heartbeat_task is not None:
            return  # already ours
        raw = await self._redis.get(self.keys.host(self.host))
        if not raw:
            return
        try:
            rec = json.loads(raw)
        except ValueError:
            return
        pid, machine = rec.get("pid"), rec.get("machine")
        if machine == self.machine and pid == os.getpid():
            return
        if machine == self.machine and isinstance(pid, int) and not pid_alive(pid):
            return  # a previous manager of this name on this machine that died
        ttl_ms = await self._redis.pttl(self.keys.host(self.host))
        raise EzError(
            "ShardingError",
            f"another live manager already uses the host name '{self.host}' (pid {pid} on "
            f"machine '{machine}'); give each manager its own EZLANG_HOST_NAME, or wait "
            f"{max(ttl_ms, 0) / 1000:.1f} s if it is gone",
        )

    async def _owner_is_dead_here(self, owner: str) -> bool:
        """A previous manager on this very machine that died: its pid is gone, free its key.

        Saves the user waiting a whole TTL after killing a manager and starting a new one.
        """
        raw = await self._redis.get(self.keys.host(owner))
        if not raw:
            return True
        try:
            rec = json.loads(raw)
        except ValueError:
            return False
        pid = rec.get("pid")
        if rec.get("machine") != self.machine or not isinstance(pid, int) or pid == os.getpid():
            return False
        if pid_alive(pid):
            return False
        await self._redis.delete(self.keys.host(owner))
        return True

    async def _conflict_message(self, shard_id: int, owner: str) -> str:
        ttl_ms = await self._redis.pttl(self.keys.host(owner))
        expires = f"; if that host is gone its claim expires within {max(ttl_ms, 0) / 1000:.1f} s"
        return (
            f"shard {shard_id} is already run by live host '{owner}'{expires} — give each host "
            "its own shard_list"
        )

    async def update(self, shard_id: int, info: dict[str, Any]) -> None:
        """Publish a shard's status (status, pid, ready, …); never raises when Redis is down."""
        entry = dict(self._local.get(shard_id) or {})
        entry.update(info)
        entry["host"] = self.host
        entry["updated_at"] = time.time()
        self._local[shard_id] = entry
        try:
            lost = await asyncio.wait_for(self._publish_local([shard_id]), timeout=2.0)
        except REDIS_DOWN_ERRORS as exc:
            self._warnings("down", down_message(self.redis_url, exc))
            return
        if lost:
            await self._handle_lost(lost)

    async def release(self, shard_ids: list[int]) -> None:
        """Give up ownership of ``shard_ids`` (clean shutdown); best effort when Redis is down."""
        ids = sorted(set(shard_ids))
        for i in ids:
            self._local.pop(i, None)
        if not ids:
            return
        try:
            await asyncio.wait_for(
                self._release(keys=[self.keys.shards], args=[self.host, *ids]), timeout=2.0
            )
        except REDIS_DOWN_ERRORS:
            pass  # the entries turn "unreachable" when our heartbeat expires

    async def hosts(self) -> dict[str, dict[str, Any]]:
        """Live hosts of the bot: name → record (machine, pid, started_at, shards)."""
        out: dict[str, dict[str, Any]] = {}
        async for key in self._redis.scan_iter(match=self.keys.host_prefix + "*", count=100):
            raw = await self._redis.get(key)
            if raw:
                with contextlib.suppress(ValueError):
                    out[key[len(self.keys.host_prefix) :]] = json.loads(raw)
        return out

    async def entries(self) -> dict[int, dict[str, Any]]:
        """Every shard of the bot: id → info with ``host`` and ``status``, ordered by id.

        Shards whose host stopped heartbeating read ``status: "unreachable"``, ``ready: false``.
        When Redis itself is unreachable: this host's shards as known locally, the others from
        the last snapshot, marked unreachable.
        """
        try:
            out = await self._read_entries()
        except REDIS_DOWN_ERRORS as exc:
            self.redis_down = describe_error(exc)
            self._warnings("down", down_message(self.redis_url, exc))
            return self._offline_entries(describe_error(exc))
        self.redis_down = None
        return out

    async def _read_entries(self) -> dict[int, dict[str, Any]]:
        """Read the directory from Redis (raises when Redis is down) and keep a snapshot."""
        raw = await asyncio.wait_for(self._redis.hgetall(self.keys.shards), timeout=2.0)
        owners = sorted({o for v in raw.values() if (o := _owner(v)) and o != self.host})
        alive: dict[str, bool] = {self.host: True}
        if owners:
            vals = await self._redis.mget([self.keys.host(o) for o in owners])
            alive.update({o: v is not None for o, v in zip(owners, vals, strict=True)})
        out: dict[int, dict[str, Any]] = {}
        limit = self._settings.total_shards if self._settings else None
        for key, value in raw.items():
            try:
                shard_id = int(key)
                info = json.loads(value)
            except ValueError:
                continue
            if limit is not None and shard_id >= limit:
                continue  # left over from an earlier run with more shards
            host = info.get("host")
            if host == self.host and shard_id in self._local:
                info = dict(self._local[shard_id])
            elif not alive.get(host, False):
                info = {
                    "shard_id": shard_id,
                    "ready": False,
                    "status": "unreachable",
                    "host": host,
                    "pid": info.get("pid"),
                }
            info["shard_id"] = shard_id
            out[shard_id] = info
        for shard_id, info in self._local.items():  # published soon if Redis lost them
            out.setdefault(shard_id, {**info, "shard_id": shard_id})
        self._snapshot = {k: out[k] for k in sorted(out)}
        return dict(self._snapshot)

    def _offline_entries(self, why: str) -> dict[int, dict[str, Any]]:
        out: dict[int, dict[str, Any]] = {}
        for shard_id, info in self._snapshot.items():
            if info.get("host") != self.host:
                out[shard_id] = {
                    "shard_id": shard_id,
                    "ready": False,
                    "status": "unreachable",
                    "host": info.get("host"),
                    "error": f"Redis unavailable: {why}",
                }
        for shard_id, info in self._local.items():
            out[shard_id] = {**info, "shard_id": shard_id}
        return {k: out[k] for k in sorted(out)}

    async def close(self) -> None:
        """Stop the heartbeat and drop this host's key (its shards' entries stay until released)."""
        task, self._heartbeat_task = self._heartbeat_task, None
        if task is not None:
            task.cancel()
            # Bounded, and asyncio.wait rather than awaiting the task: on Python 3.11 a
            # wait_for() inside the loop can swallow the cancellation, and the loop then ends
            # only at its next turn (it checks _stopping).
            await asyncio.wait({task}, timeout=_STOP_TIMEOUT)
        if task is not None:  # only a started directory published a host key of its own
            with contextlib.suppress(*REDIS_DOWN_ERRORS):
                await asyncio.wait_for(
                    self._drop_host(
                        keys=[self.keys.host(self.host), self.keys.shards, self.keys.config],
                        args=[self.machine, os.getpid()],
                    ),
                    timeout=2.0,
                )
        if self._owns_client:
            with contextlib.suppress(Exception):
                await self._redis.aclose()


#: Longest wait for a background task to end when closing; closing never hangs.
_STOP_TIMEOUT = 3.0


def _owner(raw: str | bytes) -> str | None:
    try:
        host = json.loads(raw).get("host")
    except (ValueError, AttributeError):
        return None
    return host if isinstance(host, str) else None


# -- the factory the manager calls (ezlang.sharding.backends.make_backends) ----------------------

#: Environment override of the directory TTL (seconds); default 3 × the manager's heartbeat.
REDIS_TTL_ENV = "EZLANG_REDIS_TTL"


async def application_id(api: str, token: str) -> str:
    """The bot's application id (``GET /oauth2/applications/@me``): the key of all its state.

    Falls back to a digest of the token (never the token itself) when the API does not say, so
    the hosts of one bot still meet under one key.
    """
    import hashlib

    import aiohttp

    headers = {"Authorization": f"Bot {token}", "User-Agent": "DiscordBot (ezlang, 0.1)"}
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15)) as http:
            async with http.get(f"{api}/oauth2/applications/@me", headers=headers) as resp:
                if resp.status < 400:
                    data = await resp.json(content_type=None)
                    if isinstance(data, dict) and data.get("id"):
                        return str(data["id"])
    except (aiohttp.ClientError, TimeoutError, OSError, ValueError):
        pass
    return "token-" + hashlib.sha256(token.encode()).hexdigest()[:16]


async def make_backends(options: Any, gateway: Any) -> Any:
    """Multi-host backends for a manager with the ``redis`` option (see ``backends.py``).

    Agrees on the bot-wide settings with the other hosts (the first manager decides), then
    returns the Redis identify queue, the Redis shard directory and the cross-host caller, all
    sharing one membership (:class:`~ezlang.sharding.redis_multihost.RedisMultiHost`).
    """
    from ezlang.discord.connect import api_base
    from ezlang.sharding.redis_common import validate_redis_url
    from ezlang.sharding.redis_multihost import RedisMultiHost

    url = validate_redis_url(options.redis)
    api = api_base({"api": options.api} if options.api else {})
    app_id = await application_id(api, options.token)
    ttl_env = os.environ.get(REDIS_TTL_ENV)
    try:
        ttl = float(ttl_env) if ttl_env else max(3 * options.heartbeat_interval, 1.0)
    except ValueError:
        raise EzError(
            "ValueError", f"${REDIS_TTL_ENV} must be a number of seconds, got {ttl_env!r}"
        ) from None
    multi = RedisMultiHost(
        url,
        app_id,
        ttl=ttl,
        max_concurrency=gateway.max_concurrency,
        identify_window=gateway.identify_window,
    )
    try:
        return await _join(multi, options, gateway)
    except BaseException:
        await multi.leave()
        raise


async def _join(multi: Any, options: Any, gateway: Any) -> Any:
    from ezlang.sharding.backends import Backends
    from ezlang.sharding.redis_multihost import RedisRemoteCaller

    settings = await multi.directory.decide(
        total_shards=gateway.total_shards,
        explicit=options.total_shards is not None,
        max_concurrency=gateway.max_concurrency,
        identify_window=gateway.identify_window,
    )
    multi.settings = settings
    multi.queue.configure(settings.max_concurrency, settings.identify_window)
    ids = (
        list(options.shard_list)
        if options.shard_list is not None
        else list(range(settings.total_shards))
    )
    bad = [i for i in ids if not 0 <= i < settings.total_shards]
    if bad:
        raise EzError(
            "ShardingError",
            f"shard_list has {', '.join(map(str, bad))} outside [0, {settings.total_shards}) — "
            f"total_shards {settings.total_shards} was fixed by host '{settings.decided_by}'",
        )
    multi.local_ids = sorted(ids)
    remote = RedisRemoteCaller(multi)
    # Listen before the manager claims its shards, so nobody sees them without a way in.
    await multi.bus.start(multi._serve)
    return Backends(
        identify_queue=multi.queue,
        directory=multi.directory,
        remote=remote,
        total_shards=settings.total_shards,
        max_concurrency=settings.max_concurrency,
        identify_window=settings.identify_window,
    )
