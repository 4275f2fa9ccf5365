"""Channel and thread builtins: a real ``ezlang run`` of a bot against the sandbox.

A user types a command through the control API; the bot creates, edits and deletes channels
and threads, and the test checks what the sandbox's model holds afterwards (through the
control API's guild state) and what the bot printed. Each refusal is checked: a missing
permission is a DiscordError 50013 naming the permission, and nothing changed; a bad option is
an EasyLang error at its line before anything is sent.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from .conftest import Control
from .processes import sandbox_args

BOT = """on_ready(func(client) { print("ready") })
on_message(func(message) {
    if message.author.bot { return }
    let words = split(message.content, " ")
    let cmd = words[0]
    let guild = message.guild_id
    if cmd == "!channels" {
        let cat = create_channel(guild, "Staff", "category")
        print("category " + cat.id + " " + cat.type)
        let ch = create_channel(guild, "lounge", "text", {topic: "chill", parent: cat})
        print("created " + ch.id + " " + ch.name + " " + ch.topic + " in " + ch.parent_id)
        let edited = edit_channel(ch, {name: "lounge-2", topic: "busy", slowmode: 5})
        print("edited " + edited.name + " " + edited.topic)
        let voice = create_channel({id: guild}, "Talk", "voice", {user_limit: 4})
        print("voice " + voice.type)
        delete_channel(voice)
        print("deleted " + voice.id)
    } else if cmd == "!threads" {
        let t = create_thread(message.channel_id, "plans")
        print("thread " + t.id + " " + t.type + " " + t.parent_id + " archived " + t.archived)
        send_message(t, "first post in the thread")
        add_thread_member(t, message.author)
        let members = get_thread_members(t)
        print("members " + length(members) + " " + members[1].id)
        try {
            remove_thread_member(t, message.author)
        } catch err {
            print("remove refused: " + err.message)
        }
        leave_thread(t)
        join_thread(t)
        let a = archive_thread(t)
        print("archived " + a.archived)
        let u = unarchive_thread(t)
        print("unarchived " + u.archived)
        try {
            lock_thread(t)
        } catch err {
            print("lock refused: " + err.kind + ": " + err.message)
        }
        try {
            delete_channel(t.id)
        } catch err {
            print("delete refused: " + err.message)
        }
        let p = create_thread(message.channel_id, "secret", {type: "private", invitable: false})
        print("private " + p.type)
        let r = create_thread_from_message(message, "replies", {auto_archive_duration: 60})
        print("from message " + (r.id == message.id) + " " + r.name)
        try {
            create_thread_from_message(message, "again")
        } catch err {
            print("second: " + err.message)
        }
    } else if cmd == "!lock" {
        let t = create_thread(message.channel_id, "locked one")
        add_thread_member(t, message.author)
        remove_thread_member(t, message.author)
        print("members after remove " + length(get_thread_members(t)))
        let l = lock_thread(t)
        print("locked " + l.locked)
        let unlocked = unlock_thread(t)
        print("unlocked " + unlocked.locked)
        delete_channel(t)
        print("thread deleted")
    } else if cmd == "!here" {
        // Anything in a guild names the guild; a message in a thread names the thread.
        let made = create_channel(message, "from-a-message")
        print("made " + made.guild_id)
        let a = archive_thread(message)
        print("archived here " + a.id + " " + a.archived)
    } else if cmd == "!notathread" {
        archive_thread(message.channel_id)
    } else if cmd == "!nochannel" {
        create_channel(guild, "nope")
    } else if cmd == "!badtype" {
        create_channel(guild, "x", "txt")
    } else if cmd == "!badoption" {
        create_thread(message.channel_id, "x", {typ: "private"})
    } else if cmd == "!badduration" {
        create_thread(message.channel_id, "x", {auto_archive_duration: 30})
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


async def _set_permissions(control: Control, guild_id: str, names: list[str]) -> None:
    async with control.http.put(
        f"{control.url}/guilds/{guild_id}/bot_permissions", json={"permissions": names}
    ) as resp:
        assert resp.status == 200, await resp.text()


DEFAULT = [
    "view_channel", "send_messages", "embed_links", "attach_files", "read_message_history",
    "add_reactions", "manage_messages", "manage_channels", "manage_roles", "manage_nicknames",
    "kick_members", "ban_members", "moderate_members",
]  # fmt: skip


async def test_create_edit_delete_channels(sandbox: Any, control: Control, ezlang_run: Any) -> None:
    bot, channel = await _start(sandbox, control, ezlang_run)
    sent = await control.inject(channel, "!channels")
    await bot.wait_line(r"^deleted \d+$")
    guild_id = sent["guild_id"]
    cat = _line(bot, r"^category (\d+) category$").group(1)
    ch = _line(bot, rf"^created (\d+) lounge chill in {cat}$").group(1)
    _line(bot, r"^edited lounge-2 busy$")
    _line(bot, r"^voice voice$")
    voice = _line(bot, r"^deleted (\d+)$").group(1)
    state = await control.get(f"/guilds/{guild_id}/state")
    by_id = {c["id"]: c for c in state["channels"]}
    assert by_id[ch]["name"] == "lounge-2" and by_id[ch]["topic"] == "busy"
    assert by_id[ch]["rate_limit_per_user"] == 5 and by_id[ch]["parent_id"] == cat
    assert by_id[cat]["type"] == 4 and voice not in by_id
    assert "Traceback" not in bot.stderr


async def test_threads_lifecycle_and_members(
    sandbox: Any, control: Control, ezlang_run: Any
) -> None:
    bot, channel = await _start(sandbox, control, ezlang_run)
    sent = await control.inject(channel, "!threads")
    await bot.wait_line(r"^second: ")
    author = sandbox.find_message(int(channel), sent["id"])["author"]["id"]
    tid = _line(bot, rf"^thread (\d+) public_thread {channel} archived false$").group(1)
    assert [m["content"] for m in sandbox.bot_messages(int(tid))] == ["first post in the thread"]
    _line(bot, rf"^members 2 {author}$")
    _line(bot, r"^archived true$")
    _line(bot, r"^unarchived false$")
    lock = _line(bot, r"^lock refused: (.*)$").group(1)
    assert lock.startswith("DiscordError: lock_thread() failed: 403")
    assert "50013" in lock and "Manage Threads" in lock
    deleting = _line(bot, r"^delete refused: (.*)$").group(1)
    assert "50013" in deleting and "Manage Threads" in deleting  # a thread, known by its id
    _line(bot, r"^private private_thread$")
    _line(bot, r"^from message true replies$")
    second = _line(bot, r"^second: (.*)$").group(1)
    assert "160004" in second and "already has a thread" in second
    state = await control.get(f"/guilds/{sent['guild_id']}/state")
    threads = {t["id"]: t for t in state["threads"]}
    # Removing someone from a public thread needs Manage Threads: the author stays; the bot
    # left and joined again.
    removed = _line(bot, r"^remove refused: (.*)$").group(1)
    assert "50013" in removed and "Manage Threads" in removed
    assert threads[tid]["member_ids"] == [author, str(sandbox.world.bot_id)]
    assert threads[tid]["thread_metadata"]["locked"] is False
    assert threads[sent["id"]]["name"] == "replies"
    assert threads[sent["id"]]["thread_metadata"]["auto_archive_duration"] == 60
    [private] = [t for t in threads.values() if t["name"] == "secret"]
    assert private["type"] == 12 and private["thread_metadata"]["invitable"] is False
    assert "Traceback" not in bot.stderr


async def test_objects_in_a_guild_or_thread_name_it(
    sandbox: Any, control: Control, ezlang_run: Any
) -> None:
    bot, channel = await _start(sandbox, control, ezlang_run)
    first = await control.inject(channel, "hello")
    # A user's thread: archiving it needs Manage Threads (the bot did not start it).
    await _set_permissions(control, first["guild_id"], [*DEFAULT, "manage_threads"])
    thread = await control.post("/threads", {"channel_id": channel, "name": "talk"})
    await control.inject(thread["id"], "!here")
    await bot.wait_line(r"^archived here ")
    _line(bot, rf"^made {first['guild_id']}$")
    _line(bot, rf"^archived here {thread['id']} true$")
    await control.inject(channel, "!notathread")
    line = await bot.wait_line(r"archive_thread\(\) needs a thread", stream="err")
    assert "not the text channel" in line
    assert "Traceback" not in bot.stderr


async def test_lock_and_delete_with_manage_threads(
    sandbox: Any, control: Control, ezlang_run: Any
) -> None:
    bot, channel = await _start(sandbox, control, ezlang_run)
    first = await control.inject(channel, "hello")
    await _set_permissions(control, first["guild_id"], [*DEFAULT, "manage_threads"])
    await control.inject(channel, "!lock")
    await bot.wait_line(r"^thread deleted$")
    _line(bot, r"^members after remove 1$")
    _line(bot, r"^locked true$")
    _line(bot, r"^unlocked false$")
    state = await control.get(f"/guilds/{first['guild_id']}/state")
    assert [t for t in state["threads"] if t["name"] == "locked one"] == []
    assert "Traceback" not in bot.stderr


async def test_refusals_name_what_to_fix(sandbox: Any, control: Control, ezlang_run: Any) -> None:
    bot, channel = await _start(sandbox, control, ezlang_run)
    first = await control.inject(channel, "hello")
    guild_id = first["guild_id"]
    before = len((await control.get(f"/guilds/{guild_id}/state"))["channels"])
    await _set_permissions(control, guild_id, ["view_channel", "send_messages"])
    await control.inject(channel, "!nochannel")
    line = await bot.wait_line(r"create_channel\(\) failed", stream="err")
    assert "Missing Permissions (error code 50013)" in line and "Manage Channels" in line
    assert len((await control.get(f"/guilds/{guild_id}/state"))["channels"]) == before

    requests = sandbox.rest_requests
    await control.inject(channel, "!badtype")
    line = await bot.wait_line(r"create_channel\(\) type must be one of", stream="err")
    assert '"txt"' in line
    await control.inject(channel, "!badoption")
    await bot.wait_line(
        r"create_thread\(\) has no option 'typ' \(did you mean 'type'\?\)", stream="err"
    )
    await control.inject(channel, "!badduration")
    await bot.wait_line(r"auto_archive_duration must be 60, 1440, 4320 or 10080", stream="err")
    assert re.search(r"bot\.ez:\d+:\d+", bot.stderr), bot.stderr
    assert sandbox.rest_requests == requests  # checked before anything was sent
    assert bot.proc.returncode is None
    assert "Traceback" not in bot.stderr


def test_every_channel_and_thread_builtin_is_registered_and_documented() -> None:
    from ezlang.discord import channels, threads
    from ezlang.extensions import CHANNEL_BUILTINS, THREAD_BUILTINS

    docs = (Path(__file__).parents[2] / "docs" / "BOTS.md").read_text()
    registered = {**channels.BUILTINS, **threads.BUILTINS}
    assert set(CHANNEL_BUILTINS + THREAD_BUILTINS) == set(registered)
    for name in registered:
        assert f"`{name}(" in docs, f"{name} is not documented in docs/BOTS.md"
