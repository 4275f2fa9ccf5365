"""Channel and thread routes over raw HTTP and a raw gateway client, written from Discord's docs:
each route, each refusal (with Discord's code, and nothing changed), and each event reaching
only the guild's shard, only with its intent."""

from __future__ import annotations

import aiohttp
import pytest

from ezlang.sandbox import Sandbox
from ezlang.sandbox.permissions import FLAGS, parse_names
from ezlang.sandbox.world import BOT_ROLE_PERMISSIONS

from .rawclient import RawGateway

TOKEN = "sandbox-token"
AUTH = {"Authorization": f"Bot {TOKEN}"}
GUILDS, GUILD_MEMBERS, GUILD_MESSAGES = 1, 1 << 1, 1 << 9


@pytest.fixture
async def sb():
    # Without per-route limits: these tests react and post faster than Discord's buckets allow.
    async with Sandbox(guilds=4, identify_window=0.0, rest_rate_limits=False) as sandbox:
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
    def __init__(self, sb: Sandbox) -> None:
        w = sb.world
        self.id = w.guild_id(0)
        self.owner, self.alice, self.bob = w.member_ids(0)[:3]
        self.category = self.id | 1
        self.general, self.commands = w.text_channel_ids(self.id)
        self.voice = self.id | 16
        self.api = sb.api_url
        self.guild = f"{sb.api_url}/guilds/{self.id}"
        self.ctl = sb.control_url


def grant(sb: Sandbox, gid: int, *names: str) -> None:
    sb.server.set_bot_permissions(gid, BOT_ROLE_PERMISSIONS | parse_names(names))


