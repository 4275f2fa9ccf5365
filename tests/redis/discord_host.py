"""A minimal "host" for the multi-host tests: real discord.py shards coordinated over Redis.

Run as its own process (one per simulated machine). It joins the bot through
:class:`RedisMultiHost`, starts one real ``discord.Client`` per shard of ``--shards`` against the
sandbox with every IDENTIFY gated by the Redis identify queue, publishes each shard's status in
the directory, and answers cross-host calls (``guilds``, ``stats``). It prints one JSON line per
event on stdout (``joined``, ``ready``, ``error``) and exits on SIGTERM or when stdin closes.

This is deliberately not the shard manager: it proves the Redis backends against the real client
and sandbox on their own. The manager's end-to-end tests use ``ShardManager`` itself.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
import time
from typing import Any

import discord
import discord.gateway
import discord.http
import yarl

from ezlang.lang.errors import EzError
from ezlang.sharding.redis.multihost import RedisMultiHost

logging.getLogger("discord").setLevel(logging.CRITICAL)


def emit(event: str, **data: Any) -> None:
    print(json.dumps({"event": event, **data}), flush=True)


async def main(args: argparse.Namespace) -> int:
    discord.http.Route.BASE = args.api
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(args.gateway)
    shard_ids = [int(x) for x in args.shards.split(",")]
    multi = RedisMultiHost(
        args.redis,
        args.app_id,
        host=args.host,
        ttl=args.ttl,
        secret="discord-host-test-token",
        warn=lambda m: print(f"[{args.host}] warning: {m}", file=sys.stderr, flush=True),
    )
    clients: dict[int, discord.Client] = {}
    started = time.monotonic()

    async def call_shard(shard_id: int, op: str, payload: Any, timeout: float | None) -> Any:
        client = clients.get(shard_id)
        if client is None:
            raise EzError("ShardingError", f"shard {shard_id} is not on host '{args.host}'")
        if op == "guilds":
            return len(client.guilds)
        if op == "stats":
            return {
                "shard_id": shard_id,
                "guild_count": len(client.guilds),
                "ready": client.is_ready(),
                "status": "ready" if client.is_ready() else "starting",
                "pid": os.getpid(),
                "uptime_ms": int((time.monotonic() - started) * 1000),
                "host": args.host,
            }
        raise EzError("ValueError", f"unknown operation {op}")

    settings = await multi.join(
        total_shards=args.total,
        explicit=True,
        max_concurrency=args.max_concurrency,
        identify_window=args.window,
        shard_ids=shard_ids,
        serve=call_shard,
    )
    emit("joined", host=args.host, total=settings.total_shards)

    class ShardClient(discord.Client):
        async def before_identify_hook(
            self, shard_id: int | None, *, initial: bool = False
        ) -> None:
            await multi.queue.acquire(shard_id if shard_id is not None else 0)

    async def run_shard(shard_id: int) -> None:
        intents = discord.Intents.default()
        client = ShardClient(
            intents=intents,
            shard_id=shard_id,
            shard_count=settings.total_shards,
            guild_ready_timeout=0.1,
            chunk_guilds_at_startup=False,
        )
        clients[shard_id] = client

        @client.event
        async def on_ready() -> None:
            await multi.update(shard_id, {"status": "ready", "ready": True, "pid": os.getpid()})
            emit("ready", shard=shard_id, guilds=len(client.guilds))

        await multi.update(shard_id, {"status": "identifying", "pid": os.getpid()})
        try:
            await client.start(args.token)
        except Exception as exc:
            emit("error", shard=shard_id, error=repr(exc))

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    stdin_closed = loop.run_in_executor(None, sys.stdin.read)
    stdin_closed.add_done_callback(lambda _f: stop.set())
    tasks = [asyncio.create_task(run_shard(i)) for i in shard_ids]
    await stop.wait()
    for client in clients.values():
        with contextlib.suppress(Exception):
            await asyncio.wait_for(client.close(), 5)
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await multi.leave()
    return 0


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    for name in ("redis", "api", "gateway", "token", "app-id", "host", "shards"):
        ap.add_argument(f"--{name}", required=True)
    ap.add_argument("--total", type=int, required=True)
    ap.add_argument("--max-concurrency", type=int, default=1)
    ap.add_argument("--window", type=float, default=0.5)
    ap.add_argument("--ttl", type=float, default=2.0)
    sys.exit(asyncio.run(main(ap.parse_args())))
