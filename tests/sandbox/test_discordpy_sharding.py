"""The real discord.py client: sharding, close codes, resume, zombie, compression, 429."""

from __future__ import annotations

import asyncio
import time

import discord
import pytest
from discord.errors import ConnectionClosed, PrivilegedIntentsRequired

from ezlang.sandbox import Sandbox

from .conftest import compression, default_intents, pointed_at, wait_for


class PacedAutoShardedClient(discord.AutoShardedClient):
    """Waits the sandbox's identify window between IDENTIFYs (discord.py ignores it)."""

    window = 0.25

    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        if not initial:
            await asyncio.sleep(self.window)


@pytest.mark.parametrize("shard_id", [0, 2])
async def test_sharded_client_sees_exactly_its_guilds(sandbox: Sandbox, clients, shard_id):
    rc = clients(sandbox.token, shard_id=shard_id, shard_count=3)
    await rc.wait_ready()
    expected = {int(g["id"]) for g in sandbox.guilds_for_shard(shard_id, 3)}
    assert {g.id for g in rc.client.guilds} == expected
    assert all((g.id >> 22) % 3 == shard_id for g in rc.client.guilds)
    assert sandbox.state()["connections"][0]["shard"] == [shard_id, 3]


async def test_auto_sharded_client_takes_shard_count_and_url_from_gateway_bot(clients):
    async with Sandbox(guilds=2500, identify_window=0.2) as sb:
        with pointed_at(sb):
            rc = clients(sb.token, cls=PacedAutoShardedClient)
            await rc.wait_ready(timeout=30)
            client = rc.client
            assert client.shard_count == 3  # ceil(2500 / 1000)
            assert len(client.guilds) == 2500
            for g in client.guilds:
                assert g.shard_id == (g.id >> 22) % 3
            assert sb.identify_violations == 0
            shards = sorted(tuple(c["shard"]) for c in sb.state()["connections"])
            assert shards == [(0, 3), (1, 3), (2, 3)]


async def test_auto_sharded_client_too_fast_gets_op9_then_recovers(clients):
    """discord.py ignores max_concurrency: with a 2 s window its 2nd IDENTIFY is refused."""
    async with Sandbox(guilds=2000, identify_window=2.0) as sb:
        with pointed_at(sb):

            class Fast(PacedAutoShardedClient):
                window = 0.0

            rc = clients(sb.token, cls=Fast)
            await rc.wait_ready(timeout=30)
            assert sb.identify_violations >= 1
            assert len(rc.client.guilds) == 2000
            accepted = [i for i in sb.state()["identifies"] if i["accepted"]]
            # The sandbox never let two IDENTIFYs through within one window.
            for a, b in zip(accepted, accepted[1:], strict=False):
                assert b["at"] - a["at"] >= 2.0 - 0.05


@pytest.mark.parametrize("mode", ["zstd-stream", "zlib-stream", "none"])
async def test_discordpy_works_with_each_transport_compression(sandbox: Sandbox, clients, mode):
    with compression(mode):
        rc = clients(sandbox.token)
        await rc.wait_ready()
        channel_id = sandbox.guilds_for_shard(0, 1)[5]["text_channel_ids"][1]
        for i in range(30):
            await sandbox.inject_message(channel_id, f"msg {i} " + "x" * (i * 50))
        await wait_for(lambda: len(rc.messages) == 30, what="30 messages")
        assert [m.content.split()[1] for m in rc.messages] == [str(i) for i in range(30)]


async def test_close_4004_when_the_token_is_reset(sandbox: Sandbox):
    client = discord.Client(intents=default_intents())
    try:
        await client.login(sandbox.token)
        await sandbox.reset_token("another-token")
        with pytest.raises(ConnectionClosed) as info:
            await asyncio.wait_for(client.connect(reconnect=True), 10)
        assert info.value.code == 4004
    finally:
        await client.close()


