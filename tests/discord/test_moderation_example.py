"""``examples/moderation-bot.ez`` sharded over 4 shards by a shard manager, driven end to end
through the sandbox's control API: /kick, /ban, /timeout, reaction roles and the welcome of a
member who joins (in a channel, or by DM), each in a guild of a different shard, every change
checked in the server state; the commands' permission checks refusing a plain member; and a
refusal (the bot's role below the member's) answered to the moderator in words."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import pytest

from ezlang.sandbox import Sandbox

from .conftest import Control, wait_until

pytestmark = pytest.mark.timeout(180)

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "moderation-bot.ez"
SHARDS = 4


def _manager(stop: Path) -> str:
    return f"""let manager = create_shard_manager({str(EXAMPLE)!r}, {{total_shards: {SHARDS}}})
let shards = spawn_shards()
print("shards ready " + length(shards))
while not fs_exists({str(stop)!r}) {{ wait(0.1) }}
stop_shards()
print("stopped")
""".replace("'", '"')


async def test_the_moderation_example_sharded(tmp_path: Path, ezlang_run: Any) -> None:
    stop = tmp_path / "stop"
    manager = tmp_path / "manager.ez"
    manager.write_text(_manager(stop), encoding="utf-8")
    async with (
        Sandbox(guilds=8, max_concurrency=SHARDS, identify_window=0.5) as sb,
        aiohttp.ClientSession() as http,
    ):
        world = sb.world
        control = Control(sb.control_url, http)
        proc = await ezlang_run(manager, "--api", sb.api_url, env={"DISCORD_TOKEN": sb.token})
        await proc.wait_line(f"^shards ready {SHARDS}$", timeout=90)
        await wait_until(
            lambda: len(sb.app_commands.snapshot()["global"]) == 5, what="5 slash commands"
        )
        # One guild of each shard: (guild index, its first text channel, its members).
        by_shard: dict[int, int] = {}
        for index in range(8):
            by_shard.setdefault((world.guild_id(index) >> 22) % SHARDS, index)
        assert sorted(by_shard) == list(range(SHARDS))

        def where(shard: int) -> tuple[str, str, list[str]]:
            index = by_shard[shard]
            channel = next(c for c in world.channels(index) if c["type"] == 0)
            members = [str(u) for u in world.member_ids(index)]
            return str(world.guild_id(index)), str(channel["id"]), members

        async def use(in_channel: str, name: str, **options: Any) -> str:
            answer = await control.post(
                "/interactions", {"channel_id": in_channel, "name": name, "options": options}
            )
            assert answer["failed"] is False, answer
            return answer["response"]["data"]["content"]

        async def state(guild: str) -> dict[str, Any]:
            return await control.get(f"/guilds/{guild}/state")

        async def refused(in_channel: str, by: str, name: str, **options: Any) -> str:
            """A member without the permission uses the command (as if an admin had opened
            it to everyone: the sandbox, like Discord then, lets the interaction through)."""
            answer = await control.post(
                "/interactions",
                {"channel_id": in_channel, "name": name, "user_id": by, "options": options},
            )
            assert answer["failed"] is False and answer["ephemeral"] is True, answer
            assert answer["response"]["data"]["flags"] & 64
            return answer["response"]["data"]["content"]

        # The checks: a plain member is refused in words, only they see it, nothing happens.
        guild, channel, members = where(0)
        for name, permission, extra in (
            ("kick", "Kick Members", {}),
            ("ban", "Ban Members", {}),
            ("timeout", "Timeout Members", {"minutes": 5}),
        ):
            said = await refused(channel, members[2], name, user=members[3], **extra)
            assert said == f"You need the {permission} permission to use /{name}.", said
        after = await state(guild)
        target = [m for m in after["members"] if m["user_id"] == members[3]]
        assert len(target) == 1 and target[0]["communication_disabled_until"] is None
        assert after["bans"] == []

        # /kick on shard 0's guild.
        guild, channel, members = where(0)
        said = await use(channel, "kick", user=members[1], reason="rude")
        assert said.startswith("Kicked ")
        assert members[1] not in {m["user_id"] for m in (await state(guild))["members"]}

        # /ban on shard 1's guild, deleting their last day of messages.
        guild, channel, members = where(1)
        spam = await control.post(
            "/messages", {"channel_id": channel, "content": "spam", "author_id": members[2]}
        )
        said = await use(channel, "ban", user=members[2], reason="spam", days=1)
        assert said.startswith("Banned ")
        assert (await state(guild))["bans"] == [{"user_id": members[2], "reason": "spam"}]
        assert sb.find_message(int(channel), spam["id"]) is None

        # /timeout on shard 2's guild: the member can no longer post.
        guild, channel, members = where(2)
        said = await use(channel, "timeout", user=members[1], minutes=10)
        assert said.endswith(" is timed out for 10 minutes")
        member = next(m for m in (await state(guild))["members"] if m["user_id"] == members[1])
        assert member["communication_disabled_until"] is not None
        async with http.post(
            control.url + "/messages",
            json={"channel_id": channel, "content": "hey", "author_id": members[1]},
        ) as resp:
            assert resp.status == 400 and "timed out" in (await resp.json())["error"]

        # A refusal in words: the member's role is dragged above the bot's.
        moderator = str(int(guild) | 32)
        sb.server.edit(int(guild)).members[int(members[3])].roles.append(int(moderator))
        async with http.patch(
            f"{control.url}/guilds/{guild}/roles/{moderator}", json={"position": 8}
        ) as resp:
            assert resp.status == 200
        said = await use(channel, "kick", user=members[3])
        assert said.startswith("I could not do that: kick_member() failed: 403"), said
        assert "must be above" in said and "(position 8)" in said
        assert members[3] in {m["user_id"] for m in (await state(guild))["members"]}

        # Reaction roles on shard 3's guild: a user reacts, the role is theirs.
        guild, channel, members = where(3)
        helper = str(int(guild) | 34)  # a seed role below the bot's
        said = await use(channel, "rolemenu", role=helper, emoji="⭐")
        assert said == "Role menu posted"
        menu = await control.wait_for_bot_message(
            channel, lambda m: m["content"].startswith("React with ⭐")
        )
        assert helper not in next(
            m["roles"] for m in (await state(guild))["members"] if m["user_id"] == members[2]
        )
        await control.post(
            "/reactions",
            {"channel_id": channel, "message_id": menu["id"], "emoji": "⭐", "user_id": members[2]},
        )

        async def has_role() -> bool:
            data = await state(guild)
            return helper in next(m["roles"] for m in data["members"] if m["user_id"] == members[2])

        await wait_until(has_role, what="the reaction role")

        # Welcome: in the channel /setwelcome picked (shard 1's guild), else by DM (shard 2's).
        guild, channel, _ = where(1)
        said = await use(channel, "setwelcome", channel=channel)
        assert said == f"New members will be welcomed in <#{channel}>"
        joined = await control.post("/members", {"guild_id": guild})
        name = joined["user"].get("global_name") or joined["user"]["username"]
        await control.wait_for_bot_message(
            channel, lambda m: m["content"] == f"Welcome, {name}! Read the rules and say hi."
        )
        guild, _, _ = where(2)
        joined = await control.post("/members", {"guild_id": guild})

        async def welcomed_by_dm() -> bool:
            dms = await control.get("/dms")
            return any(
                d["user_id"] == joined["user"]["id"]
                and any(m["content"].startswith("Welcome, ") for m in d["messages"])
                for d in dms
            )

        await wait_until(welcomed_by_dm, what="the welcome DM")

        stop.write_text("")
        await proc.wait_line("^stopped$", timeout=60)
        assert await proc.wait_exit() == 0
    assert "Traceback" not in proc.stderr
