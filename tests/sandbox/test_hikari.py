"""A second, independent client library (hikari) against the sandbox; skipped without hikari."""

from __future__ import annotations

import asyncio
import base64

import pytest

from ezlang.sandbox import Sandbox, World

hikari = pytest.importorskip("hikari")


def discord_shaped_token(seed: int) -> str:
    """hikari reads the bot id out of the token (base64 of the id, then two more parts)."""
    bot_id = World(0, seed=seed).bot_id
    return base64.b64encode(str(bot_id).encode()).decode().rstrip("=") + ".SANDBX.sandbox-token"


async def test_hikari_gateway_bot_connects_receives_and_replies():
    async with Sandbox(guilds=30, identify_window=0.2, token=discord_shaped_token(0)) as sb:
        intents = hikari.Intents.ALL_UNPRIVILEGED | hikari.Intents.MESSAGE_CONTENT
        bot = hikari.GatewayBot(
            sb.token,
            rest_url=sb.api_url,
            intents=intents,
            banner=None,
            logs=None,
            auto_chunk_members=False,
            suppress_optimization_warning=True,
        )
        replied = asyncio.Event()

        @bot.listen(hikari.GuildMessageCreateEvent)
        async def on_message(event: hikari.GuildMessageCreateEvent) -> None:
            if event.is_bot:
                return
            await bot.rest.create_message(event.channel_id, f"hikari got: {event.content}")
            replied.set()

        try:
            await asyncio.wait_for(bot.start(), 30)
            state = sb.state()
            assert [c["shard"] for c in state["connections"]] == [[0, 1]]
            cid = sb.guilds_for_shard(0, 1)[4]["text_channel_ids"][0]
            # The GUILD_CREATEs may still be arriving; the message is routed regardless.
            await sb.inject_message(cid, "hello")
            msgs = await sb.wait_for_bot_messages(cid, 1, timeout=15)
            assert msgs[0]["content"] == "hikari got: hello"
            assert len(bot.cache.get_guilds_view()) == 30
        finally:
            await asyncio.wait_for(bot.close(), 15)
