"""GUILD_CREATE pacing and guild outages, seen by a raw gateway client."""

from __future__ import annotations

import asyncio
import time

import pytest

from ezlang.sandbox import Sandbox, SandboxError
from ezlang.sandbox.cli import build_parser

from .rawclient import RawGateway

TOKEN = "sandbox-token"


async def test_paced_guild_creates_stream_after_ready_while_heartbeats_are_answered():
    delay = 0.05
    async with Sandbox(guilds=8, identify_window=0.2, guild_create_delay=delay) as sb:
        gw = await RawGateway.connect(sb.gateway_url)
        try:
            await gw.identify(TOKEN)
            ready = await gw.next(t="READY")
            ready_at = time.monotonic()
            expected = [g["id"] for g in ready["d"]["guilds"]]
            assert len(expected) == 8
            # The stream is paced, not held: a heartbeat in the middle is answered at once.
            await gw.next(t="GUILD_CREATE")
            ack = await asyncio.wait_for(gw.heartbeat(), delay * 4)
            assert ack["op"] == 11
            arrivals = [time.monotonic()]
            ids = [gw.dispatches("GUILD_CREATE")[0]["d"]["id"]]
            for _ in expected[1:]:
                ids.append((await gw.next(t="GUILD_CREATE"))["d"]["id"])
                arrivals.append(time.monotonic())
            assert ids == expected
            # 8 guilds, one every 50 ms: the last comes at least 7 gaps after the first.
            assert arrivals[-1] - arrivals[0] >= 7 * delay * 0.9
            assert arrivals[-1] - ready_at >= 7 * delay * 0.9
        finally:
            await gw.close()


async def test_an_unavailable_guild_gets_guild_delete_unavailable_instead_of_create():
    async with Sandbox(guilds=4, identify_window=0.2) as sb:
        down = sb.guilds_for_shard(0, 1)[2]["id"]
        sb.set_guild_unavailable(down)
        gw = await RawGateway.connect(sb.gateway_url)
        try:
            await gw.identify(TOKEN)
            ready = await gw.next(t="READY")
            assert down in [g["id"] for g in ready["d"]["guilds"]]  # READY still lists it
            events = [await gw.next(op=0) for _ in range(4)]
            assert [e["t"] for e in events].count("GUILD_CREATE") == 3
            deletes = [e for e in events if e["t"] == "GUILD_DELETE"]
            assert [d["d"] for d in deletes] == [{"id": down, "unavailable": True}]
        finally:
            await gw.close()
        with pytest.raises(SandboxError):
            sb.set_guild_unavailable(12345)


def test_guild_create_delay_flag_is_milliseconds_and_not_negative():
    assert build_parser().parse_args(["--guild-create-delay", "20"]).guild_create_delay == 20.0
    with pytest.raises(SandboxError):
        Sandbox(guilds=1, guild_create_delay=-1)
