"""The read-only ``client`` view EasyLang code sees: ``get_client()`` and ``broadcast_eval``.

Member names follow discord.js (``client.guilds.cache.size``, ``client.ws.ping``) because that
is what EasyLang users and the upstream sharding docs write. Every member is computed on
access from the live discord.py client, with no caching and no copying of caches: the sharding
layer evaluates these for every shard on every ``broadcast_eval``, so ``ez_get`` must stay
cheap (a dict lookup and a ``len``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import discord

from ezlang.discord import convert, latency
from ezlang.discord.latency import measured_latency
from ezlang.lang.values import EzObject

Getter = Callable[[discord.Client], Any]


class _Section(EzObject):
    """A nested read-only member group such as ``client.ws`` or ``client.guilds.cache``."""

    __slots__ = ("_client", "_members", "_label")
    ez_type = "object"

    def __init__(self, client: discord.Client, members: dict[str, Getter], label: str) -> None:
        self._client = client
        self._members = members
        self._label = label

    def ez_get(self, name: str) -> Any:
        getter = self._members.get(name)
        return None if getter is None else getter(self._client)

    def ez_keys(self) -> list[str]:
        return list(self._members)

    def __repr__(self) -> str:
        return f"<{self._label}>"


def _guild_count(c: discord.Client) -> int:
    # client.guilds builds a list of every guild; the length of the cache dict is O(1).
    return len(c._connection._guilds)


def _user_count(c: discord.Client) -> int:
    return len(c._connection._users)


def _channel_count(c: discord.Client) -> int:
    state = c._connection
    return sum(len(g._channels) for g in state._guilds.values()) + len(state._private_channels)


def _ping_ms(c: discord.Client) -> int:
    """Gateway heartbeat latency in whole milliseconds; -1 until a heartbeat sent after READY
    was answered (discord.js says -1 before its first heartbeat; see ezlang.discord.latency)."""
    seconds = measured_latency(c)
    return -1 if seconds is None else round(seconds * 1000)


def _ws_status(c: discord.Client) -> str:
    """``ready``, ``connecting``, ``closed`` — words rather than discord.js's numeric codes."""
    if c.is_closed():
        return "closed"
    if c.is_ready():
        return "ready"
    return "connecting"


def _shard_ids(c: discord.Client) -> list[int]:
    shards = getattr(c, "shards", None)
    if isinstance(shards, dict) and shards:
        return sorted(shards)
    return [c.shard_id or 0]


def _shard_count(c: discord.Client) -> int:
    return c.shard_count or 1


def _uptime_ms(c: discord.Client) -> int | None:
    ready_at = getattr(c, "ez_ready_at", None)
    if ready_at is None:
        return None
    return round((time.monotonic() - ready_at) * 1000)


def _user(c: discord.Client) -> dict[str, Any] | None:
    return convert.user(c.user)


_CACHE_GUILDS: dict[str, Getter] = {"size": _guild_count}
_CACHE_USERS: dict[str, Getter] = {"size": _user_count}
_CACHE_CHANNELS: dict[str, Getter] = {"size": _channel_count}
_WS: dict[str, Getter] = {"ping": _ping_ms, "status": _ws_status}
_SHARD: dict[str, Getter] = {"ids": _shard_ids, "count": _shard_count}


class ClientView(EzObject):
    """Read-only view of a discord.py client for EasyLang (``get_client()``, ``broadcast_eval``).

    Members: ``guilds.cache.size``, ``users.cache.size``, ``channels.cache.size``, ``ws.ping``
    (ms), ``ws.status``, ``user`` (``{id, username, tag, bot}``), ``uptime`` (ms since ready),
    ``shard.ids``, ``shard.count``, and the shortcuts ``guild_count``, ``user_count``, ``ping``.
    """

    __slots__ = ("client", "_members")
    ez_type = "object"

    def __init__(self, client: discord.Client) -> None:
        self.client = client
        latency.install()  # ws.ping counts only heartbeats sent after READY

        def cache(members: dict[str, Getter], label: str) -> Getter:
            section = _Section(client, members, label)
            holder = _Section(client, {"cache": lambda _c: section}, label.rsplit(".", 1)[0])
            return lambda _c: holder

        # Built once per view so ez_get is one dict lookup plus the getter.
        self._members: dict[str, Getter] = {
            "guilds": cache(_CACHE_GUILDS, "client.guilds.cache"),
            "users": cache(_CACHE_USERS, "client.users.cache"),
            "channels": cache(_CACHE_CHANNELS, "client.channels.cache"),
            "ws": _const(_Section(client, _WS, "client.ws")),
            "user": _user,
            "uptime": _uptime_ms,
            "shard": _const(_Section(client, _SHARD, "client.shard")),
            "guild_count": _guild_count,
            "user_count": _user_count,
            "ping": _ping_ms,
        }

    def ez_get(self, name: str) -> Any:
        getter = self._members.get(name)
        return None if getter is None else getter(self.client)

    def ez_keys(self) -> list[str]:
        return list(self._members)

    def __repr__(self) -> str:
        return "<client>"


def _const(value: Any) -> Getter:
    return lambda _c: value