async def test_channel_routes_create_edit_delete_and_refusals(sb, http):
    g = Guild(sb)
    status, before = await call(http, "GET", f"{g.guild}/channels")
    assert status == 200 and len(before) == 4
    sb.server.set_bot_permissions(g.id, FLAGS["view_channel"] | FLAGS["send_messages"])
    status, body = await call(http, "POST", f"{g.guild}/channels", {"name": "nope"})
    assert (status, body["code"]) == (403, 50013)
    sb.server.set_bot_permissions(g.id, BOT_ROLE_PERMISSIONS)
    for bad, field in [
        ({"name": ""}, "name"),
        ({"name": "x" * 101}, "name"),
        ({"name": "x", "type": 99}, "type"),
        ({"name": "x", "parent_id": str(g.general)}, "parent_id"),  # not a category
    ]:
        status, body = await call(http, "POST", f"{g.guild}/channels", bad)
        assert (status, body["code"]) == (400, 50035) and field in body["errors"], bad
    # An overwrite granting what the bot lacks (ADMINISTRATOR) is refused.
    admin = {"id": str(g.id), "type": 0, "allow": str(FLAGS["administrator"]), "deny": "0"}
    status, body = await call(
        http, "POST", f"{g.guild}/channels", {"name": "x", "permission_overwrites": [admin]}
    )
    assert (status, body["code"]) == (403, 50013)
    status, _ = await call(http, "POST", f"{sb.api_url}/guilds/12345/channels", {"name": "x"})
    assert status == 404
    assert len((await call(http, "GET", f"{g.guild}/channels"))[1]) == 4  # refusals: nothing

    status, cat = await call(http, "POST", f"{g.guild}/channels", {"name": "Staff", "type": 4})
    assert status == 201 and cat["type"] == 4 and int(cat["id"]) >> 22 << 22 == g.id
    deny_view = {"id": str(g.id), "type": 0, "allow": "0", "deny": str(FLAGS["view_channel"])}
    mine = {"id": str(g.id | 47), "type": 0, "allow": str(FLAGS["view_channel"]), "deny": "0"}
    status, _ = await call(
        http, "PATCH", f"{g.api}/channels/{cat['id']}", {"permission_overwrites": [deny_view, mine]}
    )
    assert status == 200
    status, text = await call(
        http, "POST", f"{g.guild}/channels", {"name": "mods", "parent_id": cat["id"], "topic": "t"}
    )
    assert status == 201 and text["parent_id"] == cat["id"] and text["topic"] == "t"
    assert text["permission_overwrites"] == [deny_view, mine]  # synced with its category
    status, edited = await call(
        http, "PATCH", f"{g.api}/channels/{text['id']}", {"name": "moderators", "topic": "new"}
    )
    assert status == 200 and edited["name"] == "moderators" and edited["topic"] == "new"
    status, got = await call(http, "GET", f"{g.api}/channels/{text['id']}")
    assert status == 200 and got["name"] == "moderators" and len(got["permission_overwrites"]) == 2
    # Overwrites on an edit follow Edit Channel Permissions: nothing the bot lacks, and
    # Manage Roles needed at all.
    status, body = await call(
        http, "PATCH", f"{g.api}/channels/{text['id']}", {"permission_overwrites": [admin]}
    )
    assert (status, body["code"]) == (403, 50013)
    sb.server.set_bot_permissions(g.id, BOT_ROLE_PERMISSIONS & ~FLAGS["manage_roles"])
    status, body = await call(
        http, "PATCH", f"{g.api}/channels/{text['id']}", {"permission_overwrites": [deny_view]}
    )
    assert (status, body["code"]) == (403, 50013)
    sb.server.set_bot_permissions(g.id, BOT_ROLE_PERMISSIONS)
    assert (
        len((await call(http, "GET", f"{g.api}/channels/{text['id']}"))[1]["permission_overwrites"])
        == 2
    )
    status, _ = await call(
        http, "POST", f"{g.api}/channels/{text['id']}/messages", {"content": "x"}
    )
    assert status == 200
    # Given overwrites win over the category's; this one hides the channel from the bot too,
    # so editing it or posting in it is 50013, as on Discord.
    status, hidden = await call(
        http,
        "POST",
        f"{g.guild}/channels",
        {"name": "hidden", "parent_id": cat["id"], "permission_overwrites": [deny_view]},
    )
    assert status == 201 and hidden["permission_overwrites"] == [deny_view]
    status, body = await call(http, "PATCH", f"{g.api}/channels/{hidden['id']}", {"name": "h2"})
    assert (status, body["code"]) == (403, 50013)
    status, body = await call(
        http, "POST", f"{g.api}/channels/{hidden['id']}/messages", {"content": "hi"}
    )
    assert (status, body["code"]) == (403, 50013)
    # Positions (Modify Guild Channel Positions): Manage Channels, channels of this guild.
    status, _ = await call(
        http,
        "PATCH",
        f"{g.guild}/channels",
        [{"id": text["id"], "position": 0}, {"id": str(g.general), "position": 1}],
    )
    assert status == 204
    assert (await call(http, "GET", f"{g.api}/channels/{text['id']}"))[1]["position"] == 0
    status, body = await call(http, "PATCH", f"{g.guild}/channels", [{"id": "77", "position": 0}])
    assert (status, body["code"]) == (400, 50035)
    sb.server.set_bot_permissions(g.id, FLAGS["view_channel"])
    status, body = await call(
        http, "PATCH", f"{g.guild}/channels", [{"id": text["id"], "position": 3}]
    )
    assert (status, body["code"]) == (403, 50013)
    sb.server.set_bot_permissions(g.id, BOT_ROLE_PERMISSIONS)
    assert (await call(http, "GET", f"{g.api}/channels/{text['id']}"))[1]["position"] == 0
    listed = (await call(http, "GET", f"{g.guild}/channels"))[1]
    assert [c["name"] for c in listed][-3:] == ["Staff", "moderators", "hidden"]

    # Deleting the category keeps its child, without a parent.
    status, gone = await call(http, "DELETE", f"{g.api}/channels/{cat['id']}")
    assert status == 200 and gone["id"] == cat["id"]
    assert (await call(http, "GET", f"{g.api}/channels/{cat['id']}"))[1]["code"] == 10003
    assert (await call(http, "GET", f"{g.api}/channels/{text['id']}"))[1]["parent_id"] is None
    # A seed channel can go too; then it is unknown everywhere.
    status, _ = await call(http, "DELETE", f"{g.api}/channels/{g.commands}")
    assert status == 200
    status, body = await call(
        http, "POST", f"{g.api}/channels/{g.commands}/messages", {"content": "x"}
    )
    assert (status, body["code"]) == (404, 10003)
    assert (await call(http, "PATCH", f"{g.api}/channels/{g.commands}", {"name": "x"}))[0] == 404
    assert (await call(http, "DELETE", f"{g.api}/channels/{g.commands}"))[0] == 404
    names = [c["name"] for c in (await call(http, "GET", f"{g.guild}/channels"))[1]]
    assert "bot-commands" not in names and "Staff" not in names and "moderators" in names


