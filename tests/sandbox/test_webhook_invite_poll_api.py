"""Webhooks, invites and polls over raw REST, the control API and the raw gateway.

Each route, each of Discord's refusals (10003, 10006, 10008, 10015, 30007, 50013, 50027, 50035,
520001, 520006) and the event each change sends: to the guild's shard only, and only to
sessions with the event's intent (GUILD_WEBHOOKS, GUILD_INVITES, GUILD_MESSAGE_POLLS).
Also discord.py's own ``Webhook.from_url`` against the sandbox.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import aiohttp
import discord
import pytest

from ezlang.sandbox import Sandbox

from .conftest import pointed_at, wait_for
from .rawclient import RawGateway

TOKEN = "sandbox-token"
AUTH = {"Authorization": f"Bot {TOKEN}"}
GUILDS, GUILD_MESSAGES = 1, 1 << 9
GUILD_WEBHOOKS, GUILD_INVITES, GUILD_MESSAGE_POLLS = 1 << 5, 1 << 6, 1 << 24
MESSAGE_CONTENT = 1 << 15
ALL = (
    GUILDS | GUILD_MESSAGES | MESSAGE_CONTENT | GUILD_WEBHOOKS | GUILD_INVITES | GUILD_MESSAGE_POLLS
)
GRANTED = [
    "view_channel",
    "send_messages",
    "read_message_history",
    "manage_webhooks",
    "create_instant_invite",
    "manage_channels",
    "manage_guild",
    "send_polls",
]


@pytest.fixture
async def sb():
    async with Sandbox(guilds=4, identify_window=0.0, rest_rate_limits=False) as sandbox:
        yield sandbox


@pytest.fixture
async def http():
    async with aiohttp.ClientSession() as session:
        yield session


async def call(http, method, url, body=None, headers=AUTH):
    async with http.request(method, url, json=body, headers=headers) as r:
        text = await r.text()
        return r.status, (json.loads(text) if text else None)


def channel_of(sb: Sandbox, index: int = 0) -> int:
    return next(int(c["id"]) for c in sb.world.channels(index) if c["type"] == 0)


async def grant(http, sb: Sandbox, names: list[str], index: int = 0) -> None:
    url = f"{sb.control_url}/guilds/{sb.world.guild_id(index)}/bot_permissions"
    async with http.put(url, json={"permissions": names}) as r:
        assert r.status == 200, await r.text()


async def _connect(sb: Sandbox, shard: list[int], intents: int) -> RawGateway:
    gw = await RawGateway.connect(sb.gateway_url)
    gw.start_heartbeating()
    await gw.identify(TOKEN, shard=shard, intents=intents)
    await gw.next(t="READY")
    return gw


class Shards:
    """Three sessions: the guild's shard with every intent and with only GUILDS +
    GUILD_MESSAGES, and the other shard with every intent."""

    def __init__(self, sb: Sandbox) -> None:
        self.sb = sb
        self.home = sb.world.shard_of(sb.world.guild_id(0), 2)
        # A guild of the other shard, for a marker message that proves it was listening.
        self.away_index = next(
            i
            for i in range(sb.world.guild_count)
            if sb.world.shard_of(sb.world.guild_id(i), 2) != self.home
        )

    async def __aenter__(self) -> Shards:
        self.full = await _connect(self.sb, [self.home, 2], ALL)
        self.plain = await _connect(self.sb, [self.home, 2], GUILDS | GUILD_MESSAGES)
        self.other = await _connect(self.sb, [1 - self.home, 2], ALL)
        return self

    async def __aexit__(self, *exc: object) -> None:
        for gw in (self.full, self.plain, self.other):
            await gw.close()

    async def settle(self) -> None:
        """Post a marker in each shard's guild and wait for it: whatever was sent before it
        has arrived."""
        here = await self.sb.inject_message(channel_of(self.sb), "marker")
        away = await self.sb.inject_message(channel_of(self.sb, self.away_index), "marker")
        for gw, mid in (
            (self.full, here["id"]),
            (self.plain, here["id"]),
            (self.other, away["id"]),
        ):
            while (await gw.next(t="MESSAGE_CREATE"))["d"]["id"] != mid:
                pass

    def only_full_got(self, event: str) -> list[dict[str, Any]]:
        """The ``event`` payloads the full session got, after checking no other did."""
        assert not self.plain.dispatches(event), f"{event} reached a session without its intent"
        assert not self.other.dispatches(event), f"{event} reached the other shard"
        return [p["d"] for p in self.full.dispatches(event)]


# ---- webhooks -------------------------------------------------------------------------------


async def test_webhook_routes_events_and_execute(sb, http) -> None:
    await grant(http, sb, GRANTED)
    cid = channel_of(sb)
    gid = sb.world.guild_id(0)
    api = sb.api_url
    async with Shards(sb) as shards:
        status, hook = await call(http, "POST", f"{api}/channels/{cid}/webhooks", {"name": "Hooky"})
        assert status == 200 and hook["type"] == 1 and hook["channel_id"] == str(cid)
        assert hook["user"]["id"] == str(sb.world.bot_id) and len(hook["token"]) >= 60
        hid, token = hook["id"], hook["token"]
        assert [
            h["id"] for h in (await call(http, "GET", f"{api}/channels/{cid}/webhooks"))[1]
        ] == [hid]
        assert [h["id"] for h in (await call(http, "GET", f"{api}/guilds/{gid}/webhooks"))[1]] == [
            hid
        ]
        assert (await call(http, "GET", f"{api}/webhooks/{hid}"))[1]["name"] == "Hooky"
        # The token routes need no Authorization and show no user.
        status, by_token = await call(http, "GET", f"{api}/webhooks/{hid}/{token}", headers={})
        assert status == 200 and "user" not in by_token and by_token["token"] == token
        status, edited = await call(
            http, "PATCH", f"{api}/webhooks/{hid}/{token}", {"name": "Renamed"}, {}
        )
        assert status == 200 and edited["name"] == "Renamed"

        status, msg = await call(
            http,
            "POST",
            f"{api}/webhooks/{hid}/{token}?wait=true",
            {"content": "hello", "username": "Herald", "embeds": [{"title": "t"}]},
            {},
        )
        assert status == 200 and msg["webhook_id"] == hid and msg["author"]["username"] == "Herald"
        assert sb.find_message(cid, msg["id"])["content"] == "hello"
        status, _ = await call(
            http, "POST", f"{api}/webhooks/{hid}/{token}", {"content": "no wait"}, {}
        )
        assert status == 204
        assert sb.channel_messages(cid)[-1]["content"] == "no wait"

        # A second channel of the guild: the webhook moves (bot auth only).
        other = [int(c["id"]) for c in sb.world.channels(0) if c["type"] == 0][1]
        status, moved = await call(
            http, "PATCH", f"{api}/webhooks/{hid}", {"channel_id": str(other)}
        )
        assert status == 200 and moved["channel_id"] == str(other)
        assert (await call(http, "DELETE", f"{api}/webhooks/{hid}/{token}", headers={}))[0] == 204
        assert (await call(http, "GET", f"{api}/webhooks/{hid}"))[1]["code"] == 10015

        await shards.settle()
        updates = shards.only_full_got("WEBHOOKS_UPDATE")
        # create, edit, move (new and old channel), delete
        assert [u["channel_id"] for u in updates] == [
            str(cid),
            str(cid),
            str(other),
            str(cid),
            str(other),
        ]
        assert all(u["guild_id"] == str(gid) for u in updates)
        # The webhook's messages are MESSAGE_CREATEs like any other.
        created = [
            p["d"]
            for p in shards.full.dispatches("MESSAGE_CREATE")
            if p["d"].get("webhook_id") == hid
        ]
        assert [m["content"] for m in created] == ["hello", "no wait"]


async def test_webhook_refusals(sb, http) -> None:
    cid = channel_of(sb)
    api = sb.api_url
    # The seed bot role has no Manage Webhooks.
    status, body = await call(http, "POST", f"{api}/channels/{cid}/webhooks", {"name": "x"})
    assert (status, body["code"]) == (403, 50013)
    await grant(http, sb, GRANTED)
    for name in ("", "x" * 81, "my discord hook", "Clyde"):
        status, body = await call(http, "POST", f"{api}/channels/{cid}/webhooks", {"name": name})
        assert (status, body["code"]) == (400, 50035) and "name" in body["errors"], name
    status, body = await call(http, "POST", f"{api}/channels/1/webhooks", {"name": "x"})
    assert (status, body["code"]) == (404, 10003)
    hooks = [
        (await call(http, "POST", f"{api}/channels/{cid}/webhooks", {"name": f"h{i}"}))[1]
        for i in range(15)
    ]
    status, body = await call(http, "POST", f"{api}/channels/{cid}/webhooks", {"name": "sixteenth"})
    assert (status, body["code"]) == (400, 30007)
    hook = hooks[0]
    wrong = "x" * 68
    status, body = await call(
        http, "POST", f"{api}/webhooks/{hook['id']}/{wrong}", {"content": "hi"}, {}
    )
    assert (status, body["code"]) == (401, 50027)
    status, body = await call(http, "POST", f"{api}/webhooks/{hook['id']}/{hook['token']}", {}, {})
    assert (status, body["code"]) == (400, 50006)
    status, body = await call(
        http, "POST", f"{api}/webhooks/{hook['id']}/{hook['token']}", {"content": "x" * 2001}, {}
    )
    assert (status, body["code"]) == (400, 50035)
    # An unknown id on the execute path is no channel webhook: the interaction routes say 10015.
    status, body = await call(
        http, "POST", f"{api}/webhooks/{sb.world.application_id}/{wrong}", {"content": "x"}, {}
    )
    assert (status, body["code"]) == (404, 10015)
    # Without Manage Webhooks the bot-authenticated routes refuse; the token still works.
    await grant(http, sb, ["view_channel", "send_messages"])
    for method, url in [
        ("GET", f"{api}/channels/{cid}/webhooks"),
        ("GET", f"{api}/guilds/{sb.world.guild_id(0)}/webhooks"),
        ("GET", f"{api}/webhooks/{hook['id']}"),
        ("DELETE", f"{api}/webhooks/{hook['id']}"),
    ]:
        status, body = await call(http, method, url)
        assert (status, body["code"]) == (403, 50013), url
    assert (await call(http, "GET", f"{api}/webhooks/{hook['id']}/{hook['token']}", headers={}))[
        0
    ] == 200
    async with http.get(f"{sb.control_url}/guilds/{sb.world.guild_id(0)}/state") as r:
        assert len((await r.json())["webhooks"]) == 15


async def test_discordpy_webhook_from_url_uses_the_sandbox(sb, http) -> None:
    await grant(http, sb, GRANTED)
    cid = channel_of(sb)
    _, hook = await call(http, "POST", f"{sb.api_url}/channels/{cid}/webhooks", {"name": "Hooky"})
    with pointed_at(sb):
        wh = discord.Webhook.from_url(
            f"https://discord.com/api/webhooks/{hook['id']}/{hook['token']}", session=http
        )
        sent = await wh.send("from discord.py", username="Bob", wait=True)
        fetched = await wh.fetch()
    assert sent.webhook_id == int(hook["id"]) and sent.author.name == "Bob"
    assert sb.find_message(cid, str(sent.id))["content"] == "from discord.py"
    assert fetched.name == "Hooky" and fetched.channel_id == cid


# ---- invites --------------------------------------------------------------------------------


async def test_invite_routes_and_events(sb, http) -> None:
    await grant(http, sb, GRANTED)
    cid = channel_of(sb)
    gid = sb.world.guild_id(0)
    api = sb.api_url
    async with Shards(sb) as shards:
        status, inv = await call(
            http, "POST", f"{api}/channels/{cid}/invites", {"max_age": 600, "max_uses": 3}
        )
        assert status == 200 and (inv["max_age"], inv["max_uses"], inv["uses"]) == (600, 3, 0)
        assert (
            inv["channel"]["id"] == str(cid)
            and inv["guild"]["id"] == str(gid)
            and inv["expires_at"]
        )
        # Not unique: the same settings answer the same invite; unique makes a new one.
        again = (
            await call(
                http, "POST", f"{api}/channels/{cid}/invites", {"max_age": 600, "max_uses": 3}
            )
        )[1]
        assert again["code"] == inv["code"]
        fresh = (
            await call(
                http, "POST", f"{api}/channels/{cid}/invites", {"max_age": 0, "unique": True}
            )
        )[1]
        assert fresh["code"] != inv["code"] and fresh["expires_at"] is None
        codes = sorted([inv["code"], fresh["code"]])
        assert (
            sorted(i["code"] for i in (await call(http, "GET", f"{api}/channels/{cid}/invites"))[1])
            == codes
        )
        assert (
            sorted(i["code"] for i in (await call(http, "GET", f"{api}/guilds/{gid}/invites"))[1])
            == codes
        )
        status, got = await call(http, "GET", f"{api}/invites/{inv['code']}?with_counts=true")
        assert status == 200 and "uses" not in got and got["approximate_member_count"] > 0
        status, deleted = await call(http, "DELETE", f"{api}/invites/{inv['code']}")
        assert status == 200 and deleted["code"] == inv["code"]
        assert (await call(http, "GET", f"{api}/invites/{inv['code']}"))[1]["code"] == 10006
        await shards.settle()
        created = shards.only_full_got("INVITE_CREATE")
        assert [c["code"] for c in created] == [inv["code"], fresh["code"]]
        assert created[0]["max_uses"] == 3 and created[0]["guild_id"] == str(gid)
        assert shards.only_full_got("INVITE_DELETE") == [
            {"channel_id": str(cid), "guild_id": str(gid), "code": inv["code"]}
        ]
    async with http.get(f"{sb.control_url}/guilds/{gid}/state") as r:
        assert [i["code"] for i in (await r.json())["invites"]] == [fresh["code"]]


async def test_invite_refusals(sb, http) -> None:
    cid = channel_of(sb)
    gid = sb.world.guild_id(0)
    api = sb.api_url
    for body in ({"max_age": 604_801}, {"max_uses": 101}, {"max_age": -1}):
        status, got = await call(http, "POST", f"{api}/channels/{cid}/invites", body)
        assert (status, got["code"]) == (400, 50035), body
    assert (await call(http, "POST", f"{api}/channels/1/invites", {}))[1]["code"] == 10003
    assert (await call(http, "GET", f"{api}/invites/nope"))[1]["code"] == 10006
    _, inv = await call(http, "POST", f"{api}/channels/{cid}/invites", {})  # @everyone may invite
    await grant(http, sb, ["view_channel", "send_messages"])
    for method, url in [
        ("GET", f"{api}/channels/{cid}/invites"),
        ("GET", f"{api}/guilds/{gid}/invites"),
        ("DELETE", f"{api}/invites/{inv['code']}"),
    ]:
        status, got = await call(http, method, url)
        assert (status, got["code"]) == (403, 50013), url
    assert (await call(http, "GET", f"{api}/invites/{inv['code']}"))[0] == 200  # still there


# ---- polls ----------------------------------------------------------------------------------


def poll_body(**overrides: Any) -> dict[str, Any]:
    poll = {
        "question": {"text": "Best pet?"},
        "answers": [{"poll_media": {"text": t}} for t in ("cat", "dog", "fish")],
        "duration": 24.0,  # discord.py sends hours as a float
        "allow_multiselect": False,
        "layout_type": 1,
    }
    poll.update(overrides)
    return {"poll": poll}


async def vote(http, sb: Sandbox, cid: int, mid: str, user: int, answer: int, method: str = "POST"):
    url = f"{sb.control_url}/polls/{cid}/{mid}/votes"
    async with http.request(method, url, json={"user_id": user, "answer_id": answer}) as r:
        return r.status, await r.json()


async def test_poll_votes_voters_expire_and_events(sb, http) -> None:
    await grant(http, sb, GRANTED)
    cid = channel_of(sb)
    api = sb.api_url
    alice, bob = sb.world.member_ids(0)[:2]
    async with Shards(sb) as shards:
        status, msg = await call(http, "POST", f"{api}/channels/{cid}/messages", poll_body())
        assert status == 200 and [a["answer_id"] for a in msg["poll"]["answers"]] == [1, 2, 3]
        assert (
            msg["poll"]["results"] == {"is_finalized": False, "answer_counts": []}
            and msg["poll"]["expiry"]
        )
        mid = msg["id"]
        assert (await vote(http, sb, cid, mid, alice, 1))[0] == 200
        assert (await vote(http, sb, cid, mid, bob, 1))[0] == 200
        status, body = await vote(http, sb, cid, mid, bob, 2)
        assert status == 400 and "allows one answer" in body["error"]
        status, body = await vote(http, sb, cid, mid, bob, 1, "DELETE")
        assert status == 200 and body["results"]["answer_counts"] == [
            {"id": 1, "count": 1, "me_voted": False}
        ]
        assert (await vote(http, sb, cid, mid, bob, 2))[0] == 200  # after taking the vote back
        assert (await vote(http, sb, cid, mid, bob, 9))[0] == 400  # no such answer
        assert (await vote(http, sb, cid, mid, 12345, 1))[0] == 400  # not a member

        status, got = await call(http, "GET", f"{api}/channels/{cid}/polls/{mid}/answers/1")
        assert status == 200 and [u["id"] for u in got["users"]] == [str(alice)]
        status, got = await call(
            http, "GET", f"{api}/channels/{cid}/polls/{mid}/answers/1?after={alice}"
        )
        assert got["users"] == []
        status, got = await call(
            http, "GET", f"{api}/channels/{cid}/polls/{mid}/answers/1?limit=101"
        )
        assert (status, got["code"]) == (400, 50035)
        fetched = (await call(http, "GET", f"{api}/channels/{cid}/messages/{mid}"))[1]
        assert fetched["poll"]["results"]["answer_counts"] == [
            {"id": 1, "count": 1, "me_voted": False},
            {"id": 2, "count": 1, "me_voted": False},
        ]

        status, ended = await call(http, "POST", f"{api}/channels/{cid}/polls/{mid}/expire")
        assert status == 200 and ended["poll"]["results"]["is_finalized"] is True
        status, got = await call(http, "POST", f"{api}/channels/{cid}/polls/{mid}/expire")
        assert (status, got["code"]) == (400, 520001)
        status, body = await vote(http, sb, cid, mid, alice, 3)
        assert status == 400 and "ended" in body["error"]

        await shards.settle()
        adds = shards.only_full_got("MESSAGE_POLL_VOTE_ADD")
        assert [(a["user_id"], a["answer_id"]) for a in adds] == [
            (str(alice), 1),
            (str(bob), 1),
            (str(bob), 2),
        ]
        assert adds[0]["message_id"] == mid and adds[0]["guild_id"] == str(sb.world.guild_id(0))
        assert [r["answer_id"] for r in shards.only_full_got("MESSAGE_POLL_VOTE_REMOVE")] == [1]
        # The end is a MESSAGE_UPDATE, heard with GUILD_MESSAGES.
        assert [
            u["d"]["poll"]["results"]["is_finalized"]
            for u in shards.plain.dispatches("MESSAGE_UPDATE")
        ] == [True]


async def test_multiselect_poll_takes_several_answers(sb, http) -> None:
    await grant(http, sb, GRANTED)
    cid = channel_of(sb)
    _, msg = await call(
        http, "POST", f"{sb.api_url}/channels/{cid}/messages", poll_body(allow_multiselect=True)
    )
    alice = sb.world.member_ids(0)[0]
    assert (await vote(http, sb, cid, msg["id"], alice, 1))[0] == 200
    status, body = await vote(http, sb, cid, msg["id"], alice, 3)
    assert status == 200 and [c["id"] for c in body["results"]["answer_counts"]] == [1, 3]
    status, body = await vote(http, sb, cid, msg["id"], alice, 3)
    assert status == 400 and "already voted" in body["error"]


async def test_poll_refusals(sb, http) -> None:
    cid = channel_of(sb)
    api = sb.api_url
    post = f"{api}/channels/{cid}/messages"
    # The seed bot role has no Send Polls.
    status, body = await call(http, "POST", post, poll_body())
    assert (status, body["code"]) == (403, 50013)
    await grant(http, sb, GRANTED)
    cases = {
        "duration": poll_body(duration=769),
        "answers": poll_body(answers=[{"poll_media": {"text": str(i)}} for i in range(11)]),
        "question": poll_body(question={"text": "q" * 301}),
        "layout_type": poll_body(layout_type=2),
    }
    for field, body in cases.items():
        status, got = await call(http, "POST", post, body)
        assert (status, got["code"]) == (400, 50035) and field in got["errors"]["poll"], field
    status, got = await call(
        http, "POST", post, poll_body(answers=[{"poll_media": {"text": "a" * 56}}])
    )
    assert (
        got["errors"]["poll"]["answers"]["0"]["poll_media"]["text"]["_errors"][0]["code"]
        == "BASE_TYPE_MAX_LENGTH"
    )
    status, got = await call(http, "POST", post, poll_body(duration=0))
    assert got["errors"]["poll"]["duration"]["_errors"][0]["code"] == "NUMBER_TYPE_MIN"
    assert (await call(http, "POST", post, poll_body(duration=768)))[0] == 200  # 32 days is allowed

    user_msg = (await sb.inject_message(cid, "not a poll"))["id"]
    status, got = await call(http, "POST", f"{api}/channels/{cid}/polls/{user_msg}/expire")
    assert (status, got["code"]) == (400, 520006)
    status, got = await call(http, "POST", f"{api}/channels/{cid}/polls/{int(user_msg) + 1}/expire")
    assert (status, got["code"]) == (404, 10008)
    # A poll someone else posted (here through a webhook) can not be ended by the bot.
    _, hook = await call(http, "POST", f"{api}/channels/{cid}/webhooks", {"name": "Pollster"})
    status, theirs = await call(
        http, "POST", f"{api}/webhooks/{hook['id']}/{hook['token']}?wait=true", poll_body(), {}
    )
    assert status == 200 and theirs["poll"]["question"]["text"] == "Best pet?"
    status, got = await call(http, "POST", f"{api}/channels/{cid}/polls/{theirs['id']}/expire")
    assert (status, got["code"]) == (403, 50013)
    assert sb.find_message(cid, theirs["id"])["poll"]["results"]["is_finalized"] is False


async def test_users_join_through_an_invite_until_it_is_used_up(sb, http) -> None:
    cid = channel_of(sb)
    gid = sb.world.guild_id(0)
    _, inv = await call(http, "POST", f"{sb.api_url}/channels/{cid}/invites", {"max_uses": 2})
    members = set(sb.world.member_ids(0))
    newcomers = [
        u for u in (sb.world.user_id(i) for i in range(sb.world.user_pool)) if u not in members
    ]
    use = f"{sb.control_url}/invites/{inv['code']}"
    for n, uid in enumerate(newcomers[:2], start=1):
        async with http.post(use, json={"user_id": uid}) as r:
            assert r.status == 200, await r.text()
            body = await r.json()
        assert body["invite"]["uses"] == n and body["member"]["user"]["id"] == str(uid)
    async with http.post(use, json={"user_id": newcomers[1]}) as r:
        assert r.status == 404  # used up: the invite is gone
    async with http.post(use, json={"user_id": newcomers[2]}) as r:
        assert r.status == 404
    members_now = sb.server.view(gid).members
    assert newcomers[0] in members_now and newcomers[1] in members_now
    assert newcomers[2] not in members_now
    assert (await call(http, "GET", f"{sb.api_url}/invites/{inv['code']}"))[1]["code"] == 10006
    async with http.get(f"{sb.control_url}/guilds/{gid}/state") as r:
        assert (await r.json())["invites"] == []
    # An existing member can not join again.
    _, again = await call(http, "POST", f"{sb.api_url}/channels/{cid}/invites", {"unique": True})
    async with http.post(
        f"{sb.control_url}/invites/{again['code']}", json={"user_id": newcomers[0]}
    ) as r:
        assert r.status == 400 and "already a member" in (await r.json())["error"]


async def test_a_webhook_poll_needs_no_bot_permission(sb, http) -> None:
    await grant(http, sb, ["view_channel", "send_messages", "manage_webhooks"])
    cid = channel_of(sb)
    _, hook = await call(
        http, "POST", f"{sb.api_url}/channels/{cid}/webhooks", {"name": "Pollster"}
    )
    url = f"{sb.api_url}/webhooks/{hook['id']}/{hook['token']}?wait=true"
    status, msg = await call(http, "POST", url, poll_body(), {})
    assert status == 200 and msg["poll"]["answers"][2]["poll_media"]["text"] == "fish"
    status, got = await call(http, "POST", url, poll_body(duration=0), {})
    assert (status, got["code"]) == (400, 50035)  # but it is still checked
    # The bot itself, without Send Polls, is refused.
    status, got = await call(http, "POST", f"{sb.api_url}/channels/{cid}/messages", poll_body())
    assert (status, got["code"]) == (403, 50013)


async def test_a_discordpy_client_hears_webhooks_invites_and_votes(sandbox, clients, http) -> None:
    """discord.py parses every new event: each handler fires with the object it builds."""
    from ezlang.sandbox import permissions as perms

    gid = sandbox.world.guild_id(0)
    sandbox.server.set_bot_permissions(gid, perms.parse_names(GRANTED))
    rc = clients(TOKEN, intents=discord.Intents.default())  # webhooks, invites, polls included
    await rc.wait_ready()
    client = rc.client
    heard: dict[str, list[Any]] = {}

    def record(name: str) -> Any:
        async def handler(*args: Any) -> None:
            heard.setdefault(name, []).append(args)

        handler.__name__ = name
        return handler

    for name in ("on_webhooks_update", "on_invite_create", "on_invite_delete"):
        client.event(record(name))
    for name in ("on_raw_poll_vote_add", "on_raw_poll_vote_remove", "on_poll_vote_add"):
        client.event(record(name))

    guild = await wait_for(lambda: client.get_guild(gid), what="guild 0 in the cache")
    channel = guild.get_channel(channel_of(sandbox))
    hook = await channel.create_webhook(name="Hooky")
    await wait_for(lambda: heard.get("on_webhooks_update"), what="on_webhooks_update")
    assert heard["on_webhooks_update"][0][0].id == channel.id
    sent = await hook.send("via discord.py", username="Relay", wait=True)
    assert sent.webhook_id == hook.id and sent.author.name == "Relay"

    invite = await channel.create_invite(max_age=60, max_uses=1, unique=True)
    await wait_for(lambda: heard.get("on_invite_create"), what="on_invite_create")
    assert heard["on_invite_create"][0][0].code == invite.code
    assert [i.code for i in await guild.invites()] == [invite.code]
    await invite.delete()
    await wait_for(lambda: heard.get("on_invite_delete"), what="on_invite_delete")

    poll = discord.Poll("Best pet?", dt.timedelta(hours=1))
    poll.add_answer(text="cat").add_answer(text="dog")
    message = await channel.send(poll=poll)
    alice = sandbox.world.member_ids(0)[0]
    assert (await vote(http, sandbox, channel.id, str(message.id), alice, 2))[0] == 200
    await wait_for(lambda: heard.get("on_raw_poll_vote_add"), what="on_raw_poll_vote_add")
    raw = heard["on_raw_poll_vote_add"][0][0]
    assert (raw.user_id, raw.answer_id, raw.message_id) == (alice, 2, message.id)
    assert (await vote(http, sandbox, channel.id, str(message.id), alice, 2, "DELETE"))[0] == 200
    await wait_for(lambda: heard.get("on_raw_poll_vote_remove"), what="on_raw_poll_vote_remove")
    assert (await vote(http, sandbox, channel.id, str(message.id), alice, 1))[0] == 200
    voters = [
        u.id async for u in (await channel.fetch_message(message.id)).poll.answers[0].voters()
    ]
    assert voters == [alice]
    ended = await message.end_poll()
    assert ended.poll is not None and ended.poll.is_finalised()
    assert [a.vote_count for a in ended.poll.answers] == [1, 0]
