"""Message, reaction, DM and lookup builtins: a real ``ezlang run`` of a bot against the sandbox.

The test plays the users through the control API (a user posts a command) and checks what
the sandbox saw (the bot's messages, pins, reactions, DMs) and what the bot printed. Each
refusal is checked too: ``bulk_delete`` over 100 or of old messages is an EasyLang error with
the line before anything is sent; an unknown message is a DiscordError 10008 saying what to fix.
"""

from __future__ import annotations

import re
import time
from typing import Any

from .conftest import Control
from .processes import sandbox_args

BOT = """on_ready(func(client) { print("ready") })
on_message(func(message) {
    if message.author.bot { return }
    let words = split(message.content, " ")
    let cmd = words[0]
    if cmd == "!edit" {
        let sent = send_message(message.channel_id, "draft")
        let edited = edit_message(sent, "final", {embed: {title: "done"}})
        print("edited " + edited.id + " " + edited.content + " " + edited.embeds[0].title)
    } else if cmd == "!fetch" {
        let got = fetch_message(message.channel_id, message.id)
        print("fetched " + got.content + " by " + got.author.username + " in " + got.guild_id)
        let recent = fetch_messages(message.channel_id, 2)
        print("recent " + length(recent) + " " + recent[0].id)
    } else if cmd == "!pin" {
        pin_message(message)
        let pins = fetch_pinned_messages(message.channel_id)
        print("pinned " + pins[0].id + " " + length(pins))
        unpin_message(message)
        print("pins after unpin " + length(fetch_pinned_messages(message.channel_id)))
    } else if cmd == "!react" {
        add_reaction(message, "👍")
        print("reactors " + fetch_reactions(message, "👍")[0].id)
        remove_reaction(message, "👍")
        print("after remove " + length(fetch_reactions(message, "👍")))
        add_reaction(message, "🎉")
        clear_reactions(message)
        print("after clear " + length(fetch_reactions(message, "🎉")))
    } else if cmd == "!delete" {
        delete_message(message)
        print("deleted " + message.id)
    } else if cmd == "!purge" {
        print("purged " + bulk_delete(message.channel_id, num(words[1])))
    } else if cmd == "!dm" {
        let channel = create_dm_channel(message.author)
        print("dm channel " + channel.id + " " + channel.type)
        let sent = send_dm(message.author, "psst", {embed: {title: "secret"}})
        print("dm sent " + sent.channel_id + " " + sent.content)
        send_message(channel.id, "via the channel")
        print("sent in dm channel")
    } else if cmd == "!lookup" {
        let guild = get_guild(message.guild_id)
        print("guild " + guild.id + " " + guild.name)
        let channel = get_channel(message.channel_id)
        print("channel " + channel.id + " " + channel.type)
        print("user " + get_user(message.author.id).username)
        print("nobody " + get_user("99999999999999999") + " " + get_channel("99999999999999999"))
        let member = fetch_member(message.guild_id, message.author.id)
        print("member " + member.id + " roles " + length(member.roles))
        print("role " + get_role(message.guild_id, member.roles[0]).name)
        print("no role " + get_role(message.guild_id, "99999999999999999"))
        print("guilds " + length(list_guilds()))
    } else if cmd == "!toomany" {
        bulk_delete(message.channel_id, 150)
    } else if cmd == "!old" {
        bulk_delete(message.channel_id, [message.id, words[1]])
    } else if cmd == "!unknown" {
        try {
            fetch_message(message.channel_id, words[1])
        } catch err {
            print("caught " + err.kind + ": " + err.message)
        }
    } else if cmd == "!nomember" {
        fetch_member(message.guild_id, words[1])
    }
})
bot_start()
"""


async def _start(sandbox: Any, control: Control, ezlang_run: Any) -> tuple[Any, str]:
    bot = await ezlang_run(BOT, *sandbox_args(sandbox))
    await bot.wait_line("^ready$")
    return bot, await control.first_text_channel()