async def test_thread_routes_and_discords_rules(sb, http):
    g = Guild(sb)
    ch = f"{g.api}/channels/{g.general}"
    for url, code in [
        (f"{g.api}/channels/{g.voice}/threads", 50024),
        (f"{g.api}/channels/{g.category}/threads", 50024),
        (f"{g.api}/channels/999/threads", 10003),
    ]:
        status, body = await call(http, "POST", url, {"name": "t"})
        assert body["code"] == code, url
    status, body = await call(
        http, "POST", f"{ch}/threads", {"name": "t", "auto_archive_duration": 5}
    )
    assert (status, body["code"]) == (400, 50035)
    status, private = await call(http, "POST", f"{ch}/threads", {"name": "secret"})
    assert status == 201 and private["type"] == 12  # Discord's default: private
    assert private["member"]["user_id"] == str(sb.world.bot_id)
    status, thread = await call(http, "POST", f"{ch}/threads", {"name": "plans", "type": 11})
    assert status == 201 and thread["parent_id"] == str(g.general)
    assert thread["thread_metadata"]["archived"] is False
    t = f"{g.api}/channels/{thread['id']}"
    # GET /channels/{id} answers a thread; GET …/channels of the guild does not list threads.
    assert (await call(http, "GET", t))[1]["name"] == "plans"
    assert thread["id"] not in [
        c["id"] for c in (await call(http, "GET", f"{g.guild}/channels"))[1]
    ]
    status, active = await call(http, "GET", f"{g.guild}/threads/active")
    assert status == 200 and {x["id"] for x in active["threads"]} == {thread["id"], private["id"]}
    assert len(active["members"]) == 2

    # A thread is a channel for messages.
    status, msg = await call(http, "POST", f"{t}/messages", {"content": "in the thread"})
    assert status == 200 and msg["channel_id"] == thread["id"]
    assert (await call(http, "GET", f"{t}/messages/{msg['id']}"))[0] == 200
    posted = await sb.inject_message(thread["id"], "a user replies")
    assert posted["guild_id"] == str(g.id)
    counted = (await call(http, "GET", t))[1]
    assert (counted["message_count"], counted["last_message_id"]) == (2, posted["id"])

    # From a message: same id; a second one is 160004.
    status, parent_msg = await call(http, "POST", f"{ch}/messages", {"content": "start"})
    status, from_msg = await call(
        http, "POST", f"{ch}/messages/{parent_msg['id']}/threads", {"name": "r"}
    )
    assert status == 201 and from_msg["id"] == parent_msg["id"] and from_msg["type"] == 11
    status, body = await call(
        http, "POST", f"{ch}/messages/{parent_msg['id']}/threads", {"name": "r"}
    )
    assert (status, body["code"]) == (400, 160004)
    status, body = await call(http, "POST", f"{ch}/messages/42/threads", {"name": "r"})
    assert (status, body["code"]) == (404, 10008)
    assert sb.find_message(g.general, parent_msg["id"])["flags"] & 32  # HAS_THREAD

    # Members: users must be members of the guild.
    stranger = sb.world.user_id(sb.world.user_pool - 1)
    assert stranger not in sb.world.member_ids(0)
    assert (await call(http, "PUT", f"{t}/thread-members/{stranger}"))[1]["code"] == 10007
    assert (await call(http, "PUT", f"{t}/thread-members/77"))[1]["code"] == 10013
    assert (await call(http, "PUT", f"{t}/thread-members/{g.alice}"))[0] == 204
    status, members = await call(http, "GET", f"{t}/thread-members")
    assert status == 200 and [m["user_id"] for m in members] == [str(sb.world.bot_id), str(g.alice)]
    status, one = await call(http, "GET", f"{t}/thread-members/{g.alice}?with_member=true")
    assert status == 200 and one["member"]["user"]["id"] == str(g.alice)
    assert (await call(http, "GET", f"{t}/thread-members/{g.bob}"))[1]["code"] == 10007
    # Removing someone from a public thread needs Manage Threads.
    status, body = await call(http, "DELETE", f"{t}/thread-members/{g.alice}")
    assert (status, body["code"]) == (403, 50013)
    assert (await call(http, "DELETE", f"{t}/thread-members/@me"))[0] == 204
    assert (await call(http, "PUT", f"{t}/thread-members/@me"))[0] == 204

    # Archive (the bot created it: no Manage Threads needed); posting unarchives.
    status, archived = await call(http, "PATCH", t, {"archived": True})
    assert status == 200 and archived["thread_metadata"]["archived"] is True
    status, body = await call(http, "PATCH", t, {"name": "renamed"})
    assert (status, body["code"]) == (400, 50083)  # only unarchiving touches it
    thumbs = f"{t}/messages/{msg['id']}/reactions/%F0%9F%91%8D/@me"
    assert (await call(http, "PUT", thumbs))[1]["code"] == 50083  # no reactions, no edits
    edit = await call(http, "PATCH", f"{t}/messages/{msg['id']}", {"content": "edited"})
    assert (edit[0], edit[1]["code"]) == (400, 50083)
    assert (await call(http, "PUT", f"{t}/thread-members/@me"))[1]["code"] == 50083
    assert (await call(http, "POST", f"{t}/messages", {"content": "wake up"}))[0] == 200
    assert (await call(http, "GET", t))[1]["thread_metadata"]["archived"] is False

    # Locking needs Manage Threads; a locked, archived thread refuses messages (50083) and
    # only Manage Threads unarchives it.
    status, body = await call(http, "PATCH", t, {"locked": True})
    assert (status, body["code"]) == (403, 50013)
    assert (await call(http, "GET", t))[1]["thread_metadata"]["locked"] is False
    grant(sb, g.id, "manage_threads")
    status, locked = await call(http, "PATCH", t, {"locked": True, "archived": True})
    assert status == 200 and locked["thread_metadata"]["locked"] is True
    sb.server.set_bot_permissions(g.id, BOT_ROLE_PERMISSIONS)
    status, body = await call(http, "POST", f"{t}/messages", {"content": "let me in"})
    assert (status, body["code"]) == (400, 50083)
    status, body = await call(http, "PATCH", t, {"archived": False})
    assert (status, body["code"]) == (403, 50013)
    grant(sb, g.id, "manage_threads")
    assert (await call(http, "PATCH", t, {"archived": False}))[0] == 200
    sb.server.set_bot_permissions(g.id, BOT_ROLE_PERMISSIONS)
    status, body = await call(http, "POST", f"{t}/messages", {"content": "still locked"})
    assert (status, body["code"]) == (403, 160005)
    edit = await call(http, "PATCH", f"{t}/messages/{msg['id']}", {"content": "edited"})
    assert (edit[0], edit[1]["code"]) == (403, 160005)
    assert (await call(http, "PUT", thumbs))[
        0
    ] == 204  # reacting in an active locked thread is fine
    assert sb.find_message(int(thread["id"]), msg["id"])["content"] == "in the thread"

    # Deleting a thread needs Manage Threads.
    status, body = await call(http, "DELETE", t)
    assert (status, body["code"]) == (403, 50013)
    grant(sb, g.id, "manage_threads")
    status, gone = await call(http, "DELETE", t)
    assert status == 200 and gone["id"] == thread["id"]
    assert (await call(http, "GET", t))[1]["code"] == 10003
    assert (await call(http, "POST", f"{t}/messages", {"content": "x"}))[1]["code"] == 10003


