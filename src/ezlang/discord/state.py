"""discord.py's connection state, with a ready rule and a list of the gateway websockets.

**Ready** once every guild READY listed has arrived.

READY lists the bot's guilds as unavailable stubs; Discord then streams one GUILD_CREATE per
guild (or a GUILD_DELETE with ``unavailable: true`` for a guild in an outage). discord.py
2.7 does not count them: ``ConnectionState._delay_ready`` fires ``on_ready`` only when no
GUILD_CREATE came for ``guild_ready_timeout`` seconds, so every start pays that wait (2 s
by default) after the last guild, and a pause in the stream longer than it fires ``on_ready``
with guilds missing.

The states here keep discord.py's loop and timeout, and end the wait as soon as every
guild READY listed has been accounted for. The hook is the ready queue discord.py reads
(``_ready_state``, per shard ``_ready_states[shard_id]``): :class:`ReadyGuildQueue` knows
the guilds still expected, and once none are and nothing is queued, its ``get()`` raises
``TimeoutError`` — exactly what discord.py's loop treats as "no more guilds are coming".
The timeout stays the fallback for a guild that never arrives.

**Websockets**: discord.py hands every gateway websocket it opens to
``_update_references``; the state remembers them (weakly), so that stopping the bot can
close one that no running reader owns — an auto-sharded shard still waiting to IDENTIFY —
with ``DiscordWebSocket.close``, which also ends its heartbeat thread.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Iterable
from typing import Any

import discord
from discord.state import AutoShardedConnectionState, ConnectionState

#: discord.py's own default: the fallback wait after the last GUILD_CREATE when a listed guild
#: never arrives (neither created nor reported unavailable).
FALLBACK_TIMEOUT = 2.0


class ReadyGuildQueue(asyncio.Queue[discord.Guild]):
    """discord.py's ready queue, plus the ids of the guilds READY listed that are still due.

    ``get()`` returns a queued guild; with none queued and none due, it raises
    ``TimeoutError`` at once instead of waiting for discord.py's timeout.
    """

    def __init__(self, expected: Iterable[int]) -> None:
        super().__init__()
        self.due: set[int] = set(expected)
        self._wake: asyncio.Future[None] | None = None

    def put_nowait(self, item: discord.Guild) -> None:
        super().put_nowait(item)
        self.arrived(item.id)

    def arrived(self, guild_id: int) -> None:
        """``guild_id`` came (GUILD_CREATE) or will not (reported unavailable, or left)."""
        self.due.discard(guild_id)
        wake, self._wake = self._wake, None
        if wake is not None and not wake.done():
            wake.set_result(None)

    async def get(self) -> discord.Guild:
        while self.empty():
            if not self.due:
                # Every guild is in: discord.py's loop reads a timeout as "done waiting".
                raise TimeoutError
            self._wake = asyncio.get_running_loop().create_future()
            await self._wake  # put_nowait or arrived; discord.py's wait_for cancels it
        return self.get_nowait()


def _listed(data: Any) -> list[int]:
    """The ids of the guilds a READY payload lists as not yet available."""
    ids = []
    for guild in data.get("guilds") or ():
        if guild.get("unavailable", True):
            ids.append(int(guild["id"]))
    return ids


class _ReadyRuleMixin:
    """Counts the guilds of READY in; shared by the plain and the auto-sharded state."""

    #: Every gateway websocket of this client that is still referenced elsewhere.
    ez_websockets: weakref.WeakSet[Any]

    def _update_references(self, ws: Any) -> None:
        super()._update_references(ws)  # type: ignore[misc]
        sockets = self.__dict__.get("ez_websockets")
        if sockets is None:
            sockets = self.ez_websockets = weakref.WeakSet()
        sockets.add(ws)

    def _ez_queues(self) -> Iterable[Any]:
        raise NotImplementedError

    def _ez_arrived(self, data: Any) -> None:
        try:
            guild_id = int(data["id"])
        except (KeyError, TypeError, ValueError):
            return
        for queue in list(self._ez_queues()):
            if isinstance(queue, ReadyGuildQueue):
                queue.arrived(guild_id)

    def parse_guild_create(self, data: Any) -> None:
        super().parse_guild_create(data)  # type: ignore[misc]
        # An unavailable GUILD_CREATE is not queued by discord.py, but it is no longer due.
        self._ez_arrived(data)

    def parse_guild_delete(self, data: Any) -> None:
        # Discord reports a guild in an outage with GUILD_DELETE {unavailable: true}; a guild
        # the bot left while starting will not come either.
        super().parse_guild_delete(data)  # type: ignore[misc]
        self._ez_arrived(data)


class EzConnectionState(_ReadyRuleMixin, ConnectionState):  # type: ignore[type-arg]
    """A single connection's state: ``on_ready`` as soon as all of READY's guilds arrived."""

    def _ez_queues(self) -> Iterable[Any]:
        queue = getattr(self, "_ready_state", None)
        return () if queue is None else (queue,)

    def parse_ready(self, data: Any) -> None:
        super().parse_ready(data)
        # discord.py made a fresh queue and a waiting task that has not run yet; the task
        # looks the queue up by attribute on every turn, so swapping it here is safe.
        self._ready_state = ReadyGuildQueue(_listed(data))


class EzAutoShardedConnectionState(_ReadyRuleMixin, AutoShardedConnectionState):  # type: ignore[type-arg]
    """Per shard: ``on_shard_ready`` as soon as that shard's READY guilds arrived."""

    def _ez_queues(self) -> Iterable[Any]:
        return self._ready_states.values()

    def parse_ready(self, data: Any) -> None:
        super().parse_ready(data)
        shard_id = data["shard"][0]
        old = self._ready_states.get(shard_id)
        queue = ReadyGuildQueue(_listed(data))
        # discord.py keeps a shard's queue across a second READY; carry what it holds over.
        while old is not None and not old.empty():
            queue.put_nowait(old.get_nowait())
        self._ready_states[shard_id] = queue


def make_state(client: discord.Client, **options: Any) -> ConnectionState:  # type: ignore[type-arg]
    """The state ``Client._get_state`` would make, with the ready rule (see the module doc)."""
    options.setdefault("guild_ready_timeout", FALLBACK_TIMEOUT)
    if isinstance(client, discord.AutoShardedClient):
        return EzAutoShardedConnectionState(
            dispatch=client.dispatch,
            handlers=client._handlers,
            hooks=client._hooks,
            http=client.http,
            **options,
        )
    return EzConnectionState(
        dispatch=client.dispatch,
        handlers=client._handlers,
        hooks=client._hooks,
        http=client.http,
        **options,
    )
