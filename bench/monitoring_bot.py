"""The discord.py bot of the monitoring benchmark: receives messages, answers nothing."""

import discord

from ezlang.sharding.pybot import attach, shard_options

client = attach(
    discord.Client(
        intents=discord.Intents(guilds=True, guild_messages=True),
        guild_ready_timeout=0.05,
        chunk_guilds_at_startup=False,
        **shard_options(),
    )
)
client.run("token from the manager", log_handler=None)