async def test_close_4010_invalid_shard(sandbox: Sandbox, clients):
    rc = clients(sandbox.token, shard_id=3, shard_count=2)
    await asyncio.wait_for(asyncio.shield(rc.task), 10)
    assert isinstance(rc.error, ConnectionClosed) and rc.error.code == 4010


async def test_close_4011_sharding_required(clients):
    async with Sandbox(guilds=2600, identify_window=0) as sb:
        with pointed_at(sb):
            rc = clients(sb.token)
            await asyncio.wait_for(asyncio.shield(rc.task), 10)
            assert isinstance(rc.error, ConnectionClosed) and rc.error.code == 4011


async def test_close_4013_invalid_intents(sandbox: Sandbox, clients):
    intents = default_intents()
    intents.value |= 1 << 30  # not an intent Discord defines
    rc = clients(sandbox.token, intents=intents)
    await asyncio.wait_for(asyncio.shield(rc.task), 10)
    assert isinstance(rc.error, ConnectionClosed) and rc.error.code == 4013


async def test_close_4014_privileged_intents_raise_privileged_intents_required(clients):
    async with Sandbox(guilds=3, privileged_intents=False) as sb:
        with pointed_at(sb):
            rc = clients(sb.token)  # asks for message_content
            await asyncio.wait_for(asyncio.shield(rc.task), 10)
            assert isinstance(rc.error, PrivilegedIntentsRequired)


def _closes(sb: Sandbox) -> list[int | None]:
    return [c["code"] for c in sb.state()["closes"]]


async def _resumed(rc) -> asyncio.Event:
    ev = asyncio.Event()

    @rc.client.event
    async def on_resumed() -> None:
        ev.set()

    return ev


@pytest.mark.parametrize("trigger", ["4002-garbage", "4005-second-identify"])
async def test_protocol_error_closes_then_discordpy_resumes(sandbox: Sandbox, clients, trigger):
    rc = clients(sandbox.token)
    resumed = await _resumed(rc)
    await rc.wait_ready()
    session = sandbox.state()["connections"][0]["session_id"]
    if trigger == "4002-garbage":
        await rc.client.ws.socket.send_str("{this is not json")
        code = 4002
    else:
        await rc.client.ws.send_as_json(
            {"op": 2, "d": {"token": sandbox.token, "intents": 1, "properties": {}}}
        )
        code = 4005
    await asyncio.wait_for(resumed.wait(), 10)
    assert code in _closes(sandbox)
    assert sandbox.state()["connections"][0]["session_id"] == session


async def test_close_4009_heartbeat_timeout_then_discordpy_identifies_again(sandbox, clients):
    rc = clients(sandbox.token)
    await rc.wait_ready()
    first = sandbox.state()["connections"][0]["session_id"]
    rc.ready.clear()
    rc.client.ws._keep_alive.stop()  # the client stops heartbeating: a dead shard
    await rc.wait_ready(timeout=15)  # 4009 (1.5 s), RESUME refused, new IDENTIFY, READY
    assert 4009 in _closes(sandbox)
    conns = sandbox.state()["connections"]
    assert len(conns) == 1 and conns[0]["session_id"] != first
    assert conns[0]["status"] == "connected"


async def test_resume_after_disconnect_loses_no_event(sandbox: Sandbox, clients):
    rc = clients(sandbox.token)
    resumed = await _resumed(rc)
    await rc.wait_ready()
    channel_id = sandbox.guilds_for_shard(0, 1)[0]["text_channel_ids"][0]
    await sandbox.inject_message(channel_id, "before")
    await sandbox.disconnect(0, code=4000)
    # Sent while the shard is away: buffered, replayed on RESUME.
    for i in range(20):
        r = await sandbox.inject_message(channel_id, f"during {i}")
        assert r["delivered"] is False
    await asyncio.wait_for(resumed.wait(), 10)
    await sandbox.inject_message(channel_id, "after")
    await wait_for(lambda: len(rc.messages) == 22, what="22 messages")
    contents = [m.content for m in rc.messages]
    assert contents == ["before", *[f"during {i}" for i in range(20)], "after"]
    assert len(sandbox.state()["connections"]) == 1


