"""Monitoring of the shard manager: the Prometheus endpoint, honest ping, options.

Real shard processes against the sandbox; the metrics are scraped over HTTP and parsed with
prometheus_client's own parser, and every check waits for a value to *change*.
"""

from __future__ import annotations

import asyncio
import io
import json
import re
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from ezlang.lang.errors import EzError
from ezlang.sandbox import Sandbox
from ezlang.sharding.jsonlog import JsonReporter
from ezlang.sharding.manager import ShardManager
from ezlang.sharding.monitor import ShardTotals
from ezlang.sharding.options import parse_options

from .conftest import FAST, PYBOT, text_channel

pytestmark = pytest.mark.timeout(120)

EXAMPLES = Path(__file__).parents[2] / "examples"


async def scrape(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of the endpoint: (name, sorted labels) -> value."""
    async with aiohttp.ClientSession() as http, http.get(url) as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/plain")
        text = await resp.text()
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def value(samples: dict[Any, float], name: str, **labels: str) -> float | None:
    return samples.get((name, tuple(sorted(labels.items()))))


async def wait_for_metric(url: str, check: Any, what: str, timeout: float = 20) -> dict[Any, float]:
    deadline = time.monotonic() + timeout
    while True:
        samples = await scrape(url)
        if check(samples):
            return samples
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}; last scrape: {samples}")
        await asyncio.sleep(0.2)


async def control(sb: Sandbox, path: str, body: dict[str, Any]) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{sb.control_url}{path}", json=body) as resp:
            assert resp.status == 200, await resp.text()


async def test_the_metrics_endpoint_follows_the_shards(sandbox: Sandbox, make_manager) -> None:
    manager, _ = make_manager(total_shards=2, metrics={"port": 0})
    await manager.spawn()
    url = manager.monitor.metrics_url
    assert url is not None and url.startswith("http://127.0.0.1:")
    first = await scrape(url)
    for shard in ("0", "1"):
        assert value(first, "ezlang_shard_up", shard=shard) == 1.0
        assert value(first, "ezlang_shard_status", shard=shard, status="ready") == 1.0
        assert value(first, "ezlang_shard_status", shard=shard, status="dead") == 0.0
        assert value(first, "ezlang_shard_restarts_total", shard=shard) == 0.0
        assert value(first, "ezlang_shard_identifies_total", shard=shard) == 1.0
        assert (value(first, "ezlang_shard_resident_memory_bytes", shard=shard) or 0) > 10e6
        assert (value(first, "ezlang_shard_rest_requests_total", shard=shard) or 0) >= 1  # login
    guilds = sum(value(first, "ezlang_shard_guilds", shard=s) or 0 for s in ("0", "1"))
    assert guilds == 40  # every server of the sandbox, split over the two shards
    assert value(first, "ezlang_identify_wait_seconds_count") == 2.0
    assert value(first, "ezlang_identify_queue_depth") == 0.0
    # The heartbeat sent at HELLO was answered only after READY: no honest latency yet.
    assert value(first, "ezlang_shard_latency_seconds", shard="0") is None

    # Messages through the sandbox's control API are gateway events of shard 0.
    channel = text_channel(sandbox, 0, 2)
    before = value(first, "ezlang_shard_events_received_total", shard="0", type="MESSAGE_CREATE")
    await control(sandbox, "/ratelimit", {"count": 1, "retry_after": 0.2})
    await control(sandbox, "/messages", {"channel_id": channel, "content": "!pong"})
    await control(sandbox, "/messages", {"channel_id": channel, "content": "!fail"})

    def changed(s: dict[Any, float]) -> bool:
        return (
            (value(s, "ezlang_shard_events_received_total", shard="0", type="MESSAGE_CREATE") or 0)
            >= (before or 0) + 2
            and value(s, "ezlang_shard_handler_errors_total", shard="0") == 1.0
            and (value(s, "ezlang_shard_rest_ratelimited_total", shard="0") or 0) >= 1.0
        )

    after = await wait_for_metric(url, changed, "the messages, the handler error and the 429")
    assert value(after, "ezlang_shard_handler_errors_total", shard="1") == 0.0
    rest_before = value(first, "ezlang_shard_rest_requests_total", shard="0") or 0
    # The 429 and the retry of the same send are two requests.
    assert (value(after, "ezlang_shard_rest_requests_total", shard="0") or 0) >= rest_before + 2

    # broadcast_eval feeds its latency histogram.
    assert value(after, "ezlang_broadcast_eval_duration_seconds_count") == 0.0
    await manager.broadcast_eval("return client.guilds.cache.size")
    evals = await scrape(url)
    assert value(evals, "ezlang_broadcast_eval_duration_seconds_count") == 1.0

    # A respawn is a restart; the counters of the old process are kept (counters never drop).
    events_0 = value(after, "ezlang_shard_events_received_total", shard="0", type="MESSAGE_CREATE")
    assert await manager.respawn_shard(0) is True
    respawned = await wait_for_metric(
        url,
        lambda s: value(s, "ezlang_shard_restarts_total", shard="0") == 1.0,
        "restarts_total of shard 0 to become 1",
    )
    assert value(respawned, "ezlang_shard_restarts_total", shard="1") == 0.0
    assert value(respawned, "ezlang_shard_identifies_total", shard="0") == 2.0
    assert value(respawned, "ezlang_shard_handler_errors_total", shard="0") == 1.0
    assert (
        value(respawned, "ezlang_shard_events_received_total", shard="0", type="MESSAGE_CREATE")
        or 0
    ) >= (events_0 or 0)
    # The example Grafana dashboard asks only for series the endpoint has.
    board = json.loads((EXAMPLES / "monitoring" / "grafana-dashboard.json").read_text())
    exprs = [t["expr"] for panel in board["panels"] for t in panel["targets"]]
    async with aiohttp.ClientSession() as http, http.get(url) as resp:
        declared = set(re.findall(r"^# TYPE (\S+) (\S+)$", await resp.text(), re.M))
    names = {name for name, _ in respawned}
    for name, kind in declared:  # a series without samples yet (latency) is still declared
        names |= {name, f"{name}_total"} if kind == "counter" else {name, f"{name}_bucket"}
    for expr in exprs:
        for name in re.findall(r"ezlang_[a-z_]+", expr):
            assert name in names, f"{name} (in the Grafana example) is not exported"
    await manager.stop()
    with pytest.raises(aiohttp.ClientConnectionError):
        await scrape(url)


async def test_ping_is_null_until_a_heartbeat_after_ready_is_answered() -> None:
    # A 1 s heartbeat: the first heartbeat after READY comes quickly.
    async with Sandbox(guilds=10, identify_window=0.25, heartbeat_interval=1.0) as sb:
        opts = {"token": sb.token, "api": sb.api_url, "total_shards": 1, **FAST}
        manager = ShardManager(PYBOT, opts)
        try:
            await manager.spawn()
            first = (await manager.stats())[0]
            pings = [first["ping"]]
            deadline = time.monotonic() + 15
            while pings[-1] is None:
                assert time.monotonic() < deadline, pings
                await asyncio.sleep(0.1)
                pings.append((await manager.stats())[0]["ping"])
        finally:
            await manager.stop()
    # Measured on loopback: a real round trip, not the identify wait.
    assert isinstance(pings[-1], int) and 0 <= pings[-1] < 500
    assert pings[0] is None or pings[0] < 500


def test_monitoring_options_are_checked(tmp_path) -> None:
    bot = tmp_path / "bot.ez"
    bot.write_text("bot_start()\n")

    def parse(**options: Any) -> Any:
        return parse_options(str(bot), {"token": "t", **options})

    opts = parse(metrics=9100, dashboard={"port": 0, "token": "s3cret"}, log_format="json")
    assert (opts.metrics.host, opts.metrics.port) == ("127.0.0.1", 9100)
    assert opts.dashboard.token == "s3cret" and "s3cret" not in repr(opts)
    assert parse(metrics={"port": 1, "host": "0.0.0.0"}).metrics.host == "0.0.0.0"
    cases = [
        ({"metrics": "9100"}, "TypeError", "option 'metrics' must be a port number"),
        ({"metrics": 70000}, "ValueError", "from 0 to 65535"),
        ({"metrics": {"host": "::1"}}, "ValueError", "option 'metrics' needs a port"),
        ({"dashboard": {"port": 1, "tokn": "x"}}, "ValueError", "unknown key 'tokn'"),
        ({"log_format": "xml"}, "ValueError", '"text" or "json"'),
        ({"live": "yes"}, "TypeError", "option 'live'"),
    ]
    for options, kind, text in cases:
        with pytest.raises(EzError) as info:
            parse(**options)
        assert info.value.kind == kind and text in info.value.message, info.value.message


async def test_a_busy_metrics_port_fails_before_any_shard_starts(
    sandbox: Sandbox, make_manager
) -> None:
    blocker = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = blocker.sockets[0].getsockname()[1]
    try:
        manager, _ = make_manager(total_shards=1, metrics=port)
        with pytest.raises(EzError) as info:
            await manager.spawn()
        assert info.value.kind == "ShardingError"
        assert f"cannot listen on 127.0.0.1:{port}" in info.value.message
        assert not manager.shards and sandbox.state()["identifies"] == []
    finally:
        blocker.close()
        await blocker.wait_closed()


async def test_identify_depth_and_resumes_are_counted_as_they_happen() -> None:
    # A 1 s identify window: while shard 0 is READY, shards 1 and 2 wait in the queue.
    async with Sandbox(guilds=30, identify_window=1.0) as sb:
        opts = {
            "token": sb.token,
            "api": sb.api_url,
            "total_shards": 3,
            "metrics": {"port": 0},
            **FAST,
        }
        manager = ShardManager(PYBOT, opts)
        spawn = asyncio.ensure_future(manager.spawn())
        try:
            await wait_until_url(manager)
            url = manager.monitor.metrics_url
            waiting = await wait_for_metric(
                url,
                lambda s: (value(s, "ezlang_identify_queue_depth") or 0) >= 1,
                "an IDENTIFY waiting in the queue",
            )
            assert (value(waiting, "ezlang_identify_wait_seconds_count") or 0) < 3
            await spawn
            done = await scrape(url)
            assert value(done, "ezlang_identify_queue_depth") == 0.0
            assert value(done, "ezlang_identify_wait_seconds_count") == 3.0
            # The later shards waited about a window each for their slot.
            assert (value(done, "ezlang_identify_wait_seconds_sum") or 0) >= 2 * 0.9
            assert value(done, "ezlang_shard_resumes_total", shard="2") == 0.0

            # op 7 RECONNECT: shard 2 resumes its session; a RESUME is not an IDENTIFY.
            assert await sb.reconnect(2, 3) == 1
            resumed = await wait_for_metric(
                url,
                lambda s: value(s, "ezlang_shard_resumes_total", shard="2") == 1.0,
                "shard 2's RESUME",
            )
            assert value(resumed, "ezlang_shard_identifies_total", shard="2") == 1.0
            assert value(resumed, "ezlang_shard_restarts_total", shard="2") == 0.0
            assert value(resumed, "ezlang_shard_resumes_total", shard="1") == 0.0
        finally:
            spawn.cancel()
            await asyncio.gather(spawn, return_exceptions=True)
            await manager.stop()


async def wait_until_url(manager: ShardManager) -> None:
    deadline = time.monotonic() + 20
    while manager.monitor.metrics_url is None:
        assert time.monotonic() < deadline, "the metrics endpoint never started"
        await asyncio.sleep(0.02)


def test_shard_counters_never_drop_across_processes() -> None:
    totals = ShardTotals()
    totals.update(1, {"handler_errors": 2, "events_by_type": {"MESSAGE_CREATE": 5}})
    totals.update(1, {"handler_errors": 3, "events_by_type": {"MESSAGE_CREATE": 7}})
    assert totals.total("handler_errors") == 3 and totals.events() == {"MESSAGE_CREATE": 7}
    # Process 2 starts from zero: its counts add to what process 1 counted last.
    totals.update(2, {"handler_errors": 1, "events_by_type": {"GUILD_CREATE": 4}})
    assert totals.total("handler_errors") == 4
    assert totals.events() == {"MESSAGE_CREATE": 7, "GUILD_CREATE": 4}
    totals.update(2, {"handler_errors": 2, "events_by_type": {"GUILD_CREATE": 4}})
    assert totals.total("handler_errors") == 5 and totals.total("rest_requests") == 0


def test_json_logs_carry_level_shard_and_event_and_keep_program_output_plain() -> None:
    out = io.StringIO()
    reporter = JsonReporter(progress=None, out=out)
    reporter.problem("shard 1 failed: boom", shard=1, event="shard_failed", level="error")
    reporter.child_line("[shard 1] Traceback-free warning", True, shard=1)
    reporter.child_line("[shard 0] hello from the bot", False, shard=0)
    reporter.stopping(2)
    lines = out.getvalue().splitlines()
    first, second = json.loads(lines[0]), json.loads(lines[1])
    assert (first["level"], first["shard"], first["event"]) == ("error", 1, "shard_failed")
    assert first["message"] == "shard 1 failed: boom"
    assert (second["level"], second["shard"], second["event"]) == ("warning", 1, "shard_stderr")
    assert second["message"] == "Traceback-free warning"
    assert lines[2] == "[shard 0] hello from the bot"  # program output: not a log record
    stopping = json.loads(lines[3])
    assert (stopping["shard"], stopping["event"], stopping["message"]) == (
        None,
        "stopping",
        "stopping 2 shards…",
    )
    assert reporter.fancy is False
