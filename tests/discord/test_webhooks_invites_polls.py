"""Webhook, invite and poll builtins: a real ``ezlang run`` of a bot against the sandbox.

The test plays the users through the control API (a user posts a command, votes in a poll)
and checks what the sandbox holds afterwards (webhooks, the webhook's message in the channel,
invites, poll results) and what the bot printed. Each refusal is checked too: a missing
permission names it, a bad URL or poll is an EasyLang error with the line before anything is
sent.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web

from .conftest import Control
from .processes import sandbox_args

# A 1x1 PNG: the avatar create_webhook downloads.
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)

PERMISSIONS = [
    "view_channel",
    "send_messages",
    "read_message_history",
    "manage_webhooks",
    "create_instant_invite",
    "manage_channels",
    "manage_guild",
    "send_polls",
]

BOT = """on_ready(func(client) { print("ready") })
on_message(func(message) {
    if message.author.bot { return }
    let words = split(message.content, " ")
    let cmd = words[0]
    if cmd == "!hook" {
        let hook = create_webhook(message.channel_id, "Greeter", words[1])
        print("hook " + hook.id + " " + hook.name + " " + hook.url)
        let sent = webhook_send(hook.url, "hello from the hook", {username: "Herald", avatar_url: words[1], embed: {title: "news"}})
        print("sent " + sent.id + " by " + sent.author.username + " via " + sent.webhook_id)
        let asked = webhook_send(hook, null, {poll: create_poll("Lunch?", ["yes", "no"], 1)})
        print("hook poll " + asked.id)
        print("listed " + length(fetch_webhooks(message.channel_id)))
        print("fetched " + fetch_webhook(hook.url).name)
        print("renamed " + webhook_edit(hook.url, {name: "Crier"}).name)
        webhook_delete(hook.url)
        try {
            fetch_webhook(hook.url)
        } catch err {
            print("gone " + err.kind + ": " + err.message)
        }
    } else if cmd == "!hooknoperm" {
        create_webhook(message.channel_id, "Nope")
    } else if cmd == "!badurl" {
        webhook_send("https://example.com/not-a-hook", "hi")
    } else if cmd == "!invite" {
        let inv = create_invite(message.channel_id, {max_age: 3600, max_uses: 5, unique: true})
        print("invite " + inv.code + " " + inv.url + " " + inv.max_uses + " " + inv.max_age)
        print("got " + get_invite(inv.url).code)
        print("channel invites " + length(get_channel_invites(message.channel_id)))
        print("guild invites " + length(fetch_invites(message.guild_id)) + " " + length(get_guild_invites(message.guild_id)))
        delete_invite(inv)
        print("after delete " + get_invite(inv.code))
    } else if cmd == "!invitenoperm" {
        get_channel_invites(message.channel_id)
    } else if cmd == "!poll" {
        let sent = send_poll(message.channel_id, create_poll("Best pet?", ["cat", "dog", "fish"], 24))
        print("poll " + sent.id + " " + sent.poll.question + " " + length(sent.poll.answers) + " " + sent.poll.is_finalized)
        let multi = send_message(message.channel_id, {poll: create_multi_select_poll("Snacks?", ["chips", "fruit"], 768)})
        print("multi " + multi.id)
    } else if cmd == "!results" {
        let r = fetch_poll_results({id: words[1], channel_id: message.channel_id})
        print("results " + r.answers[0].text + "=" + r.answers[0].votes + " " + r.answers[1].text + "=" + r.answers[1].votes + " total " + r.total_votes + " final " + r.is_finalized)
        let voters = get_poll_voters({id: words[1], channel_id: message.channel_id}, 1)
        print("voters " + length(voters) + " " + voters[0].id)
    } else if cmd == "!end" {
        let r = end_poll({id: words[1], channel_id: message.channel_id})
        print("ended final " + r.is_finalized + " total " + r.total_votes)
    } else if cmd == "!badpoll" {
        create_poll("Too long?", ["a", "b"], 800)
    } else if cmd == "!endtheirs" {
        end_poll(message)
    }
})
bot_start()
"""


@pytest.fixture
async def avatar_url() -> AsyncIterator[str]:
    """A loopback web server with one PNG, as an avatar URL."""

    async def image(request: web.Request) -> web.Response:
        return web.Response(body=PNG, content_type="image/png")

    app = web.Application()
    app.router.add_get("/avatar.png", image)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    yield f"http://127.0.0.1:{port}/avatar.png"
    await runner.cleanup()


async def _start(
    sandbox: Any, control: Control, ezlang_run: Any, grant: bool = True
) -> tuple[Any, str, str]:
    bot = await ezlang_run(BOT, *sandbox_args(sandbox))
    await bot.wait_line("^ready$")
    channel = await control.first_text_channel()
    guild = str(int(channel) >> 22 << 22)
    if grant:
        await _permissions(control, guild, PERMISSIONS)
    return bot, channel, guild


async def _permissions(control: Control, guild: str, names: list[str]) -> None:
    async with control.http.put(
        f"{control.url}/guilds/{guild}/bot_permissions", json={"permissions": names}
    ) as r:
        assert r.status == 200, await r.text()


def _line(bot: Any, pattern: str) -> re.Match[str]:
    found = re.search(pattern, bot.stdout, re.M)
    assert found, f"{pattern!r} not in stdout:\n{bot.stdout}\nstderr:\n{bot.stderr}"
    return found


async def test_webhook_create_send_list_edit_delete(
    sandbox: Any, control: Control, ezlang_run: Any, avatar_url: str
) -> None:
    bot, channel, guild = await _start(sandbox, control, ezlang_run)
    assert (await control.get(f"/guilds/{guild}/state"))["webhooks"] == []
    await control.inject(channel, f"!hook {avatar_url}")
    await bot.wait_line(r"^gone ")
    hook_id, url = _line(bot, r"^hook (\d+) Greeter (\S+)$").groups()
    assert re.fullmatch(rf"https://discord\.com/api/webhooks/{hook_id}/[A-Za-z0-9_-]{{60,}}", url)
    message_id = _line(bot, rf"^sent (\d+) by Herald via {hook_id}$").group(1)
    # The message is in the channel, from the webhook, with the given name and avatar.
    msg = sandbox.find_message(int(channel), message_id)
    assert msg["webhook_id"] == hook_id and msg["content"] == "hello from the hook"
    assert msg["author"]["username"] == "Herald" and msg["author"]["id"] == hook_id
    assert msg["author"]["avatar"] == hashlib.md5(avatar_url.encode()).hexdigest()
    assert msg["embeds"][0]["title"] == "news" and "member" not in msg
    poll_msg = sandbox.find_message(int(channel), _line(bot, r"^hook poll (\d+)$").group(1))
    assert poll_msg["webhook_id"] == hook_id and poll_msg["poll"]["question"]["text"] == "Lunch?"
    _line(bot, r"^listed 1$")
    _line(bot, r"^fetched Greeter$")
    _line(bot, r"^renamed Crier$")
    gone = _line(bot, r"^gone (.*)$").group(1)
    assert gone.startswith("DiscordError: fetch_webhook() failed: 404") and "10015" in gone
    assert (await control.get(f"/guilds/{guild}/state"))["webhooks"] == []
    assert "Traceback" not in bot.stderr


async def test_webhook_refusals(sandbox: Any, control: Control, ezlang_run: Any) -> None:
    bot, channel, guild = await _start(sandbox, control, ezlang_run, grant=False)
    requests = sandbox.rest_requests
    await control.inject(channel, "!badurl")
    line = await bot.wait_line(r"is not a webhook URL", stream="err")
    assert "https://discord.com/api/webhooks/ID/TOKEN" in line
    assert re.search(r"bot\.ez:\d+:\d+", bot.stderr), bot.stderr
    assert sandbox.rest_requests == requests  # refused before any request
    await control.inject(channel, "!hooknoperm")
    line = await bot.wait_line(r"create_webhook\(\) failed", stream="err")
    assert "Missing Permissions (error code 50013)" in line and "Manage Webhooks" in line
    assert (await control.get(f"/guilds/{guild}/state"))["webhooks"] == []
    assert bot.proc.returncode is None
    assert "Traceback" not in bot.stderr


async def test_invites(sandbox: Any, control: Control, ezlang_run: Any) -> None:
    bot, channel, guild = await _start(sandbox, control, ezlang_run)
    await control.inject(channel, "!invite")
    await bot.wait_line(r"^after delete ")
    code = _line(bot, r"^invite (\w+) https://discord\.gg/(\w+) 5 3600$").group(1)
    _line(bot, rf"^got {code}$")
    _line(bot, r"^channel invites 1$")
    _line(bot, r"^guild invites 1 1$")
    _line(bot, r"^after delete null$")
    assert (await control.get(f"/guilds/{guild}/state"))["invites"] == []

    await _permissions(control, guild, ["view_channel", "send_messages", "read_message_history"])
    await control.inject(channel, "!invitenoperm")
    line = await bot.wait_line(r"get_channel_invites\(\) failed", stream="err")
    assert "50013" in line and "Manage Channels" in line
    assert (await control.get(f"/guilds/{guild}/state"))["invites"] == []
    assert "Traceback" not in bot.stderr


async def test_polls_votes_results_and_end(sandbox: Any, control: Control, ezlang_run: Any) -> None:
    bot, channel, guild = await _start(sandbox, control, ezlang_run)
    await control.inject(channel, "!poll")
    await bot.wait_line(r"^multi \d+$")
    poll_id = _line(bot, r"^poll (\d+) Best pet\? 3 false$").group(1)
    multi_id = _line(bot, r"^multi (\d+)$").group(1)
    assert sandbox.find_message(int(channel), multi_id)["poll"]["allow_multiselect"] is True

    alice, bob = sandbox.world.member_ids(sandbox.world.guild_index(int(guild)))[:2]
    votes = f"/polls/{channel}/{poll_id}/votes"
    await control.post(votes, {"user_id": alice, "answer_id": 1})
    await control.post(votes, {"user_id": bob, "answer_id": 2})
    # One answer per user in a single-choice poll.
    async with control.http.post(control.url + votes, json={"user_id": alice, "answer_id": 2}) as r:
        assert r.status == 400 and "allows one answer" in (await r.json())["error"]

    await control.inject(channel, f"!results {poll_id}")
    await bot.wait_line(r"^voters ")
    _line(bot, r"^results cat=1 dog=1 total 2 final false$")
    _line(bot, rf"^voters 1 {alice}$")

    await control.inject(channel, f"!end {poll_id}")
    await bot.wait_line(r"^ended final true total 2$")
    async with control.http.post(control.url + votes, json={"user_id": bob, "answer_id": 3}) as r:
        assert r.status == 400 and "ended" in (await r.json())["error"]
    assert sandbox.find_message(int(channel), poll_id)["poll"]["results"]["is_finalized"] is True
    assert "Traceback" not in bot.stderr


async def test_poll_refusals(sandbox: Any, control: Control, ezlang_run: Any) -> None:
    bot, channel, guild = await _start(sandbox, control, ezlang_run)
    requests = sandbox.rest_requests
    await control.inject(channel, "!badpoll")
    line = await bot.wait_line(r"create_poll\(\)", stream="err")
    assert "1 to 768 hours" in line and "800" in line
    assert re.search(r"bot\.ez:\d+:\d+", bot.stderr), bot.stderr
    assert sandbox.rest_requests == requests

    # A user's message is no poll of the bot's: Discord's 520006, said plainly.
    await control.inject(channel, "!endtheirs")
    line = await bot.wait_line(r"end_poll\(\) failed", stream="err")
    assert "520006" in line and "that message has no poll" in line

    await _permissions(control, guild, ["view_channel", "send_messages", "read_message_history"])
    before = len(sandbox.bot_messages(channel))
    await control.inject(channel, "!poll")
    line = await bot.wait_line(r"send_poll\(\) failed", stream="err")
    assert "50013" in line and "Send Polls" in line
    assert len(sandbox.bot_messages(channel)) == before
    assert bot.proc.returncode is None
    assert "Traceback" not in bot.stderr
