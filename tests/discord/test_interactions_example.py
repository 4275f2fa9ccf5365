"""``examples/slash-bot.ez`` run exactly as its header says (``ezlang run … --sandbox``), used
through the sandbox's control API the way the header shows: every command it declares."""

from __future__ import annotations

import re
import signal
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from .conftest import Control, wait_until

pytestmark = pytest.mark.timeout(120)

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "slash-bot.ez"


async def test_the_slash_bot_example_answers_every_command(ezlang_run: Any) -> None:
    bot = await ezlang_run(EXAMPLE, "--sandbox")
    await bot.wait_line("^slash-bot ready in ")
    await bot.wait_line("registered 6 application command", stream="err")
    line = await bot.wait_line("send a message:", stream="err")
    base = re.search(r"(http://127\.0\.0\.1:\d+/_sandbox)", line)
    channel = re.search(r'"channel_id": "(\d+)"', line)
    assert base and channel
    async with aiohttp.ClientSession() as http:
        control = Control(base.group(1), http)
        ch = channel.group(1)

        async def use(**body: Any) -> dict[str, Any]:
            answer = await control.post("/interactions", {"channel_id": ch, **body})
            assert answer["failed"] is False, answer
            return answer

        ping = await use(name="ping")
        assert ping["response"]["data"]["content"] == "Pong! (shard 0)"
        echo = await use(name="echo", options={"text": "hi", "times": 2, "shout": True})
        assert echo["response"]["data"]["content"] == "HI\nHI"
        assert echo["response"]["data"]["flags"] == 64

        poll = await use(name="poll", options={"question": "Pizza?"})
        assert poll["response"]["data"]["embeds"][0]["title"] == "Pizza?"
        for expected in ("1", "2"):
            vote = await use(kind="component", message_id=poll["message_id"], custom_id="vote:yes")
            assert vote["response"]["data"]["content"] == f"You voted yes ({expected} so far)"

        form = await use(name="feedback")
        assert form["response"]["type"] == 9
        thanks = await use(kind="modal", custom_id="feedback",
                           fields={"name": "Ada", "text": "Lovely bot"})  # fmt: skip
        embed = thanks["response"]["data"]["embeds"][0]
        assert embed["title"] == "Thanks, Ada!" and embed["description"] == "Lovely bot"
        assert embed["timestamp"]

        info = await use(name="info")
        assert info["response"]["type"] == 5

        async def edited() -> Any:
            summary = await control.get(f"/interactions/{info['id']}")
            message = summary["message"]
            return message["embeds"] if message and message.get("embeds") else None

        card = (await wait_until(edited, what="the deferred answer's embed"))[0]
        assert [f["name"] for f in card["fields"]] == ["Server id", "Your id"]

        wave = await use(kind="user_command", name="Wave", target_id=ping["user_id"])
        assert " waves at " in wave["response"]["data"]["content"]
    assert "Traceback" not in bot.stderr
    bot.proc.send_signal(signal.SIGTERM)
    assert await bot.wait_exit() == 0
