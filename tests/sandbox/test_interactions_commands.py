"""Application commands over raw REST: Discord's validation (50035 with the field path),
global and guild scopes, create/edit/delete, and the bulk-overwrite count."""

from __future__ import annotations

import aiohttp
import pytest

from ezlang.sandbox import Sandbox

TOKEN = "sandbox-token"
AUTH = {"Authorization": f"Bot {TOKEN}"}


@pytest.fixture
async def sb():
    async with Sandbox(guilds=10, identify_window=0.2) as sandbox:
        yield sandbox


@pytest.fixture
async def http():
    async with aiohttp.ClientSession() as session:
        yield session


async def call(http, method, url, body=None, headers=AUTH):
    async with http.request(method, url, json=body, headers=headers) as r:
        return r.status, (await r.json(content_type=None) if r.status != 204 else None)


def base(sb: Sandbox, guild_id: int | None = None) -> str:
    app = sb.world.application_id
    if guild_id is None:
        return f"{sb.api_url}/applications/{app}/commands"
    return f"{sb.api_url}/applications/{app}/guilds/{guild_id}/commands"


PING = {"name": "ping", "description": "Replies with pong"}
POLL = {
    "name": "poll",
    "description": "Polls",
    "options": [
        {
            "type": 1,
            "name": "create",
            "description": "Start a poll",
            "options": [
                {"type": 3, "name": "question", "description": "What to ask", "required": True},
                {"type": 4, "name": "minutes", "description": "How long", "min_value": 1},
            ],
        },
        {"type": 1, "name": "close", "description": "End the poll"},
    ],
}


def _codes(errors: dict) -> list[str]:
    return [e["code"] for e in errors["_errors"]]


async def test_bulk_overwrite_keeps_ids_and_counts_overwrites(sb, http):
    status, cmds = await call(http, "PUT", base(sb), [PING, POLL])
    assert status == 200 and [c["name"] for c in cmds] == ["ping", "poll"]
    ping = cmds[0]
    assert ping["application_id"] == str(sb.world.application_id)
    assert ping["type"] == 1 and ping["options"] == [] and "guild_id" not in ping
    assert cmds[1]["options"][0]["options"][1]["required"] is False
    status, again = await call(http, "PUT", base(sb), [PING])
    assert status == 200 and again[0]["id"] == ping["id"]  # same name and type: same id
    status, listed = await call(http, "GET", base(sb))
    assert [c["name"] for c in listed] == ["ping"]
    assert sb.app_commands.overwrites == 2
    async with http.get(sb.control_url + "/commands") as r:
        snap = await r.json()
    assert snap["overwrites"] == 2 and [c["name"] for c in snap["global"]] == ["ping"]
    assert snap["guilds"] == {}


async def test_guild_commands_create_get_edit_delete(sb, http):
    gid = sb.world.guild_id(3)
    status, cmd = await call(http, "POST", base(sb, gid), PING)
    assert status == 201 and cmd["guild_id"] == str(gid)
    status, same = await call(http, "POST", base(sb, gid), {**PING, "description": "v2"})
    assert status == 200 and same["id"] == cmd["id"] and same["description"] == "v2"
    status, got = await call(http, "GET", f"{base(sb, gid)}/{cmd['id']}")
    assert status == 200 and got["description"] == "v2"
    status, edited = await call(http, "PATCH", f"{base(sb, gid)}/{cmd['id']}", {"name": "pong"})
    assert status == 200 and edited["name"] == "pong" and edited["id"] == cmd["id"]
    status, err = await call(http, "PATCH", f"{base(sb, gid)}/{cmd['id']}", {"name": "Pong"})
    assert status == 400 and err["code"] == 50035 and "name" in err["errors"]
    status, _ = await call(http, "DELETE", f"{base(sb, gid)}/{cmd['id']}")
    assert status == 204
    status, err = await call(http, "GET", f"{base(sb, gid)}/{cmd['id']}")
    assert status == 404 and err["code"] == 10063
    status, err = await call(http, "GET", base(sb, 12345 << 22))
    assert status == 404 and err["code"] == 10004
    status, err = await call(http, "GET", f"{sb.api_url}/applications/42/commands")
    assert status == 403 and err["code"] == 50001
    status, _ = await call(http, "GET", base(sb), headers={"Authorization": "Bot wrong"})
    assert status == 401
    assert (
        sb.app_commands.overwrites == 0 and sb.app_commands.writes == 4
    )  # 2 creates, edit, delete


