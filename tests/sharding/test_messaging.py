"""Shard-to-shard messaging: real shard processes of an EasyLang bot against the sandbox."""

from __future__ import annotations

import pytest

from ezlang.lang.errors import EzError
from ezlang.sandbox import Sandbox

from .conftest import HERE, text_channel, wait_until

pytestmark = pytest.mark.timeout(120)

BOT = HERE / "bots" / "messaging.ez"


async def _ask(sandbox: Sandbox, channel: str, content: str, count: int) -> str:
    await sandbox.inject_message(channel, content)
    msgs = await sandbox.wait_for_bot_messages(channel, count, timeout=10)
    return str(msgs[count - 1]["content"])


async def test_shards_message_each_other_through_the_manager(
    sandbox: Sandbox, make_manager
) -> None:
    manager, reporter = make_manager(BOT, total_shards=3)
    await manager.spawn()
    channel = text_channel(sandbox, 2, 3)
    assert "got ping" not in reporter.text()
    # Shard 2 sends to shard 0, whose handler answers shard 2 (from_shard is the sender).
    assert await _ask(sandbox, channel, "!ping", 1) == "sent"
    await wait_until(
        lambda: "[shard 0] shard 0 got ping #7 from 2" in reporter.text(), 10, "shard 0's handler"
    )
    await wait_until(
        lambda: "[shard 2] shard 2 got pong #7 from 0" in reporter.text(), 10, "the answer"
    )
    # To every shard, the sender included.
    assert await _ask(sandbox, channel, "!all", 2) == "sent to 3"
    for i in range(3):
        await wait_until(
            lambda i=i: f"[shard {i}] shard {i} got hello #[1, 2] from 2" in reporter.text(),
            10,
            f"shard {i}'s handler",
        )


async def test_bad_targets_and_unsendable_data_are_clear_errors(
    sandbox: Sandbox, make_manager
) -> None:
    manager, reporter = make_manager(BOT, total_shards=2)
    await manager.spawn()
    channel = text_channel(sandbox, 1, 2)
    bad = await _ask(sandbox, channel, "!bad", 1)
    assert bad == "ValueError: send_to_shard: unknown shard 9; the shards are 0..1"
    fn = await _ask(sandbox, channel, "!fn", 2)
    assert fn.startswith("TypeError: send_to_shard: the data cannot be sent to another shard: ")
    assert "a function" in fn
    # From the manager: unknown shard, a function, and a handler error stays in its shard.
    with pytest.raises(EzError, match=r"unknown shard 5; the shards are 0\.\.1"):
        await manager.call_shard(5, "message", {"data": 1, "from": None})
    from ezlang.sharding import messaging

    with pytest.raises(EzError, match="unknown shard 4"):
        await messaging.manager_send(manager, 4, "x")
    with pytest.raises(EzError, match="cannot be sent to another shard: a function"):
        await messaging.manager_send(manager, 0, {"f": print})
    assert await messaging.manager_send(manager, 0, {"text": "boom", "n": 1}) is True
    await wait_until(
        lambda: "error in a shardMessage handler" in reporter.text(), 10, "the handler's error"
    )
    assert "Traceback" not in reporter.text()
    # The shard survived its handler's error.
    assert await messaging.manager_send_all(manager, {"text": "after", "n": 2}) == 2
    await wait_until(
        lambda: "[shard 0] shard 0 got after #2 from null" in reporter.text(), 10, "delivery"
    )


async def test_a_shard_without_a_handler_refuses_the_message(
    sandbox: Sandbox, make_manager
) -> None:
    manager, _ = make_manager(HERE / "bots" / "bot.ez", total_shards=2)
    await manager.spawn()
    from ezlang.sharding import messaging

    with pytest.raises(EzError, match="shard 1 has no on_shard_message handler"):
        await messaging.manager_send(manager, 1, {"x": 1})


async def test_shard_for_guild_and_eval_on_guild_shard(sandbox: Sandbox, make_manager) -> None:
    manager, _ = make_manager(BOT, total_shards=3)
    await manager.spawn()
    for shard in range(3):
        guild = sandbox.guilds_for_shard(shard, 3)[0]
        channel = guild["text_channel_ids"][0]
        size = len(sandbox.guilds_for_shard(shard, 3))
        answer = await _ask(sandbox, channel, "!guild", 1)
        assert answer == f"guild shard {shard} me {shard} size {size}"


async def test_the_messaging_example_runs_against_the_sandbox() -> None:
    import asyncio
    import sys

    example = HERE.parent.parent / "examples" / "sharding" / "messaging.ez"
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "ezlang", "run", str(example), "--sandbox",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await asyncio.wait_for(proc.communicate(), 100)
    text = out.decode()
    assert proc.returncode == 0, text
    shard = (1090000000000000000 >> 22) % 3
    assert f"1. guild 1090000000000000000 is on shard {shard}" in text
    assert "3. delivered to 3 shards" in text
    for i in range(3):
        assert f"[shard {i}] shard {i}: forgot 'greeting' (asked by the manager)" in text
    # Printed by handlers started before send_to_shard returned, so before stop_shards(); the
    # "thanks" answer races with stop_shards() (after the example's wait(1)): not asserted.
    assert "[shard 2] shard 2: hello from shard 0" in text
    assert "5. ValueError: send_to_shard: unknown shard 7; the shards are 0..2" in text
    assert "5. TypeError: send_to_all_shards: the data cannot be sent to another shard" in text
    assert "Traceback" not in text and text.rstrip().endswith("done")
