"""Interactions over the raw protocol: a gateway client written from Discord's docs
receives INTERACTION_CREATE and answers with plain HTTP, as a bot would; a user acts
through the control API (``POST /_sandbox/interactions``)."""

from __future__ import annotations

import asyncio
import io
from typing import Any

import aiohttp
import pytest

from ezlang.sandbox import Sandbox

from .rawclient import RawGateway

TOKEN = "sandbox-token"
AUTH = {"Authorization": f"Bot {TOKEN}"}
INTENTS = 1 | 1 << 9 | 1 << 15

COMMANDS = [
    {"name": "ping", "description": "Pong"},
    {
        "name": "poll",
        "description": "Polls",
        "options": [
            {"type": 1, "name": "create", "description": "Start one", "options": [
                {"type": 3, "name": "question", "description": "q", "required": True},
                {"type": 4, "name": "minutes", "description": "m", "min_value": 1, "max_value": 60},
                {"type": 5, "name": "anonymous", "description": "a"},
                {"type": 6, "name": "user", "description": "u"},
                {"type": 7, "name": "channel", "description": "c"},
                {"type": 8, "name": "role", "description": "r"},
                {"type": 9, "name": "who", "description": "w"},
                {"type": 10, "name": "weight", "description": "n"},
                {"type": 11, "name": "file", "description": "f"},
            ]},
            {"type": 2, "name": "admin", "description": "Admin", "options": [
                {"type": 1, "name": "reset", "description": "Reset"}]},
        ],
    },
    {"name": "fruit", "description": "Pick a fruit", "options": [
        {"type": 3, "name": "name", "description": "n", "autocomplete": True, "required": True}]},
    {"type": 2, "name": "User Info"},
    {"type": 3, "name": "Quote"},
]  # fmt: skip


@pytest.fixture
async def world():
    """A sandbox with 2 raw shards connected and the commands registered."""
    # The activity log is on, so every test also runs its interaction lines.
    async with Sandbox(guilds=20, identify_window=0.2, max_concurrency=2, log=io.StringIO()) as sb:
        gws = []
        async with aiohttp.ClientSession() as http:
            for shard in (0, 1):
                gw = await RawGateway.connect(sb.gateway_url)
                gw.start_heartbeating()
                await gw.identify(TOKEN, shard=[shard, 2], intents=INTENTS)
                await gw.next(t="READY")
                gws.append(gw)
            url = f"{sb.api_url}/applications/{sb.world.application_id}/commands"
            async with http.put(url, json=COMMANDS, headers=AUTH) as r:
                assert r.status == 200, await r.text()
            try:
                yield sb, gws, http
            finally:
                for gw in gws:
                    await gw.close()


def channel_of(sb: Sandbox, shard: int, n: int = 0) -> str:
    return sb.guilds_for_shard(shard, 2)[n]["text_channel_ids"][0]


async def control(http, sb, body) -> tuple[int, dict[str, Any]]:
    async with http.post(sb.control_url + "/interactions", json=body) as r:
        return r.status, await r.json()


async def callback(http, sb, d, body, with_response=True) -> tuple[int, Any]:
    url = f"{sb.api_url}/interactions/{d['id']}/{d['token']}/callback"
    params = {"with_response": "true"} if with_response else {}
    async with http.post(url, json=body, params=params) as r:
        return r.status, (await r.json() if r.status != 204 else None)


async def webhook(http, sb, d, method, suffix="", body=None, params=None) -> tuple[int, Any]:
    url = f"{sb.api_url}/webhooks/{sb.world.application_id}/{d['token']}{suffix}"
    async with http.request(method, url, json=body, params=params) as r:
        return r.status, (await r.json() if r.status != 204 else None)


async def act(http, sb, gw, body, respond=None):
    """The user acts (control API) while the 'bot' takes the INTERACTION_CREATE and
    answers with ``respond`` (a callback body). Returns (control answer, payload d, callback)."""
    task = asyncio.create_task(control(http, sb, body))
    got = asyncio.create_task(gw.next(t="INTERACTION_CREATE"))
    await asyncio.wait([task, got], return_when=asyncio.FIRST_COMPLETED)
    if not got.done():
        status, answer = await task
        if status != 200:  # the control API refused: show why
            got.cancel()
            raise AssertionError(f"no INTERACTION_CREATE: {answer}")
    d = (await got)["d"]
    cb = await callback(http, sb, d, respond) if respond is not None else None
    status, answer = await task
    assert status == 200, answer
    return answer, d, cb


