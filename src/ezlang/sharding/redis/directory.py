"""Which host runs which shard of a bot, shared through Redis: :class:`RedisShardDirectory`.

The second implementation of :class:`~ezlang.sharding.interfaces.ShardDirectory`. Every change two
hosts could race on is one atomic Lua script. The directory keeps one heartbeat key per host (with
a TTL) and one hash entry per shard; a shard whose owner's heartbeat expired is "unreachable".
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import time
from collections.abc import Awaitable, Callable
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from ezlang.lang.errors import EzError
from ezlang.sharding.pids import pid_alive
from ezlang.sharding.redis.connection import (
    REDIS_DOWN_ERRORS,
    REDIS_FAILURES,
    RateLimitedWarning,
    Warn,
    back_message,
    close_client,
    connect,
    describe_error,
    down_message,
    failure_message,
    stderr_warn,
)
from ezlang.sharding.redis.keys import RedisKeys, default_host_name
from ezlang.sharding.redis.sessions import RedisSessions
from ezlang.sharding.redis.settings import RedisSettingsStore, SharedSettings

__all__ = ["RedisShardDirectory"]

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
        self._settings_store = RedisSettingsStore(self._redis, self.keys, redis_url)
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

    def session_storage(self) -> RedisSessions:
        """Where the manager keeps its shards' resumable sessions (on this directory's client)."""
        return RedisSessions(self._redis, self.keys)

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
        """Fix or adopt the bot's shared settings (see :class:`RedisSettingsStore`)."""
        self._settings = await self._settings_store.decide(
            host=self.host,
            total_shards=total_shards,
            explicit=explicit,
            max_concurrency=max_concurrency,
            identify_window=identify_window,
            ttl=self.config_ttl,
        )
        return self._settings

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
            await self._settings_store.reassert(self._settings, self.config_ttl)
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
            except RedisError as exc:  # refused (an ACL, a read-only replica): say so, go on
                self._warnings(
                    "heartbeat", failure_message(self.redis_url, "keep this host's heartbeat", exc)
                )
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
        except REDIS_FAILURES as exc:
            doing = f"claim shards {ids}"
            raise EzError("ShardingError", failure_message(self.redis_url, doing, exc)) from None
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
        except RedisError as exc:  # e.g. an ACL that forbids EVALSHA: say so, keep shutting down
            self._warnings("release", f"could not release shards {ids} in Redis: {exc}")

    async def hosts(self) -> dict[str, dict[str, Any]]:
        """Live hosts of the bot: name → record (machine, pid, started_at, shards)."""
        out: dict[str, dict[str, Any]] = {}
        async for key in self._redis.scan_iter(match=self.keys.host_prefix + "*", count=100):
            raw = await self._redis.get(key)
            if raw:
                try:
                    out[key[len(self.keys.host_prefix) :]] = json.loads(raw)
                except ValueError:
                    continue  # not written by ezlang; not a host of ours
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
                    # Unknown, not known dead: callers retry through the bus instead.
                    "redis_down": True,
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
            try:
                await asyncio.wait_for(
                    self._drop_host(
                        keys=[self.keys.host(self.host), self.keys.shards, self.keys.config],
                        args=[self.machine, os.getpid()],
                    ),
                    timeout=2.0,
                )
            except REDIS_DOWN_ERRORS:
                pass  # the key expires with its TTL; the other hosts then see this one gone
        if self._owns_client:
            await close_client(self._redis, "shard directory")


#: Longest wait for a background task to end when closing; closing never hangs.
_STOP_TIMEOUT = 3.0


def _owner(raw: str | bytes) -> str | None:
    try:
        host = json.loads(raw).get("host")
    except (ValueError, AttributeError):
        return None
    return host if isinstance(host, str) else None
