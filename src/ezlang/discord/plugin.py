"""The shard plugin hook: how the sharding layer plugs into the bot runtime.

The bot runtime never imports the shard manager. A shard process (the sharding layer's agent)
calls :func:`install` before the script runs; ``bot_start`` then connects as exactly that
shard, asks the plugin before every IDENTIFY (the manager's identify queue), and hands the
plugin the client and its read-only view once they exist (for stats and ``broadcast_eval``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    import discord

    from ezlang.discord.view import ClientView


@runtime_checkable
class ShardPlugin(Protocol):
    """What a shard process provides to the bot runtime (see docs/ARCHITECTURE.md)."""

    shard_id: int
    shard_count: int

    async def before_identify(self, shard_id: int, initial: bool) -> None:
        """Return when this shard may send IDENTIFY (awaited before every IDENTIFY)."""
        ...

    def client_created(self, client: discord.Client, view: ClientView) -> None:
        """Called once ``bot_start`` has made the client, before it connects."""
        ...


_plugin: ShardPlugin | None = None


def install(plugin: ShardPlugin | None) -> None:
    """Make ``plugin`` the shard plugin of this process (``None`` removes it)."""
    global _plugin
    if plugin is not None:
        for name in ("shard_id", "shard_count", "before_identify", "client_created"):
            if not hasattr(plugin, name):
                raise TypeError(f"shard plugin {plugin!r} has no {name!r}")
    _plugin = plugin


def current() -> ShardPlugin | None:
    """The installed shard plugin, or ``None`` for an unsharded bot."""
    return _plugin