async def test_slash_command_goes_to_the_guild_shard_with_discords_payload(world):
    sb, gws, http = world
    cid = channel_of(sb, 1)
    answer, d, cb = await act(
        http, sb, gws[1], {"channel_id": cid, "kind": "command", "name": "ping"},
        {"type": 4, "data": {"content": "Pong!", "components": [{"type": 1, "components": [
            {"type": 2, "style": 1, "label": "Again", "custom_id": "again"}]}]}},
    )  # fmt: skip
    assert gws[0].dispatches("INTERACTION_CREATE") == []  # only the guild's shard
    assert d["type"] == 2 and d["data"]["name"] == "ping" and d["data"]["type"] == 1
    assert d["version"] == 1 and d["application_id"] == str(sb.world.application_id)
    assert d["channel_id"] == cid and d["channel"]["id"] == cid and d["guild_id"]
    assert d["member"]["user"]["id"] and int(d["member"]["permissions"]) > 0
    assert d["app_permissions"] and d["locale"] == "en-US" and d["guild_locale"] == "en-US"
    assert "user" not in d and d["token"] and d["attachment_size_limit"] > 0
    assert cb[0] == 200 and cb[1]["resource"]["type"] == 4
    msg = cb[1]["resource"]["message"]
    assert answer["shard"] == 1 and answer["delivered"] and not answer["failed"]
    assert answer["response"]["type"] == 4 and answer["message_id"] == msg["id"]
    assert 0 <= answer["latency_ms"] < 3000
    created = await gws[1].next(t="MESSAGE_CREATE")
    assert created["d"]["id"] == msg["id"] and created["d"]["type"] == 20
    assert created["d"]["interaction_metadata"]["id"] == d["id"]
    assert created["d"]["components"][0]["components"][0]["custom_id"] == "again"
    # Clicking the button: a component interaction carrying the message; type 7 updates it.
    click, d2, cb2 = await act(
        http, sb, gws[1],
        {"channel_id": cid, "kind": "component", "message_id": msg["id"], "custom_id": "again"},
        {"type": 7, "data": {"content": "Pong again", "components": []}},
    )  # fmt: skip
    assert d2["type"] == 3 and d2["data"] == {"custom_id": "again", "component_type": 2}
    assert d2["message"]["id"] == msg["id"]
    assert click["message_id"] == msg["id"] and click["response"]["type"] == 7
    updated = await gws[1].next(t="MESSAGE_UPDATE")
    assert updated["d"]["content"] == "Pong again" and updated["d"]["components"] == []
    assert sb.bot_messages(cid)[-1]["content"] == "Pong again"


