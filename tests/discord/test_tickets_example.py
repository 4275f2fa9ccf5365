"""``examples/tickets-bot.ez`` run against the sandbox and driven through its control API:
!setup makes a category and a synced channel, !ticket opens a private thread with the
author in it, !close archives it — and locks it only once the bot's role has Manage Threads.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from .conftest import Control, wait_until
from .processes import sandbox_args

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "tickets-bot.ez"
SEND_MESSAGES = str(1 << 11)


async def test_the_tickets_example(sandbox: Any, control: Control, ezlang_run: Any) -> None:
    bot = await ezlang_run(EXAMPLE, *sandbox_args(sandbox))
    await bot.wait_line(r"^Tickets bot ready in \d+ servers$")
    channel = await control.first_text_channel()
    first = await control.inject(channel, "!setup")
    guild_id = first["guild_id"]
    await control.wait_for_bot_message(channel, lambda m: m["content"].startswith("Made Support"))
    state = await control.get(f"/guilds/{guild_id}/state")
    support = next(c for c in state["channels"] if c["name"] == "Support")
    desk = next(c for c in state["channels"] if c["name"] == "help-desk")
    assert support["type"] == 4 and desk["parent_id"] == support["id"]
    deny = [(o["id"], o["deny"]) for o in support["permission_overwrites"]]
    assert deny == [(guild_id, SEND_MESSAGES)]
    assert desk["permission_overwrites"] == support["permission_overwrites"]  # synced

    asked = await control.inject(channel, "!ticket my printer is on fire")
    author = sandbox.find_message(int(channel), asked["id"])["author"]["id"]
    tid = re.search(r"^ticket (\d+) for ", await bot.wait_line(r"^ticket \d+ for ")).group(1)
    state = await control.get(f"/guilds/{guild_id}/state")
    [ticket] = [t for t in state["threads"] if t["id"] == tid]
    assert ticket["type"] == 12 and ticket["parent_id"] == desk["id"]
    assert ticket["name"] == "ticket: my printer is on fire"
    assert ticket["member_ids"] == [str(sandbox.world.bot_id), author]
    [welcome] = await control.bot_messages(tid)
    assert welcome["content"].startswith("Hi ")

    # Without Manage Threads: archived, not locked, and the bot says why.
    await control.inject(tid, "!close")
    line = await bot.wait_line(r"^not locked: ")
    assert "Manage Threads" in line and "50013" in line
    await bot.wait_line(rf"^closed {tid}$")
    meta = next(t for t in (await control.get(f"/guilds/{guild_id}/state"))["threads"])
    assert (meta["thread_metadata"]["archived"], meta["thread_metadata"]["locked"]) == (True, False)

    # With it: the next ticket is locked too.
    async with control.http.put(
        f"{control.url}/guilds/{guild_id}/bot_permissions",
        json={
            "permissions": ["view_channel", "send_messages", "manage_channels", "manage_threads"]
        },
    ) as resp:
        assert resp.status == 200
    await control.inject(channel, "!ticket again")

    def tickets() -> list[str]:
        return re.findall(r"^ticket (\d+) for ", bot.stdout, re.M)

    await wait_until(lambda: len(tickets()) == 2, what="a second ticket")
    second = tickets()[1]
    assert second != tid
    await control.inject(second, "!close")
    await bot.wait_line(rf"^closed {second}$")
    state = await control.get(f"/guilds/{guild_id}/state")
    meta = next(t for t in state["threads"] if t["id"] == second)["thread_metadata"]
    assert (meta["archived"], meta["locked"]) == (True, True)
    assert bot.stdout.count("not locked") == 1
    assert "Traceback" not in bot.stderr and "error in" not in bot.stderr
