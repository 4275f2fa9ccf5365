"""The server model over raw REST and the raw gateway: members, roles, bans, permissions.

Each route, each refusal Discord gives (50013 for a missing permission and for the role
hierarchy, 10007/10011/10026 for unknown things) and the gateway events each change sends,
only to the shard that holds the guild and only to sessions with the event's intent.
"""

from __future__ import annotations

import datetime as dt

import aiohttp
import pytest

from ezlang.sandbox import Sandbox
from ezlang.sandbox.world import BOT_ROLE_LOW

from .rawclient import RawGateway

TOKEN = "sandbox-token"
AUTH = {"Authorization": f"Bot {TOKEN}"}
GUILDS, GUILD_MEMBERS, GUILD_MODERATION = 1, 1 << 1, 1 << 2
MISSING = {"message": "Missing Permissions", "code": 50013}


@pytest.fixture
async def sb():
    async with Sandbox(guilds=4, identify_window=0.0) as sandbox:
        yield sandbox


@pytest.fixture
async def http():
    async with aiohttp.ClientSession() as session:
        yield session


async def call(http, method, url, body=None, headers=None):
    async with http.request(
        method, url, json=body, headers=AUTH if headers is None else headers
    ) as r:
        text = await r.text()
        return r.status, (await r.json(content_type=None)) if text else None


class Guild:
    """Ids of guild 0: owner, two plain members, the roles by name."""

    def __init__(self, sb: Sandbox) -> None:
        w = sb.world
        self.id = w.guild_id(0)
        self.owner, self.alice, self.bob = w.member_ids(0)[:3]
        self.moderator = self.id | 32  # position 3, ADMINISTRATOR
        self.member_role = self.id | 33  # position 2, every plain member has it
        self.helper = self.id | 34  # position 1
        self.bot_role = self.id | BOT_ROLE_LOW  # position 4
        self.api = f"{sb.api_url}/guilds/{self.id}"
        self.ctl = sb.control_url


async def test_member_role_nick_timeout_routes_change_the_model(sb, http):
    g = Guild(sb)
    assert not sb.server.changed  # reads and startup store nothing
    status, member = await call(http, "GET", f"{g.api}/members/{g.alice}")
    assert status == 200 and member["roles"] == [str(g.member_role)] and member["nick"] is None
    assert not sb.server.changed
    status, _ = await call(http, "PUT", f"{g.api}/members/{g.alice}/roles/{g.helper}")
    assert status == 204
    assert list(sb.server.changed) == [g.id]  # the first change stores the guild, only it
    until = (dt.datetime.now(dt.UTC) + dt.timedelta(minutes=10)).isoformat()
    status, member = await call(
        http,
        "PATCH",
        f"{g.api}/members/{g.alice}",
        {"nick": "Ally", "communication_disabled_until": until},
    )
    assert status == 200 and member["nick"] == "Ally"
    assert member["communication_disabled_until"] == until
    assert member["roles"] == [str(g.member_role), str(g.helper)]
    status, _ = await call(http, "DELETE", f"{g.api}/members/{g.alice}/roles/{g.member_role}")
    assert status == 204
    status, member = await call(http, "PATCH", f"{g.api}/members/@me", {"nick": "Botty"})
    assert status == 200 and member["nick"] == "Botty"
    status, state = await call(http, "GET", f"{g.ctl}/guilds/{g.id}/state", headers={})
    assert status == 200 and state["changed"] is True
    alice = next(m for m in state["members"] if m["user_id"] == str(g.alice))
    assert alice["roles"] == [str(g.helper)] and alice["nick"] == "Ally"
    assert alice["communication_disabled_until"] == until
    # Timed out: only view_channel and read_message_history are left.
    assert alice["permissions"] == ["view_channel", "read_message_history"]
    # Lift the timeout.
    status, member = await call(
        http, "PATCH", f"{g.api}/members/{g.alice}", {"communication_disabled_until": None}
    )
    assert status == 200 and member["communication_disabled_until"] is None
    # Replace the role list in one PATCH.
    status, member = await call(
        http, "PATCH", f"{g.api}/members/{g.alice}", {"roles": [str(g.member_role)]}
    )
    assert status == 200 and member["roles"] == [str(g.member_role)]