async def test_every_option_type_subcommands_and_resolved(world):
    sb, gws, http = world
    g = sb.guilds_for_shard(0, 2)[1]
    cid, gid = g["text_channel_ids"][0], int(g["id"])
    other = g["member_ids"][1]
    role = str(gid | 33)
    options = {"question": "Tea?", "minutes": 5, "anonymous": True, "user": other,
               "channel": cid, "role": role, "who": role, "weight": 1.5,
               "file": {"filename": "a.png", "size": 10, "content_type": "image/png"}}  # fmt: skip
    answer, d, _ = await act(
        http, sb, gws[0],
        {"channel_id": cid, "name": "poll create", "options": options},
        {"type": 4, "data": {"content": "ok"}},
    )  # fmt: skip
    (sub,) = d["data"]["options"]
    assert sub["name"] == "create" and sub["type"] == 1
    got = {o["name"]: (o["type"], o["value"]) for o in sub["options"]}
    assert got["question"] == (3, "Tea?") and got["minutes"] == (4, 5)
    assert got["anonymous"] == (5, True) and got["weight"] == (10, 1.5)
    assert got["user"] == (6, other) and got["channel"] == (7, cid) and got["role"] == (8, role)
    res = d["data"]["resolved"]
    assert res["users"][other]["id"] == other and "permissions" in res["members"][other]
    assert res["channels"][cid]["name"] == "general" and res["roles"][role]["id"] == role
    (att,) = res["attachments"].values()
    assert att["filename"] == "a.png" and got["file"] == (11, att["id"])
    # A subcommand group, and refusals a Discord client would not let through.
    _, d, _ = await act(http, sb, gws[0], {"channel_id": cid, "name": "poll admin reset"},
                        {"type": 5})  # fmt: skip
    assert d["data"]["options"] == [{"name": "admin", "type": 2, "options": [
        {"name": "reset", "type": 1, "options": []}]}]  # fmt: skip
    for body, words in [
        ({"name": "poll"}, "needs a subcommand"),
        ({"name": "poll create"}, "needs the option(s) question"),
        ({"name": "poll create", "options": {"question": "x", "minutes": 0}}, "out of its bounds"),
        ({"name": "poll create", "options": {"question": 3}}, "can not take"),
        ({"name": "poll create", "options": {"question": "x", "nope": 1}}, "has no option 'nope'"),
        ({"name": "nope"}, "no command named 'nope'"),
        ({"name": "poll create", "options": {"question": "x", "role": "1"}}, "no such role"),
    ]:
        status, err = await control(http, sb, {"channel_id": cid, **body})
        assert status == 400 and words in err["error"], (body, err)


async def test_second_response_is_40060_and_wrong_types_are_refused(world):
    sb, gws, http = world
    cid = channel_of(sb, 0)
    # wait 0: the control API answers at once (the bot answers below, within the window).
    answer, d, cb = await act(http, sb, gws[0], {"channel_id": cid, "name": "ping", "wait": 0},
                              {"type": 1})  # PONG is for HTTP pings only  # fmt: skip
    assert cb[0] == 400 and cb[1]["code"] == 50035 and "type" in cb[1]["errors"]
    assert answer["state"] == "pending" and answer["response"] is None
    status, body = await webhook(http, sb, d, "POST", body={"content": "too early"})
    assert status == 404 and body["code"] == 10015  # no follow-up before the response
    status, body = await callback(http, sb, d, {"type": 8, "data": {"choices": []}})
    assert status == 400 and body["code"] == 50035
    status, body = await callback(http, sb, d, {"type": 4, "data": {"content": "x" * 2001}})
    assert status == 400 and "content" in body["errors"]["data"]
    status, body = await callback(http, sb, d, {"type": 4, "data": {}})
    assert status == 400 and body["code"] == 50006
    status, body = await callback(http, sb, d, {"type": 4, "data": {"components": [
        {"type": 1, "components": [{"type": 2, "style": 1, "label": "b", "custom_id": "x" * 101}]}]}})  # fmt: skip
    assert status == 400
    assert "custom_id" in body["errors"]["data"]["components"]["0"]["components"]["0"]
    status, body = await callback(http, sb, d, {"type": 4, "data": {"content": "fine"}}, False)
    assert status == 204
    status, body = await callback(http, sb, d, {"type": 4, "data": {"content": "again"}})
    assert status == 400 and body == {
        "message": "Interaction has already been acknowledged.", "code": 40060}  # fmt: skip
    status, body = await callback(http, sb, {"id": d["id"], "token": "wrong"}, {"type": 5})
    assert status == 404 and body["code"] == 10062
    summary = await sb.interactions.wait(d["id"])
    assert summary["response"]["data"]["content"] == "fine" and summary["state"] == "responded"


async def test_a_response_after_three_seconds_is_10062_and_the_interaction_failed(world):
    """The real 3-second window (the default), waited for once."""
    sb, gws, http = world
    cid = channel_of(sb, 0)
    answer, d, _ = await act(http, sb, gws[0], {"channel_id": cid, "name": "ping", "wait": 3.5})
    assert answer["failed"] is True and answer["state"] == "failed" and answer["response"] is None
    status, body = await callback(http, sb, d, {"type": 4, "data": {"content": "too late"}})
    assert status == 404 and body == {"message": "Unknown interaction", "code": 10062}
    status, body = await webhook(http, sb, d, "POST", body={"content": "late follow-up"})
    assert status == 404 and body["code"] == 10015
    assert sb.interactions.failed == 1 and sb.bot_messages(cid) == []