async def test_private_threads_of_users_are_hidden_from_the_bot(sb, http):
    g = Guild(sb)
    status, made = await call(
        http,
        "POST",
        f"{g.ctl}/threads",
        {"channel_id": str(g.general), "name": "just us", "private": True, "user_id": str(g.alice)},
        {},
    )
    assert status == 200 and made["type"] == 12 and made["owner_id"] == str(g.alice)
    t = f"{g.api}/channels/{made['id']}"
    assert (await call(http, "GET", f"{t}/thread-members"))[1]["code"] == 50001
    assert (await call(http, "POST", f"{t}/messages", {"content": "x"}))[1]["code"] == 50001
    assert (await call(http, "GET", f"{g.api}/guilds/{g.id}/threads/active"))[1]["threads"] == []
    grant(sb, g.id, "manage_threads")  # moderators see private threads
    assert (await call(http, "GET", f"{t}/thread-members"))[0] == 200
    status, active = await call(http, "GET", f"{g.api}/guilds/{g.id}/threads/active")
    assert [x["id"] for x in active["threads"]] == [made["id"]]
    # Control refusals.
    for body, code in [
        ({"channel_id": "1", "name": "x"}, 404),
        ({"channel_id": str(g.general), "name": ""}, 400),
        ({"channel_id": str(g.general), "name": "x", "user_id": "5"}, 400),
    ]:
        assert (await call(http, "POST", f"{g.ctl}/threads", body, {}))[0] == code


