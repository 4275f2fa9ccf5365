"""End to end: ``ezlang run bot.ez`` as a real process, against a real sandbox on loopback.

The sandbox runs in the test's event loop; the bot is a separate ``ezlang run`` process, so
exit codes, signals and what the user sees on stdout/stderr are tested exactly as a user
meets them.
"""

from __future__ import annotations

import re
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from .conftest import DEADLINE, Control, wait_until
from .processes import sandbox_args

pytestmark = pytest.mark.timeout(120)

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"


async def test_hello_bot_answers_ping_and_exits_0_on_sigterm_with_close_1000(
    sandbox: Any, control: Control, ezlang_run: Any
) -> None:
    bot = await ezlang_run(EXAMPLES / "hello-bot.ez", *sandbox_args(sandbox))
    await bot.wait_line(r"^Logged in as .+ in 20 servers$")
    channel = await control.first_text_channel()
    await control.inject(channel, "!ping")
    pong = await control.wait_for_bot_message(channel, lambda m: m["content"].startswith("Pong!"))
    assert re.fullmatch(r"Pong! \(-?\d+ ms\)", pong["content"])
    await control.inject(channel, "!help")
    await control.wait_for_bot_message(channel, lambda m: m["content"].startswith("Commands:"))

    bot.proc.send_signal(signal.SIGTERM)
    assert await bot.wait_exit() == 0
    assert "Traceback" not in bot.stderr
    state = await control.get("/state")
    assert [c["code"] for c in state["closes"]] == [1000]
    assert sandbox.token not in bot.stdout + bot.stderr


async def test_handler_error_shows_ez_position_and_bot_keeps_running(
    sandbox: Any, control: Control, ezlang_run: Any
) -> None:
    program = """on_ready(func(client) { print("ready") })
on_message(func(message) {
    if message.content == "!boom" {
        let parts = split(message.content, "")
        print(parts[99])
    }
    if message.content == "!ping" {
        send_message(message.channel_id, "still here")
    }
})
bot_start()
"""
    bot = await ezlang_run(program, *sandbox_args(sandbox))
    await bot.wait_line("^ready$")
    channel = await control.first_text_channel()
    await control.inject(channel, "!boom")
    await bot.wait_line(r"IndexError", stream="err")
    await bot.wait_line(r"bot\.ez:5:", stream="err")
    await control.inject(channel, "!ping")
    await control.wait_for_bot_message(channel, lambda m: m["content"] == "still here")
    assert bot.proc.returncode is None
    assert "Traceback" not in bot.stderr


async def test_listen_statement_and_several_handlers_in_order(
    sandbox: Any, control: Control, ezlang_run: Any
) -> None:
    program = """listen "ready" (client) {
    print("ready " + client.guild_count)
}
listen "messageCreate" (message) {
    print("first " + message.content)
}
listen "messageCreate" (message) {
    print("second " + message.content + " from " + message.author.username)
}
bot_start()
"""
    bot = await ezlang_run(program, *sandbox_args(sandbox))
    await bot.wait_line("^ready 20$")
    await control.inject(await control.first_text_channel(), "hey")
    await bot.wait_line("^second hey from ")
    firsts = [i for i, line in enumerate(bot.out) if line == "first hey"]
    seconds = [i for i, line in enumerate(bot.out) if line.startswith("second hey")]
    assert firsts and seconds and firsts[0] < seconds[0]


async def test_set_activity_from_easylang_reaches_the_sandbox(
    sandbox: Any, control: Control, ezlang_run: Any
) -> None:
    program = """on_ready(func(client) {
    set_status("idle", "competing", "the tests")
    print("set")
})
bot_start()
"""
    bot = await ezlang_run(program, *sandbox_args(sandbox))
    await bot.wait_line("^set$")

    async def presence() -> dict[str, Any] | None:
        for entry in await control.get("/presences"):
            p = entry["presence"]
            if (
                p.get("status") == "idle"
                and (p.get("activities") or [{}])[0].get("name") == "the tests"
            ):
                return p
        return None

    p = await wait_until(presence, what="the presence")
    assert p["activities"][0]["type"] == 5  # competing