async def test_deferred_then_follow_ups_and_original_get_edit_delete(world):
    sb, gws, http = world
    cid = channel_of(sb, 0, 2)
    answer, d, cb = await act(http, sb, gws[0], {"channel_id": cid, "name": "ping"}, {"type": 5})
    assert cb[1]["interaction"]["response_message_loading"] is True
    thinking = cb[1]["resource"]["message"]
    assert thinking["flags"] & 128 and answer["message_id"] == thinking["id"]
    # The first follow-up after a deferred message replaces the "thinking…" message.
    status, first = await webhook(
        http, sb, d, "POST", body={"content": "done"}, params={"wait": "true"}
    )
    assert status == 200 and first["id"] == thinking["id"] and not first["flags"] & 128
    status, second = await webhook(
        http, sb, d, "POST", body={"content": "more"}, params={"wait": "true"}
    )
    assert status == 200 and second["id"] != thinking["id"]
    status, _ = await webhook(http, sb, d, "POST", body={"content": "quiet", "flags": 64})
    assert status == 204
    summary = await sb.interactions.wait(d["id"], followups=3)
    assert [m["content"] for m in summary["followups"]] == ["done", "more", "quiet"]
    assert [m["content"] for m in sb.bot_messages(cid)] == ["done", "more"]  # ephemeral: unseen
    status, got = await webhook(http, sb, d, "GET", "/messages/@original")
    assert status == 200 and got["content"] == "done"
    status, edited = await webhook(
        http, sb, d, "PATCH", "/messages/@original", {"content": "edited"}
    )
    assert status == 200 and edited["content"] == "edited"
    status, edited2 = await webhook(
        http, sb, d, "PATCH", f"/messages/{second['id']}", {"content": "m2"}
    )
    assert status == 200 and edited2["content"] == "m2"
    status, err = await webhook(
        http, sb, d, "PATCH", "/messages/@original", {"content": "x" * 2001}
    )
    assert status == 400 and err["code"] == 50035
    status, _ = await webhook(http, sb, d, "DELETE", "/messages/@original")
    assert status == 204
    status, err = await webhook(http, sb, d, "GET", "/messages/@original")
    assert status == 404 and err["code"] == 10008
    assert [m["content"] for m in sb.bot_messages(cid)] == ["m2"]
    async with http.get(f"{sb.control_url}/interactions/{d['id']}") as r:
        view = await r.json()
    assert view["message_id"] == thinking["id"] and len(view["followups"]) == 2


async def test_token_expires_after_its_lifetime():
    async with Sandbox(guilds=2, interaction_token_ttl=0.3) as sb, aiohttp.ClientSession() as http:
        gw = await RawGateway.connect(sb.gateway_url)
        try:
            gw.start_heartbeating()
            await gw.identify(TOKEN, intents=INTENTS)
            await gw.next(t="READY")
            url = f"{sb.api_url}/applications/{sb.world.application_id}/commands"
            async with http.put(url, json=COMMANDS[:1], headers=AUTH) as r:
                assert r.status == 200
            cid = sb.guilds_for_shard(0, 1)[0]["text_channel_ids"][0]
            _, d, cb = await act(http, sb, gw, {"channel_id": cid, "name": "ping"}, {"type": 5})
            assert cb[0] == 200
            status, _ = await webhook(http, sb, d, "GET", "/messages/@original")
            assert status == 200
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 5
            while True:  # poll until the token has expired (0.3 s here, 15 minutes by default)
                status, body = await webhook(http, sb, d, "POST", body={"content": "hi"})
                if status == 401 or loop.time() > deadline:
                    break
                await asyncio.sleep(0.05)
            assert status == 401 and body == {"message": "Invalid Webhook Token", "code": 50027}
        finally:
            await gw.close()


