"""The server model reaches the message routes and events: sending, reacting and deleting
others' messages need their permissions; MESSAGE_CREATE and member chunks show the members
as they are now."""

from __future__ import annotations

import aiohttp
import pytest

from ezlang.sandbox import Sandbox

from .rawclient import RawGateway

TOKEN = "sandbox-token"
AUTH = {"Authorization": f"Bot {TOKEN}"}
MISSING = {"message": "Missing Permissions", "code": 50013}
SEND_MESSAGES, ADD_REACTIONS = 1 << 11, 1 << 6


@pytest.fixture
async def sb():
    async with Sandbox(guilds=2, identify_window=0.0) as sandbox:
        yield sandbox


@pytest.fixture
async def http():
    async with aiohttp.ClientSession() as session:
        yield session


async def call(http, method, url, body=None, headers=None):
    headers = AUTH if headers is None else headers
    async with http.request(method, url, json=body, headers=headers) as r:
        text = await r.text()
        return r.status, (await r.json(content_type=None)) if text else None


async def test_message_routes_need_their_permissions(sb, http):
    gid = sb.world.guild_id(0)
    cid = sb.world.text_channel_ids(gid)[0]
    messages = f"{sb.api_url}/channels/{cid}/messages"
    status, own = await call(http, "POST", messages, {"content": "hi"})
    assert status == 200
    theirs = await sb.inject_message(cid, "hello bot")
    # The bot's role loses manage_messages: its own message still goes, a user's does not.
    await call(
        http,
        "PUT",
        f"{sb.control_url}/guilds/{gid}/bot_permissions",
        {"permissions": ["manage_roles", "view_channel"]},
        {},
    )
    assert await call(http, "DELETE", f"{messages}/{theirs['id']}") == (403, MISSING)
    status, _ = await call(http, "DELETE", f"{messages}/{own['id']}")
    assert status == 204
    # @everyone grants sending and reacting; the bot (manage_roles, role above) takes both away.
    status, roles = await call(http, "GET", f"{sb.api_url}/guilds/{gid}/roles")
    everyone = int(roles[0]["permissions"])
    assert everyone & SEND_MESSAGES and everyone & ADD_REACTIONS
    status, _ = await call(
        http,
        "PATCH",
        f"{sb.api_url}/guilds/{gid}/roles/{gid}",
        {"permissions": str(everyone & ~SEND_MESSAGES & ~ADD_REACTIONS)},
    )
    assert status == 200
    assert await call(http, "POST", messages, {"content": "hi"}) == (403, MISSING)
    reaction = f"{messages}/{theirs['id']}/reactions/%F0%9F%91%8D/@me"
    assert await call(http, "PUT", reaction) == (403, MISSING)
    assert len(sb.bot_messages(cid)) == 0  # the refused message was not recorded
    # The other guild is untouched: the bot still sends there.
    other = sb.world.text_channel_ids(sb.world.guild_id(1))[0]
    status, _ = await call(
        http, "POST", f"{sb.api_url}/channels/{other}/messages", {"content": "x"}
    )
    assert status == 200


async def test_message_create_and_member_chunks_show_current_members(sb, http):
    gid = sb.world.guild_id(0)
    cid = sb.world.text_channel_ids(gid)[0]
    alice, bob = sb.world.member_ids(0)[1:3]
    helper = gid | 34
    await call(http, "PUT", f"{sb.api_url}/guilds/{gid}/members/{alice}/roles/{helper}")
    await call(http, "PATCH", f"{sb.api_url}/guilds/{gid}/members/{alice}", {"nick": "Ally"})
    await call(http, "DELETE", f"{sb.api_url}/guilds/{gid}/members/{bob}")
    gw = await RawGateway.connect(sb.gateway_url)
    try:
        gw.start_heartbeating()
        await gw.identify(TOKEN, shard=[0, 1], intents=1 | 1 << 1 | 1 << 9 | 1 << 15)
        await gw.next(t="READY")
        await sb.inject_message(cid, "hi", author_id=alice)
        msg = (await gw.next(t="MESSAGE_CREATE"))["d"]
        assert msg["member"]["nick"] == "Ally" and str(helper) in msg["member"]["roles"]
        await gw.send({"op": 8, "d": {"guild_id": str(gid), "query": "", "limit": 0}})
        chunk = (await gw.next(t="GUILD_MEMBERS_CHUNK"))["d"]
        ids = {m["user"]["id"] for m in chunk["members"]}
        assert str(bob) not in ids and str(alice) in ids and str(sb.world.bot_id) in ids
    finally:
        await gw.close()


async def test_channel_overwrites_decide_in_their_channel(sb, http):
    gid = sb.world.guild_id(0)
    general, other = sb.world.text_channel_ids(gid)[:2]
    bot_role = gid | 47
    api = sb.api_url
    gw = await RawGateway.connect(sb.gateway_url)
    try:
        gw.start_heartbeating()
        await gw.identify(TOKEN, shard=[0, 1], intents=1)
        await gw.next(t="READY")
        status, _ = await call(
            http,
            "PUT",
            f"{api}/channels/{general}/permissions/{gid}",
            {"type": 0, "deny": str(SEND_MESSAGES)},
        )
        assert status == 204
        update = (await gw.next(t="CHANNEL_UPDATE"))["d"]
        assert update["id"] == str(general)
        assert update["permission_overwrites"] == [
            {"id": str(gid), "type": 0, "allow": "0", "deny": str(SEND_MESSAGES)}
        ]
        status, channel = await call(http, "GET", f"{api}/channels/{general}")
        assert channel["permission_overwrites"] == update["permission_overwrites"]
        state = sb.server.state_json(gid)
        assert state["overwrites"] == {str(general): update["permission_overwrites"]}
        # The @everyone deny beats the bot role's guild-wide send_messages, in that channel only.
        assert await call(http, "POST", f"{api}/channels/{general}/messages", {"content": "x"}) == (
            403,
            MISSING,
        )
        status, _ = await call(http, "POST", f"{api}/channels/{other}/messages", {"content": "x"})
        assert status == 200
        # A role overwrite allowing it wins over the @everyone deny.
        status, _ = await call(
            http,
            "PUT",
            f"{api}/channels/{general}/permissions/{bot_role}",
            {"type": 0, "allow": str(SEND_MESSAGES)},
        )
        assert status == 204
        status, _ = await call(http, "POST", f"{api}/channels/{general}/messages", {"content": "x"})
        assert status == 200
        # Refusals: unknown overwrite, a permission the bot lacks, no manage_roles.
        status, body = await call(
            http, "DELETE", f"{api}/channels/{general}/permissions/{gid | 34}"
        )
        assert (status, body["code"]) == (404, 10009)
        assert await call(
            http,
            "PUT",
            f"{api}/channels/{general}/permissions/{gid | 34}",
            {"type": 0, "allow": str(1 << 3)},  # ADMINISTRATOR
        ) == (403, MISSING)
        await call(
            http,
            "PUT",
            f"{sb.control_url}/guilds/{gid}/bot_permissions",
            {"permissions": ["view_channel"]},
            {},
        )
        assert await call(http, "DELETE", f"{api}/channels/{general}/permissions/{gid}") == (
            403,
            MISSING,
        )
    finally:
        await gw.close()