async def test_thread_members_list_needs_the_members_intent_enabled(http):
    async with Sandbox(guilds=1, identify_window=0.0, privileged_intents=False) as sb:
        gid = sb.world.guild_id(0)
        general = sb.world.text_channel_ids(gid)[0]
        status, thread = await call(
            http, "POST", f"{sb.api_url}/channels/{general}/threads", {"name": "t", "type": 11}
        )
        assert status == 201
        status, body = await call(
            http, "GET", f"{sb.api_url}/channels/{thread['id']}/thread-members"
        )
        assert (status, body["code"]) == (403, 50001)


async def _connect(sb, shard, intents):
    gw = await RawGateway.connect(sb.gateway_url)
    gw.start_heartbeating()
    await gw.identify(TOKEN, shard=shard, intents=intents)
    await gw.next(t="READY")
    return gw


async def _events(gw, count):
    out: list[dict] = []
    while len(out) < count:
        p = await gw.next(op=0)
        if p["t"] != "GUILD_CREATE":
            out.append(p)
    return out


async def test_events_reach_the_guilds_shard_with_their_intent(sb, http):
    g = Guild(sb)
    home = sb.world.shard_of(g.id, 2)
    both = await _connect(sb, [home, 2], GUILDS | GUILD_MEMBERS)
    guilds_only = await _connect(sb, [home, 2], GUILDS)
    members_only = await _connect(sb, [home, 2], GUILD_MEMBERS)
    other = await _connect(sb, [1 - home, 2], GUILDS | GUILD_MEMBERS | GUILD_MESSAGES)
    try:
        grant(sb, g.id, "manage_threads")
        _, text = await call(http, "POST", f"{g.guild}/channels", {"name": "news"})
        await call(http, "PATCH", f"{g.api}/channels/{text['id']}", {"topic": "hot"})
        _, thread = await call(
            http, "POST", f"{g.api}/channels/{text['id']}/threads", {"name": "t", "type": 11}
        )
        t = f"{g.api}/channels/{thread['id']}"
        await call(http, "PUT", f"{t}/thread-members/{g.alice}")
        await call(http, "PATCH", t, {"archived": True})
        await call(http, "PATCH", t, {"archived": False})
        await call(http, "DELETE", t)
        await call(http, "DELETE", f"{g.api}/channels/{text['id']}")
        expected = [
            "GUILD_ROLE_UPDATE", "CHANNEL_CREATE", "CHANNEL_UPDATE", "THREAD_CREATE",
            "THREAD_MEMBERS_UPDATE", "THREAD_MEMBERS_UPDATE", "THREAD_UPDATE", "THREAD_UPDATE",
            "THREAD_MEMBER_UPDATE", "THREAD_DELETE", "CHANNEL_DELETE",
        ]  # fmt: skip
        got = await _events(both, len(expected))
        assert [p["t"] for p in got] == expected
        create = got[3]["d"]
        assert create["newly_created"] is True and create["id"] == thread["id"]
        me, alice = got[4]["d"], got[5]["d"]
        assert me["added_members"][0]["user_id"] == str(sb.world.bot_id)
        assert alice["added_members"][0]["user_id"] == str(g.alice)
        assert alice["added_members"][0]["member"]["user"]["id"] == str(g.alice)
        assert alice["member_count"] == 2
        assert got[9]["d"] == {
            "id": thread["id"], "guild_id": str(g.id), "parent_id": text["id"], "type": 11
        }  # fmt: skip
        # GUILDS alone: everything but THREAD_MEMBERS_UPDATE about someone else.
        without_alice = expected[:5] + expected[6:]
        assert [p["t"] for p in await _events(guilds_only, len(without_alice))] == without_alice
        # GUILD_MEMBERS alone: only the thread member changes.
        got_members = await _events(members_only, 2)
        assert [p["t"] for p in got_members] == ["THREAD_MEMBERS_UPDATE"] * 2
        # A message in the guild proves the other shard is live; it heard nothing of this.
        await sb.inject_message(sb.world.text_channel_ids(sb.world.guild_id(1))[0], "x")
        await other.next(t="MESSAGE_CREATE")
        assert [p["t"] for p in other.dispatches() if p["t"] not in ("READY", "GUILD_CREATE")] == [
            "MESSAGE_CREATE"
        ]
    finally:
        for gw in (both, guilds_only, members_only, other):
            await gw.close()