async def test_get_shard_info_unsharded_from_easylang(sandbox: Any, ezlang_run: Any) -> None:
    program = """on_ready(func(client) {
    let info = get_shard_info()
    print(info)
    print(client.shard.ids, client.shard.count, client.ws.status)
    bot_stop()
})
bot_start()
"""
    bot = await ezlang_run(program, *sandbox_args(sandbox))
    assert await bot.wait_exit() == 0, bot.stderr
    assert bot.out == [
        '{"shard_id": null, "total_shards": 1, "guild_count": 20, "sharded": false}',
        "[0] 1 ready",
    ]


async def test_get_shard_info_outside_a_running_bot_says_where_to_call_it(
    ezlang_run: Any,
) -> None:
    bot = await ezlang_run("print(get_shard_info())\n")
    assert await bot.wait_exit() == 1
    assert "DiscordError" in bot.stderr and "bot_start()" in bot.stderr
    assert "bot.ez:1:" in bot.stderr and "Traceback" not in bot.stderr


async def test_wrong_token_exits_1_with_one_clear_line(sandbox: Any, ezlang_run: Any) -> None:
    t0 = time.monotonic()
    bot = await ezlang_run(
        'print("starting")\nbot_start()\n', "--api", sandbox.api_url,
        env={"DISCORD_TOKEN": "wrong-token-value"},
    )  # fmt: skip
    assert await bot.wait_exit() == 1
    assert time.monotonic() - t0 < DEADLINE
    assert bot.out == ["starting"]
    assert "Traceback" not in bot.stderr and "wrong-token-value" not in bot.stderr
    headline = [line for line in bot.err if "DiscordError" in line]
    assert len(headline) == 1
    assert "401" in headline[0] and "token" in headline[0]


async def test_no_token_is_a_clear_error(ezlang_run: Any) -> None:
    bot = await ezlang_run("bot_start()\n")
    assert await bot.wait_exit() == 1
    assert "no bot token" in bot.stderr and "--sandbox" in bot.stderr
    assert "Traceback" not in bot.stderr


async def test_refused_privileged_intent_exits_1_naming_it(ezlang_run: Any) -> None:
    from ezlang.sandbox import Sandbox

    async with Sandbox(guilds=3, identify_window=0.2, privileged_intents=False) as sb:
        bot = await ezlang_run(
            'set_intents(["guilds", "guild_messages", "members"])\nbot_start()\n',
            *sandbox_args(sb),
        )
        assert await bot.wait_exit() == 1
    assert "members" in bot.stderr and "SERVER MEMBERS INTENT" in bot.stderr
    assert "Traceback" not in bot.stderr


async def test_hello_bot_runs_with_embedded_sandbox(ezlang_run: Any) -> None:
    import aiohttp

    bot = await ezlang_run(EXAMPLES / "hello-bot.ez", "--sandbox")
    line = await bot.wait_line(r"curl -X POST (\S+)/messages", stream="err", timeout=30)
    control_url = re.search(r"curl -X POST (\S+)/messages", line).group(1)  # type: ignore[union-attr]
    await bot.wait_line(r"^Logged in as .+ in 5000 servers$", timeout=60)
    async with aiohttp.ClientSession() as http:
        control = Control(control_url, http)
        shards = (await control.get("/state"))["recommended_shards"]
        channel = await control.first_text_channel(0, shards)
        await control.inject(channel, "!hello")
        msg = await control.wait_for_bot_message(
            channel, lambda m: m["content"].startswith("Hello")
        )
        assert msg["content"].endswith("!")
        state = await control.get("/state")
        assert state["identify_violations"] == 0, state["identifies"]
    bot.proc.send_signal(signal.SIGINT)
    assert await bot.wait_exit() == 0, bot.stderr
    assert "Traceback" not in bot.stderr


