"""examples/levels-bot.ez runs with ``--sandbox`` and keeps its data in the database."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from .conftest import ExampleBot, ezlang

pytestmark = pytest.mark.timeout(180)

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "levels-bot.ez"


async def test_levels_bot_counts_xp_warns_and_remembers_the_prefix(tmp_path: Path) -> None:
    async with ExampleBot(EXAMPLE, tmp_path) as bot:
        ready = await bot.first_line()
        assert re.fullmatch(r"Logged in as \S+; 0 members have XP\n", ready), ready
        for i in range(10):
            await bot.say(f"hello {i}")  # 10 messages x 10 XP = level 1
        said = await bot.replies(1, "the level-up reply")
        assert re.fullmatch(r"Level up! \S+ is now level 1", said[0]), said
        await bot.say("!rank")
        said = await bot.replies(2, "the rank reply")
        assert re.fullmatch(r"\S+: level 1, 100 XP", said[1]), said
        await bot.say("!warn bob")
        await bot.replies(3, "the first warning")
        await bot.say("!warn bob")
        said = await bot.replies(4, "the second warning")
        assert said[2:] == ["bob now has 1 warning(s)", "bob now has 2 warning(s)"]
        await bot.say("!setprefix ?")
        await bot.replies(5, "the prefix reply")
        await bot.say("?rank")
        said = await bot.replies(6, "a reply to the new prefix")
        assert said[4] == "Prefix set to ?" and said[5].endswith(": level 1, 100 XP")

    listed = ezlang("db", "--file", str(tmp_path / "ezlang.db"), "list").stdout.splitlines()
    assert [line.split("\t")[0].split(":")[0] for line in listed] == ["prefix", "warnings", "xp"]
    assert listed[2].endswith("\t100")
