"""Pins, bulk delete, reaction removal/listing and DM channels over raw REST and the raw gateway.

Each route, each of Discord's refusals (10008, 10013, 30003, 50013, 50034, 50035) and the event
each change sends to the guild's shard.
"""

from __future__ import annotations

import json
import time
from urllib.parse import quote

import aiohttp
import pytest

from ezlang.sandbox import Sandbox

from .rawclient import RawGateway

TOKEN = "sandbox-token"
AUTH = {"Authorization": f"Bot {TOKEN}"}
INTENTS = 1 | (1 << 9) | (1 << 10)  # GUILDS, GUILD_MESSAGES, GUILD_MESSAGE_REACTIONS


@pytest.fixture
async def sb():
    async with Sandbox(guilds=2, identify_window=0.0) as sandbox:
        yield sandbox


@pytest.fixture
async def http():
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
async def gw(sb):
    gateway = await RawGateway.connect(sb.gateway_url)
    await gateway.identify(TOKEN, shard=[0, 1], intents=INTENTS)
    await gateway.next(t="READY")
    yield gateway
    await gateway.close()


async def call(http, method, url, body=None):
    async with http.request(method, url, json=body, headers=AUTH) as r:
        text = await r.text()
        return r.status, (json.loads(text) if text else None)


def channel_of(sb: Sandbox) -> int:
    return next(int(c["id"]) for c in sb.world.channels(0) if c["type"] == 0)


async def inject(http, sb: Sandbox, cid: int, content: str) -> str:
    async with http.post(
        sb.control_url + "/messages", json={"channel_id": str(cid), "content": content}
    ) as r:
        assert r.status == 200, await r.text()
        return (await r.json())["id"]


async def test_pin_list_unpin_with_events_and_refusals(sb, http, gw) -> None:
    cid = channel_of(sb)
    ch = f"{sb.api_url}/channels/{cid}"
    first, second = [await inject(http, sb, cid, f"m{i}") for i in range(2)]

    assert (await call(http, "PUT", f"{ch}/messages/pins/{first}"))[0] == 204
    event = await gw.next(t="CHANNEL_PINS_UPDATE")
    assert event["d"]["channel_id"] == str(cid) and event["d"]["last_pin_timestamp"]
    assert (await call(http, "PUT", f"{ch}/pins/{second}"))[0] == 204  # the older route
    status, body = await call(http, "GET", f"{ch}/messages/pins")
    assert status == 200
    assert [i["message"]["id"] for i in body["items"]] == [second, first]  # newest pin first
    assert all(i["message"]["pinned"] for i in body["items"]) and body["has_more"] is False
    status, legacy = await call(http, "GET", f"{ch}/pins")
    assert [m["id"] for m in legacy] == [second, first]

    assert (await call(http, "DELETE", f"{ch}/messages/pins/{first}"))[0] == 204
    status, body = await call(http, "GET", f"{ch}/messages/pins")
    assert [i["message"]["id"] for i in body["items"]] == [second]
    async with http.get(f"{sb.control_url}/channels/{cid}/pins") as r:
        assert await r.json() == [second]

    status, body = await call(http, "PUT", f"{ch}/messages/pins/{int(second) + 1}")
    assert (status, body["code"]) == (404, 10008)
    status, body = await call(http, "PUT", f"{sb.api_url}/channels/1/messages/pins/{first}")
    assert (status, body["code"]) == (404, 10003)

    gid = sb.world.guild_id(0)
    async with http.put(
        f"{sb.control_url}/guilds/{gid}/bot_permissions",
        json={"permissions": ["view_channel", "send_messages", "read_message_history"]},
    ) as r:
        assert r.status == 200, await r.text()
    status, body = await call(http, "PUT", f"{ch}/messages/pins/{first}")
    assert (status, body["code"]) == (403, 50013)


async def test_fifty_pins_is_the_limit(http) -> None:
    async with Sandbox(guilds=1, rest_rate_limits=False) as sb:  # 51 calls in a burst
        await _fifty_pins(sb, http)


async def _fifty_pins(sb: Sandbox, http) -> None:
    cid = channel_of(sb)
    ch = f"{sb.api_url}/channels/{cid}"
    ids = [await inject(http, sb, cid, f"p{i}") for i in range(51)]
    for mid in ids[:50]:
        assert (await call(http, "PUT", f"{ch}/messages/pins/{mid}"))[0] == 204
    status, body = await call(http, "PUT", f"{ch}/messages/pins/{ids[50]}")
    assert (status, body["code"]) == (400, 30003)
    assert "50" in body["message"]


async def test_bulk_delete_rules_and_event(sb, http, gw) -> None:
    cid = channel_of(sb)
    ch = f"{sb.api_url}/channels/{cid}"
    ids = [await inject(http, sb, cid, f"b{i}") for i in range(3)]
    url = f"{ch}/messages/bulk-delete"

    status, body = await call(http, "POST", url, {"messages": ids[:1]})
    assert (status, body["code"]) == (400, 50035) and "messages" in body["errors"]
    status, body = await call(
        http, "POST", url, {"messages": [str(10**17 + i) for i in range(101)]}
    )
    assert (status, body["code"]) == (400, 50035)
    fifteen_days_ago = int(time.time() * 1000) - 15 * 86400 * 1000 - 1_420_070_400_000
    old = str(fifteen_days_ago << 22)
    status, body = await call(http, "POST", url, {"messages": [ids[0], old]})
    assert (status, body["code"]) == (400, 50034)
    # A refused request deletes nothing.
    status, listed = await call(http, "GET", f"{ch}/messages?limit=10")
    assert {m["id"] for m in listed} >= set(ids)

    assert (await call(http, "POST", url, {"messages": ids[:2]}))[0] == 204
    event = await gw.next(t="MESSAGE_DELETE_BULK")
    assert sorted(event["d"]["ids"]) == sorted(ids[:2]) and event["d"]["channel_id"] == str(cid)
    status, listed = await call(http, "GET", f"{ch}/messages?limit=10")
    assert [m["id"] for m in listed] == [ids[2]]
    assert not gw.dispatches("MESSAGE_DELETE")  # one bulk event, not one per message


