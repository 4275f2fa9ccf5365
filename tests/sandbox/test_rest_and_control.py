"""REST routes (Discord's shapes, headers, errors, rate limits) and the control API over HTTP."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from ezlang.sandbox import Sandbox

from .rawclient import RawGateway

TOKEN = "sandbox-token"
AUTH = {"Authorization": f"Bot {TOKEN}"}


@pytest.fixture
async def sb():
    async with Sandbox(guilds=450, identify_window=0.2) as sandbox:
        yield sandbox


@pytest.fixture
async def http():
    async with aiohttp.ClientSession() as session:
        yield session


async def get(http, url, **kw):
    async with http.get(url, headers=kw.pop("headers", AUTH), **kw) as r:
        return r.status, r.headers, await r.json(content_type=None)


async def post(http, url, body=None, **kw):
    async with http.post(url, json=body, headers=kw.pop("headers", AUTH), **kw) as r:
        return r.status, r.headers, await r.json(content_type=None)


async def test_json_responses_have_exact_content_type_and_401_on_wrong_token(sb, http):
    status, headers, body = await get(http, sb.api_url + "/users/@me")
    assert status == 200 and headers["Content-Type"] == "application/json"
    assert body["bot"] is True and body["id"] == str(sb.world.bot_id)
    status, headers, body = await get(
        http, sb.api_url + "/users/@me", headers={"Authorization": "Bot nope"}
    )
    assert status == 401 and body == {"message": "401: Unauthorized", "code": 0}
    assert headers["Content-Type"] == "application/json"
    status, _, body = await get(http, sb.api_url + "/no/such/route")
    assert status == 404


async def test_gateway_bot_reports_shards_limit_and_identify_window(sb, http):
    _, _, body = await get(http, sb.api_url + "/gateway/bot")
    assert body["url"] == sb.gateway_url
    assert body["shards"] == 1  # ceil(450 / 1000)
    assert body["x_identify_window"] == 0.2
    limit = body["session_start_limit"]
    assert limit["total"] == 1000 and limit["remaining"] == 1000 and limit["max_concurrency"] == 1
    assert 0 < limit["reset_after"] <= 86_400_000
    gw = await RawGateway.connect(sb.gateway_url)
    try:
        await gw.identify(TOKEN)
        await gw.next(t="READY")
    finally:
        await gw.close()
    _, _, body = await get(http, sb.api_url + "/gateway/bot")
    assert body["session_start_limit"]["remaining"] == 999
    _, _, body = await get(http, sb.api_url + "/gateway")
    assert body == {"url": sb.gateway_url}


async def test_application_and_guild_routes(sb, http):
    _, _, app = await get(http, sb.api_url + "/oauth2/applications/@me")
    assert app["id"] == str(sb.world.application_id)
    gid = sb.guilds_for_shard(0, 1)[7]["id"]
    status, _, guild = await get(http, f"{sb.api_url}/guilds/{gid}")
    assert status == 200 and guild["id"] == gid and guild["roles"][0]["id"] == gid
    status, _, body = await get(http, f"{sb.api_url}/guilds/123")
    assert status == 404 and body["code"] == 10004
    cid = sb.guilds_for_shard(0, 1)[7]["text_channel_ids"][0]
    status, _, channel = await get(http, f"{sb.api_url}/channels/{cid}")
    assert channel["id"] == cid and channel["guild_id"] == gid and channel["type"] == 0
    status, _, body = await get(http, f"{sb.api_url}/channels/999")
    assert status == 404 and body["code"] == 10003


async def test_my_guilds_is_paginated_with_after_before_and_limit(sb, http):
    _, _, page1 = await get(http, sb.api_url + "/users/@me/guilds")
    assert len(page1) == 200
    _, _, page2 = await get(
        http, sb.api_url + "/users/@me/guilds", params={"after": page1[-1]["id"]}
    )
    _, _, page3 = await get(
        http, sb.api_url + "/users/@me/guilds", params={"after": page2[-1]["id"]}
    )
    ids = [g["id"] for g in page1 + page2 + page3]
    assert len(page3) == 50 and len(set(ids)) == 450
    assert ids == sorted(ids, key=int)
    _, _, before = await get(
        http, sb.api_url + "/users/@me/guilds", params={"before": page2[0]["id"], "limit": "3"}
    )
    assert [g["id"] for g in before] == [g["id"] for g in page1[-3:]]
    status, _, _ = await get(http, sb.api_url + "/users/@me/guilds", params={"limit": "201"})
    assert status == 400


async def test_post_and_list_messages_with_rate_limit_headers_and_429(sb, http):
    cid = sb.guilds_for_shard(0, 1)[0]["text_channel_ids"][0]
    url = f"{sb.api_url}/channels/{cid}/messages"
    for i in range(5):
        status, headers, msg = await post(http, url, {"content": f"hello {i}"})
        assert status == 200 and msg["content"] == f"hello {i}" and msg["channel_id"] == cid
        assert headers["X-RateLimit-Limit"] == "5"
        assert headers["X-RateLimit-Remaining"] == str(4 - i)
        assert "X-RateLimit-Bucket" in headers and float(headers["X-RateLimit-Reset-After"]) <= 5
    status, headers, body = await post(http, url, {"content": "too many"})
    assert status == 429
    assert headers["Via"] and headers["Content-Type"] == "application/json"
    assert body["global"] is False and 0 < body["retry_after"] <= 5
    # Another channel has its own bucket.
    other = sb.guilds_for_shard(0, 1)[1]["text_channel_ids"][0]
    status, _, _ = await post(http, f"{sb.api_url}/channels/{other}/messages", {"content": "x"})
    assert status == 200
    _, _, listed = await get(http, url, params={"limit": "3"})
    assert [m["content"] for m in listed] == ["hello 4", "hello 3", "hello 2"]  # newest first
    assert [m["content"] for m in sb.bot_messages(cid)] == [f"hello {i}" for i in range(5)]


async def test_message_validation_errors(sb, http):
    cid = sb.guilds_for_shard(0, 1)[0]["text_channel_ids"][0]
    url = f"{sb.api_url}/channels/{cid}/messages"
    status, _, body = await post(http, url, {"content": ""})
    assert status == 400 and body["code"] == 50006
    status, _, body = await post(http, url, {"content": "x" * 2001})
    assert status == 400 and body["code"] == 50035 and "content" in body["errors"]
    status, _, body = await post(http, f"{sb.api_url}/channels/42/messages", {"content": "x"})
    assert status == 404 and body["code"] == 10003


async def test_forced_global_429(sb, http):
    sb.force_rate_limit(1, retry_after=0.05, is_global=True)
    status, headers, body = await get(http, sb.api_url + "/users/@me")
    assert status == 429 and body["global"] is True and headers["X-RateLimit-Global"] == "true"
    status, _, _ = await get(http, sb.api_url + "/users/@me")
    assert status == 200


async def test_control_state_guilds_messages_and_shard_actions_over_http(sb, http):
    ctl = sb.control_url
    gw = await RawGateway.connect(sb.gateway_url)
    try:
        gw.start_heartbeating()
        await gw.identify(TOKEN, shard=[1, 2], intents=1 | 1 << 9 | 1 << 15)
        ready = await gw.next(t="READY")
        _, _, state = await get(http, ctl + "/state", headers={})
        assert state["guilds"] == 450 and state["recommended_shards"] == 1
        [conn] = state["connections"]
        # The resume counters: none yet; what the client acknowledged depends on whether a
        # heartbeat went out already, but never exceeds what was sent.
        acked = conn.pop("acked_seq")
        assert 0 <= acked <= 226
        assert conn == {
            "shard": [1, 2],
            "session_id": ready["d"]["session_id"],
            "seq": 226,
            "status": "connected",
            "resumes": 0,
            "replayed": 0,
        }
        assert state["identifies"][0]["shard"] == [1, 2] and state["identify_violations"] == 0
        assert state["session_start_limit"]["remaining"] == 999
        _, _, guilds = await get(
            http, ctl + "/guilds", params={"shard": "1", "shard_count": "2"}, headers={}
        )
        assert len(guilds) == 225 and all((int(g["id"]) >> 22) % 2 == 1 for g in guilds)
        assert guilds[0]["channels"][0]["name"]
        cid = guilds[0]["text_channel_ids"][0]
        status, _, sent = await post(
            http, ctl + "/messages", {"channel_id": cid, "content": "hey"}, headers={}
        )
        assert status == 200 and sent["shard"] == 1 and sent["delivered"] is True
        assert sent["guild_id"] == guilds[0]["id"]
        m = await gw.next(t="MESSAGE_CREATE")
        assert m["d"]["id"] == sent["id"] and m["d"]["content"] == "hey"
        status, _, err = await post(
            http, ctl + "/messages", {"channel_id": "5", "content": "x"}, headers={}
        )
        assert status == 404 and "unknown" in err["error"]
        status, _, err = await post(http, ctl + "/messages", {"content": "x"}, headers={})
        assert status == 400
        # Bot messages read back through the control API.
        await post(http, f"{sb.api_url}/channels/{cid}/messages", {"content": "bot says"})
        _, _, posted = await get(http, f"{ctl}/channels/{cid}/messages", headers={})
        assert [p["content"] for p in posted] == ["bot says"]
        # Shard actions.
        _, _, res = await post(http, ctl + "/shards/1/reconnect", {}, headers={})
        assert res["connections"] == 1
        assert (await gw.next(op=7))["op"] == 7
        status, _, _ = await post(http, ctl + "/shards/0/reconnect", {}, headers={})
        assert status == 404  # nobody holds shard 0
        _, _, res = await post(http, ctl + "/shards/1/zombie", {"shard_count": 2}, headers={})
        assert res["connections"] == 1
        _, _, state = await get(http, ctl + "/state", headers={})
        assert state["connections"][0]["status"] == "zombie"
        _, _, res = await post(http, ctl + "/shards/1/disconnect", {"code": 4000}, headers={})
        assert await gw.wait_closed() == 4000
        _, _, presences = await get(http, ctl + "/presences", headers={})
        assert presences == []
    finally:
        await gw.close()


async def test_control_load_streams_messages_over_connected_shards(sb, http):
    gws = []
    try:
        for shard in range(2):
            gw = await RawGateway.connect(sb.gateway_url)
            gws.append(gw)
            await gw.identify(TOKEN, shard=[shard, 2], intents=1 | 1 << 9 | 1 << 15)
            await gw.next(t="READY")
            await asyncio.sleep(0.2)  # identify window
        t0 = asyncio.get_running_loop().time()
        status, _, body = await post(
            http,
            sb.control_url + "/load",
            {"rate": 2000, "seconds": 0.5, "content": "L"},
            headers={},
        )
        assert status == 200 and body["sent"] == 1000
        assert asyncio.get_running_loop().time() - t0 >= 0.4  # paced at the asked rate
        for gw in gws:
            for _ in range(500):
                m = await gw.next(t="MESSAGE_CREATE")
                assert m["d"]["content"] == "L"
            ids = [int(p["d"]["id"]) for p in gw.dispatches("MESSAGE_CREATE")]
            assert ids == sorted(set(ids))
        status, _, _ = await post(http, sb.control_url + "/load", {"rate": "fast"}, headers={})
        assert status == 400
    finally:
        await asyncio.gather(*(g.close() for g in gws))


async def test_injected_messages_are_buffered_when_the_shard_is_away(sb):
    gw = await RawGateway.connect(sb.gateway_url)
    await gw.identify(TOKEN, intents=1 | 1 << 9 | 1 << 15)
    ready = await gw.next(t="READY")
    await gw.close(code=4000)
    cid = sb.guilds_for_shard(0, 1)[0]["text_channel_ids"][0]
    for _ in range(100):
        if sb.state()["connections"][0]["status"] == "disconnected":
            break
        await asyncio.sleep(0.01)
    result = await sb.inject_message(cid, "later")
    assert result["delivered"] is False and result["shards"] == [[0, 1]]
    gw2 = await RawGateway.connect(sb.gateway_url)
    try:
        await gw2.resume(TOKEN, ready["d"]["session_id"], gw.seq)
        assert (await gw2.next(t="MESSAGE_CREATE"))["d"]["content"] == "later"
    finally:
        await gw2.close()
