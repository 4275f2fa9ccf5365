"""Moderation builtins: a real ``ezlang run`` of a bot against the sandbox.

The owner types commands through the control API; the bot kicks, bans (deleting the user's
recent messages), lists and lifts bans, times out and bulk-bans. The test checks every change
in the sandbox's server state and each refusal: the owner, the hierarchy (both roles named),
an administrator who cannot be timed out, a missing permission, an unknown member or ban,
and Discord's limits checked before anything is sent.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from .conftest import Control
from .server import as_owner, guild_state, member_state, start_bot

BOT = """on_ready(func(client) { print("ready") })
on_message(func(message) {
    if message.author.bot { return }
    let w = split(message.content, " ")
    let g = message.guild_id
    try {
        if w[0] == "!kick" {
            kick_member(fetch_member(g, w[1]), "rude")
            print("kicked " + w[1])
        } else if w[0] == "!ban" {
            ban_member(fetch_member(g, w[1]), "spam", 1)
            print("banned " + w[1])
        } else if w[0] == "!bans" {
            let ban = fetch_ban(g, w[1])
            print("bans " + length(fetch_bans(g)) + " " + ban.user.id + " " + ban.reason + " " + length(get_bans(g)))
        } else if w[0] == "!unban" {
            unban_user(g, w[1], "forgiven")
            print("unbanned " + w[1])
        } else if w[0] == "!unban2" {
            unban_member(g, w[1])
        } else if w[0] == "!getban" {
            get_ban(g, w[1])
        } else if w[0] == "!timeout" {
            let m = timeout_member(fetch_member(g, w[1]), num(w[2]), "calm down")
            print("timed out " + m.id + " until " + m.timed_out_until)
        } else if w[0] == "!untimeout" {
            let m = remove_timeout(fetch_member(g, w[1]))
            print("timeout over " + m.timed_out_until)
        } else if w[0] == "!bulk" {
            let r = bulk_ban_members(g, slice(w, 1), {reason: "raid", deleteMessageDays: 0})
            print("bulk banned " + join(r.banned_users, ",") + " failed " + join(r.failed_users, ","))
        } else if w[0] == "!kickid" {
            kick_member({guild_id: g, id: w[1]})
        } else if w[0] == "!kickuser" {
            kick_member(message.author)
        } else if w[0] == "!audit" {
            for e in fetch_audit_logs(g, {limit: 10}) {
                print("audit " + e.action + " " + e.target_id + " " + e.reason + " by " + e.user_id)
            }
            let kicks = get_audit_logs_filtered(g, {action: "MemberKick"})
            print("kicks " + length(kicks) + " " + kicks[0].id)
            let one = get_audit_log_entry(g, kicks[0].id)
            print("entry " + one.id + " " + one.action + " " + one.created_at)
            print("no entry " + get_audit_log_entry(g, "123456789012345678"))
        } else if w[0] == "!badaction" {
            fetch_audit_logs(g, {action: "explode"})
        } else if w[0] == "!bigban" {
            ban_member(fetch_member(g, w[1]), "x", 8)
        }
    } catch err {
        print("caught " + err.kind + ": " + err.message)
    }
})
bot_start()
"""


def _member_ids(state: dict[str, Any]) -> set[str]:
    return {m["user_id"] for m in state["members"]}


async def test_kick_ban_unban(sandbox: Any, control: Control, ezlang_run: Any) -> None:
    bot, channel, guild = await start_bot(BOT, sandbox, control, ezlang_run)
    _, alice, bob = (str(u) for u in sandbox.world.member_ids(0)[:3])

    await control.inject(channel, f"!kick {alice}")
    await bot.wait_line(f"^kicked {alice}$")
    assert alice not in _member_ids(await guild_state(control, guild))

    spam = await control.post(
        "/messages", {"channel_id": channel, "content": "buy now", "author_id": bob}
    )
    assert sandbox.find_message(int(channel), spam["id"]) is not None
    await control.inject(channel, f"!ban {bob}")
    await bot.wait_line(f"^banned {bob}$")
    state = await guild_state(control, guild)
    assert state["bans"] == [{"user_id": bob, "reason": "spam"}]
    assert bob not in _member_ids(state)
    # deleteMessageDays 1: the spam of the last day went with the ban.
    assert sandbox.find_message(int(channel), spam["id"]) is None

    await control.inject(channel, f"!bans {bob}")
    await bot.wait_line(f"^bans 1 {bob} spam 1$")
    await control.inject(channel, f"!unban {bob}")
    await bot.wait_line(f"^unbanned {bob}$")
    assert (await guild_state(control, guild))["bans"] == []

    # The old alias, and an unknown ban: 10026 with what it means.
    await control.inject(channel, f"!unban2 {bob}")
    line = await bot.wait_line("^caught .*unban_user")
    assert "Unknown Ban (error code 10026): that user is not banned" in line
    await control.inject(channel, f"!getban {bob}")
    line = await bot.wait_line("^caught .*fetch_ban")
    assert "(error code 10026)" in line
    assert "Traceback" not in bot.stderr


async def test_timeouts(sandbox: Any, control: Control, ezlang_run: Any) -> None:
    bot, channel, guild = await start_bot(BOT, sandbox, control, ezlang_run)
    alice = str(sandbox.world.member_ids(0)[1])
    before = dt.datetime.now(dt.UTC)
    await control.inject(channel, f"!timeout {alice} 60000")
    line = await bot.wait_line(f"^timed out {alice} until ")
    member = await member_state(control, guild, alice)
    until = dt.datetime.fromisoformat(member["communication_disabled_until"])
    assert dt.timedelta(seconds=55) < until - before < dt.timedelta(seconds=70)
    assert line.endswith(member["communication_disabled_until"])
    assert "send_messages" not in member["permissions"]

    # Timed out: Discord does not let them post.
    async with control.http.post(
        control.url + "/messages",
        json={"channel_id": channel, "content": "let me talk", "author_id": alice},
    ) as resp:
        assert resp.status == 400 and "timed out" in (await resp.json())["error"]

    await control.inject(channel, f"!untimeout {alice}")
    await bot.wait_line("^timeout over null$")
    member = await member_state(control, guild, alice)
    assert member["communication_disabled_until"] is None
    await control.post("/messages", {"channel_id": channel, "content": "hi", "author_id": alice})

    # More than 28 days is refused before sending, in the unit the user wrote.
    requests = sandbox.rest_requests
    await control.inject(channel, f"!timeout {alice} {29 * 86_400_000}")
    line = await bot.wait_line("^caught ValueError")
    assert "at most 28 days (2419200000 ms" in line and "29.0 days" in line
    assert sandbox.rest_requests - requests == 1  # only fetch_member
    assert "Traceback" not in bot.stderr


async def test_refusals(sandbox: Any, control: Control, ezlang_run: Any) -> None:
    bot, channel, guild = await start_bot(BOT, sandbox, control, ezlang_run)
    owner, alice, bob, carol = (str(u) for u in sandbox.world.member_ids(0)[:4])
    gid = int(guild)
    moderator = gid | 32  # the seed's admin role (ADMINISTRATOR), position 3
    moderator_name = sandbox.world.roles(0)[1]["name"]

    await control.inject(channel, f"!kick {owner}")
    line = await bot.wait_line("^caught .*kick_member")
    assert "(error code 50013): nobody can do that to the server owner" in line

    # An administrator below the bot can be kicked, but never timed out.
    sandbox.server.edit(gid).members[int(alice)].roles.append(moderator)
    await control.inject(channel, f"!timeout {alice} 1000")
    line = await bot.wait_line("^caught .*timeout_member")
    assert "is an administrator, and Discord never times out administrators" in line

    # Hierarchy: the owner drags the admin role above the bot's.
    async with control.http.patch(
        f"{control.url}/guilds/{guild}/roles/{moderator}", json={"position": 7}
    ) as resp:
        assert resp.status == 200
    await control.inject(channel, f"!ban {alice}")
    line = await bot.wait_line("^caught .*ban_member")
    assert re.search(
        rf"the bot's highest role 'SandboxBot' \(position 4\) must be above \S+'s highest "
        rf"role '{moderator_name}' \(position 7\); drag 'SandboxBot' above",
        line,
    ), line
    assert (await guild_state(control, guild))["bans"] == []

    # Missing permissions are named (Discord's settings call manage_guild Manage Server).
    await control.inject(channel, f"!bulk {bob} {carol}")
    line = await bot.wait_line("^caught .*bulk_ban_members")
    assert "the bot's role lacks Manage Server" in line
    await as_owner(
        control,
        "PUT",
        f"/guilds/{guild}/bot_permissions",
        {"permissions": ["view_channel", "send_messages", "ban_members", "manage_guild"]},
    )
    await control.inject(channel, f"!bulk {bob} {carol} {owner}")
    await bot.wait_line(f"^bulk banned {bob},{carol} failed {owner}$")
    assert {b["user_id"] for b in (await guild_state(control, guild))["bans"]} == {bob, carol}
    await control.inject(channel, f"!kick {alice}")
    line = await bot.wait_line(r"^caught .*kick_member\(\) failed: 403.*lacks")
    assert "the bot's role lacks Kick Members; give it Kick Members" in line

    # Unknown member, a user where a member is needed, Discord's 7-day limit.
    await control.inject(channel, "!kickid 123456789012345678")
    line = await bot.wait_line("^caught .*Unknown Member")
    assert "(error code 10007): that user is not a member of the server" in line
    await control.inject(channel, "!kickuser")
    line = await bot.wait_line("^caught TypeError")
    assert "kick_member() needs a member of a server" in line and "fetch_member" in line
    await control.inject(channel, f"!bigban {alice}")
    line = await bot.wait_line("^caught ValueError")
    assert "can delete 0 to 7 days of messages" in line
    assert "Traceback" not in bot.stderr


async def test_the_audit_log(sandbox: Any, control: Control, ezlang_run: Any) -> None:
    bot, channel, guild = await start_bot(BOT, sandbox, control, ezlang_run)
    _, alice, bob = (str(u) for u in sandbox.world.member_ids(0)[:3])
    await control.inject(channel, "!audit")
    line = await bot.wait_line("^caught .*fetch_audit_logs")
    assert "the bot's role lacks View Audit Log" in line

    await as_owner(
        control,
        "PUT",
        f"/guilds/{guild}/bot_permissions",
        {"permissions": ["view_channel", "send_messages", "kick_members", "ban_members",
                         "view_audit_log"]},
    )  # fmt: skip
    await control.inject(channel, f"!kick {alice}")
    await bot.wait_line(f"^kicked {alice}$")
    await control.inject(channel, f"!ban {bob}")
    await bot.wait_line(f"^banned {bob}$")
    await control.inject(channel, "!audit")
    await bot.wait_line(r"^no entry null$")
    bot_id = str(sandbox.world.bot_id)
    audit = [line for line in bot.out if line.startswith("audit ")]
    assert audit == [
        f"audit member_ban_add {bob} spam by {bot_id}",
        f"audit member_kick {alice} rude by {bot_id}",
    ]
    kick_id = next(line for line in bot.out if line.startswith("kicks 1 ")).split()[2]
    _, entry_id, action, created = next(line for line in bot.out if line.startswith("entry "))\
        .split()  # fmt: skip
    assert (entry_id, action) == (kick_id, "member_kick")
    age = dt.datetime.now(dt.UTC) - dt.datetime.fromisoformat(created)
    assert dt.timedelta(0) <= age < dt.timedelta(minutes=2)

    await control.inject(channel, "!badaction")
    line = await bot.wait_line("^caught ValueError")
    assert '"explode" is not an audit log action' in line
    assert "Traceback" not in bot.stderr