async def test_list_messages_limit_before_after(sb, http) -> None:
    cid = channel_of(sb)
    ch = f"{sb.api_url}/channels/{cid}"
    ids = [await inject(http, sb, cid, f"h{i}") for i in range(5)]
    status, newest = await call(http, "GET", f"{ch}/messages?limit=2")
    assert [m["id"] for m in newest] == [ids[4], ids[3]]
    status, before = await call(http, "GET", f"{ch}/messages?limit=2&before={ids[3]}")
    assert [m["id"] for m in before] == [ids[2], ids[1]]
    status, after = await call(http, "GET", f"{ch}/messages?limit=2&after={ids[0]}")
    assert {m["id"] for m in after} == {ids[1], ids[2]}
    status, one = await call(http, "GET", f"{ch}/messages/{ids[2]}")
    assert one["content"] == "h2"
    status, body = await call(http, "GET", f"{ch}/messages/{int(ids[4]) + 1}")
    assert (status, body["code"]) == (404, 10008)


async def test_reactions_remove_clear_and_list(sb, http, gw) -> None:
    cid = channel_of(sb)
    mid = await inject(http, sb, cid, "react to me")
    alice = sb.world.member_ids(0)[1]
    base = f"{sb.api_url}/channels/{cid}/messages/{mid}/reactions"
    thumbs = quote("👍")

    async def user_reacts(emoji: str) -> None:
        async with http.post(
            sb.control_url + "/reactions",
            json={"channel_id": str(cid), "message_id": mid, "emoji": emoji, "user_id": str(alice)},
        ) as r:
            assert r.status == 200, await r.text()

    await user_reacts("👍")
    assert (await call(http, "PUT", f"{base}/{thumbs}/@me"))[0] == 204
    status, users = await call(http, "GET", f"{base}/{thumbs}")
    assert status == 200
    assert {u["id"] for u in users} == {str(alice), str(sb.world.bot_id)}

    assert (await call(http, "DELETE", f"{base}/{thumbs}/@me"))[0] == 204
    removed = await gw.next(t="MESSAGE_REACTION_REMOVE")
    assert removed["d"]["user_id"] == str(sb.world.bot_id)
    assert removed["d"]["emoji"] == {"id": None, "name": "👍"}
    assert (await call(http, "DELETE", f"{base}/{thumbs}/{alice}"))[0] == 204
    removed = await gw.next(t="MESSAGE_REACTION_REMOVE")
    assert removed["d"]["user_id"] == str(alice)
    assert (await call(http, "GET", f"{base}/{thumbs}"))[1] == []

    await user_reacts("👍")
    await user_reacts("🎉")
    assert (await call(http, "DELETE", f"{base}/{thumbs}"))[0] == 204
    emoji_event = await gw.next(t="MESSAGE_REACTION_REMOVE_EMOJI")
    assert emoji_event["d"]["emoji"]["name"] == "👍"
    assert len((await call(http, "GET", f"{base}/{quote('🎉')}"))[1]) == 1
    assert (await call(http, "DELETE", base))[0] == 204
    all_event = await gw.next(t="MESSAGE_REACTION_REMOVE_ALL")
    assert all_event["d"]["message_id"] == mid
    assert (await call(http, "GET", f"{base}/{quote('🎉')}"))[1] == []

    status, body = await call(http, "DELETE", f"{base}/{thumbs}/{10**17}")
    assert (status, body["code"]) == (404, 10013)
    missing = f"{sb.api_url}/channels/{cid}/messages/{int(mid) + 1}/reactions"
    status, body = await call(http, "DELETE", missing)
    assert (status, body["code"]) == (404, 10008)


async def test_dm_channel_and_dm_message(sb, http) -> None:
    alice = sb.world.member_ids(0)[1]
    url = f"{sb.api_url}/users/@me/channels"
    status, channel = await call(http, "POST", url, {"recipient_id": str(alice)})
    assert status == 200 and channel["type"] == 1
    assert channel["recipients"][0]["id"] == str(alice)
    again = (await call(http, "POST", url, {"recipient_id": str(alice)}))[1]
    assert again["id"] == channel["id"]  # one DM channel per user

    status, msg = await call(
        http, "POST", f"{sb.api_url}/channels/{channel['id']}/messages", {"content": "hi there"}
    )
    assert status == 200 and msg["channel_id"] == channel["id"] and "guild_id" not in msg
    status, body = await call(
        http, "POST", f"{sb.api_url}/channels/{channel['id']}/messages", {"content": ""}
    )
    assert (status, body["code"]) == (400, 50006)
    async with http.get(sb.control_url + "/dms") as r:
        dms = await r.json()
    assert dms == [{"user_id": str(alice), "channel_id": channel["id"], "messages": [msg]}]

    status, body = await call(http, "POST", url, {"recipient_id": str(10**17)})
    assert (status, body["code"]) == (404, 10013)
    status, body = await call(http, "POST", url, {})
    assert (status, body["code"]) == (400, 50035)