async def test_guild_create_and_control_state_show_channels_and_threads(sb, http):
    g = Guild(sb)
    _, text = await call(http, "POST", f"{g.guild}/channels", {"name": "later"})
    _, thread = await call(
        http, "POST", f"{g.api}/channels/{g.general}/threads", {"name": "open", "type": 11}
    )
    _, archived = await call(
        http, "POST", f"{g.api}/channels/{g.general}/threads", {"name": "old", "type": 11}
    )
    await call(http, "PATCH", f"{g.api}/channels/{archived['id']}", {"archived": True})
    await call(http, "DELETE", f"{g.api}/channels/{g.commands}")
    gw = await RawGateway.connect(sb.gateway_url)
    gw.start_heartbeating()
    try:
        await gw.identify(TOKEN, shard=[0, 1], intents=GUILDS)
        while True:
            p = await gw.next(t="GUILD_CREATE")
            if p["d"]["id"] == str(g.id):
                break
        ids = [c["id"] for c in p["d"]["channels"]]
        assert text["id"] in ids and str(g.commands) not in ids
        # Only active threads, with the bot's thread member.
        assert [t["id"] for t in p["d"]["threads"]] == [thread["id"]]
        assert p["d"]["threads"][0]["member"]["user_id"] == str(sb.world.bot_id)
    finally:
        await gw.close()
    status, state = await call(http, "GET", f"{g.ctl}/guilds/{g.id}/state", headers={})
    assert status == 200
    assert text["id"] in [c["id"] for c in state["channels"]]
    by_id = {t["id"]: t for t in state["threads"]}
    assert set(by_id) == {thread["id"], archived["id"]}
    assert by_id[archived["id"]]["thread_metadata"]["archived"] is True
    assert by_id[thread["id"]]["member_ids"] == [str(sb.world.bot_id)]
    # An untouched guild's state has its seed channels and no threads.
    status, other = await call(
        http, "GET", f"{g.ctl}/guilds/{sb.world.guild_id(1)}/state", headers={}
    )
    assert len(other["channels"]) == 4 and other["threads"] == []


async def test_channel_and_thread_changes_are_in_the_audit_log(sb, http):
    g = Guild(sb)
    grant(sb, g.id, "view_audit_log", "manage_threads")
    why = {**AUTH, "X-Audit-Log-Reason": "spring%20cleaning"}  # URL-encoded, as discord.py does
    _, text = await call(http, "POST", f"{g.guild}/channels", {"name": "tmp", "topic": "t"}, why)
    await call(http, "PATCH", f"{g.api}/channels/{text['id']}", {"name": "tmp2"}, why)
    _, thread = await call(
        http, "POST", f"{g.api}/channels/{text['id']}/threads", {"name": "th", "type": 11}, why
    )
    await call(http, "PATCH", f"{g.api}/channels/{thread['id']}", {"locked": True}, why)
    await call(http, "DELETE", f"{g.api}/channels/{thread['id']}", None, why)
    await call(http, "DELETE", f"{g.api}/channels/{text['id']}", None, why)
    status, log = await call(http, "GET", f"{g.guild}/audit-logs")
    assert status == 200
    entries = log["audit_log_entries"][::-1]  # oldest first
    assert [e["action_type"] for e in entries] == [10, 11, 110, 111, 112, 12]
    assert {e["reason"] for e in entries} == {"spring cleaning"}
    assert {e["user_id"] for e in entries} == {str(sb.world.bot_id)}
    assert [e["target_id"] for e in entries] == [text["id"]] * 2 + [thread["id"]] * 3 + [text["id"]]
    changes = [
        {c["key"]: (c.get("old_value"), c.get("new_value")) for c in e["changes"]} for e in entries
    ]
    assert changes[0]["name"] == (None, "tmp") and changes[0]["topic"] == (None, "t")
    assert changes[1] == {"name": ("tmp", "tmp2")}
    assert changes[3] == {"locked": (False, True)}
    assert changes[4]["name"] == ("th", None) and changes[5]["name"] == ("tmp2", None)


