"""Run a plain discord.py bot as a managed shard.

A ``bot.py`` written for discord.py needs two small additions to be managed by ezlang::

    import discord
    from ezlang.sharding.pybot import shard_options, attach

    client = attach(discord.Client(intents=discord.Intents.default(), **shard_options()))

    @client.event
    async def on_ready():
        print("ready", client.shard_id)

    client.run("token")   # inside a shard the manager's token is used instead

Outside a manager ``shard_options()`` is ``{}`` and ``attach`` does nothing, so the same file
still runs on its own. Inside a shard, ``Client.start`` is wrapped: it connects the shard agent,
takes the token from the manager (whatever token the file passes), gates every IDENTIFY through
the manager's identify queue and lets the manager read stats, run ``broadcast_eval`` and stop
the shard. Both ``client.run(...)`` and ``asyncio.run(main())`` styles work.
"""

from __future__ import annotations

import os
from typing import Any

from ezlang.sharding import agent as agent_mod

_attached: list[Any] = []
_patched = False


def shard_options() -> dict[str, Any]:
    """``{"shard_id": id, "shard_count": n}`` inside a managed shard, else ``{}``."""
    if not agent_mod.in_shard():
        return {}
    return {
        "shard_id": int(os.environ[agent_mod.ENV_SHARD_ID]),
        "shard_count": int(os.environ[agent_mod.ENV_SHARD_COUNT]),
    }


def attach(client: Any) -> Any:
    """Mark ``client`` as this shard's client (a no-op outside a manager); returns it."""
    if agent_mod.in_shard() and client not in _attached:
        _attached.append(client)
        client.shard_id = int(os.environ[agent_mod.ENV_SHARD_ID])
        client.shard_count = int(os.environ[agent_mod.ENV_SHARD_COUNT])
    return client


def install_start_hook() -> None:
    """Wrap ``discord.Client.start`` so that the bot file's own start runs as this shard."""
    global _patched
    if _patched:
        return
    _patched = True
    import discord

    original_start = discord.Client.start

    async def start(self: discord.Client, token: str = "", *, reconnect: bool = True) -> None:
        agent = await agent_mod.ShardAgent.connect()
        # A client the file did not attach still becomes this shard (one bot per process).
        if self.shard_id is None:
            self.shard_id = agent.shard_id
            self.shard_count = agent.shard_count
        agent.point_discord_py()
        agent.client_created(self)
        await original_start(self, agent.token, reconnect=reconnect)

    discord.Client.start = start  # type: ignore[method-assign]
