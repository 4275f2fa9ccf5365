"""Interactions in a sharded EasyLang bot under the real shard manager: an interaction is
answered by the shard that holds its guild, the application commands are written once per bot
(by shard 0) and not again when unchanged, and a button keeps working after its shard was
respawned and after the whole bot restarted (routed by custom id, not by memory)."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

from ezlang.sandbox import Sandbox
from ezlang.sharding.manager import ShardManager

from .conftest import HERE, CapturingReporter, text_channel, wait_until

pytestmark = pytest.mark.timeout(240)

BOT = HERE / "bots" / "interactions.ez"
EXAMPLE_BOT = HERE.parent.parent / "examples" / "sharding" / "bot.ez"
SHARDS = 8
COMMANDS = 2  # /where and /poll

Make = Callable[..., tuple[ShardManager, CapturingReporter]]


async def _spawn(make_manager: Make) -> tuple[ShardManager, CapturingReporter]:
    manager, reporter = make_manager(BOT, total_shards=SHARDS)
    await manager.spawn()
    return manager, reporter


async def _commands_synced(sandbox: Sandbox, overwrites: int) -> dict[str, Any]:
    """The sandbox's command store once it holds our commands after ``overwrites`` PUTs."""

    def synced() -> dict[str, Any] | None:
        snap = sandbox.app_commands.snapshot()
        ok = len(snap["global"]) == COMMANDS and snap["overwrites"] >= overwrites
        return snap if ok else None

    snap: dict[str, Any] = await wait_until(synced, 20, f"{overwrites} bulk overwrite(s)")
    return snap


async def _use(sandbox: Sandbox, channel: str, **body: Any) -> dict[str, Any]:
    result = await sandbox.interact(channel_id=channel, **body)
    assert result["delivered"] and not result["failed"], result
    return result


