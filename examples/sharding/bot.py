"""bot.py — a plain discord.py bot that an ezlang shard manager can run, one process per shard.

Manager (EasyLang):   create_shard_manager("bot.py", {total_shards: 2}) then spawn_shards()
On its own:           DISCORD_TOKEN=... python bot.py   (unsharded, as any discord.py bot)

The two additions for the manager are ``shard_options()`` (this shard's id and count) and
``attach(client)``; inside a shard the manager supplies the token and paces every IDENTIFY.
"""

import os

import discord
from ezlang.sharding.pybot import attach, shard_options

intents = discord.Intents.default()
intents.message_content = True
client = attach(discord.Client(intents=intents, **shard_options()))


@client.event
async def on_ready() -> None:
    print(f"bot.py shard {client.shard_id} ready with {len(client.guilds)} servers", flush=True)


@client.event
async def on_message(message: discord.Message) -> None:
    if message.author.bot:
        return
    if message.content == "!ping":
        await message.reply(f"Pong from shard {client.shard_id} of {client.shard_count}")


client.run(os.environ.get("DISCORD_TOKEN", ""), log_handler=None)
