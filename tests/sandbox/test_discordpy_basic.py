"""The real discord.py client against the sandbox: login, READY, guilds, messages."""

from __future__ import annotations

import discord
from ezlang.sandbox import Sandbox


async def test_client_reaches_ready_and_replies_to_injected_message(sandbox: Sandbox, clients):
    rc = clients(sandbox.token)

    @rc.client.event
    async def on_message(message: discord.Message) -> None:
        if message.author.bot:
            return
        await message.channel.send(f"pong: {message.content}")

    await rc.wait_ready()
    assert len(rc.client.guilds) == 20
    assert rc.client.user is not None and rc.client.user.bot

    channel_id = sandbox.guilds_for_shard(0, 1)[3]["text_channel_ids"][0]
    result = await sandbox.inject_message(channel_id, "ping")
    assert result["delivered"] is True
    msgs = await sandbox.wait_for_bot_messages(channel_id, 1)
    assert msgs[0]["content"] == "pong: ping"
    assert msgs[0]["author"]["id"] == str(rc.client.user.id)