def _line(bot: Any, pattern: str) -> re.Match[str]:
    found = re.search(pattern, bot.stdout, re.M)
    assert found, f"{pattern!r} not in stdout:\n{bot.stdout}\nstderr:\n{bot.stderr}"
    return found


async def test_edit_fetch_delete_and_bulk_delete(
    sandbox: Any, control: Control, ezlang_run: Any
) -> None:
    bot, channel = await _start(sandbox, control, ezlang_run)
    await control.inject(channel, "!edit")
    await bot.wait_line(r"^edited \d+ final done$")
    edited_id = _line(bot, r"^edited (\d+)").group(1)
    [message] = await control.bot_messages(channel)
    assert (message["id"], message["content"]) == (edited_id, "final")
    assert message["edited_timestamp"] and message["embeds"][0]["title"] == "done"

    fetch = await control.inject(channel, "!fetch")
    await bot.wait_line(r"^recent ")
    guild_id = fetch["guild_id"]
    _line(bot, rf"^fetched !fetch by \S+ in {guild_id}$")
    _line(bot, rf"^recent 2 {fetch['id']}$")  # newest first

    doomed = await control.inject(channel, "!delete")
    await bot.wait_line(rf"^deleted {doomed['id']}$")
    assert sandbox.find_message(int(channel), doomed["id"]) is None

    before = len(sandbox.channel_messages(int(channel)))
    assert before >= 3
    await control.inject(channel, "!purge 3")
    await bot.wait_line(r"^purged 3$")
    # The command itself and the two messages before it are gone, the rest stay.
    assert len(sandbox.channel_messages(int(channel))) == before - 2
    assert "Traceback" not in bot.stderr


async def test_pins_and_reactions(sandbox: Any, control: Control, ezlang_run: Any) -> None:
    bot, channel = await _start(sandbox, control, ezlang_run)
    pin = await control.inject(channel, "!pin")
    await bot.wait_line(r"^pins after unpin 0$")
    _line(bot, rf"^pinned {pin['id']} 1$")
    assert await control.get(f"/channels/{channel}/pins") == []

    react = await control.inject(channel, "!react")
    await bot.wait_line(r"^after clear 0$")
    bot_id = str(sandbox.world.bot_id)
    _line(bot, rf"^reactors {bot_id}$")
    _line(bot, r"^after remove 0$")
    assert not [r for r in sandbox.reactions if r["message_id"] == react["id"]]

    assert "Traceback" not in bot.stderr


async def test_remove_someone_elses_reaction(
    sandbox: Any, control: Control, ezlang_run: Any
) -> None:
    program = """on_ready(func(client) { print("ready") })
on_message(func(message) {
    if message.author.bot { return }
    if message.content == "!go" {
        let target = fetch_messages(message.channel_id, 2)[1]
        remove_reaction(target, "👀", target.author)
        print("removed")
    }
})
bot_start()
"""
    bot = await ezlang_run(program, *sandbox_args(sandbox))
    await bot.wait_line("^ready$")
    channel = await control.first_text_channel()
    target = await control.inject(channel, "look at this")
    author = sandbox.find_message(int(channel), target["id"])["author"]["id"]
    await control.post(
        "/reactions",
        {"channel_id": channel, "message_id": target["id"], "emoji": "👀", "user_id": author},
    )
    assert [r for r in sandbox.reactions if r["message_id"] == target["id"]]
    await control.inject(channel, "!go")
    await bot.wait_line("^removed$")
    assert not [r for r in sandbox.reactions if r["message_id"] == target["id"]]
    assert "Traceback" not in bot.stderr


