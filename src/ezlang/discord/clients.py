"""The discord.py clients of a bot: event routing to the runtime, IDENTIFY pacing, state.

:class:`EzClient` (one connection) and :class:`EzAutoShardedClient` (several shards in one
process) send discord.py's events on to their :class:`~ezlang.discord.runtime.BotRuntime`
(``ez_runtime``), under the discord.js names EasyLang users know, and use the connection
state of :mod:`ezlang.discord.state` (ready once every guild of READY arrived).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Any

import discord

from ezlang.discord import state as ez_state
from ezlang.discord.events import ROUTES

if TYPE_CHECKING:
    from ezlang.discord.runtime import BotRuntime

_log = logging.getLogger("ezlang.discord")


class IdentifyGate:
    """Discord's IDENTIFY rate limit inside one process (an unsharded or auto-sharded bot).

    At most ``max_concurrency`` IDENTIFYs per ``window`` seconds, one per bucket
    ``shard_id % max_concurrency``. A shard process under a manager uses the manager's queue
    (the plugin) instead.
    """

    def __init__(self, max_concurrency: int, window: float) -> None:
        self.max_concurrency = max(1, max_concurrency)
        self.window = window
        # Discord times IDENTIFYs when they arrive; one that is delayed on the way (a busy
        # event loop, the network) would bring the next one too close. Spend a little margin.
        self.margin = 0.1 + 0.1 * window
        self._last: dict[int, float] = {}
        self._lock = asyncio.Lock()

    async def acquire(self, shard_id: int) -> None:
        bucket = shard_id % self.max_concurrency
        async with self._lock:
            last = self._last.get(bucket)
            if last is not None:
                delay = last + self.window + self.margin - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
            self._last[bucket] = time.monotonic()


class _EzClientMixin:
    """What EasyLang adds to a discord.py client: event mapping and the identify hook."""

    ez_runtime: BotRuntime
    ez_ready_at: float | None = None
    #: discord.py events that become shard events, per client kind.
    _ez_shard_events: dict[str, str] = {}

    def dispatch(self, event: str, /, *args: Any, **kwargs: Any) -> None:
        super().dispatch(event, *args, **kwargs)  # type: ignore[misc]
        route = ROUTES.get(event)
        shard_event = self._ez_shard_events.get(event)
        if route is None and shard_event is None:
            return
        # This runs inside discord.py's gateway reader: an exception here would end the
        # connection, so an event we cannot convert is logged and skipped instead.
        try:
            if route is not None:
                route(self.ez_runtime, self, args)
            if shard_event is not None:
                self.ez_runtime.on_shard_event(self, shard_event, args)
        except Exception:
            _log.exception("ezlang could not deliver the %s event", event)

    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        await self.ez_runtime.before_identify(shard_id, initial)


class EzClient(_EzClientMixin, discord.Client):
    """One gateway connection: an unsharded bot, or one shard of a managed bot."""

    _ez_shard_events = {"disconnect": "shardDisconnect", "resumed": "shardResume"}

    def _get_state(self, **options: Any) -> Any:
        # Ready once every guild of READY arrived, not 2 s after the last one (state.py).
        return ez_state.make_state(self, **options)


class EzAutoShardedClient(_EzClientMixin, discord.AutoShardedClient):
    """Several shards in one process, for a bot that needs sharding but runs without a manager."""

    _ez_shard_events = {
        "shard_ready": "shardReady",
        "shard_disconnect": "shardDisconnect",
        "shard_resumed": "shardResume",
    }

    def _get_state(self, **options: Any) -> Any:
        return ez_state.make_state(self, **options)


def shard_readers(client: Any) -> list[asyncio.Task[Any]]:
    """The reading tasks of an AutoShardedClient's launched shards that are still running."""
    if not isinstance(client, EzAutoShardedClient):
        return []
    # discord.py keeps launched shards in a private, name-mangled dict.
    shards = getattr(client, "_AutoShardedClient__shards", {})
    tasks = [getattr(shard, "_task", None) for shard in shards.values()]
    return [task for task in tasks if task is not None and not task.done()]
