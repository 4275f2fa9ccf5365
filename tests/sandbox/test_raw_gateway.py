"""The gateway protocol, checked with a raw client written from Discord's docs."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from ezlang.sandbox import Sandbox

from .conftest import wait_for
from .rawclient import RawGateway

TOKEN = "sandbox-token"
GUILD_MESSAGES = 1 << 9
MESSAGE_CONTENT = 1 << 15
GUILDS = 1


@pytest.fixture
async def sb():
    async with Sandbox(guilds=10, identify_window=0.2, heartbeat_interval=1.0) as sandbox:
        yield sandbox


@pytest.fixture
async def raw(sb):
    opened: list[RawGateway] = []

    async def open_(heartbeat: bool = True, **kwargs) -> RawGateway:
        gw = await RawGateway.connect(sb.gateway_url, **kwargs)
        opened.append(gw)
        if heartbeat:
            gw.start_heartbeating()
        return gw

    yield open_
    await asyncio.gather(*(g.close() for g in opened), return_exceptions=True)


async def ready(gw: RawGateway, shard=None, intents=GUILDS | GUILD_MESSAGES | MESSAGE_CONTENT):
    await gw.identify(TOKEN, shard=shard, intents=intents)
    return await gw.next(t="READY")


@pytest.mark.parametrize("compress", [None, "zlib-stream", "zstd-stream"])
async def test_hello_heartbeat_identify_ready_guild_create_in_every_compression(sb, raw, compress):
    gw = await raw(compress=compress)
    assert gw.hello["heartbeat_interval"] == 1000
    ack = await gw.heartbeat()
    assert ack == {"op": 11, "s": None, "t": None, "d": None}
    r = await ready(gw, shard=[1, 3])
    d = r["d"]
    assert r["s"] == 1 and d["v"] == 10 and d["shard"] == [1, 3]
    assert (
        d["user"]["bot"] is True and d["session_id"] and d["resume_gateway_url"] == sb.gateway_url
    )
    assert d["application"]["id"]
    expected = [g["id"] for g in sb.guilds_for_shard(1, 3)]
    assert [g["id"] for g in d["guilds"]] == expected
    assert all(g["unavailable"] for g in d["guilds"])
    creates = [await gw.next(t="GUILD_CREATE") for _ in expected]
    assert [c["d"]["id"] for c in creates] == expected
    assert [c["s"] for c in creates] == list(range(2, 2 + len(expected)))
    for c in creates:
        assert c["d"]["channels"] and all(
            {"id", "type", "name", "position"} <= ch.keys() for ch in c["d"]["channels"]
        )
        assert (int(c["d"]["id"]) >> 22) % 3 == 1
    # Compressed streams keep working across many messages (one compressor per connection).
    ch = sb.guilds_for_shard(1, 3)[0]["text_channel_ids"][0]
    for i in range(20):
        await sb.inject_message(ch, f"m{i}")
    got = [(await gw.next(t="MESSAGE_CREATE"))["d"]["content"] for _ in range(20)]
    assert got == [f"m{i}" for i in range(20)]


async def test_unsupported_compression_is_refused(sb):
    with pytest.raises(aiohttp.WSServerHandshakeError):
        await RawGateway.connect(sb.gateway_url, compress="lz4-stream")


@pytest.mark.parametrize(
    ("identify", "code"),
    [
        ({"token": "wrong"}, 4004),
        ({"shard": [2, 2]}, 4010),
        ({"shard": [-1, 2]}, 4010),
        ({"shard": [0, 0]}, 4010),
        ({"intents": 1 << 30}, 4013),
        ({"intents": "all"}, 4013),
    ],
)
async def test_identify_validation_close_codes(sb, raw, identify, code):
    gw = await raw()
    d = {"token": TOKEN, "intents": 513, "properties": {"os": "x", "browser": "y", "device": "z"}}
    d.update(identify)
    await gw.send({"op": 2, "d": d})
    assert await gw.wait_closed() == code
    assert sb.identify_violations == 0
    assert sb.state()["session_start_limit"]["remaining"] == 1000


async def test_close_4011_when_a_shard_would_hold_more_than_2500_guilds(raw):
    async with Sandbox(guilds=2501, identify_window=0) as big:
        gw = await RawGateway.connect(big.gateway_url)
        try:
            await gw.identify(TOKEN)
            assert await gw.wait_closed() == 4011
            gw2 = await RawGateway.connect(big.gateway_url)
            await gw2.identify(TOKEN, shard=[0, 2])
            assert (await gw2.next(t="READY"))["d"]["shard"] == [0, 2]
            await gw2.close()
        finally:
            await gw.close()


async def test_close_4014_privileged_intents_not_enabled():
    async with Sandbox(guilds=3, privileged_intents=False) as sb:
        gw = await RawGateway.connect(sb.gateway_url)
        try:
            await gw.identify(TOKEN, intents=GUILDS | MESSAGE_CONTENT)
            assert await gw.wait_closed() == 4014
        finally:
            await gw.close()


async def test_close_4002_on_undecodable_payload(raw):
    gw = await raw()
    await gw.send("{not json")
    assert await gw.wait_closed() == 4002


async def test_close_4005_on_second_identify(raw):
    gw = await raw()
    await ready(gw)
    await gw.identify(TOKEN)
    assert await gw.wait_closed() == 4005


async def test_close_4003_when_not_authenticated_and_4001_on_unknown_opcode(raw):
    gw = await raw()
    await gw.send(
        {"op": 3, "d": {"status": "online", "activities": [], "afk": False, "since": None}}
    )
    assert await gw.wait_closed() == 4003
    gw2 = await raw()
    await gw2.send({"op": 99, "d": None})
    assert await gw2.wait_closed() == 4001


async def test_close_4012_on_unsupported_api_version(raw):
    gw = await raw(version="6")
    assert await gw.wait_closed() == 4012


async def test_close_4009_when_heartbeats_stop(sb, raw):
    gw = await raw(heartbeat=False)
    r = await ready(gw)
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    assert await gw.wait_closed(timeout=5) == 4009
    # 1.5 x the 1 s interval, measured from HELLO (a little before t0).
    assert 1.0 <= loop.time() - t0 <= 6.0  # generous: the CI machine may be loaded
    # A timed-out session can not be resumed.
    gw2 = await raw()
    await gw2.resume(TOKEN, r["d"]["session_id"], 1)
    assert (await gw2.next(op=9))["d"] is False


async def test_identify_too_early_gets_op9_and_counts_a_violation():
    async with Sandbox(guilds=4, max_concurrency=1, identify_window=0.5) as sb:
        a = await RawGateway.connect(sb.gateway_url)
        b = await RawGateway.connect(sb.gateway_url)
        try:
            await a.identify(TOKEN, shard=[0, 2])
            await a.next(t="READY")
            await b.identify(TOKEN, shard=[1, 2])  # same bucket (1 % 1 == 0), too early
            assert (await b.next(op=9))["d"] is False
            assert sb.identify_violations == 1
            state = sb.state()
            assert [i["accepted"] for i in state["identifies"]] == [True, False]
            assert state["session_start_limit"]["remaining"] == 999
            # After the window the same connection may IDENTIFY again (Discord's advice).
            await asyncio.sleep(0.5)
            await b.identify(TOKEN, shard=[1, 2])
            assert (await b.next(t="READY"))["d"]["shard"] == [1, 2]
            assert sb.identify_violations == 1
            assert sb.state()["session_start_limit"]["remaining"] == 998
        finally:
            await a.close()
            await b.close()


async def test_max_concurrency_buckets_allow_parallel_identifies():
    async with Sandbox(guilds=8, max_concurrency=4, identify_window=5.0) as sb:
        gws = [await RawGateway.connect(sb.gateway_url) for _ in range(5)]
        try:
            for i in range(4):
                await gws[i].identify(TOKEN, shard=[i, 8])
            for i in range(4):
                await gws[i].next(t="READY")
            await gws[4].identify(TOKEN, shard=[4, 8])  # bucket 0 again, within the window
            assert (await gws[4].next(op=9))["d"] is False
            assert sb.identify_violations == 1
        finally:
            await asyncio.gather(*(g.close() for g in gws))


async def test_resume_replays_missed_dispatches_then_resumed(sb, raw):
    gw = await raw()
    r = await ready(gw, shard=[0, 1])
    session_id = r["d"]["session_id"]
    for _ in range(10):
        await gw.next(t="GUILD_CREATE")
    seq = gw.seq
    await gw.close(code=4000)  # not 1000/1001: the session stays resumable
    await wait_for(lambda: sb.state()["connections"][0]["status"] == "disconnected")
    ch = sb.guilds_for_shard(0, 1)[0]["text_channel_ids"][0]
    ids = [(await sb.inject_message(ch, f"missed {i}"))["id"] for i in range(5)]
    gw2 = await raw()
    await gw2.resume(TOKEN, session_id, seq)
    replayed = [await gw2.next(t="MESSAGE_CREATE") for _ in range(5)]
    assert [m["d"]["id"] for m in replayed] == ids
    assert [m["s"] for m in replayed] == list(range(seq + 1, seq + 6))
    resumed = await gw2.next(t="RESUMED")
    assert resumed["s"] == seq + 6
    # The control API counts what the RESUME replayed and what a heartbeat acknowledged.
    row = sb.state()["connections"][0]
    assert (row["resumes"], row["replayed"], row["seq"]) == (1, 5, seq + 6)
    assert row["acked_seq"] < seq + 6
    await gw2.heartbeat()
    assert sb.state()["connections"][0]["acked_seq"] == seq + 6
    # Live again: new events flow on the resumed connection.
    await sb.inject_message(ch, "after")
    assert (await gw2.next(t="MESSAGE_CREATE"))["d"]["content"] == "after"


async def test_resume_with_unknown_session_or_future_seq_gets_op9(sb, raw):
    gw = await raw()
    await gw.resume(TOKEN, "nope", 3)
    assert (await gw.next(op=9))["d"] is False
    gw2 = await raw()
    r = await ready(gw2)
    gw3 = await raw()
    await gw3.resume(TOKEN, r["d"]["session_id"], 10_000)
    assert (await gw3.next(op=9))["d"] is False


async def test_resume_with_seq_older_than_the_replay_buffer_gets_op9(raw):
    async with Sandbox(guilds=1, replay_buffer=5) as sb:
        gw = await RawGateway.connect(sb.gateway_url)
        r = await ready(gw)
        await gw.close(code=4000)
        await wait_for(lambda: sb.state()["connections"][0]["status"] == "disconnected")
        ch = sb.guilds_for_shard(0, 1)[0]["text_channel_ids"][0]
        for i in range(10):
            await sb.inject_message(ch, str(i))
        gw2 = await RawGateway.connect(sb.gateway_url)
        try:
            await gw2.resume(TOKEN, r["d"]["session_id"], 2)
            assert (await gw2.next(op=9))["d"] is False
        finally:
            await gw2.close()


async def test_resume_on_the_same_connection_after_op9_true_closes_4005(sb, raw):
    gw = await raw()
    r = await ready(gw, shard=[0, 1])
    assert await sb.invalidate(0, resumable=True) == 1
    assert (await gw.next(op=9))["d"] is True
    await gw.resume(TOKEN, r["d"]["session_id"], gw.seq)
    assert await gw.wait_closed() == 4005
    gw2 = await raw()  # on a fresh connection the session resumes
    await gw2.resume(TOKEN, r["d"]["session_id"], gw.seq)
    await gw2.next(t="RESUMED")


async def test_client_close_1000_ends_the_session(sb, raw):
    gw = await raw()
    r = await ready(gw)
    await gw.close(code=1000)
    await wait_for(lambda: not sb.state()["connections"])
    gw2 = await raw()
    await gw2.resume(TOKEN, r["d"]["session_id"], 1)
    assert (await gw2.next(op=9))["d"] is False


async def test_control_reconnect_invalidate_disconnect(sb, raw):
    gw = await raw()
    await ready(gw, shard=[0, 1])
    assert await sb.reconnect(0) == 1
    assert (await gw.next(op=7))["op"] == 7
    assert await sb.invalidate(0, resumable=True) == 1
    assert (await gw.next(op=9))["d"] is True
    assert await sb.disconnect(0, code=4000) == 1
    assert await gw.wait_closed() == 4000
    await asyncio.sleep(0.2)  # the identify window of the bucket
    gw2 = await raw()
    r = await ready(gw2)
    assert await sb.invalidate(0) == 1
    assert (await gw2.next(op=9))["d"] is False
    assert r["d"]["session_id"] not in [c["session_id"] for c in sb.state()["connections"]]


async def test_zombie_stops_acks_and_events_but_keeps_buffering(sb, raw):
    gw = await raw()
    r = await ready(gw, shard=[0, 1])
    for _ in range(10):
        await gw.next(t="GUILD_CREATE")
    seq = gw.seq
    await sb.zombie(0)
    assert sb.state()["connections"][0]["status"] == "zombie"
    ch = sb.guilds_for_shard(0, 1)[0]["text_channel_ids"][0]
    sent = await sb.inject_message(ch, "while zombie")
    assert sent["delivered"] is False
    with pytest.raises(TimeoutError):
        await gw.next(t="MESSAGE_CREATE", timeout=0.3)
    await gw.close(code=4000)
    gw2 = await raw()
    await gw2.resume(TOKEN, r["d"]["session_id"], seq)
    assert (await gw2.next(t="MESSAGE_CREATE"))["d"]["content"] == "while zombie"
    await gw2.next(t="RESUMED")


async def test_messages_respect_intents(sb, raw):
    full = await raw()
    await ready(full, shard=[0, 2], intents=GUILDS | GUILD_MESSAGES | MESSAGE_CONTENT)
    await asyncio.sleep(0.2)  # identify window (one bucket)
    no_content = await raw()
    await ready(no_content, shard=[0, 2], intents=GUILDS | GUILD_MESSAGES)
    await asyncio.sleep(0.2)
    no_messages = await raw()
    await ready(no_messages, shard=[0, 2], intents=GUILDS)
    ch = sb.guilds_for_shard(0, 2)[0]["text_channel_ids"][0]
    await sb.inject_message(ch, "secret")
    assert (await full.next(t="MESSAGE_CREATE"))["d"]["content"] == "secret"
    assert (await no_content.next(t="MESSAGE_CREATE"))["d"]["content"] == ""
    me = sb.world.bot_id
    await sb.inject_message(ch, f"<@{me}> hi")
    m = (await no_content.next(t="MESSAGE_CREATE"))["d"]
    assert m["content"] == f"<@{me}> hi" and m["mentions"][0]["id"] == str(me)
    await sb.inject_message(ch, "flush")
    await full.next(t="MESSAGE_CREATE")
    await full.next(t="MESSAGE_CREATE")
    assert not no_messages.dispatches("MESSAGE_CREATE")


async def test_presence_update_recorded_and_member_chunk(sb, raw):
    gw = await raw()
    await gw.identify(
        TOKEN,
        intents=GUILDS | 2,
        presence={"status": "idle", "activities": [], "afk": False, "since": None},
    )
    r = await gw.next(t="READY")
    assert sb.presences()[0]["presence"]["status"] == "idle"
    await gw.send(
        {
            "op": 3,
            "d": {
                "status": "dnd",
                "activities": [{"name": "tests", "type": 0}],
                "afk": False,
                "since": None,
            },
        }
    )
    await wait_for(lambda: sb.presences()[0]["presence"]["status"] == "dnd")
    gid = r["d"]["guilds"][0]["id"]
    await gw.send({"op": 8, "d": {"guild_id": gid, "query": "", "limit": 0, "nonce": "n1"}})
    chunk = (await gw.next(t="GUILD_MEMBERS_CHUNK"))["d"]
    assert chunk["guild_id"] == gid and chunk["nonce"] == "n1"
    assert chunk["chunk_index"] == 0 and chunk["chunk_count"] == 1
    ids = {m["user"]["id"] for m in chunk["members"]}
    assert str(sb.world.bot_id) in ids and len(ids) >= 2


async def test_gateway_send_rate_limit_closes_4008_heartbeats_not_counted(sb, raw):
    gw = await raw(heartbeat=False)
    await ready(gw)
    for _ in range(200):  # heartbeats are exempt (sandboxes use short intervals)
        await gw.send({"op": 1, "d": None})
    presence = {"status": "online", "activities": [], "afk": False, "since": None}
    for _ in range(119):  # + the IDENTIFY = 120 payloads: the limit
        await gw.send({"op": 3, "d": presence})
    await gw.heartbeat()
    assert not gw.closed.is_set()
    await gw.send({"op": 3, "d": presence})
    assert await gw.wait_closed() == 4008


async def test_payload_over_4096_bytes_closes_4002(raw):
    gw = await raw()
    await gw.send({"op": 1, "d": None, "pad": "x" * 4100})
    assert await gw.wait_closed() == 4002


async def test_reset_token_closes_4004_and_rejects_old_token(sb, raw):
    gw = await raw()
    await ready(gw)
    await sb.reset_token("new-token")
    assert await gw.wait_closed() == 4004
    gw2 = await raw()
    await gw2.identify(TOKEN)
    assert await gw2.wait_closed() == 4004


async def test_exhausted_session_start_limit_refuses_identify():
    async with Sandbox(guilds=2, identify_window=0, session_start_total=1) as sb:
        a = await RawGateway.connect(sb.gateway_url)
        b = await RawGateway.connect(sb.gateway_url)
        try:
            await a.identify(TOKEN)
            await a.next(t="READY")
            await b.identify(TOKEN)
            assert (await b.next(op=9))["d"] is False
            state = sb.state()
            assert state["session_start_limit"]["remaining"] == 0
            assert state["identify_violations"] == 0
            assert state["identify_refused_session_limit"] == 1
            assert state["identifies"][-1]["reason"] == "session_start_limit"
        finally:
            await a.close()
            await b.close()


@pytest.mark.parametrize("compress", [None, "zstd-stream"])
async def test_frames_over_64k_use_the_long_length_form(compress):
    """READY of a 2,500-guild shard is ~100 kB: the 8-byte websocket length (RFC 6455)."""
    async with Sandbox(guilds=2500, identify_window=0) as sb:
        gw = await RawGateway.connect(sb.gateway_url, compress=compress)
        try:
            await gw.identify(TOKEN)
            ready = await gw.next(t="READY", timeout=15)
            assert len(ready["d"]["guilds"]) == 2500
            for _ in range(2500):
                await gw.next(t="GUILD_CREATE", timeout=15)
        finally:
            await gw.close()
