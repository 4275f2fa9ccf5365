"""Users in interactions are members in a server: a user option, a user command's target and
``i.member`` carry ``guild_id``, ``roles`` and ``nick`` (the object ``fetch_member`` returns),
so moderation builtins take them as they are — and a user option in a DM stays a user, which
a moderation builtin refuses in words. Driven through the sandbox's control API."""

from __future__ import annotations

import json
from typing import Any

import pytest

from .conftest import Control, wait_until
from .server import guild_state, member_state, start_bot

pytestmark = pytest.mark.timeout(120)

BOT = """on_ready(func(client) { print("ready") })
slash_command("rename", "Renames a member", {options: [
    {name: "user", type: "user", description: "who", required: true}]}, func(i) {
    print("option " + json_stringify(i.options.user))
    if i.member != null {
        print("member " + json_stringify(i.member))
        print("admin " + has_permission(i.options.user, "administrator") + " " + has_permission(i.member, "Administrator"))
    }
    try {
        let m = set_nickname(i.options.user, "Renamed")
        interaction_reply(i, "nick " + m.nick)
    } catch err {
        interaction_reply(i, err.kind + ": " + err.message)
    }
})
user_command("Kick", func(i) {
    kick_member(i.target, "from the menu")
    interaction_reply(i, "kicked " + i.target.id + " of " + i.target.guild_id)
})
bot_start()
"""


async def _printed(bot: Any, prefix: str, nth: int = 1) -> Any:
    """The ``nth`` line the bot printed starting with ``prefix``, its JSON read."""

    def lines() -> list[str] | None:
        found = [x for x in bot.out if x.startswith(prefix + " ")]
        return found if len(found) >= nth else None

    line = (await wait_until(lines, what=f"{prefix} line {nth}"))[nth - 1]
    return json.loads(line[len(prefix) + 1 :])


async def test_interaction_users_are_members_moderation_takes(
    sandbox: Any, control: Control, ezlang_run: Any
) -> None:
    bot, channel, guild = await start_bot(BOT, sandbox, control, ezlang_run)
    await wait_until(lambda: len(sandbox.app_commands.snapshot()["global"]) == 2, what="commands")
    owner, alice, bob = (str(u) for u in sandbox.world.member_ids(0)[:3])
    assert (await member_state(control, guild, alice))["nick"] is None

    # A user option in a server: the member, used directly by set_nickname.
    answer = await control.post(
        "/interactions",
        {"channel_id": channel, "name": "rename", "user_id": owner, "options": {"user": alice}},
    )
    assert answer["response"]["data"]["content"] == "nick Renamed", answer
    assert (await member_state(control, guild, alice))["nick"] == "Renamed"
    option = await _printed(bot, "option")
    assert option["id"] == alice and option["guild_id"] == guild
    assert option["roles"] == (await member_state(control, guild, alice))["roles"]
    assert option["nick"] is None  # as Discord resolved it, before the rename
    assert set(option) >= {"username", "joined_at", "timed_out_until", "permissions"}
    # i.member: the moderator, in the same shape.
    me = await _printed(bot, "member")
    assert me["id"] == owner and me["guild_id"] == guild and "roles" in me
    assert int(me["permissions"]) & 8  # the owner: administrator, as Discord computed it
    # has_permission reads a user option's own value, as it reads i.member's.
    await bot.wait_line("^admin false true$")

    # A user command's target: kicked without fetch_member().
    assert bob in {m["user_id"] for m in (await guild_state(control, guild))["members"]}
    kick = await control.post(
        "/interactions",
        {"channel_id": channel, "kind": "user_command", "name": "Kick", "target_id": bob},
    )
    assert kick["response"]["data"]["content"] == f"kicked {bob} of {guild}", kick
    assert bob not in {m["user_id"] for m in (await guild_state(control, guild))["members"]}

    # In a DM there is no server: the option is a user, and set_nickname says so.
    dm = await control.post(
        "/interactions",
        {"dm": True, "name": "rename", "user_id": owner, "options": {"user": alice}},
    )
    said = dm["response"]["data"]["content"]
    assert said.startswith("TypeError: set_nickname() needs a member of a server"), said
    assert "fetch_member(guild_id, user.id)" in said
    assert "guild_id" not in await _printed(bot, "option", 2)
    assert "Traceback" not in bot.stderr
