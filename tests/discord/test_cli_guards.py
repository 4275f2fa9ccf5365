"""What protects a beginner, end to end through ``ezlang run``: a bot that answers everything
answers once, a typo in a message field is named, handlers without ``bot_start()`` are
reported, and ``--sandbox --log`` shows what happens."""

from __future__ import annotations

import re
import signal
from typing import Any

import pytest

from .conftest import Control
from .processes import sandbox_args

pytestmark = pytest.mark.timeout(120)


async def test_a_bot_that_replies_to_everything_replies_once(
    sandbox: Any, control: Control, ezlang_run: Any
) -> None:
    program = """on_ready(func(client) { print("ready") })
on_message(func(message) {
    reply(message, "echo: " + message.content)
})
bot_start()
"""
    bot = await ezlang_run(program, *sandbox_args(sandbox))
    await bot.wait_line("^ready$")
    channel = await control.first_text_channel()
    await control.inject(channel, "hi")
    await control.wait_for_bot_message(channel, lambda m: m["content"] == "echo: hi")
    # Gateway events arrive in order: once the answer to a later message is there, an answer
    # to the bot's own "echo: hi" would have been sent before it.
    await control.inject(channel, "barrier")
    await control.wait_for_bot_message(channel, lambda m: m["content"] == "echo: barrier")
    contents = [m["content"] for m in await control.bot_messages(channel)]
    assert contents == ["echo: hi", "echo: barrier"]
    assert "Traceback" not in bot.stderr


async def test_a_mistyped_message_field_names_the_right_one(
    sandbox: Any, control: Control, ezlang_run: Any
) -> None:
    program = """on_ready(func(client) { print("ready") })
on_message(func(message) {
    print(message.contnet)
})
bot_start()
"""
    bot = await ezlang_run(program, *sandbox_args(sandbox))
    await bot.wait_line("^ready$")
    await control.inject(await control.first_text_channel(), "hello")
    await bot.wait_line("did you mean 'content'", stream="err")
    assert re.search(r"bot\.ez:3:\d+", bot.stderr), bot.stderr
    assert "the bot keeps running" in bot.stderr
    assert "Traceback" not in bot.stderr
    bot.proc.send_signal(signal.SIGTERM)
    assert await bot.wait_exit() == 0


async def test_handlers_without_bot_start_are_reported_with_exit_1(ezlang_run: Any) -> None:
    program = """on_message(func(message) { print(message.content) })
print("script done")
"""
    bot = await ezlang_run(program)
    assert await bot.wait_exit() == 1
    assert bot.out == ["script done"]
    assert "never called bot_start()" in bot.stderr and "messageCreate" in bot.stderr
    assert "Traceback" not in bot.stderr


async def test_a_program_without_handlers_needs_no_bot_start(ezlang_run: Any) -> None:
    bot = await ezlang_run('print("plain")\n')
    assert await bot.wait_exit() == 0
    assert bot.stderr == ""


BOT = """on_ready(func(client) { print("ready") })
on_message(func(message) {
    if message.content == "!ping" { reply(message, "pong") }
})
bot_start()
"""


async def _talk_through_hint(bot: Any) -> tuple[str, str]:
    """Follow the hint lines --sandbox prints: send !ping, return (control URL, channel)."""
    import aiohttp

    line = await bot.wait_line(r"^sandbox: send a message: ", stream="err")
    match = re.search(r"curl -X POST (\S+)/messages -d '(.*)'$", line)
    assert match, line
    control_url, body = match[1], match[2]
    channel = re.search(r'"channel_id": "(\d+)"', body)
    assert channel, body
    replies = await bot.wait_line(r"^sandbox: see the bot's replies: curl ", stream="err")
    assert replies.endswith(f"{control_url}/channels/{channel[1]}/messages")
    await bot.wait_line("^ready$")
    async with aiohttp.ClientSession() as http:
        control = Control(control_url, http)
        await control.post("/messages", {"channel_id": channel[1], "content": "!ping"})
        await control.wait_for_bot_message(channel[1], lambda m: m["content"] == "pong")
    return control_url, channel[1]


async def test_run_sandbox_log_shows_identify_and_messages_with_shards(ezlang_run: Any) -> None:
    bot = await ezlang_run(BOT, "--sandbox", "--log")
    await _talk_through_hint(bot)
    await bot.wait_line(r"^sandbox: message out: the bot in channel \d+ .*\"pong\"", stream="err")
    # 5000 guilds need 5 shards: the bot shards itself, and every IDENTIFY says which.
    identifies = [line for line in bot.err if re.match(r"^sandbox: shard \d/5: IDENTIFY", line)]
    assert len(identifies) == 5 and "message_content" in identifies[0]
    assert "READY with 1000 guild(s)" in identifies[0]
    incoming = await bot.wait_line(r"^sandbox: message in: ", stream="err")
    assert '"!ping"' in incoming and re.search(r"→ shard \d/5", incoming)
    await bot.wait_line(r"^sandbox: gateway: connection #1 opened", stream="err")
    bot.proc.send_signal(signal.SIGTERM)
    assert await bot.wait_exit() == 0
    closes = re.findall(r"connection #\d \(shard \d/5\) closed by the client with 1000", bot.stderr)
    assert len(closes) == 5, bot.stderr
    assert "Traceback" not in bot.stderr


async def test_run_sandbox_without_log_is_quiet_but_says_how(ezlang_run: Any) -> None:
    bot = await ezlang_run(BOT, "--sandbox")
    await _talk_through_hint(bot)
    assert "--log shows every message" in bot.err[0]
    bot.proc.send_signal(signal.SIGTERM)
    assert await bot.wait_exit() == 0
    assert not [line for line in bot.err if "IDENTIFY" in line or "message in:" in line]
    assert "Traceback" not in bot.stderr


async def test_log_needs_sandbox(ezlang_run: Any) -> None:
    bot = await ezlang_run(BOT, "--log")
    assert await bot.wait_exit() == 2
    assert "--log works with --sandbox" in bot.stderr
