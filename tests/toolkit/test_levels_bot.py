"""examples/levels-bot.ez runs with ``--sandbox`` and keeps its data in the database."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import signal
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from .conftest import child_env, ezlang

pytestmark = pytest.mark.timeout(180)

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "levels-bot.ez"
DEADLINE = 60.0


async def _wait(predicate: Any, what: str) -> Any:
    deadline = time.monotonic() + DEADLINE
    while True:
        value = await predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def test_levels_bot_counts_xp_warns_and_remembers_the_prefix(tmp_path: Path) -> None:
    bot_file = tmp_path / "levels-bot.ez"
    shutil.copy(EXAMPLE, bot_file)  # its ezlang.db then lands in tmp_path, not in examples/
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "ezlang", "run", str(bot_file), "--sandbox",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=child_env(),
    )  # fmt: skip
    assert proc.stdout is not None and proc.stderr is not None
    err_lines: list[str] = []
    try:
        control = None
        while control is None:
            line = (await asyncio.wait_for(proc.stderr.readline(), DEADLINE)).decode()
            assert line, "the bot exited: " + "".join(err_lines)
            err_lines.append(line)
            m = re.search(r"curl -X POST (\S+)/messages -d '(.*)'", line)
            if m:
                control, channel = m.group(1), str(json.loads(m.group(2))["channel_id"])
        ready = (await asyncio.wait_for(proc.stdout.readline(), DEADLINE)).decode()
        assert re.fullmatch(r"Logged in as \S+; 0 members have XP\n", ready), ready

        async with aiohttp.ClientSession() as http:

            async def say(content: str) -> None:
                body = {"channel_id": channel, "content": content}
                async with http.post(control + "/messages", json=body) as resp:
                    assert resp.status == 200, await resp.text()

            async def bot_says() -> list[str]:
                async with http.get(f"{control}/channels/{channel}/messages") as resp:
                    messages = await resp.json(content_type=None)
                return [m["content"] for m in messages if m["author"].get("bot")]

            async def reply_count(n: int) -> list[str] | None:
                said = await bot_says()
                return said if len(said) >= n else None

            for i in range(10):
                await say(f"hello {i}")  # 10 messages x 10 XP = level 1
            said = await _wait(lambda: reply_count(1), "the level-up reply")
            assert re.fullmatch(r"Level up! \S+ is now level 1", said[0]), said
            await say("!rank")
            said = await _wait(lambda: reply_count(2), "the rank reply")
            assert re.fullmatch(r"\S+: level 1, 100 XP", said[1]), said
            await say("!warn bob")
            await _wait(lambda: reply_count(3), "the first warning")
            await say("!warn bob")
            said = await _wait(lambda: reply_count(4), "the second warning")
            assert said[2:] == ["bob now has 1 warning(s)", "bob now has 2 warning(s)"]
            await say("!setprefix ?")
            await _wait(lambda: reply_count(5), "the prefix reply")
            await say("?rank")
            said = await _wait(lambda: reply_count(6), "a reply to the new prefix")
            assert said[4] == "Prefix set to ?" and said[5].endswith(": level 1, 100 XP")
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGINT)
        rest = await asyncio.wait_for(proc.stderr.read(), DEADLINE)
        await asyncio.wait_for(proc.wait(), DEADLINE)
    assert proc.returncode == 0
    assert "Traceback" not in "".join(err_lines) + rest.decode()

    listed = ezlang("db", "--file", str(tmp_path / "ezlang.db"), "list").stdout.splitlines()
    assert [line.split("\t")[0].split(":")[0] for line in listed] == ["prefix", "warnings", "xp"]
    assert listed[2].endswith("\t100")
