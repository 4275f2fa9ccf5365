"""A shard manager as one host among several: :class:`RedisMultiHost`, :class:`RedisRemoteCaller`.

:class:`RedisMultiHost` bundles the three Redis pieces of one manager — the global identify
queue, the shard directory and the cross-host bus — with one shared outage warning, and does
the routing:

```python
multi = RedisMultiHost(redis_url, app_id, secret=token)
settings = await multi.join(total_shards=8, explicit=True, max_concurrency=1,
                            identify_window=5.0, shard_ids=[0, 1, 2, 3], serve=serve)
queue = multi.queue                                       # an IdentifyQueue for the shards here
outcomes = await multi.gather("stats", None, 5.0)         # every shard of the bot, by id
await multi.call(5, "respawn", None, 60.0)                # on whichever host owns shard 5
await multi.leave()
```

:class:`RedisRemoteCaller` is the ``remote`` the :class:`~ezlang.sharding.manager.ShardManager`
gets from :func:`ezlang.sharding.redis.factory.make_backends` (see :mod:`ezlang.sharding.backends`): the manager
keeps its own fan-out and calls ``remote.call(shard_id, …)`` for shards it does not run.

``serve(shard_id, op, payload, timeout)`` is how other hosts reach a manager: it handles the
shard operations (``eval``, ``fetch``, ``stats`` — whatever ``call_shard`` takes) and the manager
operations that route to the owner (``respawn``).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from ezlang.lang.errors import EzError
from ezlang.sharding.redis.bus import HostUnreachable, LocalCall, RedisBus
from ezlang.sharding.redis.connection import (
    RateLimitedWarning,
    Warn,
    redact_url,
    stderr_warn,
    validate_redis_url,
)
from ezlang.sharding.redis.directory import RedisShardDirectory
from ezlang.sharding.redis.identify_queue import RedisIdentifyQueue
from ezlang.sharding.redis.keys import default_host_name
from ezlang.sharding.redis.settings import SharedSettings

__all__ = ["Outcome", "RedisMultiHost", "RedisRemoteCaller", "unreachable_stats"]


@dataclass(slots=True)
class Outcome:
    """What one shard answered to a gathered call."""

    shard_id: int
    host: str | None
    value: Any = None
    error: EzError | None = None
    #: True when the shard's host could not be reached at all (gone, or Redis down).
    unreachable: bool = False
    entry: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.error is None


def unreachable_stats(outcome: Outcome) -> dict[str, Any]:
    """The ``get_shard_stats`` entry of a shard that did not answer."""
    out: dict[str, Any] = {
        "shard_id": outcome.shard_id,
        "ready": False,
        "status": "unreachable" if outcome.unreachable else outcome.entry.get("status", "dead"),
        "host": outcome.host,
    }
    if outcome.error is not None:
        out["error"] = outcome.error.message
    return out


class RedisMultiHost:
    """This manager's membership in a multi-host bot: identify queue, directory and bus."""

    def __init__(
        self,
        redis_url: str,
        app_id: str | int,
        *,
        host: str | None = None,
        ttl: float = 10.0,
        max_concurrency: int = 1,
        identify_window: float = 5.0,
        identify_margin: float | None = None,
        warn: Warn = stderr_warn,
        secret: str | bytes,
    ) -> None:
        """``secret`` signs the bus messages: the bot token (the same on every host)."""
        validate_redis_url(redis_url)
        self.redis_url = redis_url
        self.app_id = str(app_id)
        self.host = host or default_host_name()
        warnings = RateLimitedWarning(warn)
        self.queue = RedisIdentifyQueue(
            redis_url,
            self.app_id,
            max_concurrency,
            identify_window,
            host=self.host,
            margin=identify_margin,
            warnings=warnings,
        )
        self.directory = RedisShardDirectory(
            redis_url, self.app_id, host=self.host, ttl=ttl, warnings=warnings
        )
        self.bus = RedisBus(
            redis_url, self.app_id, host=self.host, warnings=warnings, secret=secret
        )
        self.settings: SharedSettings | None = None
        self.local_ids: list[int] = []
        # Routing (who owns which shard) changes rarely; re-reading it on every call would add
        # two Redis round trips to each broadcast. A vanished host is still noticed at once
        # (PUBLISH reaches nobody), so a short-lived cache only delays seeing *new* owners.
        self.route_cache = min(1.0, ttl / 4)
        self._routes: tuple[float, dict[int, dict[str, Any]]] | None = None
        self._serve: LocalCall = _not_joined
        self._routes_reading: asyncio.Future[dict[int, dict[str, Any]]] | None = None

    async def agree(
        self,
        *,
        total_shards: int,
        explicit: bool,
        max_concurrency: int,
        identify_window: float,
        shard_ids: list[int] | None,
    ) -> SharedSettings:
        """Agree on the shared settings with the other hosts and note this host's shards.

        ``shard_ids`` None means every shard (only sensible for the first of several hosts
        when the others are not started yet; usually each host has a ``shard_list``).
        Raises ``ShardingError`` on a conflicting ``total_shards``, a shard id outside
        ``[0, total_shards)``, or Redis unreachable.
        """
        settings = await self.directory.decide(
            total_shards=total_shards,
            explicit=explicit,
            max_concurrency=max_concurrency,
            identify_window=identify_window,
        )
        ids = list(range(settings.total_shards)) if shard_ids is None else sorted(set(shard_ids))
        bad = [i for i in ids if not 0 <= i < settings.total_shards]
        if bad:
            raise EzError(
                "ShardingError",
                f"shard_list has {', '.join(map(str, bad))} outside [0, {settings.total_shards}) "
                f"— total_shards {settings.total_shards} was fixed by host "
                f"'{settings.decided_by}'",
            )
        self.queue.configure(settings.max_concurrency, settings.identify_window)
        self.settings = settings
        self.local_ids = ids
        return settings

    async def join(
        self,
        *,
        total_shards: int,
        explicit: bool,
        max_concurrency: int,
        identify_window: float,
        shard_ids: list[int] | None,
        serve: LocalCall,
    ) -> SharedSettings:
        """:meth:`agree`, then start serving other hosts with ``serve`` and claim the shards.

        Raises like :meth:`agree`, and ``ShardingError`` for a shard owned by a live host.
        """
        settings = await self.agree(
            total_shards=total_shards,
            explicit=explicit,
            max_concurrency=max_concurrency,
            identify_window=identify_window,
            shard_ids=shard_ids,
        )
        self._serve = serve
        await self.bus.start(serve)
        await self.directory.claim(self.local_ids)
        return settings

    async def update(self, shard_id: int, info: dict[str, Any]) -> None:
        """Publish a local shard's status (never raises when Redis is down)."""
        await self.directory.update(shard_id, info)

    async def _entries(self) -> dict[int, dict[str, Any]]:
        now = time.monotonic()
        if self._routes is not None and now - self._routes[0] < self.route_cache:
            return self._routes[1]
        # One read for all concurrent callers: they also resume together, so the calls of one
        # fan-out still meet in one batch per host.
        if self._routes_reading is None:
            reading = asyncio.ensure_future(self._read_routes(now))
            # If every caller is cancelled the read still ends; its error must not go unseen
            # ("exception was never retrieved"): the callers that remain get it, else it is
            # dropped here — the next call reads again.
            reading.add_done_callback(_retrieve)
            self._routes_reading = reading
        return await asyncio.shield(self._routes_reading)

    async def _read_routes(self, now: float) -> dict[int, dict[str, Any]]:
        try:
            entries = await self.directory.entries()
            self._routes = (now, entries)
            return entries
        finally:
            self._routes_reading = None

    async def owner(self, shard_id: int) -> str:
        """The host running ``shard_id``; ``ShardingError`` if none or unknown id."""
        entries = await self._entries()
        entry = entries.get(shard_id)
        if entry is None or not entry.get("host"):
            total = self.settings.total_shards if self.settings else None
            if total is not None and not 0 <= shard_id < total:
                raise EzError(
                    "ShardingError", f"unknown shard {shard_id}: shards are 0 to {total - 1}"
                )
            raise EzError("ShardingError", f"shard {shard_id} is not run by any host")
        if entry.get("status") == "unreachable":
            raise HostUnreachable(
                f"shard {shard_id} is on host '{entry['host']}', which is unreachable",
                entry["host"],
            )
        return str(entry["host"])

    async def call(self, shard_id: int, op: str, payload: Any, timeout: float | None) -> Any:
        """Run ``op`` for ``shard_id`` on the host that owns it (this one included)."""
        host = await self.owner(shard_id)
        if host == self.host:
            return await self._serve(shard_id, op, payload, timeout)
        return await self.bus.call(host, shard_id, op, payload, timeout)

    async def gather(
        self,
        op: str,
        payload: Any,
        timeout: float | None,
        local_call: LocalCall | None = None,
        local_ids: list[int] | None = None,
    ) -> list[Outcome]:
        """Run ``op`` on every shard of the bot, on every host, in parallel; ordered by id.

        Local shards go through ``local_call`` directly (they keep working while Redis is down);
        each other host gets one batched request. Never raises for a shard: each
        :class:`Outcome` carries its value or error.
        """
        local = sorted(self.local_ids if local_ids is None else local_ids)
        call_local = local_call or self._serve
        entries = await self._entries()
        total = self.settings.total_shards if self.settings else None
        all_ids = set(entries) | set(local) | (set(range(total)) if total else set())
        outcomes: dict[int, Outcome] = {}
        by_host: dict[str, list[int]] = {}
        for shard_id in sorted(all_ids):
            entry = entries.get(shard_id, {})
            host = entry.get("host")
            if shard_id in local:
                continue
            if not host:
                outcomes[shard_id] = Outcome(
                    shard_id,
                    None,
                    error=EzError("ShardingError", f"shard {shard_id} is not run by any host"),
                    unreachable=True,
                    entry=entry,
                )
            elif entry.get("status") == "unreachable":
                outcomes[shard_id] = Outcome(
                    shard_id,
                    host,
                    error=EzError(
                        "ShardingError",
                        entry.get("error")
                        or f"shard {shard_id} is on host '{host}', which is unreachable",
                    ),
                    unreachable=True,
                    entry=entry,
                )
            else:
                by_host.setdefault(host, []).append(shard_id)

        async def run_local(shard_id: int) -> None:
            o = Outcome(shard_id, self.host, entry=entries.get(shard_id, {}))
            try:
                o.value = await call_local(shard_id, op, payload, timeout)
            except EzError as exc:
                o.error = exc
            outcomes[shard_id] = o

        async def run_remote(host: str, ids: list[int]) -> None:
            try:
                results = await self.bus.call_many(host, ids, op, payload, timeout)
            except EzError as exc:
                gone = isinstance(exc, HostUnreachable)
                if gone:
                    self._routes = None  # re-read who owns what on the next call
                for shard_id in ids:
                    outcomes[shard_id] = Outcome(
                        shard_id, host, error=exc, unreachable=gone, entry=entries.get(shard_id, {})
                    )
                return
            for shard_id, res in zip(ids, results, strict=True):
                o = Outcome(shard_id, host, entry=entries.get(shard_id, {}))
                if isinstance(res, EzError):
                    o.error = res
                else:
                    o.value = res
                outcomes[shard_id] = o

        await asyncio.gather(
            *(run_local(i) for i in local), *(run_remote(h, ids) for h, ids in by_host.items())
        )
        return [outcomes[i] for i in sorted(outcomes)]

    async def leave(self) -> None:
        """Release this host's shards and stop heartbeating, serving and identifying."""
        await self.directory.release(self.local_ids)
        self.local_ids = []
        await self.bus.close()
        await self.directory.close()
        await self.queue.close()