@pytest.fixture
def command_requests(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """How often each command route of the sandbox's REST API was called ("GET", "PUT", …):
    which processes even looked at the commands, not only who wrote them."""
    seen: Counter[str] = Counter()
    check = sandbox.rest_limiter.check

    def recording(route: str, *args: Any) -> Any:
        method, path = route.split(" ", 1)
        if path == "/applications/{app_id}/commands":
            seen[method] += 1
        return check(route, *args)

    monkeypatch.setattr(sandbox.rest_limiter, "check", recording)
    return seen


def _sync_lines(reporter: CapturingReporter, word: str) -> list[str]:
    """The shards' log lines of a command sync: "registered" (a PUT) or "unchanged"."""
    pattern = {
        "registered": re.compile(r"ezlang: registered \d+ application command"),
        "unchanged": re.compile(r"ezlang: \d+ application command\(s\) unchanged"),
    }[word]
    return [line for line in reporter.lines if pattern.search(line)]


async def test_each_guild_is_answered_by_its_own_shard_and_commands_are_written_once(
    sandbox: Sandbox, make_manager: Make, command_requests: Counter[str]
) -> None:
    manager, reporter = await _spawn(make_manager)
    snap = await _commands_synced(sandbox, 1)
    assert sorted(c["name"] for c in snap["global"]) == ["poll", "where"]
    for shard_id in range(SHARDS):
        channel = text_channel(sandbox, shard_id, SHARDS)
        guild = sandbox.guilds_for_shard(shard_id, SHARDS)[0]
        assert (int(guild["id"]) >> 22) % SHARDS == shard_id  # Discord's routing formula
        result = await _use(sandbox, channel, kind="command", name="where")
        # The sandbox delivered it to shard N's session, and shard N's process answered.
        assert result["shard"] == shard_id
        assert result["guild_id"] == guild["id"]
        assert result["response"]["type"] == 4
        assert result["response"]["data"]["content"] == f"shard {shard_id} of {SHARDS}"
    # Exactly one process of the 8 touched the commands: one GET (the comparison) and one PUT,
    # logged by shard 0 alone. (The PUT count alone would not show it: shards that compared
    # after shard 0's write would find them unchanged.)
    assert sandbox.app_commands.snapshot()["overwrites"] == 1
    assert command_requests == {"GET": 1, "PUT": 1}
    written = _sync_lines(reporter, "registered")
    assert len(written) == 1 and written[0].startswith("[shard 0]"), written
    assert _sync_lines(reporter, "unchanged") == []
    # A respawned shard 0 checks again, finds them unchanged and writes nothing.
    old_pid = manager.shards[0].pid
    assert await manager.respawn_shard(0) is True
    assert manager.shards[0].pid != old_pid
    await wait_until(lambda: _sync_lines(reporter, "unchanged"), 20, "shard 0's second check")
    assert sandbox.app_commands.snapshot()["overwrites"] == 1
    assert command_requests == {"GET": 2, "PUT": 1}
    assert "Traceback" not in reporter.text()


async def test_a_button_keeps_working_after_its_shard_is_respawned(
    sandbox: Sandbox, make_manager: Make
) -> None:
    manager, reporter = await _spawn(make_manager)
    await _commands_synced(sandbox, 1)
    shard_id = 5
    channel = text_channel(sandbox, shard_id, SHARDS)
    poll = await _use(sandbox, channel, kind="command", name="poll")
    assert poll["shard"] == shard_id and poll["message_id"]
    shard = manager.shards[shard_id]
    old_pid = shard.pid
    assert await manager.respawn_shard(shard_id) is True
    # A new process: the pid changed (the old one's memory, and any view in it, is gone).
    assert shard.pid != old_pid and shard.status == "ready"
    click = await _use(
        sandbox,
        channel,
        kind="component",
        message_id=poll["message_id"],
        custom_id="vote:pizza",
    )
    assert click["shard"] == shard_id
    assert click["response"]["type"] == 7  # UPDATE_MESSAGE
    assert click["response"]["data"]["content"] == f"voted vote:pizza on shard {shard_id}"
    assert click["message_id"] == poll["message_id"]
    message = sandbox.find_message(int(channel), poll["message_id"])
    assert message is not None and message["content"] == f"voted vote:pizza on shard {shard_id}"
    assert "Traceback" not in reporter.text()


async def test_a_whole_bot_restart_keeps_buttons_and_writes_commands_only_when_changed(
    sandbox: Sandbox,
    make_manager: Make,
    bot_env: Callable[..., None],
    command_requests: Counter[str],
) -> None:
    manager, first = await _spawn(make_manager)
    await _commands_synced(sandbox, 1)
    channel = text_channel(sandbox, 3, SHARDS)
    poll = await _use(sandbox, channel, kind="command", name="poll")
    old_pids = {s.pid for s in manager.shards.values()}
    await manager.stop()

    # The same bot again: shard 0 GETs the commands, compares, and writes nothing.
    manager, again = await _spawn(make_manager)
    assert not old_pids & {s.pid for s in manager.shards.values()}
    await wait_until(lambda: _sync_lines(again, "unchanged"), 20, "shard 0's check")
    assert sandbox.app_commands.snapshot()["overwrites"] == 1
    assert _sync_lines(again, "registered") == []
    assert command_requests == {"GET": 2, "PUT": 1}  # one look per run, one write in all
    # The button the previous run sent still works: routed by its custom id.
    click = await _use(
        sandbox, channel, kind="component", message_id=poll["message_id"], custom_id="vote:pizza"
    )
    assert click["shard"] == 3
    assert click["response"]["data"]["content"] == "voted vote:pizza on shard 3"
    await manager.stop()

    # A changed command: exactly one more bulk overwrite, with the new description.
    bot_env(description="Which shard answers this server")
    manager, changed = await _spawn(make_manager)
    snap = await _commands_synced(sandbox, 2)
    assert snap["overwrites"] == 2
    where = next(c for c in snap["global"] if c["name"] == "where")
    assert where["description"] == "Which shard answers this server"
    written = _sync_lines(changed, "registered")
    assert len(written) == 1 and written[0].startswith("[shard 0]"), written
    assert command_requests == {"GET": 3, "PUT": 2}
    result = await _use(sandbox, text_channel(sandbox, 6, SHARDS), kind="command", name="where")
    assert result["shard"] == 6 and result["response"]["data"]["content"] == "shard 6 of 8"
    assert all("Traceback" not in r.text() for r in (first, again, changed))


async def test_the_sharded_example_answers_stats_with_the_totals_of_every_shard(
    sandbox: Sandbox, make_manager: Make
) -> None:
    manager, _ = make_manager(EXAMPLE_BOT, total_shards=4)
    await manager.spawn()
    await wait_until(lambda: sandbox.app_commands.snapshot()["global"], 20, "/stats registered")
    per_shard = [len(sandbox.guilds_for_shard(s, 4)) for s in range(4)]
    assert per_shard[2] < sum(per_shard)  # so the answer cannot come from shard 2 alone
    result = await _use(sandbox, text_channel(sandbox, 2, 4), kind="command", name="stats")
    assert result["shard"] == 2 and result["response"]["type"] == 5  # deferred first
    inter = sandbox.interactions.get(result["id"])
    message = await wait_until(
        lambda: inter.original if inter.original and inter.original.get("embeds") else None,
        10,
        "the deferred answer's embed",
    )
    embed = message["embeds"][0]
    fields = {f["name"]: f["value"] for f in embed["fields"]}
    assert embed["description"] == "Answered by shard 2."
    assert fields["Servers"] == str(sum(per_shard)) == "40"
    assert fields["Shards ready"] == "4 of 4"
    members = sum(len(sandbox.world.member_ids(g)) + 1 for g in range(40))  # + the bot
    assert fields["Members"] == str(members)
