"""Discord's moderation rules in the sandbox, over raw REST and the control API.

Bulk-ban (Ban Members + Manage Server, at most 200, banned/failed users, 500000 when none),
a ban's ``delete_message_seconds``, role positions set by the bot (``PATCH /guilds/{id}/roles``,
only below its own highest role), managed roles (never assigned, removed or deleted), role
icons (a boost perk: 50101 without ``ROLE_ICONS``), and a timed-out member who cannot post.
"""

from __future__ import annotations

import datetime as dt

import aiohttp
import pytest

from ezlang.sandbox import Sandbox

from .test_guild_model_rest import AUTH, MISSING, Guild, call


@pytest.fixture
async def sb():
    async with Sandbox(guilds=4, identify_window=0.0) as sandbox:
        yield sandbox


@pytest.fixture
async def http():
    async with aiohttp.ClientSession() as session:
        yield session


async def set_bot_permissions(http, g: Guild, names: list[str]) -> None:
    status, _ = await call(
        http, "PUT", f"{g.ctl}/guilds/{g.id}/bot_permissions", {"permissions": names}
    )
    assert status == 200


BAN_AND_MANAGE = ["view_channel", "send_messages", "ban_members", "manage_guild"]


async def test_bulk_ban_needs_ban_members_and_manage_guild(sb, http):
    g = Guild(sb)
    outsider = sb.world.user_id(sb.world.user_pool - 1)
    body = {"user_ids": [str(g.alice), str(outsider)]}
    # The seed bot role has Ban Members but not Manage Server: Discord refuses.
    status, data = await call(http, "POST", f"{g.api}/bulk-ban", body)
    assert (status, data) == (403, MISSING)
    assert sb.server.state_json(g.id)["bans"] == []

    await set_bot_permissions(http, g, BAN_AND_MANAGE)
    status, data = await call(
        http, "POST", f"{g.api}/bulk-ban", {**body, "user_ids": body["user_ids"] + [str(g.owner)]}
    )
    assert status == 200
    # The owner can never be banned: failed, the others banned (a member and a non-member).
    assert data == {"banned_users": [str(g.alice), str(outsider)], "failed_users": [str(g.owner)]}
    state = sb.server.state_json(g.id)
    assert {b["user_id"] for b in state["bans"]} == {str(g.alice), str(outsider)}
    assert str(g.alice) not in {m["user_id"] for m in state["members"]}

    # Everyone already banned (or unbannable): nobody banned is Discord's 500000.
    status, data = await call(http, "POST", f"{g.api}/bulk-ban", body)
    assert status == 400 and data["code"] == 500000


async def test_bulk_ban_limits(sb, http):
    g = Guild(sb)
    await set_bot_permissions(http, g, BAN_AND_MANAGE)
    many = [str(10**17 + i) for i in range(201)]
    status, data = await call(http, "POST", f"{g.api}/bulk-ban", {"user_ids": many})
    assert status == 400 and data["code"] == 50035 and "user_ids" in data["errors"]
    status, data = await call(
        http,
        "POST",
        f"{g.api}/bulk-ban",
        {"user_ids": [str(g.alice)], "delete_message_seconds": 8 * 86400},
    )
    assert status == 400 and "delete_message_seconds" in data["errors"]
    assert sb.server.state_json(g.id)["bans"] == []


async def test_ban_deletes_recent_messages_of_the_user(sb, http):
    g = Guild(sb)
    channel = next(c for c in sb.world.channels(0) if c["type"] == 0)
    cid = int(channel["id"])
    said = await sb.inject_message(cid, "spam", author_id=g.alice)
    kept = await sb.inject_message(cid, "hello", author_id=g.bob)
    status, _ = await call(http, "PUT", f"{g.api}/bans/{g.alice}", {"delete_message_seconds": 3600})
    assert status == 204
    assert sb.find_message(cid, said["id"]) is None
    assert sb.find_message(cid, kept["id"]) is not None
    status, data = await call(http, "PUT", f"{g.api}/bans/{g.bob}", {"delete_message_seconds": -1})
    assert status == 400 and data["code"] == 50035
    assert [b["user_id"] for b in sb.server.state_json(g.id)["bans"]] == [str(g.alice)]


