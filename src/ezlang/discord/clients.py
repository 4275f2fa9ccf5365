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
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import discord

from ezlang.discord import convert
from ezlang.discord import state as ez_state

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
        route = _ROUTES.get(event)
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


def _route_ready(rt: BotRuntime, client: Any, args: tuple[Any, ...]) -> None:
    rt.on_ready(client)
    if rt.interactions is not None:
        from ezlang.discord import interactions

        interactions.on_ready(rt)


def _route_interaction(rt: BotRuntime, client: Any, args: tuple[Any, ...]) -> None:
    if rt.interactions is not None or rt.handlers.get("interactionCreate"):
        from ezlang.discord import interactions

        interactions.dispatch(rt, client, args[0])


def _route_message(rt: BotRuntime, client: Any, args: tuple[Any, ...]) -> None:
    if rt.wants_messages():
        rt.on_message_dict(convert.message(args[0]))


def _route_reaction(rt: BotRuntime, client: Any, args: tuple[Any, ...]) -> None:
    if rt.handlers.get("messageReactionAdd") or rt.collectors:
        rt.on_reaction(convert.reaction(args[0]))


def _route_message_edit(rt: BotRuntime, client: Any, args: tuple[Any, ...]) -> None:
    if rt.handlers.get("messageUpdate"):
        raw: discord.RawMessageUpdateEvent = args[0]
        new = convert.message(raw.message)
        if raw.cached_message is not None:
            old: dict[str, Any] | None = convert.message(raw.cached_message)
        else:
            old = rt.recent.get(new["id"])
        if new["id"] in rt.recent:
            rt.recent[new["id"]] = new
        rt.emit("messageUpdate", (old, new))


def _route_message_delete(rt: BotRuntime, client: Any, args: tuple[Any, ...]) -> None:
    if rt.handlers.get("messageDelete"):
        raw: discord.RawMessageDeleteEvent = args[0]
        remembered = rt.recent.pop(str(raw.message_id), None)
        if raw.cached_message is not None:
            value = convert.message(raw.cached_message)
        elif remembered is not None:
            value = remembered
        else:
            value = convert.partial_message(raw.message_id, raw.channel_id, raw.guild_id)
        rt.emit("messageDelete", (value,))


def _route_guild(event: str) -> Callable[[BotRuntime, Any, tuple[Any, ...]], None]:
    def route(rt: BotRuntime, client: Any, args: tuple[Any, ...]) -> None:
        if rt.handlers.get(event):
            rt.emit(event, (convert.guild(args[0]),))

    return route


_ROUTES: dict[str, Callable[[BotRuntime, Any, tuple[Any, ...]], None]] = {
    "ready": _route_ready,
    "message": _route_message,
    "raw_message_edit": _route_message_edit,
    "raw_message_delete": _route_message_delete,
    "raw_reaction_add": _route_reaction,
    "interaction": _route_interaction,
    "guild_join": _route_guild("guildCreate"),
    "guild_remove": _route_guild("guildDelete"),
}


def shard_readers(client: Any) -> list[asyncio.Task[Any]]:
    """The reading tasks of an AutoShardedClient's launched shards that are still running."""
    if not isinstance(client, EzAutoShardedClient):
        return []
    # discord.py keeps launched shards in a private, name-mangled dict.
    shards = getattr(client, "_AutoShardedClient__shards", {})
    tasks = [getattr(shard, "_task", None) for shard in shards.values()]
    return [task for task in tasks if task is not None and not task.done()]
