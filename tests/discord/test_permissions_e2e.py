"""Permission builtins against the sandbox: a real ``ezlang run`` bot answers prefix commands
that a test user posts through the control API; what the bot prints is compared with what
the sandbox's server model holds (roles, overwrites) — computed independently here."""

from __future__ import annotations

import re
from typing import Any

import aiohttp
import discord

from .conftest import Control
from .processes import sandbox_args

BOT = """on_ready(func(client) { print("ready") })
on_message(func(message) {
    if message.author.bot { return }
    let words = split(message.content, " ")
    let cmd = words[0]
    if cmd == "!perms" {
        let member = fetch_member(message.guild_id, message.author.id)
        print("ban " + has_permission(member, "ban_members") + " " + has_permission(member, "BanMembers"))
        print("bits " + calculate_permissions(message.author.id, message.channel_id))
        print("names " + join(get_channel_permissions(message.channel_id, message.author), ","))
        print("can send " + has_permissions(message, ["send_messages", "VIEW_CHANNEL"], message.channel_id))
        print("guild-wide " + has_permissions(member, "ban_members"))
    } else if cmd == "!lock" {
        let target = words[1]
        let o = create_permission_overwrite(message.channel_id, target,
            {deny: ["send_messages"], allow: ["embed_links"]})
        print("overwrite " + o.type + " " + o.id + " deny=" + join(o.deny, ",") + " allow=" + join(o.allow, ","))
        print("after lock " + has_permissions(target, "send_messages", message.channel_id))
        print("listed " + json_stringify(get_permission_overwrites(message.channel_id)))
        delete_permission_overwrite(message.channel_id, target)
        print("after unlock " + has_permissions(target, "send_messages", message.channel_id))
        print("listed after " + length(get_permission_overwrites(message.channel_id)))
    } else if cmd == "!lockrole" {
        let o = create_permission_overwrite(message.channel_id, words[1],
            {SendMessages: false, ViewChannel: true, AddReactions: null})
        print("js " + o.type + " allow=" + join(o.allow, ",") + " deny=" + join(o.deny, ","))
    } else if cmd == "!escalate" {
        try {
            create_permission_overwrite(message.channel_id, words[1], {allow: ["manage_webhooks"]})
        } catch err { print("caught " + err.kind + ": " + err.message) }
    } else if cmd == "!muteself" {
        create_permission_overwrite(message.channel_id, words[1], {deny: ["send_messages"]})
        try { send_message(message.channel_id, "still here?") } catch err { print("send refused " + err.message) }
    } else if cmd == "!user" {
        try { has_permission(message.author, "ban_members") } catch err { print("caught " + err.kind + ": " + err.message) }
    } else if cmd == "!typo" {
        try { has_permission(fetch_member(message.guild_id, message.author.id), "ban_member") }
        catch err { print("caught " + err.kind + ": " + err.message) }
    }
})
bot_start()
"""


def _line(bot: Any, pattern: str) -> re.Match[str]:
    found = re.search(pattern, bot.stdout, re.M)
    assert found, f"{pattern!r} not in stdout:\n{bot.stdout}\nstderr:\n{bot.stderr}"
    return found


async def _start(sandbox: Any, control: Control, ezlang_run: Any) -> tuple[Any, str, Any]:
    bot = await ezlang_run(BOT, *sandbox_args(sandbox))
    await bot.wait_line("^ready$")
    channel = await control.first_text_channel()
    return bot, channel, sandbox.world.channel(int(channel))


def _role_bits(sandbox: Any, index: int, *role_ids: int) -> int:
    bits = 0
    for role in sandbox.world.roles(index):
        if int(role["id"]) in role_ids:
            bits |= int(role["permissions"])
    return bits


async def test_a_members_permissions_as_discord_computes_them(
    sandbox: Any, control: Control, ezlang_run: Any
) -> None:
    bot, channel, ref = await _start(sandbox, control, ezlang_run)
    owner, plain = sandbox.world.member_ids(ref.guild_index)[:2]
    await control.post(
        "/messages", {"channel_id": channel, "content": "!perms", "author_id": str(plain)}
    )
    await bot.wait_line(r"^guild-wide ")
    # A plain member: @everyone's permissions plus the member role's, no overwrites yet.
    member_role = next(int(r) for r in sandbox.server.view(ref.guild_id).members[plain].roles)
    expected = _role_bits(sandbox, ref.guild_index, ref.guild_id, member_role)
    # discord.py's rule: a text channel has no voice permissions (connect, speak, …).
    expected &= ~discord.Permissions.voice().value
    _line(bot, "^ban false false$")
    assert int(_line(bot, r"^bits (\d+)$").group(1)) == expected
    names = _line(bot, r"^names (\S+)$").group(1).split(",")
    assert "send_messages" in names and "view_channel" in names and "ban_members" not in names
    assert len(names) == bin(expected).count("1")
    _line(bot, "^can send true$")
    _line(bot, "^guild-wide false$")

    # The guild's owner has every permission.
    bot.out.clear()
    await control.post(
        "/messages", {"channel_id": channel, "content": "!perms", "author_id": str(owner)}
    )
    await bot.wait_line(r"^guild-wide ")
    _line(bot, "^ban true true$")
    everything = discord.Permissions.all().value & ~discord.Permissions.voice().value
    assert int(_line(bot, r"^bits (\d+)$").group(1)) == everything
    _line(bot, "^guild-wide true$")
    assert "Traceback" not in bot.stderr


