"""The shard manager against the sandbox, with real shard processes (a discord.py bot).

Every test runs a sandbox with a short identify window and checks (in the fixture) that no
IDENTIFY broke the rate limit and that no shard process outlives the test.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import time
from pathlib import Path

import psutil
import pytest

from ezlang.lang.errors import EzError
from ezlang.sandbox import Sandbox
from ezlang.sharding.manager import ShardManager

from .conftest import (
    HERE,
    PYBOT,
    WINDOW,
    client_closes,
    identifies,
    record_statuses,
    shard_processes,
    text_channel,
    wait_until,
)

pytestmark = pytest.mark.timeout(90)


async def test_spawn_starts_all_shards_and_gates_identifies_at_the_bound(
    sandbox: Sandbox, make_manager
) -> None:
    manager, reporter = make_manager(total_shards=4)
    started = time.monotonic()
    result = await manager.spawn()
    elapsed = time.monotonic() - started
    assert [r["id"] for r in result] == [0, 1, 2, 3]
    assert all(r["ready"] and r["status"] == "ready" for r in result)
    pids = {r["pid"] for r in result}
    assert len(pids) == 4 and all(psutil.pid_exists(p) for p in pids)
    times = sorted(r["at"] for r in identifies(sandbox))
    assert len(times) == 4
    assert all(b - a >= WINDOW for a, b in zip(times, times[1:], strict=False))
    # Processes start in parallel, so the whole spawn sits near ceil(4 / 1) x window.
    assert elapsed < 4 * WINDOW + 6
    # A shard's output travels through its stdout pipe, READY through IPC: the line may come
    # a moment after spawn() returns.
    deadline = time.monotonic() + 10
    while "[shard 0] ready shard=0" not in reporter.text():
        assert time.monotonic() < deadline, reporter.text()
        await asyncio.sleep(0.05)


async def test_spawn_uses_max_concurrency_buckets_in_parallel() -> None:
    async with Sandbox(guilds=40, max_concurrency=2, identify_window=0.6) as sb:
        manager = ShardManager(
            PYBOT, {"token": sb.token, "api": sb.api_url, "total_shards": 4, "progress": False}
        )
        try:
            await manager.spawn()
            assert manager.identify_queue.max_concurrency == 2
            rows = sorted(identifies(sb), key=lambda r: r["at"])
            # Shards 0 and 1 (different buckets) may identify together; 0 and 2 may not.
            by_shard = {r["shard"][0]: r["at"] for r in rows}
            assert abs(by_shard[2] - by_shard[0]) >= 0.6
            assert abs(by_shard[3] - by_shard[1]) >= 0.6
            assert sb.state()["identify_violations"] == 0
        finally:
            await manager.stop()


async def test_stats_report_every_field_for_every_shard(sandbox: Sandbox, make_manager) -> None:
    manager, _ = make_manager(total_shards=2)
    await manager.spawn()
    stats = await manager.stats()
    assert [s["shard_id"] for s in stats] == [0, 1]
    for s in stats:
        for key in (
            "guild_count", "user_count", "ping", "memory_mb", "uptime_ms", "ready",
            "status", "pid", "restarts", "last_exit",
        ):  # fmt: skip
            assert key in s
        assert s["ready"] is True and s["status"] == "ready" and s["restarts"] == 0
        assert 10 < s["memory_mb"] < 500
    assert sum(s["guild_count"] for s in stats) == 40


async def test_fetch_client_values_orders_by_shard_and_rejects_unknown_paths(
    sandbox: Sandbox, make_manager
) -> None:
    manager, _ = make_manager(total_shards=2)
    await manager.spawn()
    counts = await manager.fetch_client_values("guilds.cache.size")
    assert counts == [
        len(sandbox.guilds_for_shard(0, 2)),
        len(sandbox.guilds_for_shard(1, 2)),
    ]
    assert await manager.fetch_client_values("client.shard.ids") == [[0], [1]]
    with pytest.raises(EzError) as info:
        await manager.fetch_client_values("guilds.cache.sizee")
    assert info.value.kind == "ValueError"
    assert "sizee" in info.value.message and "valid: size" in info.value.message


async def test_shard_list_runs_only_the_listed_shards(sandbox: Sandbox, make_manager) -> None:
    manager, _ = make_manager(total_shards=4, shard_list=[1, 3])
    result = await manager.spawn()
    assert [r["id"] for r in result] == [1, 3]
    assert sorted(r["shard"][0] for r in identifies(sandbox)) == [1, 3]
    assert all(r["shard"][1] == 4 for r in identifies(sandbox))
    with pytest.raises(EzError, match="unknown shard 0"):
        await manager.respawn_shard(0)


async def test_kill_9_of_a_shard_is_respawned_and_ready(sandbox: Sandbox, make_manager) -> None:
    manager, reporter = make_manager(total_shards=2)
    await manager.spawn()
    victim = manager.shards[1]
    old_pid = victim.pid
    os.kill(old_pid, signal.SIGKILL)
    await wait_until(
        lambda: victim.status == "ready" and victim.pid != old_pid, 20, "shard 1 back and READY"
    )
    stats = (await manager.stats())[1]
    assert stats["restarts"] == 1
    assert stats["last_exit"]["code"] == -signal.SIGKILL
    assert "killed by SIGKILL" in reporter.text()
    # The replacement RESUMEd the dead process's session (tests/sharding/test_resume.py).
    assert len(identifies(sandbox, 1)) == 1


async def test_respawn_shard_returns_true_with_a_new_ready_process(
    sandbox: Sandbox, make_manager
) -> None:
    manager, _ = make_manager(total_shards=2)
    await manager.spawn()
    old_pid = manager.shards[0].pid
    assert await manager.respawn_shard(0) is True
    assert manager.shards[0].status == "ready" and manager.shards[0].pid != old_pid
    assert not psutil.pid_exists(old_pid) or psutil.Process(old_pid).status() == "zombie"
    with pytest.raises(EzError) as info:
        await manager.respawn_shard(7)
    assert info.value.kind == "ValueError" and "unknown shard 7" in info.value.message
    with pytest.raises(EzError) as info:
        await manager.respawn_shard("0")
    assert info.value.kind == "TypeError"


async def test_a_bot_crashing_at_start_backs_off_then_fails_with_bounded_identifies(
    sandbox: Sandbox, make_manager, bot_env
) -> None:
    bot_env(mode="crash_at_start", shard=1)
    manager, reporter = make_manager(total_shards=2, max_restarts=2)
    started = time.monotonic()
    with pytest.raises(EzError) as info:
        await manager.spawn()
    elapsed = time.monotonic() - started
    err = info.value
    assert err.kind == "ShardingError"
    assert "shard 1 (failed)" in err.message and "boom at start" in err.message
    assert "shard 0" not in err.message.split("ready):")[1]
    assert manager.shards[0].status == "ready"
    # Two restarts with backoff 1 s then 2 s before giving up.
    assert elapsed >= 3
    assert manager.shards[1].restarts == 2
    assert reporter.text().count("shard 1 failed") == 1
    assert "restarting in 1 s" in reporter.text() and "restarting in 2 s" in reporter.text()
    assert identifies(sandbox, 1) == []  # it never got far enough to spend a session start


async def test_wrong_token_starts_nothing_and_gives_one_clear_error(
    sandbox: Sandbox, make_manager
) -> None:
    manager, reporter = make_manager(total_shards=2, token="definitely-wrong")
    with pytest.raises(EzError) as info:
        await manager.spawn()
    assert info.value.kind == "ShardingError"
    assert "401" in info.value.message and "token" in info.value.message
    assert "definitely-wrong" not in info.value.message
    assert manager.shards == {} and shard_processes() == []
    assert identifies(sandbox) == []


@pytest.mark.parametrize("bot", [PYBOT, PYBOT.with_name("bot.ez"), "js"], ids=["py", "ez", "js"])
async def test_a_login_rejected_after_a_token_reset_is_fatal_and_never_retried(
    sandbox: Sandbox, make_manager, bot, request: pytest.FixtureRequest
) -> None:
    if bot == "js":  # the discord.js bot, where npm installed discord.js for it
        bot = request.getfixturevalue("discordjs_dir") / "bot.js"
    manager, reporter = make_manager(bot, total_shards=2)
    await manager.spawn()
    # Discord resets the token mid-run: the live sessions close with 4004 and REST answers
    # 401 to the old token. A shard started after that fails at login (GET /users/@me).
    await sandbox.reset_token("a-brand-new-token")
    await wait_until(
        lambda: all(s.status == "failed" for s in manager.shards.values()), 15, "both failed"
    )
    before = len(identifies(sandbox))
    shard = manager.shards[1]
    generation = shard.generation
    with pytest.raises(EzError) as info:
        await manager.respawn_shard(1)
    assert info.value.kind == "ShardingError"
    assert "401" in info.value.message and "logged in" in info.value.message
    assert "Reset Token" in info.value.message and "not retried" in info.value.message
    assert shard.status == "failed" and shard.terminal
    # One new process, one login, no IDENTIFY and no retry.
    assert shard.generation == generation + 1
    assert len(identifies(sandbox)) == before
    assert reporter.text().count("shard 1 failed: Discord rejected the bot token") == 1
    assert "restarting" not in reporter.text()


@pytest.mark.parametrize("bot", [PYBOT, PYBOT.with_name("bot.ez")], ids=["py", "ez"])
async def test_a_fatal_close_code_is_explained_and_never_retried(
    sandbox: Sandbox, make_manager, bot
) -> None:
    manager, reporter = make_manager(bot, total_shards=2)
    await manager.spawn()
    await sandbox.disconnect(0, 4004, shard_count=2)
    shard = manager.shards[0]
    await wait_until(lambda: shard.status == "failed", 15, "shard 0 failed")
    assert "4004" in shard.failure and "token" in shard.failure
    await asyncio.sleep(1.5)  # longer than the first backoff: still not restarted
    assert shard.status == "failed" and len(identifies(sandbox, 0)) == 1
    assert reporter.text().count("shard 0 failed") == 1
    stats = await manager.stats()
    assert stats[0]["ready"] is False and stats[0]["status"] == "failed"
    assert stats[0]["last_exit"]["close_code"] == 4004
    assert stats[1]["ready"] is True


async def test_a_handler_stuck_in_an_endless_loop_is_detected_and_respawned(
    sandbox: Sandbox, make_manager
) -> None:
    manager, reporter = make_manager(total_shards=2)
    await manager.spawn()
    shard = manager.shards[0]
    old_pid = shard.pid
    await sandbox.inject_message(text_channel(sandbox, 0, 2), "!block")
    await wait_until(lambda: "blocking the event loop" in reporter.text(), 10, "the block")
    await wait_until(
        lambda: shard.status == "ready" and shard.pid != old_pid, 20, "shard 0 respawned"
    )
    assert "no heartbeat" in reporter.text()
    assert shard.last_exit["code"] == -signal.SIGKILL


async def test_a_call_to_a_shard_that_dies_mid_call_fails_fast_naming_it(
    sandbox: Sandbox, make_manager
) -> None:
    manager, reporter = make_manager(total_shards=2, heartbeat_timeout=30)
    await manager.spawn()
    shard = manager.shards[1]
    await sandbox.inject_message(text_channel(sandbox, 1, 2), "!block")
    await wait_until(lambda: "blocking the event loop" in reporter.text(), 10, "the block")
    call = asyncio.ensure_future(manager.fetch_client_values("guilds.cache.size"))
    await asyncio.sleep(0.2)
    assert not call.done()
    started = time.monotonic()
    os.kill(shard.pid, signal.SIGKILL)
    with pytest.raises(EzError) as info:
        await asyncio.wait_for(call, 5)
    assert time.monotonic() - started < 2
    assert info.value.kind == "ShardingError"
    assert "shard 1 exited (killed by SIGKILL) during fetch_client_values" in info.value.message


async def test_a_call_to_a_frozen_shard_times_out_naming_it(sandbox: Sandbox, make_manager) -> None:
    manager, reporter = make_manager(total_shards=2, heartbeat_timeout=30, eval_timeout=1)
    await manager.spawn()
    await sandbox.inject_message(text_channel(sandbox, 0, 2), "!block")
    await wait_until(lambda: "blocking the event loop" in reporter.text(), 10, "the block")
    started = time.monotonic()
    with pytest.raises(EzError) as info:
        await manager.fetch_client_values("guilds.cache.size")
    assert time.monotonic() - started < 2
    assert info.value.kind == "TimeoutError" and "shard 0" in info.value.message
    stats = await manager.stats()  # an unreachable shard does not break the others' stats
    assert stats[0]["ready"] is False and "did not answer" in stats[0]["error"]
    assert stats[1]["ready"] is True


async def test_the_token_never_appears_in_argv_environment_output_or_stats(
    sandbox: Sandbox, make_manager, bot_env, monkeypatch: pytest.MonkeyPatch
) -> None:
    bot_env(mode="print_token")
    monkeypatch.setenv("DISCORD_TOKEN", sandbox.token)
    manager, reporter = make_manager(total_shards=2)
    await manager.spawn()
    await wait_until(lambda: "token is" in reporter.text(), 10, "the bot printing its token")
    for proc in shard_processes():
        assert sandbox.token not in " ".join(proc.cmdline())
        assert sandbox.token not in str(proc.environ())
    assert "token is [token hidden]" in reporter.text()
    assert sandbox.token not in reporter.text()
    assert sandbox.token not in str(await manager.stats())
    assert sandbox.token not in str(manager.info())


async def test_only_one_manager_with_live_shards_per_process(
    sandbox: Sandbox, make_manager
) -> None:
    manager, _ = make_manager(total_shards=1)
    await manager.spawn()
    with pytest.raises(EzError, match="already exists"):
        make_manager(total_shards=1)
    await manager.stop()
    second, _ = make_manager(total_shards=1)  # fine once the first one stopped
    assert second is not manager


async def test_stop_closes_every_shard_and_waits_for_the_processes(
    sandbox: Sandbox, make_manager
) -> None:
    manager, _ = make_manager(total_shards=3)
    await manager.spawn()
    pids = [s.pid for s in manager.shards.values()]
    started = time.monotonic()
    await manager.stop()
    assert time.monotonic() - started < 10
    assert all(not psutil.pid_exists(p) or psutil.Process(p).status() == "zombie" for p in pids)
    assert all(s.status == "dead" for s in manager.shards.values())
    assert shard_processes() == []
    with pytest.raises(EzError, match="stopped"):
        await manager.stats()


@pytest.mark.parametrize("bot", [PYBOT, HERE / "bots" / "bot.ez"], ids=["discord.py", "easylang"])
async def test_stop_closes_every_gateway_session_with_1000(
    sandbox: Sandbox, make_manager, bot: Path
) -> None:
    # 1000 is a normal close: Discord ends the session instead of keeping it for a RESUME
    # (discord.py's own Client.close() would send 4000).
    manager, _ = make_manager(bot, total_shards=3)
    await manager.spawn()
    await manager.stop()
    closes = await wait_until(
        lambda: (c := client_closes(sandbox)) and len(c) == 3 and c, 5, "3 closes"
    )
    assert closes == {0: [1000], 1: [1000], 2: [1000]}


async def test_stop_says_it_is_stopping_and_when_every_shard_is_gone(
    sandbox: Sandbox, make_manager
) -> None:
    manager, reporter = make_manager(total_shards=2)
    await manager.spawn()
    await manager.stop()
    await manager.stop()  # a second stop says nothing more
    lines = [line for line in reporter.lines if "stopp" in line]
    assert lines[0] == "[manager] stopping 2 shards…"
    assert re.fullmatch(r"\[manager\] all 2 shards stopped in \d+\.\d s", lines[1])
    assert len(lines) == 2


async def test_the_stop_lines_go_to_stderr_even_without_progress_output(
    sandbox: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    manager = ShardManager(
        PYBOT,
        {"token": sandbox.token, "api": sandbox.api_url, "total_shards": 1, "progress": False},
    )
    try:
        await manager.spawn()
    finally:
        await manager.stop()
    out, err = capsys.readouterr()
    assert "[manager] stopping 1 shard…\n" in err
    assert re.search(r"^\[manager\] all 1 shard stopped in \d+\.\d s$", err, re.M)
    assert "stopp" not in out


async def test_the_daily_session_start_budget_is_checked_first() -> None:
    async with Sandbox(guilds=10, identify_window=0.1, session_start_total=1) as sb:
        manager = ShardManager(
            PYBOT, {"token": sb.token, "api": sb.api_url, "total_shards": 2, "progress": False}
        )
        with pytest.raises(EzError, match="session starts"):
            await manager.spawn()
        assert manager.shards == {} and identifies(sb) == []


async def test_a_syntax_error_in_the_bot_is_reported_before_anything_starts(
    sandbox: Sandbox, make_manager, tmp_path
) -> None:
    bad = tmp_path / "broken.ez"
    bad.write_text('on_ready(func(client) {\n    print("hi"\n})\nbot_start()\n')
    manager, _ = make_manager(bad, total_shards=2)
    with pytest.raises(EzError) as info:
        await manager.spawn()
    assert info.value.kind == "SyntaxError"
    assert manager.shards == {} and identifies(sandbox) == []
    badpy = tmp_path / "broken.py"
    badpy.write_text("import discord\nclient = discord.Client(\n")
    manager, _ = make_manager(badpy, total_shards=2)
    with pytest.raises(EzError, match="broken.py line"):
        await manager.spawn()


async def test_disallowed_intents_4014_fail_once_with_an_explanation() -> None:
    async with Sandbox(guilds=10, identify_window=0.2, privileged_intents=False) as sb:
        manager = ShardManager(
            PYBOT,
            {"token": sb.token, "api": sb.api_url, "total_shards": 1, "spawn_timeout": 20},
            reporter=None,
        )
        manager.reporter.problem = lambda message: None  # type: ignore[method-assign]
        try:
            with pytest.raises(EzError) as info:
                await manager.spawn()
            message = info.value.message
            assert "shard 0 (failed)" in message and "4014" in message
            assert "privileged intent" in message and "not retried" in message
            await asyncio.sleep(1.2)  # past the first backoff: still no second IDENTIFY
            assert manager.shards[0].status == "failed" and manager.shards[0].restarts == 0
            assert len(identifies(sb)) <= 1 and sb.state()["identify_violations"] == 0
        finally:
            await manager.stop()


async def test_a_resumable_disconnect_is_not_a_crash(sandbox: Sandbox, make_manager) -> None:
    manager, _ = make_manager(total_shards=2)
    await manager.spawn()
    shard = manager.shards[1]
    pid = shard.pid
    seen = record_statuses(manager)
    await sandbox.disconnect(1, 4000, shard_count=2)
    await wait_until(lambda: "1:ready" in seen, 15, "shard 1 resumed")
    assert "1:resuming" in seen or "1:reconnecting" in seen
    assert shard.pid == pid and shard.restarts == 0
    assert len(identifies(sandbox, 1)) == 1  # resumed, not re-identified


async def test_with_respawn_off_an_exited_shard_stays_dead(sandbox: Sandbox, make_manager) -> None:
    manager, reporter = make_manager(total_shards=2, respawn=False)
    await manager.spawn()
    os.kill(manager.shards[0].pid, signal.SIGKILL)
    await wait_until(lambda: manager.shards[0].status == "dead", 10, "shard 0 dead")
    await asyncio.sleep(1.2)
    assert manager.shards[0].status == "dead" and manager.shards[0].pid is None
    assert "respawn is off" in reporter.text()
    assert len(identifies(sandbox, 0)) == 1
    # respawn_shard still brings it back on request.
    assert await manager.respawn_shard(0) is True


async def test_without_the_zygote_every_shard_is_a_fresh_interpreter(
    sandbox: Sandbox, make_manager, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EZLANG_SHARD_ZYGOTE", "0")
    manager, _ = make_manager(total_shards=2)
    await manager.spawn()
    assert manager.zygote is None
    for shard in manager.shards.values():
        assert "ezlang.sharding.shard_main" in " ".join(psutil.Process(shard.pid).cmdline())
        assert psutil.Process(shard.pid).ppid() == os.getpid()
    old = manager.shards[0].pid
    os.kill(old, signal.SIGKILL)
    await wait_until(
        lambda: manager.shards[0].status == "ready" and manager.shards[0].pid != old,
        20,
        "shard 0 respawned",
    )


async def test_shards_survive_the_death_of_the_zygote(sandbox: Sandbox, make_manager) -> None:
    manager, _ = make_manager(total_shards=2)
    await manager.spawn()
    assert manager.zygote is not None
    pids = [s.pid for s in manager.shards.values()]
    assert all(psutil.Process(p).ppid() == manager.zygote.pid for p in pids)
    os.kill(manager.zygote.pid, signal.SIGKILL)
    await wait_until(lambda: not manager.zygote.alive, 5, "the zygote noticed as gone")
    await asyncio.sleep(4)  # longer than the orphan watchdog's grace period
    assert [s.pid for s in manager.shards.values()] == pids
    assert all(s.status == "ready" for s in manager.shards.values())
    assert await manager.fetch_client_values("shard.ids") == [[0], [1]]
    # A shard that now crashes is started as a fresh interpreter.
    os.kill(pids[1], signal.SIGKILL)
    shard = manager.shards[1]
    await wait_until(lambda: shard.status == "ready" and shard.pid != pids[1], 20, "respawn")
    assert "ezlang.sharding.shard_main" in " ".join(psutil.Process(shard.pid).cmdline())


async def test_a_shard_that_never_gets_ready_fails_spawn_after_spawn_timeout(
    sandbox: Sandbox, make_manager, bot_env
) -> None:
    bot_env(mode="hang_at_start", shard=1)
    manager, reporter = make_manager(total_shards=2, spawn_timeout=2, max_restarts=0)
    started = time.monotonic()
    with pytest.raises(EzError) as info:
        await manager.spawn()
    assert time.monotonic() - started < 10
    assert "shard 1" in info.value.message
    assert "did not become READY within spawn_timeout (2 s)" in info.value.message
    assert manager.shards[0].status == "ready"


async def test_identify_options_never_go_faster_than_the_api_allows(
    sandbox: Sandbox, make_manager
) -> None:
    manager, _ = make_manager(total_shards=3, identify_window=0.05, max_concurrency=4)
    await manager.spawn()
    assert manager.identify_queue.window == WINDOW  # the sandbox's x_identify_window
    assert manager.identify_queue.max_concurrency == 1  # the sandbox's max_concurrency
    times = sorted(r["at"] for r in identifies(sandbox))
    assert all(b - a >= WINDOW for a, b in zip(times, times[1:], strict=False))