async def test_kick_ban_unban_and_role_routes(sb, http):
    g = Guild(sb)
    status, _ = await call(http, "DELETE", f"{g.api}/members/{g.alice}")
    assert status == 204
    status, body = await call(http, "GET", f"{g.api}/members/{g.alice}")
    assert (status, body["code"]) == (404, 10007)
    status, _ = await call(
        http, "PUT", f"{g.api}/bans/{g.bob}", {}, {**AUTH, "X-Audit-Log-Reason": "spam"}
    )
    assert status == 204
    status, bans = await call(http, "GET", f"{g.api}/bans")
    assert status == 200 and [(b["user"]["id"], b["reason"]) for b in bans] == [
        (str(g.bob), "spam")
    ]
    status, ban = await call(http, "GET", f"{g.api}/bans/{g.bob}")
    assert status == 200 and ban["user"]["id"] == str(g.bob)
    status, body = await call(http, "GET", f"{g.api}/members/{g.bob}")
    assert (status, body["code"]) == (404, 10007)  # a ban removes the member
    # A banned user can not join until unbanned.
    status, body = await call(
        http, "POST", f"{g.ctl}/members", {"guild_id": str(g.id), "user_id": str(g.bob)}, {}
    )
    assert status == 400 and "banned" in body["error"]
    status, _ = await call(http, "DELETE", f"{g.api}/bans/{g.bob}")
    assert status == 204
    status, bans = await call(http, "GET", f"{g.api}/bans")
    assert bans == []
    status, member = await call(
        http, "POST", f"{g.ctl}/members", {"guild_id": str(g.id), "user_id": str(g.bob)}, {}
    )
    assert status == 200 and member["user"]["id"] == str(g.bob) and member["roles"] == []
    # Roles: create (at position 1), edit, delete.
    status, role = await call(
        http, "POST", f"{g.api}/roles", {"name": "Muted", "permissions": "1024"}
    )
    assert status == 200 and role["name"] == "Muted" and role["position"] == 1
    assert role["permissions"] == "1024"
    status, roles = await call(http, "GET", f"{g.api}/roles")
    assert [r["name"] for r in roles][:2] == ["@everyone", "Muted"]
    assert [r["position"] for r in roles] == list(range(len(roles)))
    status, role = await call(
        http, "PATCH", f"{g.api}/roles/{role['id']}", {"name": "Quiet", "color": 255}
    )
    assert status == 200 and (role["name"], role["color"]) == ("Quiet", 255)
    status, _ = await call(http, "PUT", f"{g.api}/members/{g.bob}/roles/{role['id']}")
    assert status == 204
    status, _ = await call(http, "DELETE", f"{g.api}/roles/{role['id']}")
    assert status == 204
    status, member = await call(http, "GET", f"{g.api}/members/{g.bob}")
    assert member["roles"] == []  # deleting a role takes it from its members
    status, body = await call(http, "DELETE", f"{g.api}/roles/{g.id}")
    assert (status, body["code"]) == (400, 50028)  # @everyone can not be deleted


async def test_refusals_for_missing_permissions(sb, http):
    g = Guild(sb)
    status, role = await call(
        http,
        "PUT",
        f"{g.ctl}/guilds/{g.id}/bot_permissions",
        {"permissions": ["view_channel", "send_messages"]},
        {},
    )
    assert status == 200 and role["permissions"] == str((1 << 10) | (1 << 11))
    until = (dt.datetime.now(dt.UTC) + dt.timedelta(minutes=5)).isoformat()
    attempts = [
        ("DELETE", f"{g.api}/members/{g.alice}", None),
        ("PUT", f"{g.api}/bans/{g.alice}", {}),
        ("GET", f"{g.api}/bans", None),
        ("PUT", f"{g.api}/members/{g.alice}/roles/{g.helper}", None),
        ("PATCH", f"{g.api}/members/{g.alice}", {"communication_disabled_until": until}),
        ("PATCH", f"{g.api}/members/{g.alice}", {"nick": "x"}),
        ("POST", f"{g.api}/roles", {"name": "r"}),
        ("PATCH", f"{g.api}/roles/{g.helper}", {"name": "r"}),
        ("DELETE", f"{g.api}/roles/{g.helper}", None),
    ]
    for method, url, body in attempts:
        assert await call(http, method, url, body) == (403, MISSING), (method, url, body)
    # Granting a permission the bot does not hold is refused too.
    await call(
        http, "PUT", f"{g.ctl}/guilds/{g.id}/bot_permissions", {"permissions": ["manage_roles"]}, {}
    )
    assert await call(http, "POST", f"{g.api}/roles", {"permissions": str(1 << 2)}) == (
        403,
        MISSING,
    )
    status, _ = await call(http, "POST", f"{g.api}/roles", {"permissions": str(1 << 28)})
    assert status == 200
    # The refusals were the permissions: given back, the same kick works.
    await call(
        http, "PUT", f"{g.ctl}/guilds/{g.id}/bot_permissions", {"permissions": ["kick_members"]}, {}
    )
    status, _ = await call(http, "DELETE", f"{g.api}/members/{g.alice}")
    assert status == 204
    status, body = await call(
        http, "PUT", f"{g.ctl}/guilds/{g.id}/bot_permissions", {"permissions": ["fly"]}, {}
    )
    assert status == 400 and "fly" in body["error"]


