"""Honest gateway latency (``client.ws.ping``, the stats' ``ping``): nothing until a heartbeat
sent after READY is answered, then a real loopback round trip."""

from __future__ import annotations

import asyncio
import time

import discord
import pytest

from ezlang.discord.latency import measured_latency
from ezlang.discord.view import ClientView
from ezlang.sandbox import Sandbox

from .test_ready import AutoShardedClient, Client, running

pytestmark = pytest.mark.timeout(90)


async def wait_measured(client: discord.Client, timeout: float = 15) -> float:
    deadline = time.monotonic() + timeout
    while (value := measured_latency(client)) is None:
        assert time.monotonic() < deadline, "no latency measured after READY"
        await asyncio.sleep(0.05)
    return value


async def test_ping_is_minus_one_until_a_heartbeat_after_ready_is_answered() -> None:
    async with Sandbox(guilds=5, heartbeat_interval=2.0) as sb:
        client = Client(intents=discord.Intents.default())
        view = ClientView(client)
        async with running(client, sb):
            # The heartbeat sent on HELLO (before IDENTIFY) does not count, whatever its ACK.
            assert measured_latency(client) is None
            assert view.ez_get("ws").ez_get("ping") == -1
            seconds = await wait_measured(client)
            assert 0 <= seconds < 0.5  # loopback, not a heartbeat interval
            assert view.ez_get("ws").ez_get("ping") == round(seconds * 1000)


async def test_several_shards_in_one_process_average_their_measured_latencies() -> None:
    async with Sandbox(guilds=1200, identify_window=0.3, heartbeat_interval=1.0) as sb:
        client = AutoShardedClient(intents=discord.Intents.default())
        ClientView(client)
        async with running(client, sb):
            assert client.shard_count == 2
            seconds = await wait_measured(client)
            assert 0 <= seconds < 0.5