async def test_component_clicks_are_refused_when_discord_would_not_send_them(world):
    sb, gws, http = world
    cid = channel_of(sb, 0)
    user_msg = await sb.inject_message(cid, "a user's message")
    row = [{"type": 2, "style": 1, "label": "ok", "custom_id": "ok"},
           {"type": 2, "style": 4, "label": "off", "custom_id": "off", "disabled": True},
           {"type": 2, "style": 5, "label": "site", "url": "https://example.com"}]  # fmt: skip
    select = {"type": 3, "custom_id": "pick", "max_values": 2,
              "options": [{"label": "A", "value": "a"}, {"label": "B", "value": "b"}]}  # fmt: skip
    users = {"type": 5, "custom_id": "users"}
    async with http.post(f"{sb.api_url}/channels/{cid}/messages", headers=AUTH, json={
        "content": "menu", "components": [{"type": 1, "components": row},
                                          {"type": 1, "components": [select]},
                                          {"type": 1, "components": [users]}]}) as r:  # fmt: skip
        assert r.status == 200
        msg = await r.json()
    assert msg["components"][1]["components"][0]["custom_id"] == "pick"
    base = {"channel_id": cid, "kind": "component", "message_id": msg["id"]}
    for body, status, words in [
        ({**base, "message_id": user_msg["id"], "custom_id": "ok"}, 400, "not sent by the bot"),
        ({**base, "custom_id": "nope"}, 400, "no component with custom_id 'nope'"),
        ({**base, "custom_id": "off"}, 400, "is disabled"),
        ({**base, "message_id": "1", "custom_id": "ok"}, 404, "unknown message"),
        ({**base, "custom_id": "pick", "values": ["c"]}, 400, "has no option(s) ['c']"),
        ({**base, "custom_id": "pick", "values": ["a", "b", "a"]}, 400, "takes 1 to 2"),
        ({**base, "custom_id": "pick"}, 400, "values (a list) is required"),
        ({**base, "custom_id": "users", "values": ["1"]}, 400, "not a valid choice"),
    ]:
        got_status, err = await control(http, sb, body)
        assert got_status == status and words in err["error"], (body, err)
    assert gws[0].dispatches("INTERACTION_CREATE") == []  # nothing refused reached the bot
    member = sb.guilds_for_shard(0, 2)[0]["member_ids"][2]
    answer, d, _ = await act(http, sb, gws[0], {**base, "custom_id": "users", "values": [member]},
                             {"type": 6})  # fmt: skip
    assert d["data"]["component_type"] == 5 and d["data"]["values"] == [member]
    assert d["data"]["resolved"]["users"][member]["id"] == member
    assert answer["response"]["type"] == 6 and answer["message_id"] == msg["id"]
    # Bad components in a plain message are refused with the field path.
    six = [{"type": 1, "components": [{"type": 2, "style": 1, "label": "x", "custom_id": f"b{i}"}]}
           for i in range(6)]  # fmt: skip
    async with http.post(f"{sb.api_url}/channels/{cid}/messages", headers=AUTH,
                         json={"components": six}) as r:  # fmt: skip
        assert r.status == 400 and "components" in (await r.json())["errors"]


async def test_autocomplete_and_context_menus(world):
    sb, gws, http = world
    g = sb.guilds_for_shard(1, 2)[0]
    cid = g["text_channel_ids"][0]
    task = asyncio.create_task(control(http, sb, {"channel_id": cid, "kind": "autocomplete",
                                                  "name": "fruit", "options": {"name": "ap"}}))  # fmt: skip
    d = (await gws[1].next(t="INTERACTION_CREATE"))["d"]
    assert d["type"] == 4
    assert d["data"]["options"] == [{"name": "name", "type": 3, "value": "ap", "focused": True}]
    too_many = [{"name": f"f{i}", "value": f"f{i}"} for i in range(26)]
    status, err = await callback(http, sb, d, {"type": 8, "data": {"choices": too_many}})
    assert status == 400 and "choices" in err["errors"]["data"]
    status, _ = await callback(http, sb, d, {"type": 4, "data": {"content": "no"}})
    assert status == 400
    status, _ = await callback(http, sb, d, {"type": 8, "data": {"choices": too_many[:25]}})
    assert status == 200
    answer = (await task)[1]
    assert answer["response"]["type"] == 8 and len(answer["response"]["data"]["choices"]) == 25
    target = g["member_ids"][3]
    _, d, _ = await act(http, sb, gws[1], {"channel_id": cid, "kind": "user_command",
                                           "name": "User Info", "target_id": target},
                        {"type": 4, "data": {"content": "info", "flags": 64}})  # fmt: skip
    assert d["data"]["type"] == 2 and d["data"]["target_id"] == target
    assert d["data"]["resolved"]["users"][target]["id"] == target
    said = await sb.inject_message(cid, "quote me")
    answer, d, _ = await act(http, sb, gws[1], {"channel_id": cid, "kind": "message_command",
                                                "name": "Quote", "target_id": said["id"]},
                             {"type": 4, "data": {"content": "quoted"}})  # fmt: skip
    assert (
        d["data"]["type"] == 3
        and d["data"]["resolved"]["messages"][said["id"]]["content"] == "quote me"
    )
    assert sb.find_message(int(cid), answer["message_id"])["type"] == 23