async def test_dm_and_lookups(sandbox: Any, control: Control, ezlang_run: Any) -> None:
    bot, channel = await _start(sandbox, control, ezlang_run)
    dm = await control.inject(channel, "!dm")
    await bot.wait_line(r"^dm sent ")
    author = sandbox.find_message(int(channel), dm["id"])["author"]["id"]
    dm_channel = _line(bot, r"^dm channel (\d+) dm$").group(1)
    _line(bot, rf"^dm sent {dm_channel} psst$")
    [entry] = await control.get("/dms")
    assert (entry["user_id"], entry["channel_id"]) == (author, dm_channel)
    await bot.wait_line(r"^sent in dm channel$")
    [entry] = await control.get("/dms")
    assert [m["content"] for m in entry["messages"]] == ["psst", "via the channel"]
    assert entry["messages"][0]["embeds"][0]["title"] == "secret"

    look = await control.inject(channel, "!lookup")
    await bot.wait_line(r"^guilds \d+$")
    guild = sandbox.world.guild(sandbox.world.guild_index(int(look["guild_id"])))
    _line(bot, rf"^guild {look['guild_id']} {re.escape(guild['name'])}$")
    _line(bot, rf"^channel {channel} text$")
    _line(bot, r"^user \S+$")
    _line(bot, r"^nobody null null$")
    _line(bot, rf"^member {author} roles [1-9]\d*$")
    _line(bot, r"^role \S.*$")
    _line(bot, r"^no role null$")
    _line(bot, r"^guilds 20$")
    assert "Traceback" not in bot.stderr


async def test_refusals_are_clear_errors(sandbox: Any, control: Control, ezlang_run: Any) -> None:
    bot, channel = await _start(sandbox, control, ezlang_run)
    before = len(sandbox.channel_messages(int(channel)))
    requests = sandbox.rest_requests
    await control.inject(channel, "!toomany")
    await bot.wait_line(r"bulk_delete\(\) can delete 1 to 100 messages", stream="err")
    assert re.search(r"bot\.ez:\d+:\d+", bot.stderr), bot.stderr
    # Checked before sending: no REST call was made for it, nothing was deleted.
    assert sandbox.rest_requests == requests
    assert len(sandbox.channel_messages(int(channel))) == before + 1

    fifteen_days_ms = int(time.time() * 1000) - 15 * 86400 * 1000 - 1_420_070_400_000
    await control.inject(channel, f"!old {fifteen_days_ms << 22}")
    await bot.wait_line(r"older than 14 days", stream="err")
    assert "DiscordError" in bot.stderr and "delete_message()" in bot.stderr
    assert sandbox.rest_requests == requests
    assert len(sandbox.channel_messages(int(channel))) == before + 2

    await control.inject(channel, "!unknown 123456789012345678")
    line = await bot.wait_line(r"^caught ")
    assert line.startswith("caught DiscordError: fetch_message() failed: 404")
    assert "10008" in line and "the message was deleted or the id is wrong" in line

    await control.inject(channel, f"!nomember {10**17}")
    await bot.wait_line(
        r"Unknown Member \(error code 10007\): that user is not a member", stream="err"
    )
    assert bot.proc.returncode is None  # a failed handler does not stop the bot
    assert "Traceback" not in bot.stderr


async def test_missing_permission_names_what_to_fix(
    sandbox: Any, control: Control, ezlang_run: Any
) -> None:
    bot, channel = await _start(sandbox, control, ezlang_run)
    first = await control.inject(channel, "hello")
    guild_id = first["guild_id"]
    # The owner takes Manage Messages away from the bot's role.
    async with control.http.put(
        f"{control.url}/guilds/{guild_id}/bot_permissions",
        json={"permissions": ["view_channel", "send_messages", "read_message_history"]},
    ) as resp:
        assert resp.status == 200, await resp.text()
    await control.inject(channel, "!pin")
    line = await bot.wait_line(r"pin_message\(\) failed", stream="err")
    assert "Missing Permissions (error code 50013)" in line and "Manage Messages" in line
    assert await control.get(f"/channels/{channel}/pins") == []
    assert bot.proc.returncode is None
    assert "Traceback" not in bot.stderr