async def test_role_positions_set_by_the_bot(sb, http):
    g = Guild(sb)
    # helper (1) goes to 2, above the member role, which shifts down.
    status, roles = await call(
        http, "PATCH", f"{g.api}/roles", [{"id": str(g.helper), "position": 2}]
    )
    assert status == 200
    positions = {int(r["id"]): r["position"] for r in roles}
    assert positions[g.helper] == 2 and positions[g.member_role] == 1
    assert positions[g.bot_role] == 4 and positions[g.id] == 0
    # Not to the bot's own position or above, and not a role above it: 50013.
    for move in ({"id": str(g.helper), "position": 4}, {"id": str(g.bot_role), "position": 1}):
        status, data = await call(http, "PATCH", f"{g.api}/roles", [move])
        assert (status, data) == (403, MISSING)
    status, data = await call(
        http, "PATCH", f"{g.api}/roles", [{"id": "99999999999999999", "position": 1}]
    )
    assert status == 404 and data["code"] == 10011
    await set_bot_permissions(http, g, ["view_channel"])
    status, data = await call(
        http, "PATCH", f"{g.api}/roles", [{"id": str(g.helper), "position": 1}]
    )
    assert (status, data) == (403, MISSING)
    state = sb.server.state_json(g.id)
    assert {int(r["id"]): r["position"] for r in state["roles"]}[g.helper] == 2


async def test_managed_roles_are_never_assigned_or_deleted(sb, http):
    g = Guild(sb)
    # Another integration's managed role, below the bot's role: hierarchy alone would allow
    # the bot to manage it; being managed forbids it.
    state = sb.server.edit(g.id)
    state.roles[g.helper].managed = True  # e.g. another bot's role
    status, _ = await call(http, "PUT", f"{g.api}/members/{g.alice}/roles/{g.member_role}")
    assert status == 204  # the same bot manages an unmanaged role of that rank
    for method in ("PUT", "DELETE"):
        status, data = await call(http, method, f"{g.api}/members/{g.alice}/roles/{g.helper}")
        assert (status, data) == (403, MISSING)
    status, data = await call(http, "DELETE", f"{g.api}/roles/{g.helper}")
    assert (status, data) == (403, MISSING)
    assert g.helper in sb.server.edit(g.id).roles


async def test_role_icons_need_the_boost_feature(sb, http):
    g = Guild(sb)
    status, data = await call(
        http, "POST", f"{g.api}/roles", {"name": "vip", "unicode_emoji": "⭐"}
    )
    assert status == 403 and data["code"] == 50101
    status, _ = await call(
        http, "PUT", f"{g.ctl}/guilds/{g.id}/features", {"features": ["ROLE_ICONS"]}
    )
    assert status == 200
    status, role = await call(
        http, "POST", f"{g.api}/roles", {"name": "vip", "unicode_emoji": "⭐"}
    )
    assert status == 200 and role["unicode_emoji"] == "⭐"
    icon = "data:image/png;base64,iVBORw0KGgo="
    status, role = await call(http, "POST", f"{g.api}/roles", {"name": "pic", "icon": icon})
    assert status == 200 and role["icon"] and role["icon"] != icon
    assert sb.server.state_json(g.id)["features"] == ["ROLE_ICONS"]