async def test_refusals_for_role_hierarchy(sb, http):
    g = Guild(sb)
    # The owner can be kicked, banned or timed out by no one.
    until = (dt.datetime.now(dt.UTC) + dt.timedelta(minutes=5)).isoformat()
    assert await call(http, "DELETE", f"{g.api}/members/{g.owner}") == (403, MISSING)
    assert await call(http, "PUT", f"{g.api}/bans/{g.owner}", {}) == (403, MISSING)
    # An administrator can not be timed out, even from below the bot.
    await call(http, "PUT", f"{g.api}/members/{g.bob}/roles/{g.moderator}")
    assert await call(
        http, "PATCH", f"{g.api}/members/{g.bob}", {"communication_disabled_until": until}
    ) == (403, MISSING)
    # The owner drags the bot's role down to the Member role's level (position 2).
    status, role = await call(
        http, "PATCH", f"{g.ctl}/guilds/{g.id}/roles/{g.bot_role}", {"position": 2}, {}
    )
    assert status == 200 and role["position"] == 2
    for method, url, body in [
        ("DELETE", f"{g.api}/members/{g.alice}", None),  # alice's top role is at the bot's
        ("PUT", f"{g.api}/bans/{g.alice}", {}),
        ("PATCH", f"{g.api}/members/{g.alice}", {"nick": "x"}),
        ("PATCH", f"{g.api}/members/{g.alice}", {"communication_disabled_until": until}),
        ("PUT", f"{g.api}/members/{g.alice}/roles/{g.moderator}", None),  # above the bot
        ("DELETE", f"{g.api}/members/{g.alice}/roles/{g.member_role}", None),  # at the bot's
        ("PATCH", f"{g.api}/members/{g.alice}", {"roles": []}),
        ("PATCH", f"{g.api}/roles/{g.member_role}", {"name": "x"}),
        ("DELETE", f"{g.api}/roles/{g.moderator}", None),
    ]:
        assert await call(http, method, url, body) == (403, MISSING), (method, url, body)
    # Below the bot is still fine: the helper role (position 1) to alice.
    status, _ = await call(http, "PUT", f"{g.api}/members/{g.alice}/roles/{g.helper}")
    assert status == 204
    # A member who lost their roles is below the bot again: kickable.
    await call(http, "PATCH", f"{g.ctl}/guilds/{g.id}/roles/{g.bot_role}", {"position": 4}, {})
    status, _ = await call(http, "PATCH", f"{g.api}/members/{g.alice}", {"roles": []})
    await call(http, "PATCH", f"{g.ctl}/guilds/{g.id}/roles/{g.bot_role}", {"position": 2}, {})
    assert status == 200
    status, _ = await call(http, "DELETE", f"{g.api}/members/{g.alice}")
    assert status == 204


async def test_unknown_member_role_ban_guild(sb, http):
    g = Guild(sb)
    stranger = sb.world.user_id(sb.world.user_pool - 1)
    assert stranger not in sb.world.member_ids(0)
    for method, url, body, code in [
        ("GET", f"{g.api}/members/{stranger}", None, 10007),
        ("PATCH", f"{g.api}/members/{stranger}", {"nick": "x"}, 10007),
        ("DELETE", f"{g.api}/members/{stranger}", None, 10007),
        ("PUT", f"{g.api}/members/{stranger}/roles/{g.helper}", None, 10007),
        ("PUT", f"{g.api}/members/{g.alice}/roles/{g.id | 40}", None, 10011),
        ("PATCH", f"{g.api}/members/{g.alice}", {"roles": [str(g.id | 40)]}, 10011),
        ("PATCH", f"{g.api}/roles/{g.id | 40}", {"name": "x"}, 10011),
        ("DELETE", f"{g.api}/roles/{g.id | 40}", None, 10011),
        ("GET", f"{g.api}/bans/{g.alice}", None, 10026),
        ("DELETE", f"{g.api}/bans/{g.alice}", None, 10026),
        ("PUT", f"{g.api}/bans/12345", {}, 10013),
        ("GET", f"{sb.api_url}/guilds/999/members/{g.alice}", None, 10004),
    ]:
        status, got = await call(http, method, url, body)
        assert (status, got["code"]) == (404, code), (method, url, got)
    assert not sb.server.changed  # refusals change nothing
    status, body = await call(http, "GET", f"{g.ctl}/guilds/999/state", headers={})
    assert status == 404
    status, body = await call(http, "DELETE", f"{g.ctl}/members/{g.id}/{stranger}", headers={})
    assert status == 404


async def _connect(sb, shard, intents):
    gw = await RawGateway.connect(sb.gateway_url)
    gw.start_heartbeating()
    await gw.identify(TOKEN, shard=shard, intents=intents)
    await gw.next(t="READY")
    return gw


