"""With the ``redis`` option the sessions a stopped manager kept live in Redis, and the next
manager of those shards resumes them (docs/SHARDING.md, "Deploying without downtime")."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from tests.sharding.conftest import CapturingReporter as Lines

from ezlang.sandbox import Sandbox
from ezlang.sharding.manager import ShardManager
from ezlang.sharding.progress import Reporter

BOT = Path(__file__).parent.parent / "sharding" / "bots" / "counter.ez"
pytestmark = pytest.mark.timeout(90)


def manager(sb: Sandbox, url: str, reporter: Reporter) -> ShardManager:
    options = {
        "token": sb.token,
        "api": sb.api_url,
        "redis": url,
        "total_shards": 2,
        "heartbeat_interval": 0.5,
        "heartbeat_timeout": 3,
    }
    return ShardManager(BOT, options, reporter=reporter)


async def test_a_manager_with_redis_keeps_sessions_there_and_the_next_one_resumes(
    redis_server,
) -> None:
    async with Sandbox(guilds=20, identify_window=0.25) as sb:
        first = manager(sb, redis_server.url, Lines())
        try:
            await first.spawn()
        finally:
            await first.stop(keep_sessions=True)
        assert first.sessions.path is None  # no file beside the bot with Redis
        assert not (BOT.parent / ".counter.ez.sessions.json").exists()
        channel = sb.guilds_for_shard(1, 2)[0]["text_channel_ids"][0]
        assert (await sb.inject_message(channel, "gap:0"))["delivered"] is False
        out = Lines()
        second = manager(sb, redis_server.url, out)
        try:
            await second.spawn()
            deadline = asyncio.get_running_loop().time() + 10
            while not any("handled gap:0" in line for line in out.lines):
                assert asyncio.get_running_loop().time() < deadline, "the gap's message"
                await asyncio.sleep(0.05)
            assert len(sb.state()["identifies"]) == 2  # the first manager's only
            assert all(row["resumes"] == 1 for row in sb.state()["connections"])
        finally:
            await second.stop()
        assert sb.state()["connections"] == []  # a normal stop ends them