async def test_a_timed_out_member_cannot_post(sb, http):
    g = Guild(sb)
    channel = next(c for c in sb.world.channels(0) if c["type"] == 0)
    until = (dt.datetime.now(dt.UTC) + dt.timedelta(minutes=5)).isoformat()
    status, _ = await call(
        http, "PATCH", f"{g.api}/members/{g.alice}", {"communication_disabled_until": until}
    )
    assert status == 200
    before = len(sb.channel_messages(int(channel["id"])))
    status, data = await call(
        http,
        "POST",
        f"{g.ctl}/messages",
        {"channel_id": channel["id"], "content": "let me talk", "author_id": str(g.alice)},
        headers={},
    )
    assert status == 400 and "timed out" in data["error"]
    assert len(sb.channel_messages(int(channel["id"]))) == before
    # Nor react (to the owner's message).
    said = await sb.inject_message(int(channel["id"]), "react to this")
    reactions = len(sb.reactions)
    status, data = await call(
        http,
        "POST",
        f"{g.ctl}/reactions",
        {"channel_id": channel["id"], "message_id": said["id"], "emoji": "👍",
         "user_id": str(g.alice)},
        headers={},
    )  # fmt: skip
    assert status == 400 and "not let them react" in data["error"]
    assert len(sb.reactions) == reactions
    before += 1
    # Lifting the timeout lets them post again.
    status, _ = await call(
        http, "PATCH", f"{g.api}/members/{g.alice}", {"communication_disabled_until": None}
    )
    assert status == 200
    status, _ = await call(
        http,
        "POST",
        f"{g.ctl}/messages",
        {"channel_id": channel["id"], "content": "thanks", "author_id": str(g.alice)},
        headers={},
    )
    assert status == 200
    assert len(sb.channel_messages(int(channel["id"]))) == before + 1


async def test_the_audit_log_records_what_the_bot_did(sb, http):
    g = Guild(sb)
    # View Audit Log is not in the seed bot role: Discord refuses.
    status, data = await call(http, "GET", f"{g.api}/audit-logs")
    assert (status, data) == (403, MISSING)
    await set_bot_permissions(
        http, g, ["view_audit_log", "kick_members", "ban_members", "manage_roles"]
    )
    reason = {**AUTH, "X-Audit-Log-Reason": "too%20loud%20%E2%9C%8B"}  # URL-encoded, as sent
    assert (await call(http, "DELETE", f"{g.api}/members/{g.alice}", headers=reason))[0] == 204
    assert (await call(http, "PUT", f"{g.api}/bans/{g.bob}", {}, headers=reason))[0] == 204
    status, role = await call(http, "POST", f"{g.api}/roles", {"name": "quiet"})
    assert status == 200
    carol = sb.world.member_ids(0)[3]
    assert (await call(http, "PUT", f"{g.api}/members/{carol}/roles/{role['id']}"))[0] == 204

    status, log = await call(http, "GET", f"{g.api}/audit-logs")
    assert status == 200
    entries = log["audit_log_entries"]
    assert [e["action_type"] for e in entries] == [25, 30, 22, 20]  # newest first
    assert {e["user_id"] for e in entries} == {str(sb.world.bot_id)}
    kick, ban = entries[3], entries[2]
    assert (kick["target_id"], kick["reason"]) == (str(g.alice), "too loud ✋")
    assert (ban["target_id"], ban["reason"]) == (str(g.bob), "too loud ✋")
    assert entries[1]["changes"][0] == {"key": "name", "new_value": "quiet"}
    assert entries[0]["changes"] == [
        {"key": "$add", "new_value": [{"id": role["id"], "name": "quiet"}]}
    ]
    assert {u["id"] for u in log["users"]} >= {str(g.alice), str(g.bob), str(carol)}

    status, log = await call(http, "GET", f"{g.api}/audit-logs?action_type=22&limit=5")
    assert [e["target_id"] for e in log["audit_log_entries"]] == [str(g.bob)]
    status, log = await call(http, "GET", f"{g.api}/audit-logs?after={kick['id']}")
    assert [e["action_type"] for e in log["audit_log_entries"]] == [22, 30, 25]  # oldest first
    status, data = await call(http, "GET", f"{g.api}/audit-logs?limit=101")
    assert status == 400 and data["code"] == 50035
