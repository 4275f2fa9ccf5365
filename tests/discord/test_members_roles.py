"""Role and member builtins: a real ``ezlang run`` of a bot against the sandbox.

The owner types commands through the control API; the bot creates, edits, orders and
deletes a role, gives and takes it, renames a member; the test checks each change in the
sandbox's server state (``GET {control}/guilds/{id}/state``) and each refusal (a missing
permission, the role hierarchy naming both roles, a role icon without boosts) as a
DiscordError that says what to fix.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from .conftest import Control, wait_until
from .server import as_owner, member_state, start_bot

BOT = """set_intents(["guilds", "guild_messages", "message_content", "members"])
let made = null
on_ready(func(client) { print("ready") })
on_message(func(message) {
    if message.author.bot { return }
    let w = split(message.content, " ")
    try {
        if w[0] == "!mkrole" {
            made = create_role(message.guild_id, "Helpers", {color: "#00ff00", permissions: ["ViewChannel", "Send Messages"], hoist: true})
            print("made " + made.id + " " + made.name + " " + made.color + " " + made.position)
            print("permissions " + join(made.permissions, ","))
            let changed = edit_role(made, {name: "Helpers+", mentionable: true})
            print("edited " + changed.name + " " + changed.mentionable)
        } else if w[0] == "!give" {
            let role = made
            if length(w) > 2 { role = w[2] }
            add_role_to_member(fetch_member(message.guild_id, w[1]), role)
            print("gave")
        } else if w[0] == "!who" {
            let ids = []
            for m in get_role_members(made) { push(ids, m.id) }
            print("members " + w[1] + " " + join(ids, ","))
        } else if w[0] == "!take" {
            remove_role_from_member(fetch_member(message.guild_id, w[1]), made.id)
            print("took")
        } else if w[0] == "!nick" {
            let m = set_nickname(fetch_member(message.guild_id, w[1]), w[2], "testing")
            print("nick " + m.nick + " " + m.display_name)
        } else if w[0] == "!unnick" {
            let m = reset_nickname(fetch_member(message.guild_id, w[1]))
            print("unnick " + m.nick)
        } else if w[0] == "!move" {
            let roles = set_role_position(made, num(w[1]))
            let names = []
            for r in roles { push(names, r.name + "@" + r.position) }
            print("order " + join(names, ","))
        } else if w[0] == "!order" {
            let roles = reorder_roles(message.guild_id, [{role: made, position: 1}])
            print("reordered " + length(roles))
        } else if w[0] == "!rmrole" {
            delete_role(made)
            print("deleted")
        } else if w[0] == "!icon" {
            let r = create_role_with_icon(message.guild_id, "Stars", "⭐")
            print("icon role " + r.name)
        } else if w[0] == "!iconfile" {
            let r = create_role_with_icon(message.guild_id, "Pictured", w[1], {hoist: true})
            print("icon file role " + r.name + " " + r.hoist)
        } else if w[0] == "!longnick" {
            set_nickname(fetch_member(message.guild_id, w[1]), "a name that is far longer than Discord allows")
        }
    } catch err {
        print("caught " + err.kind + ": " + err.message)
    }
})
bot_start()
"""


async def test_roles_and_members(sandbox: Any, control: Control, ezlang_run: Any) -> None:
    bot, channel, guild = await start_bot(BOT, sandbox, control, ezlang_run)
    owner, alice, bob = (str(u) for u in sandbox.world.member_ids(0)[:3])
    assert int(guild) == sandbox.world.guild_id(0)

    await control.inject(channel, "!mkrole")
    line = await bot.wait_line(r"^edited ")
    assert line == "edited Helpers+ true", bot.stderr
    role_id = re.search(r"^made (\d+) Helpers 65280 1$", bot.stdout, re.M)
    assert role_id, bot.stdout
    rid = role_id.group(1)
    state = await control.get(f"/guilds/{guild}/state")
    role = next(r for r in state["roles"] if r["id"] == rid)
    assert (role["name"], role["color"], role["hoist"], role["mentionable"]) == (
        "Helpers+",
        0x00FF00,
        True,
        True,
    )
    # Any spelling in, Discord's names out (not discord.py's older "read_messages").
    assert role["permissions"] == str(1 << 10 | 1 << 11)
    assert "permissions view_channel,send_messages" in bot.out

    await control.inject(channel, f"!give {alice}")
    await bot.wait_line("^gave$")
    assert rid in (await member_state(control, guild, alice))["roles"]
    await control.inject(channel, f"!give {bob}")
    await bot.wait_line("^gave$", timeout=20)

    asked = 0

    async def both_listed() -> bool:
        nonlocal asked
        asked += 1
        await control.inject(channel, f"!who {asked}")
        line = await bot.wait_line(rf"^members {asked} ")
        return line == f"members {asked} {','.join(sorted([alice, bob], key=int))}"

    await wait_until(both_listed, what="both members in get_role_members")

    await control.inject(channel, f"!take {alice}")
    await bot.wait_line("^took$")
    assert rid not in (await member_state(control, guild, alice))["roles"]

    await control.inject(channel, f"!nick {alice} Ally")
    await bot.wait_line("^nick Ally Ally$")
    assert (await member_state(control, guild, alice))["nick"] == "Ally"
    await control.inject(channel, f"!unnick {alice}")
    await bot.wait_line("^unnick null$")
    assert (await member_state(control, guild, alice))["nick"] is None
    # The bot's own nickname goes through /members/@me (Change Nickname).
    bot_id = str(sandbox.world.bot_id)
    await control.inject(channel, f"!nick {bot_id} Robo")
    await bot.wait_line("^nick Robo Robo$")
    assert (await member_state(control, guild, bot_id))["nick"] == "Robo"

    await control.inject(channel, "!move 3")
    line = await bot.wait_line("^order ")
    assert "Helpers+@3" in line and "SandboxBot@5" in line
    positions = {
        r["id"]: r["position"] for r in (await control.get(f"/guilds/{guild}/state"))["roles"]
    }
    assert positions[rid] == 3
    await control.inject(channel, "!order")
    await bot.wait_line(r"^reordered \d+$")
    positions = {
        r["id"]: r["position"] for r in (await control.get(f"/guilds/{guild}/state"))["roles"]
    }
    assert positions[rid] == 1

    await control.inject(channel, "!rmrole")
    await bot.wait_line("^deleted$")
    state = await control.get(f"/guilds/{guild}/state")
    assert rid not in {r["id"] for r in state["roles"]}
    assert all(rid not in m["roles"] for m in state["members"])
    assert "Traceback" not in bot.stderr
    del owner


async def test_refusals_name_the_permission_and_the_roles(
    sandbox: Any, control: Control, ezlang_run: Any, tmp_path: Path
) -> None:
    bot, channel, guild = await start_bot(BOT, sandbox, control, ezlang_run)
    alice = str(sandbox.world.member_ids(0)[1])
    gid = int(guild)
    moderator = str(gid | 32)  # the seed's admin role, position 3 (below the bot's 4)
    moderator_name = sandbox.world.roles(0)[1]["name"]

    # Hierarchy: the owner drags the moderator role above the bot's role.
    await as_owner(control, "PATCH", f"/guilds/{guild}/roles/{moderator}", {"position": 9})
    await control.inject(channel, f"!give {alice} {moderator}")
    line = await bot.wait_line("^caught ")
    assert "add_role_to_member() failed: 403" in line and "(error code 50013)" in line
    assert f"the role '{moderator_name}' (position 9) is not below the bot's highest role " \
        "'SandboxBot' (position 4)" in line, line  # fmt: skip
    assert moderator not in (await member_state(control, guild, alice))["roles"]

    # A missing permission is named.
    await as_owner(
        control,
        "PUT",
        f"/guilds/{guild}/bot_permissions",
        {"permissions": ["view_channel", "send_messages", "read_message_history"]},
    )
    await control.inject(channel, "!mkrole")
    line = await bot.wait_line(r"^caught .*create_role\(\)")
    assert "create_role() failed: 403" in line
    assert "the bot's role lacks Manage Roles; give it Manage Roles in Server Settings" in line
    await control.inject(channel, f"!nick {alice} Ally")
    line = await bot.wait_line("^caught .*set_nickname")
    assert "lacks Manage Nicknames" in line
    assert (await member_state(control, guild, alice))["nick"] is None

    # Role icons are a boost perk: 50101 says so; with ROLE_ICONS they work.
    await as_owner(
        control,
        "PUT",
        f"/guilds/{guild}/bot_permissions",
        {"permissions": ["view_channel", "send_messages", "manage_roles"]},
    )
    await control.inject(channel, "!icon")
    line = await bot.wait_line("^caught .*create_role_with_icon")
    assert "(error code 50101)" in line and "ROLE_ICONS" in line
    await as_owner(control, "PUT", f"/guilds/{guild}/features", {"features": ["ROLE_ICONS"]})
    await control.inject(channel, "!icon")
    await bot.wait_line("^icon role Stars$")
    state = await control.get(f"/guilds/{guild}/state")
    assert any(r["name"] == "Stars" and r["unicode_emoji"] == "⭐" for r in state["roles"])
    image = tmp_path / "icon.png"
    image.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 16)
    await control.inject(channel, f"!iconfile {image}")
    await bot.wait_line("^icon file role Pictured true$")
    state = await control.get(f"/guilds/{guild}/state")
    pictured = next(r for r in state["roles"] if r["name"] == "Pictured")
    assert pictured["icon"] and pictured["unicode_emoji"] is None
    await control.inject(channel, f"!iconfile {tmp_path / 'missing.png'}")
    line = await bot.wait_line("^caught ValueError")
    assert "create_role_with_icon(): no image file at" in line

    # Checked before sending: a nickname over 32 characters.
    requests = sandbox.rest_requests
    await control.inject(channel, f"!longnick {alice}")
    line = await bot.wait_line("^caught ValueError: set_nickname")
    assert line.startswith("caught ValueError: set_nickname(): a nickname is at most 32")
    # fetch_member is the only request that command made.
    assert sandbox.rest_requests - requests == 1

    await control.inject(channel, "!give 123456789012345678")
    line = await bot.wait_line("^caught .*fetch_member")
    assert "Unknown Member (error code 10007)" in line
    assert "Traceback" not in bot.stderr