async def test_people_change_channels_and_threads_through_the_control_api(sb, http):
    g = Guild(sb)
    gw = await _connect(sb, [0, 1], GUILDS | GUILD_MEMBERS)
    ctl = g.ctl
    try:
        status, cat = await call(
            http, "POST", f"{ctl}/channels", {"guild_id": str(g.id), "name": "Cat", "type": 4}, {}
        )
        assert status == 200
        hide = {"id": str(g.id), "type": 0, "allow": "0", "deny": str(FLAGS["send_messages"])}
        await call(
            http, "PATCH", f"{g.api}/channels/{cat['id']}", {"permission_overwrites": [hide]}
        )
        status, ch = await call(
            http,
            "POST",
            f"{ctl}/channels",
            {"guild_id": str(g.id), "name": "talk", "parent_id": cat["id"]},
            {},
        )
        assert status == 200 and ch["permission_overwrites"] == [hide]  # starts synced
        status, ch = await call(http, "PATCH", f"{ctl}/channels/{ch['id']}", {"topic": "x"}, {})
        assert status == 200 and ch["topic"] == "x"
        status, th = await call(
            http,
            "POST",
            f"{ctl}/threads",
            {"channel_id": str(g.general), "name": "q", "user_id": str(g.alice)},
            {},
        )
        assert status == 200 and th["owner_id"] == str(g.alice)
        status, joined = await call(
            http, "PUT", f"{ctl}/threads/{th['id']}/members/{g.bob}", None, {}
        )
        assert (status, joined) == (200, {"added": True})
        status, left = await call(
            http, "DELETE", f"{ctl}/threads/{th['id']}/members/{g.bob}", None, {}
        )
        assert (status, left) == (200, {"removed": True})
        status, th2 = await call(
            http, "PATCH", f"{ctl}/channels/{th['id']}", {"archived": True}, {}
        )
        assert status == 200 and th2["thread_metadata"]["archived"] is True
        assert (await call(http, "DELETE", f"{ctl}/channels/{th['id']}", None, {}))[0] == 200
        assert (await call(http, "DELETE", f"{ctl}/channels/{ch['id']}", None, {}))[0] == 200
        expected = [
            "CHANNEL_CREATE", "CHANNEL_UPDATE", "CHANNEL_CREATE", "CHANNEL_UPDATE",
            "THREAD_CREATE", "THREAD_MEMBERS_UPDATE", "THREAD_MEMBERS_UPDATE",
            "THREAD_MEMBERS_UPDATE", "THREAD_UPDATE", "THREAD_DELETE", "CHANNEL_DELETE",
        ]  # fmt: skip
        got = await _events(gw, len(expected))
        assert [p["t"] for p in got] == expected
        assert got[4]["d"]["newly_created"] is True and got[4]["d"]["owner_id"] == str(g.alice)
        assert got[6]["d"]["added_members"][0]["user_id"] == str(g.bob)
        assert got[7]["d"]["removed_member_ids"] == [str(g.bob)]
        for method, url, body, code in [
            ("POST", f"{ctl}/channels", {"guild_id": "5", "name": "x"}, 404),
            ("POST", f"{ctl}/channels", {"guild_id": str(g.id), "name": ""}, 400),
            ("POST", f"{ctl}/channels", {"guild_id": str(g.id), "name": "x", "type": 9}, 400),
            (
                "POST",
                f"{ctl}/channels",
                {"guild_id": str(g.id), "name": "x", "parent_id": str(g.general)},
                400,
            ),
            ("PATCH", f"{ctl}/channels/77", {"name": "x"}, 404),
            ("DELETE", f"{ctl}/channels/77", None, 404),
            ("PUT", f"{ctl}/threads/77/members/{g.bob}", None, 404),
        ]:
            status, body_ = await call(http, method, url, body, {})
            assert status == code and "error" in body_, (method, url, body_)
    finally:
        await gw.close()
