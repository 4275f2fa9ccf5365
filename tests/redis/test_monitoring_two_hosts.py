"""Monitoring with two hosts: each manager's metrics carry a ``host`` label and only its own
shards; the dashboard shows every shard of the bot and respawns one on the other host."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from ezlang.sandbox import Sandbox
from ezlang.sharding.manager import ShardManager
from ezlang.sharding.progress import Reporter

from .test_two_managers import GUILDS, HEARTBEAT, PYBOT, WINDOW, ManagerHost

pytestmark = pytest.mark.timeout(150)

TOKEN = "two-hosts-dashboard"


async def get_json(url: str) -> Any:
    async with aiohttp.ClientSession() as http, http.get(url) as resp:
        return await resp.json()


async def wait_state(url: str, check: Any, what: str, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        state = await get_json(url)
        if check(state):
            return state  # type: ignore[no-any-return]
        assert time.monotonic() < deadline, f"timed out waiting for {what}: {state}"
        await asyncio.sleep(0.2)


async def test_metrics_have_a_host_label_and_the_dashboard_spans_both_hosts(
    redis_server, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with Sandbox(guilds=GUILDS, max_concurrency=1, identify_window=WINDOW) as sb:
        other = ManagerHost("host-b", [2, 3])
        await other.start(sb, redis_server.url, total=4)
        monkeypatch.setenv("EZLANG_HOST_NAME", "host-a")
        options = {
            "token": sb.token,
            "api": sb.api_url,
            "redis": redis_server.url,
            "total_shards": 4,
            "shard_list": [0, 1],
            "heartbeat_interval": HEARTBEAT,
            "heartbeat_timeout": 10,
            "spawn_timeout": 60,
            "eval_timeout": 3,
            "metrics": 0,
            "dashboard": {"port": 0, "token": TOKEN},
        }
        manager = ShardManager(PYBOT, options, reporter=Reporter(progress=False))
        try:
            await asyncio.gather(manager.spawn(), other.wait_spawned())
            counts = await manager.broadcast_eval("return client.guilds.cache.size")
            assert len(counts) == 4  # every shard of both hosts answered
            async with aiohttp.ClientSession() as http:
                async with http.get(manager.monitor.metrics_url) as resp:
                    text = await resp.text()
            samples = [s for family in text_string_to_metric_families(text) for s in family.samples]
            up = {
                (s.labels["host"], s.labels["shard"]): s.value
                for s in samples
                if s.name == "ezlang_shard_up"
            }
            assert up == {("host-a", "0"): 1.0, ("host-a", "1"): 1.0}  # only this host's shards
            assert all(s.labels.get("host") == "host-a" for s in samples), samples
            evals = [s for s in samples if s.name == "ezlang_broadcast_eval_duration_seconds_count"]
            assert [s.value for s in evals] == [1.0]
            waits = [s for s in samples if s.name == "ezlang_identify_wait_seconds_count"]
            assert [s.value for s in waits] == [2.0]  # this host's two IDENTIFYs

            state_url = manager.monitor.dashboard_url + "api/state"
            state = await wait_state(
                state_url,
                lambda s: [r["status"] for r in s["shards"]] == ["ready"] * 4,
                "every shard of both hosts ready",
            )
            assert state["multi_host"] is True and state["host"] == "host-a"
            assert [r["host"] for r in state["shards"]] == ["host-a"] * 2 + ["host-b"] * 2
            assert sum(r["guilds"] for r in state["shards"]) == GUILDS
            assert state["shards"][3]["restarts"] == 0

            # A respawn from this host's dashboard of a shard that runs on the other host.
            headers = {"Authorization": f"Bearer {TOKEN}"}
            async with aiohttp.ClientSession() as http:
                url = manager.monitor.dashboard_url + "api/shards/3/respawn"
                async with http.post(url, headers=headers) as resp:
                    assert resp.status == 202, await resp.text()
            await wait_state(
                state_url,
                lambda s: s["shards"][3]["restarts"] == 1 and s["shards"][3]["status"] == "ready",
                "shard 3 on host-b respawned",
            )
            assert sb.identify_violations == 0
        finally:
            await manager.stop()
            await other.stop()
        other.assert_no_python_noise()