async def test_overwrites_for_a_member_and_a_role(
    sandbox: Any, control: Control, ezlang_run: Any
) -> None:
    bot, channel, ref = await _start(sandbox, control, ezlang_run)
    plain = sandbox.world.member_ids(ref.guild_index)[1]
    await control.inject(channel, f"!lock {plain}")
    await bot.wait_line(r"^listed after ")
    _line(bot, rf"^overwrite member {plain} deny=send_messages allow=embed_links$")
    _line(bot, "^after lock false$")
    listed = _line(bot, r"^listed (\[.*\])$").group(1)
    assert (
        f'{{"channel_id":"{channel}","id":"{plain}","type":"member",'
        '"allow":["embed_links"],"deny":["send_messages"]}' in listed
    )
    _line(bot, "^after unlock true$")
    _line(bot, "^listed after 0$")
    assert sandbox.server.state_json(ref.guild_id)["overwrites"] == {}

    # A bare role id is recognised as a role; discord.js's {Name: true/false/null} form.
    role = next(
        int(r["id"])
        for r in sandbox.world.roles(ref.guild_index)
        if r["name"] != "@everyone" and not r["managed"]
    )
    await control.inject(channel, f"!lockrole {role}")
    await bot.wait_line(r"^js ")
    _line(bot, "^js role allow=view_channel deny=send_messages$")
    stored = sandbox.server.state_json(ref.guild_id)["overwrites"][channel]
    assert stored == [{"id": str(role), "type": 0, "allow": str(1 << 10), "deny": str(1 << 11)}]
    assert "Traceback" not in bot.stderr


async def test_refusals_say_what_the_bot_lacks(
    sandbox: Any, control: Control, ezlang_run: Any
) -> None:
    bot, channel, ref = await _start(sandbox, control, ezlang_run)
    plain = sandbox.world.member_ids(ref.guild_index)[1]
    # The bot's role has no Manage Webhooks: it cannot hand it out in an overwrite.
    await control.inject(channel, f"!escalate {plain}")
    caught = (await bot.wait_line(r"^caught ")).removeprefix("caught ")
    assert caught.startswith("DiscordError: create_permission_overwrite() failed: 403")
    assert "(error code 50013)" in caught and "it lacks Manage Webhooks itself" in caught
    assert sandbox.server.state_json(ref.guild_id)["overwrites"] == {}

    # A deny on the bot's own role in this channel: sending there is refused (50013).
    bot_role = next(int(r["id"]) for r in sandbox.world.roles(ref.guild_index) if r["managed"])
    before = len(sandbox.channel_messages(int(channel)))
    await control.inject(channel, f"!muteself {bot_role}")
    refused = await bot.wait_line(r"^send refused ")
    assert "403" in refused and "50013" in refused
    assert len(sandbox.channel_messages(int(channel))) == before + 1  # only the command

    bot.out.clear()
    await control.inject(channel, "!user")
    caught = await bot.wait_line(r"^caught ")
    assert caught.startswith("caught TypeError: has_permission() needs a member of a server")
    await control.inject(channel, "!typo")
    await bot.wait_line(r'did you mean "ban_members"')
    assert "Traceback" not in bot.stderr


async def test_interactions_carry_the_permissions_of_their_channel(
    sandbox: Any, control: Control
) -> None:
    # What Discord sends as member.permissions and app_permissions: the channel's overwrites
    # applied (the checks of slash commands read them).
    channel = await control.first_text_channel()
    ref = sandbox.world.channel(int(channel))
    plain = sandbox.world.member_ids(ref.guild_index)[1]
    headers = {"Authorization": f"Bot {sandbox.token}"}
    app = sandbox.world.application_id
    async with aiohttp.ClientSession() as http:
        command = {"name": "x", "description": "x", "type": 1}
        url = f"{sandbox.api_url}/applications/{app}/commands"
        async with http.post(url, json=command, headers=headers) as r:
            assert r.status in (200, 201), await r.text()
        url = f"{sandbox.api_url}/channels/{channel}/permissions/{plain}"
        async with http.put(url, json={"type": 1, "deny": str(1 << 11)}, headers=headers) as r:
            assert r.status == 204
    inter = sandbox.interactions.dispatch(
        {"channel_id": channel, "name": "x", "user_id": str(plain)}
    )
    perms = int(inter.payload["member"]["permissions"])
    assert not perms & (1 << 11) and perms & (1 << 10)
    other = sandbox.world.text_channel_ids(ref.guild_id)[1]
    inter = sandbox.interactions.dispatch(
        {"channel_id": str(other), "name": "x", "user_id": str(plain)}
    )
    assert int(inter.payload["member"]["permissions"]) & (1 << 11)
