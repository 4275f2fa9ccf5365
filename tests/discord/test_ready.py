"""When a bot is ready: once every guild READY listed has arrived (ezlang.discord.state).

discord.py alone fires on_ready ``guild_ready_timeout`` (2 s) after the last GUILD_CREATE;
the sandbox here streams its guilds with a Discord-like pause between them, so these tests
see both halves of the rule: no on_ready before the last guild, and no fallback wait after it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

import discord
import pytest

import ezlang.discord.builtins  # noqa: F401  (registers the builtins)
from ezlang.discord import connect
from ezlang.discord.runtime import runtime
from ezlang.discord.state import FALLBACK_TIMEOUT, EzAutoShardedConnectionState, make_state
from ezlang.lang.asyncbridge import call_async
from ezlang.lang.registry import BUILTINS
from ezlang.sandbox import Sandbox

from .conftest import wait_until

pytestmark = pytest.mark.timeout(90)

#: A fallback no test may reach: readiness within the tests' deadline proves it was not used.
LONG_FALLBACK = 60.0


async def ez(name: str, *args: Any) -> Any:
    return await call_async(BUILTINS[name], *args)


class Client(discord.Client):
    """A plain discord.py client with the ready rule (what the runtime's EzClient uses)."""

    def _get_state(self, **options: Any) -> Any:
        return make_state(self, **options)


class AutoShardedClient(discord.AutoShardedClient):
    def _get_state(self, **options: Any) -> Any:
        return make_state(self, **options)


@contextlib.asynccontextmanager
async def running(client: discord.Client, sb: Sandbox) -> AsyncIterator[dict[str, Any]]:
    """Run ``client`` against ``sb``; yields what it saw at on_ready, closes it at the end."""
    seen: dict[str, Any] = {}
    ready = asyncio.Event()

    @client.event
    async def on_ready() -> None:
        seen["at"] = time.monotonic()
        seen["unavailable"] = sorted(g.id for g in client.guilds if g.unavailable)
        seen["available"] = sorted(g.id for g in client.guilds if not g.unavailable)
        ready.set()

    connect.point_discord_py_at(sb.api_url, sb.gateway_url)
    task = asyncio.create_task(client.start(sb.token))
    try:
        done, _ = await asyncio.wait(
            [asyncio.ensure_future(ready.wait()), task],
            timeout=30,
            return_when=asyncio.FIRST_COMPLETED,
        )
        if task in done:
            task.result()  # the client failed: show why
        assert ready.is_set(), "the client was not ready within 30 s"
        yield seen
    finally:
        await client.close()
        await asyncio.wait_for(task, 10)


def _ids(sb: Sandbox, shard: int = 0, count: int = 1) -> list[int]:
    return sorted(int(g["id"]) for g in sb.guilds_for_shard(shard, count))


async def test_bot_is_ready_after_the_last_paced_guild_and_without_the_fallback_wait(
    run_ctx: Any,
) -> None:
    delay = 0.05
    async with Sandbox(guilds=20, identify_window=0.5, seed=3, guild_create_delay=delay) as sb:
        run_ctx.options.update(api=sb.api_url, token=sb.token)
        at_ready: list[tuple[float, list[int]]] = []

        def on_ready(view: Any) -> None:
            client = runtime().client
            assert client is not None
            at_ready.append((time.monotonic(), sorted(g.id for g in client.guilds)))
            assert not [g for g in client.guilds if g.unavailable]

        await ez("on_ready", on_ready)
        await ez("bot_start")
        # Note when the last guild reached discord.py (it looks the parser up per event).
        state = runtime().client._connection  # type: ignore[union-attr]
        parse = state.parsers["GUILD_CREATE"]
        arrivals: list[float] = []

        def timed(data: Any) -> None:
            arrivals.append(time.monotonic())
            parse(data)

        state.parsers["GUILD_CREATE"] = timed
        await wait_until(lambda: at_ready, what="ready")
        ready_at, guild_ids = at_ready[0]
        assert guild_ids == _ids(sb)
        assert len(arrivals) == 20 and arrivals[-1] - arrivals[0] >= 19 * delay * 0.9
        # discord.py alone would wait FALLBACK_TIMEOUT (2 s) after the last guild.
        assert ready_at >= arrivals[-1]
        assert ready_at - arrivals[-1] < FALLBACK_TIMEOUT / 2
        await ez("bot_stop")


async def test_discordpy_client_is_ready_once_all_guilds_arrived_not_after_the_timeout() -> None:
    async with Sandbox(guilds=30, identify_window=0.2, guild_create_delay=0.02) as sb:
        client = Client(intents=discord.Intents.default(), guild_ready_timeout=LONG_FALLBACK)
        started = time.monotonic()
        async with running(client, sb) as seen:
            assert seen["available"] == _ids(sb) and seen["unavailable"] == []
            assert seen["at"] - started < LONG_FALLBACK / 2


async def test_an_unavailable_guild_does_not_hold_up_ready() -> None:
    async with Sandbox(guilds=10, identify_window=0.2, guild_create_delay=0.02) as sb:
        ids = _ids(sb)
        sb.set_guild_unavailable(ids[4])
        client = Client(intents=discord.Intents.default(), guild_ready_timeout=LONG_FALLBACK)
        started = time.monotonic()
        async with running(client, sb) as seen:
            assert seen["unavailable"] == [ids[4]]
            assert seen["available"] == [i for i in ids if i != ids[4]]
            assert seen["at"] - started < LONG_FALLBACK / 2


async def test_auto_sharded_client_is_ready_per_shard_once_its_guilds_arrived() -> None:
    # 1200 guilds → GET /gateway/bot recommends 2 shards; each streams its 600 guilds.
    async with Sandbox(guilds=1200, identify_window=0.3, guild_create_delay=0.001) as sb:
        client = AutoShardedClient(
            intents=discord.Intents.default(), guild_ready_timeout=LONG_FALLBACK
        )
        assert isinstance(client._connection, EzAutoShardedConnectionState)
        shard_ready: list[int] = []

        @client.event
        async def on_shard_ready(shard_id: int) -> None:
            shard_ready.append(shard_id)

        started = time.monotonic()
        async with running(client, sb) as seen:
            assert client.shard_count == 2 and sorted(shard_ready) == [0, 1]
            assert seen["available"] == _ids(sb) and seen["unavailable"] == []
            assert seen["at"] - started < LONG_FALLBACK / 2