async def test_zombie_connection_is_detected_by_discordpy_and_resumed(clients):
    async with Sandbox(guilds=5, identify_window=0.2, heartbeat_interval=0.3) as sb:
        with pointed_at(sb):
            rc = clients(sb.token, heartbeat_timeout=1.0)
            resumed = await _resumed(rc)
            await rc.wait_ready()
            channel_id = sb.guilds_for_shard(0, 1)[0]["text_channel_ids"][0]
            await sb.zombie(0)
            for i in range(5):
                await sb.inject_message(channel_id, f"z{i}")
            t0 = time.monotonic()
            await asyncio.wait_for(resumed.wait(), 10)
            # discord.py notices silence after heartbeat_timeout and reconnects itself.
            assert time.monotonic() - t0 >= 0.5
            await wait_for(lambda: len(rc.messages) == 5, what="5 messages")
            assert [m.content for m in rc.messages] == [f"z{i}" for i in range(5)]


async def test_reconnect_op7_and_resumable_invalidate_are_handled(sandbox: Sandbox, clients):
    rc = clients(sandbox.token)
    resumed = await _resumed(rc)
    await rc.wait_ready()
    session = sandbox.state()["connections"][0]["session_id"]
    assert await sandbox.reconnect(0) == 1
    await asyncio.wait_for(resumed.wait(), 10)
    assert sandbox.state()["connections"][0]["session_id"] == session
    rc.ready.clear()
    await sandbox.invalidate(0)  # not resumable: discord.py must IDENTIFY again
    await rc.wait_ready(timeout=10)
    assert sandbox.state()["connections"][0]["session_id"] != session


async def test_rest_429_is_waited_out_by_discordpy(sandbox: Sandbox, clients):
    rc = clients(sandbox.token)
    await rc.wait_ready()
    channel = rc.client.get_channel(int(sandbox.guilds_for_shard(0, 1)[0]["text_channel_ids"][0]))
    sandbox.force_rate_limit(1, retry_after=0.4)
    t0 = time.monotonic()
    msg = await channel.send("after a 429")
    assert time.monotonic() - t0 >= 0.4
    assert sandbox.state()["rest_rate_limited"] == 1
    assert [m["content"] for m in sandbox.bot_messages(channel.id)] == ["after a 429"]
    assert msg.content == "after a 429"


async def test_per_channel_message_limit_is_respected_by_discordpy(clients):
    async with Sandbox(guilds=2, identify_window=0) as sb:
        with pointed_at(sb):
            rc = clients(sb.token)
            await rc.wait_ready()
            cid = int(sb.guilds_for_shard(0, 1)[0]["text_channel_ids"][0])
            channel = rc.client.get_channel(cid)
            t0 = time.monotonic()
            await asyncio.gather(*(channel.send(f"n{i}") for i in range(6)))
            # 5 per 5 s per channel: the 6th waits for the bucket to reset.
            assert time.monotonic() - t0 >= 4.0
            assert sorted(m["content"] for m in sb.bot_messages(cid)) == [f"n{i}" for i in range(6)]


async def test_presence_and_member_chunk_through_discordpy(sandbox: Sandbox, clients):
    intents = default_intents()
    intents.members = True
    rc = clients(sandbox.token, intents=intents)
    await rc.wait_ready()
    await rc.client.change_presence(status=discord.Status.idle, activity=discord.Game("tests"))
    await wait_for(
        lambda: sandbox.presences() and sandbox.presences()[0]["presence"]["status"] == "idle"
    )
    guild = rc.client.guilds[0]
    members = await guild.chunk()
    assert rc.client.user.id in {m.id for m in members}
    assert len(members) >= 2