async def test_modal_round_trip(world):
    sb, gws, http = world
    cid = channel_of(sb, 0, 3)
    modal = {"custom_id": "form", "title": "Tell me", "components": [
        {"type": 1, "components": [{"type": 4, "custom_id": "name", "label": "Name", "style": 1}]},
        {"type": 18, "label": "About", "component": {"type": 4, "custom_id": "about", "style": 2,
                                                     "required": False}},
    ]}  # fmt: skip
    answer, d, cb = await act(http, sb, gws[0], {"channel_id": cid, "name": "ping"},
                              {"type": 9, "data": modal})  # fmt: skip
    assert cb[0] == 200 and answer["response"]["type"] == 9
    user = d["member"]["user"]["id"]
    status, err = await control(
        http, sb, {"channel_id": cid, "kind": "modal", "custom_id": "other"}
    )
    assert status == 400 and "has not shown" in err["error"]
    status, err = await control(http, sb, {"channel_id": cid, "kind": "modal", "custom_id": "form",
                                           "fields": {"about": "x"}})  # fmt: skip
    assert status == 400 and "'name' is required" in err["error"]
    answer, d2, _ = await act(http, sb, gws[0], {"channel_id": cid, "kind": "modal", "custom_id": "form",
                                                 "user_id": user, "fields": {"name": "Ada"}},
                              {"type": 4, "data": {"content": "thanks Ada"}})  # fmt: skip
    assert d2["type"] == 5 and d2["data"]["custom_id"] == "form"
    assert d2["data"]["components"] == [
        {"type": 1, "components": [{"type": 4, "custom_id": "name", "value": "Ada"}]},
        {"type": 18, "component": {"type": 4, "custom_id": "about", "value": ""}},
    ]
    assert answer["response"]["data"]["content"] == "thanks Ada"
    status, err = await control(http, sb, {"channel_id": cid, "kind": "modal", "custom_id": "form",
                                           "fields": {"name": "again"}})  # fmt: skip
    assert status == 400  # a modal is submitted once
    bad = {**modal, "title": "t" * 46}
    _, d3, cb3 = await act(
        http, sb, gws[0], {"channel_id": cid, "name": "ping"}, {"type": 9, "data": bad}
    )
    assert cb3[0] == 400 and "title" in cb3[1]["errors"]["data"]


async def test_dm_interactions_go_to_shard_zero_with_user(world):
    sb, gws, http = world
    uid = str(sb.world.user_id(7))
    answer, d, cb = await act(http, sb, gws[0], {"dm": True, "user_id": uid, "name": "ping"},
                              {"type": 4, "data": {"content": "hi in DM"}})  # fmt: skip
    assert "guild_id" not in d and "member" not in d and d["user"]["id"] == uid
    assert d["channel"]["type"] == 1 and d["context"] == 1
    assert answer["shard"] == 0 and cb[0] == 200
    assert answer["message"]["content"] == "hi in DM" and "guild_id" not in answer["message"]
    log = sb.log.out.getvalue()  # type: ignore[union-attr]
    assert f"interaction in: {d['user']['username']} used /ping in channel" in log
    assert "(→ shard 0/2)" in log and 'the bot answered with a message: "hi in DM"' in log