@pytest.mark.parametrize(
    ("body", "path", "code"),
    [
        ({"name": "Ping", "description": "x"}, ["name"], "APPLICATION_COMMAND_INVALID_NAME"),
        ({"name": "has space", "description": "x"}, ["name"], "APPLICATION_COMMAND_INVALID_NAME"),
        ({"name": "x" * 33, "description": "x"}, ["name"], "APPLICATION_COMMAND_INVALID_NAME"),
        ({"name": "ping", "description": ""}, ["description"], "BASE_TYPE_BAD_LENGTH"),
        ({"name": "ping", "description": "d" * 101}, ["description"], "BASE_TYPE_BAD_LENGTH"),
        ({"name": "ping"}, ["description"], "BASE_TYPE_REQUIRED"),
        (
            {"name": "p", "description": "d",
             "options": [{"type": 12, "name": "a", "description": "d"}]},
            ["options", "0", "type"], "BASE_TYPE_CHOICES",
        ),
        (
            {"name": "p", "description": "d",
             "options": [{"type": 3, "name": "a", "description": "d"},
                         {"type": 3, "name": "b", "description": "d", "required": True}]},
            ["options", "1", "required"], "APPLICATION_COMMAND_OPTIONS_REQUIRED_INVALID",
        ),
        (
            {"name": "p", "description": "d",
             "options": [{"type": 3, "name": f"o{i}", "description": "d"} for i in range(26)]},
            ["options"], "BASE_TYPE_MAX_LENGTH",
        ),
        (
            {"name": "p", "description": "d",
             "options": [{"type": 3, "name": "a", "description": "d",
                          "choices": [{"name": f"c{i}", "value": f"v{i}"} for i in range(26)]}]},
            ["options", "0", "choices"], "BASE_TYPE_MAX_LENGTH",
        ),
        (
            {"name": "p", "description": "d",
             "options": [{"type": 5, "name": "a", "description": "d",
                          "choices": [{"name": "x", "value": "y"}]}]},
            ["options", "0", "choices"], "APPLICATION_COMMAND_OPTION_CHOICES_INVALID",
        ),
        (
            {"name": "p", "description": "d",
             "options": [{"type": 1, "name": "s", "description": "d"},
                         {"type": 3, "name": "a", "description": "d"}]},
            ["options"], "APPLICATION_COMMAND_OPTIONS_TYPE_INVALID",
        ),
        (
            {"name": "p", "description": "d",
             "options": [{"type": 3, "name": "A", "description": "d"}]},
            ["options", "0", "name"], "APPLICATION_COMMAND_INVALID_NAME",
        ),
        (
            {"type": 2, "name": "User Info", "description": "not allowed"},
            ["description"], "APPLICATION_COMMAND_CONTEXT_MENU_DESCRIPTION",
        ),
    ],
)  # fmt: skip
async def test_validation_names_the_field(sb, http, body, path, code):
    status, err = await call(http, "POST", base(sb), body)
    assert status == 400 and err["code"] == 50035 and err["message"] == "Invalid Form Body"
    node = err["errors"]
    for key in path:
        node = node[key]
    assert code in _codes(node)
    # In a bulk overwrite the same error sits under the command's index.
    status, err = await call(http, "PUT", base(sb), [PING, body])
    node = err["errors"]["1"]
    for key in path:
        node = node[key]
    assert status == 400 and code in _codes(node)
    assert sb.app_commands.global_commands == [] and sb.app_commands.overwrites == 0


async def test_context_menus_unicode_names_and_duplicates(sb, http):
    user_cmd = {"type": 2, "name": "User Info"}
    msg_cmd = {"type": 3, "name": "Quote this", "description": ""}
    status, cmds = await call(
        http, "PUT", base(sb), [PING, user_cmd, msg_cmd, {"name": "café-über", "description": "d"}]
    )
    assert status == 200, cmds
    assert [c["type"] for c in cmds] == [1, 2, 3, 1]
    status, err = await call(http, "PUT", base(sb), [PING, PING])
    assert status == 400 and "APPLICATION_COMMANDS_DUPLICATE_NAME" in _codes(
        err["errors"]["1"]["name"]
    )
    # The same name with another type is not a duplicate.
    status, _ = await call(http, "PUT", base(sb), [PING, {"type": 2, "name": "ping"}])
    assert status == 200