async def test_sharding_example_bot_runs_alone_with_embedded_sandbox(ezlang_run: Any) -> None:
    import aiohttp

    bot = await ezlang_run(EXAMPLES / "sharding" / "bot.ez", "--sandbox")
    line = await bot.wait_line(r"curl -X POST (\S+)/messages", stream="err", timeout=30)
    control_url = re.search(r"curl -X POST (\S+)/messages", line).group(1)  # type: ignore[union-attr]
    # 5,000 servers need 5 shards: without a manager the bot shards itself in one process.
    await bot.wait_line(r"^all shards of 5 ready with 5000 servers$", timeout=60)
    async with aiohttp.ClientSession() as http:
        control = Control(control_url, http)
        channel = await control.first_text_channel(3, 5)
        await control.inject(channel, "!shardinfo")
        msg = await control.wait_for_bot_message(channel, lambda m: bool(m.get("embeds")))
        fields = {f["name"]: f["value"] for f in msg["embeds"][0]["fields"]}
        assert fields["Total shards"] == "5" and fields["Servers on this shard"] == "5000"

        async def presences() -> list[Any] | None:
            entries = await control.get("/presences")
            names = [(e["presence"].get("activities") or [{}])[0].get("name") for e in entries]
            return names if len(names) == 5 and all(n and "of 5" in n for n in names) else None

        await wait_until(presences, what="every shard's activity")
    bot.proc.send_signal(signal.SIGTERM)
    assert await bot.wait_exit() == 0
    assert "Traceback" not in bot.stderr


async def test_api_from_the_environment_variable(sandbox: Any, ezlang_run: Any) -> None:
    program = (
        'on_ready(func(client) { print("ready", client.guild_count)\n bot_stop() })\nbot_start()\n'
    )
    bot = await ezlang_run(
        program, env={"EZLANG_DISCORD_API": sandbox.api_url, "DISCORD_TOKEN": sandbox.token}
    )
    assert await bot.wait_exit() == 0, bot.stderr
    assert bot.out == ["ready 20"]


async def test_unreachable_api_is_one_clear_error(ezlang_run: Any) -> None:
    bot = await ezlang_run("bot_start()\n", "--api", "http://127.0.0.1:1", "TOKEN=x")
    assert await bot.wait_exit() == 1
    assert "cannot reach the Discord API at http://127.0.0.1:1/api/v10" in bot.stderr
    assert "Traceback" not in bot.stderr


async def test_sigterm_while_shards_are_still_connecting_exits_0_promptly(
    ezlang_run: Any,
) -> None:
    from ezlang.sandbox import Sandbox

    # Two shards and a long identify window: shard 1 is still waiting to IDENTIFY.
    async with Sandbox(guilds=1100, identify_window=30.0, seed=3) as sb:
        bot = await ezlang_run('print("starting")\nbot_start()\n', *sandbox_args(sb))
        await bot.wait_line("^starting$")
        await wait_until(lambda: sb.state()["identifies"], what="the first IDENTIFY")
        t0 = time.monotonic()
        bot.proc.send_signal(signal.SIGTERM)
        assert await bot.wait_exit() == 0
        assert time.monotonic() - t0 < 8.0
        assert "Traceback" not in bot.stderr
        # Shard 0's session closes with 1000. Shard 1, waiting to IDENTIFY, is closed with 1000
        # as well when its websocket is open; if SIGTERM lands while its websocket handshake is
        # still in flight there is no websocket to send a close frame on (no session either).
        await wait_until(lambda: not sb.gateway.connections, what="every socket closed")
        closes = sb.state()["closes"]
        sessions = [c["code"] for c in closes if c["shard"] is not None]
        assert sessions == [1000], closes
        assert len(closes) <= 2, closes