def _retrieve(fut: asyncio.Future[Any]) -> None:
    if not fut.cancelled():
        fut.exception()


async def _not_joined(shard_id: int, op: str, payload: Any, timeout: float | None) -> Any:
    raise EzError("ShardingError", "this manager has not joined the bot's hosts yet")


class RedisRemoteCaller:
    """The manager's ``remote`` (see :mod:`ezlang.sharding.backends`): shards of other hosts.

    ``call`` routes one shard operation to the host that owns the shard; ``start`` makes this
    host answer other hosts with the manager's ``call_shard``; ``close`` leaves the bot (stops
    the heartbeat, the bus and the identify queue).

    Every error raised for a remote shard carries a ``host`` attribute so the manager's stats can
    say where the shard lives.
    """

    def __init__(self, multi: RedisMultiHost) -> None:
        self.multi = multi
        self.host = multi.host
        self._batches: dict[tuple[str, str, str, float | None], list[Any]] = {}
        self._sending: set[asyncio.Task[None]] = set()

    async def start(self, local_call: LocalCall) -> None:
        """Serve other hosts' calls for this host's shards through ``local_call``."""
        local = set(self.multi.local_ids)

        async def serve(shard_id: int, op: str, payload: Any, timeout: float | None) -> Any:
            # Only shards that run here: a stale route elsewhere must not bounce back and forth.
            if shard_id not in local:
                raise EzError("ShardingError", f"shard {shard_id} is not run by host '{self.host}'")
            result = await local_call(shard_id, op, payload, timeout)
            if op == "stats" and isinstance(result, dict):
                result = {**result, "host": self.host}
            return result

        self.multi._serve = serve
        self.multi.bus.serve_with(serve)
        self.multi.directory.on_lost = self._make_on_lost(local_call)

    def _make_on_lost(self, local_call: LocalCall) -> Callable[[list[int]], Awaitable[None]]:
        """What to do when another host took over shards of this one (it was cut off).

        Two processes on one shard would answer every event twice, so this host stops its
        copies. The manager has no public per-shard stop; ``local_call`` is its bound
        ``call_shard``, and its ``shards[id].stop()`` is used when present — otherwise the
        directory's warning asks the user to stop them.
        """
        manager = getattr(local_call, "__self__", None)

        async def on_lost(shard_ids: list[int]) -> None:
            shards = getattr(manager, "shards", None)
            if not isinstance(shards, dict):
                return
            for shard_id in shard_ids:
                proc = shards.get(shard_id)
                stop = getattr(proc, "stop", None)
                if stop is not None:
                    try:
                        await stop()
                    except Exception as exc:  # one shard failing to stop must not keep the rest
                        stderr_warn(f"could not stop shard {shard_id} here: {exc!r}")

        return on_lost

    async def call(self, shard_id: int, op: str, payload: Any, timeout: float | None) -> Any:
        """Run ``op`` on shard ``shard_id`` of another host (same result and errors as locally)."""
        host: str | None = None
        try:
            entry = await self._route(shard_id, timeout)
            host = entry.get("host")
            if not host:
                down = self.multi.directory.redis_down
                if down:
                    raise HostUnreachable(
                        f"shard {shard_id} cannot be reached: Redis at "
                        f"{redact_url(self.multi.redis_url)} is unreachable ({down})",
                        None,
                    )
                raise EzError("ShardingError", f"shard {shard_id} is not run by any host")
            if host == self.host:
                raise EzError(
                    "ShardingError", f"shard {shard_id} is not running under this manager"
                )
            if entry.get("status") == "unreachable" and not entry.get("redis_down"):
                raise HostUnreachable(
                    f"shard {shard_id} is on host '{host}', which is unreachable (no heartbeat)",
                    host,
                )
            try:
                # While Redis is down the bus retries until the timeout, then says why.
                result = await self._batched(host, shard_id, op, payload, timeout)
            except HostUnreachable:
                self.multi._routes = None
                raise
            if op == "stats" and isinstance(result, dict):
                result.setdefault("host", host)
            return result
        except EzError as exc:
            exc.host = host  # type: ignore[attr-defined]
            raise

    async def _batched(
        self, host: str, shard_id: int, op: str, payload: Any, timeout: float | None
    ) -> Any:
        """``bus.call``, but calls made together for one host travel as one request.

        The manager fans out one call per shard; the calls for one host that start in the same
        event-loop turn with the same operation share one round trip (``call_many``), which
        the other host answers in parallel.
        """
        try:
            key = (host, op, json.dumps(payload, sort_keys=True), timeout)
        except (TypeError, ValueError):
            return await self.multi.bus.call(host, shard_id, op, payload, timeout)
        loop = asyncio.get_running_loop()
        batch = self._batches.get(key)
        if batch is None:
            batch = self._batches[key] = []
            loop.call_soon(self._flush, key, payload)
        fut: asyncio.Future[Any] = loop.create_future()
        batch.append((shard_id, fut))
        return await fut

    def _flush(self, key: tuple[str, str, str, float | None], payload: Any) -> None:
        batch = self._batches.pop(key, [])
        if batch:
            task = asyncio.get_running_loop().create_task(self._send(key, payload, batch))
            self._sending.add(task)
            task.add_done_callback(self._sending.discard)

    async def _send(
        self,
        key: tuple[str, str, str, float | None],
        payload: Any,
        batch: list[tuple[int, asyncio.Future[Any]]],
    ) -> None:
        host, op, _, timeout = key
        bus = self.multi.bus
        try:
            if len(batch) == 1:
                results: list[Any] = [await bus.call(host, batch[0][0], op, payload, timeout)]
            else:
                ids = [shard_id for shard_id, _ in batch]
                results = await bus.call_many(host, ids, op, payload, timeout)
        except asyncio.CancelledError:
            for _, fut in batch:
                fut.cancel()
            raise
        except Exception as exc:
            for _, fut in batch:
                if not fut.done():
                    fut.set_exception(exc)
            return
        for (_, fut), res in zip(batch, results, strict=True):
            if fut.done():
                continue
            if isinstance(res, EzError):
                fut.set_exception(res)
            else:
                fut.set_result(res)

    async def _route(self, shard_id: int, timeout: float | None) -> dict[str, Any]:
        """The directory entry of ``shard_id``, waiting a little for one that is missing.

        After a Redis restart the hosts republish their shards within a third of the TTL;
        a call in that gap waits for the entry (within its timeout) instead of failing.
        """
        entry = (await self.multi._entries()).get(shard_id) or {}
        if entry.get("host"):
            return entry
        wait = (
            self.multi.directory.ttl if timeout is None else min(timeout, self.multi.directory.ttl)
        )
        deadline = time.monotonic() + wait
        while True:
            self.multi._routes = None
            entry = (await self.multi._entries()).get(shard_id) or {}
            if entry.get("host") or time.monotonic() >= deadline:
                return entry
            await asyncio.sleep(0.05)

    async def close(self) -> None:
        """Leave the bot: release nothing here (the manager releases its shards), stop all."""
        for task in list(self._sending):
            task.cancel()
        await self.multi.bus.close()
        await self.multi.directory.close()
        await self.multi.queue.close()