async def test_events_go_to_the_guilds_shard_with_the_right_intent(sb, http):
    g = Guild(sb)
    home = sb.world.shard_of(g.id, 2)
    everything = await _connect(sb, [home, 2], GUILDS | GUILD_MEMBERS | GUILD_MODERATION)
    guilds_only = await _connect(sb, [home, 2], GUILDS)
    other_shard = await _connect(sb, [1 - home, 2], GUILDS | GUILD_MEMBERS | GUILD_MODERATION)
    try:
        status, joined = await call(http, "POST", f"{g.ctl}/members", {"guild_id": str(g.id)}, {})
        newcomer = int(joined["user"]["id"])
        assert status == 200 and newcomer not in sb.world.member_ids(0)
        await call(http, "PUT", f"{g.api}/members/{newcomer}/roles/{g.helper}")
        status, role = await call(http, "POST", f"{g.api}/roles", {"name": "Fresh"})
        await call(http, "PATCH", f"{g.api}/roles/{role['id']}", {"name": "Fresher"})
        await call(http, "DELETE", f"{g.api}/roles/{role['id']}")
        await call(http, "PUT", f"{g.api}/bans/{newcomer}", {})
        await call(http, "DELETE", f"{g.api}/bans/{newcomer}")
        await call(http, "DELETE", f"{g.api}/members/{g.alice}")  # kick
        status, _ = await call(http, "DELETE", f"{g.ctl}/members/{g.id}/{g.bob}", headers={})
        assert status == 200  # bob leaves
        await call(
            http,
            "PUT",
            f"{g.ctl}/guilds/{g.id}/bot_permissions",
            {"permissions": ["ban_members"]},
            {},
        )
        expected = [
            "GUILD_MEMBER_ADD", "GUILD_MEMBER_UPDATE", "GUILD_ROLE_CREATE", "GUILD_ROLE_UPDATE",
            "GUILD_ROLE_DELETE", "GUILD_BAN_ADD", "GUILD_MEMBER_REMOVE", "GUILD_BAN_REMOVE",
            "GUILD_MEMBER_REMOVE", "GUILD_MEMBER_REMOVE", "GUILD_ROLE_UPDATE",
        ]  # fmt: skip
        got = [(await everything.next(t=None, op=0))["t"] for _ in expected]
        # GUILD_CREATEs of READY come first; skip them.
        while got and got[0] == "GUILD_CREATE":
            got = got[1:] + [(await everything.next(op=0))["t"]]
        assert got == expected
        events = {p["t"]: p["d"] for p in everything.dispatches()}
        assert events["GUILD_MEMBER_ADD"]["guild_id"] == str(g.id)
        assert events["GUILD_MEMBER_UPDATE"]["roles"] == [str(g.helper)]
        assert events["GUILD_BAN_ADD"]["user"]["id"] == str(newcomer)
        assert events["GUILD_ROLE_DELETE"] == {"guild_id": str(g.id), "role_id": role["id"]}
        # GUILDS alone: the role events, nothing about members or bans.
        want_roles = [t for t in expected if t.startswith("GUILD_ROLE")]
        seen: list[str] = []
        while len(seen) < len(want_roles):
            p = await guilds_only.next(op=0)
            if p["t"] != "GUILD_CREATE":
                seen.append(p["t"])
        assert seen == want_roles
        # The other shard does not hold the guild and heard nothing of it.
        assert [
            p
            for p in other_shard.dispatches()
            if p["t"].startswith("GUILD_") and p["t"] != "GUILD_CREATE"
        ] == []
        assert not [
            p for p in guilds_only.dispatches() if p["t"].startswith(("GUILD_MEMBER", "GUILD_BAN"))
        ]
    finally:
        for gw in (everything, guilds_only, other_shard):
            await gw.close()


async def test_a_changed_guild_create_carries_the_model(sb, http):
    g = Guild(sb)
    await call(http, "DELETE", f"{g.api}/members/{g.alice}")
    await call(http, "PUT", f"{g.api}/members/{g.bob}/roles/{g.helper}")
    gw = await _connect(sb, [0, 1], GUILDS | GUILD_MEMBERS)
    try:
        while True:
            p = await gw.next(t="GUILD_CREATE")
            if p["d"]["id"] == str(g.id):
                break
        members = {m["user"]["id"]: m for m in p["d"]["members"]}
        assert str(g.alice) not in members
        assert members[str(g.bob)]["roles"] == [str(g.member_role), str(g.helper)]
        assert members[str(sb.world.bot_id)]["roles"] == [str(g.bot_role)]
        assert p["d"]["member_count"] == len(members)
    finally:
        await gw.close()
