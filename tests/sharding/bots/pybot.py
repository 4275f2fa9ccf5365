"""A plain discord.py bot used by the sharding tests; EZTEST_MODE picks a misbehaviour."""

import os
import sys
import time

import discord

from ezlang.sharding.pybot import attach, shard_options

MODE = os.environ.get("EZTEST_MODE", "")
CRASH_SHARD = int(os.environ.get("EZTEST_SHARD", "-1"))
this_shard = shard_options().get("shard_id")

if MODE == "crash_at_start" and this_shard in (CRASH_SHARD, None) or MODE == "crash_all":
    print("about to crash", flush=True)
    raise RuntimeError("boom at start")

if MODE == "hang_at_start" and this_shard == CRASH_SHARD:
    print("hanging before connecting", flush=True)
    time.sleep(3600)

intents = discord.Intents.none()
intents.guilds = True
intents.guild_messages = True
intents.message_content = True
client = attach(
    discord.Client(
        intents=intents,
        guild_ready_timeout=0.05,
        chunk_guilds_at_startup=False,
        **shard_options(),
    )
)


@client.event
async def on_ready() -> None:
    print(f"ready shard={client.shard_id} guilds={len(client.guilds)}", flush=True)
    if MODE == "print_token":
        # A careless bot printing its token: the manager must hide it in forwarded output.
        print("token is", client.http.token, flush=True)


@client.event
async def on_message(message: discord.Message) -> None:
    if message.content == "!block":
        # A handler stuck in an endless loop: the event loop never runs again.
        print("blocking the event loop", flush=True)
        while True:
            time.sleep(0.05)
    if message.content == "!pong":  # one REST request (the monitoring tests count them)
        await message.channel.send("pong")
    if message.content == "!fail":  # a handler error (counted by the monitoring tests)
        raise RuntimeError("this handler fails on purpose")
    if message.content.startswith("count:"):
        print(f"handled {message.content}", flush=True)
    if message.content == "!exit":
        sys.stdout.flush()
        os._exit(3)


client.run("not-the-real-token", log_handler=None)
