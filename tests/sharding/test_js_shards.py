"""discord.js bots (``bot.js``) as shards of the ezlang manager, against the sandbox.

The bot (``bots/js/bot.js``) is an ordinary discord.js bot written for discord.js's own
ShardingManager; the tests install the pinned discord.js of ``bench/discordjs`` with npm into a
folder once per session (skipped, with the reason, when Node or npm is missing).
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from pathlib import Path

import psutil
import pytest

from ezlang.lang.errors import EzError
from ezlang.sandbox import Sandbox
from ezlang.sharding import messaging
from ezlang.sharding.jsshard import ENV_NODE, PRELOAD

from .conftest import (
    JS_BOT,
    CapturingReporter,
    client_closes,
    identifies,
    record_statuses,
    shard_processes,
    text_channel,
    wait_until,
)

pytestmark = pytest.mark.timeout(120)


def node_shards() -> list[psutil.Process]:
    """Live Node shard processes started (directly or not) by this test process (the autouse
    fixture of conftest.py checks that none outlives its test)."""
    return [p for p in shard_processes() if str(PRELOAD) in p.cmdline()]


def alive(pids: list[int]) -> list[int]:
    """Those of ``pids`` still running (a zombie has exited)."""
    out = []
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                out.append(pid)
        except psutil.NoSuchProcess:
            pass
    return out


@pytest.fixture
def js_bot(discordjs_dir: Path) -> Path:
    return discordjs_dir / "bot.js"


async def replies(sb: Sandbox, channel: str, count: int) -> list[str]:
    rows = await wait_until(
        lambda: len(m := sb.bot_messages(channel)) >= count and m, 10, f"{count} bot replies"
    )
    return [row["content"] for row in rows]


async def test_a_discordjs_bot_runs_as_4_shards_with_every_function(
    sandbox: Sandbox, make_manager, js_bot: Path
) -> None:
    manager, reporter = make_manager(js_bot, total_shards=4)
    shards = await manager.spawn()
    assert [s["id"] for s in shards] == [0, 1, 2, 3] and all(s["ready"] for s in shards)
    pids = [s["pid"] for s in shards]
    procs = {p.pid: p for p in node_shards()}
    assert sorted(procs) == sorted(pids), "every shard is a node process running the preload"
    # One IDENTIFY per shard, each granted by the identify queue (the fixture checks 0 violations).
    assert sorted(r["shard"][0] for r in identifies(sandbox)) == [0, 1, 2, 3]
    assert sandbox.state()["identify_violations"] == 0
    # The token never sits in a shard's command line or environment.
    for proc in procs.values():
        assert sandbox.token not in " ".join(proc.cmdline())
        assert sandbox.token not in "".join(f"{k}={v}" for k, v in proc.environ().items())
        assert proc.environ()["SHARDING_MANAGER_MODE"] == "process"

    # Messages reach the shard that holds their guild, and that shard answers.
    for shard_id in range(4):
        channel = text_channel(sandbox, shard_id, 4)
        await sandbox.inject_message(channel, "!whoami")
        assert await replies(sandbox, channel, 1) == [f"shard {shard_id}"]
    # client.shard.broadcastEval / fetchClientValues inside the bot go through the manager.
    channel = text_channel(sandbox, 1, 4)
    await sandbox.inject_message(channel, "!total")
    counts = [len(sandbox.guilds_for_shard(i, 4)) for i in range(4)]
    expected = f"total {sum(counts)} on 4 shards; fetched {','.join(map(str, counts))}"
    assert (await replies(sandbox, channel, 2))[1] == expected
    await sandbox.inject_message(channel, "!one")
    # (Which shard's error comes first varies: the call fails at the first one.)
    assert re.fullmatch(
        rf"one {counts[3]} 2; NameError: broadcast_eval failed on shard \d: "
        "ReferenceError: nope is not defined",
        (await replies(sandbox, channel, 3))[2],
    )

    # broadcast_eval runs JavaScript with `client` bound: an expression, a body, a function.
    assert await manager.broadcast_eval("client.guilds.cache.size") == counts
    assert await manager.broadcast_eval("return client.shard.ids") == [[0], [1], [2], [3]]
    assert await manager.broadcast_eval("c => c.shard.count") == [4, 4, 4, 4]
    assert await manager.broadcast_eval("async (c) => c.user.username", shard=2) == "SandboxBot"
    assert await manager.broadcast_eval("({n: client.guilds.cache.size, big: 2n ** 70n})") == [
        {"n": n, "big": str(2**70)} for n in counts
    ]
    with pytest.raises(EzError) as err:
        await manager.broadcast_eval("nope.x")
    assert err.value.kind == "NameError" and "nope is not defined" in err.value.message
    with pytest.raises(EzError) as err:
        await manager.broadcast_eval("return () => 1", shard=0)
    assert err.value.kind == "ShardingError" and "a function" in err.value.message
    with pytest.raises(EzError) as err:
        await manager.broadcast_eval("new Promise(() => {})", shard=3, timeout=0.3)
    assert err.value.kind == "TimeoutError" and "shard 3" in err.value.message

    # fetch_client_values reads discord.js's own properties; a typo lists the valid names.
    assert await manager.fetch_client_values("guilds.cache.size") == counts
    assert await manager.fetch_client_values("client.shard.ids") == [[0], [1], [2], [3]]
    with pytest.raises(EzError) as err:
        await manager.fetch_client_values("guilds.cache.sizee")
    assert err.value.kind == "ValueError" and "valid: size" in err.value.message

    # send_to_shard / send_to_all_shards reach the bot's process.on('message') listeners.
    assert await messaging.manager_send(manager, 2, {"say": "to two"}) is True
    assert await messaging.manager_send_all(manager, {"say": "to all"}) == 4
    await wait_until(
        lambda: reporter.text().count("message: to all") == 4, 5, "4 shards got the message"
    )
    assert "[shard 2] message: to two" in reporter.text()
    assert reporter.text().count("message: to two") == 1

    stats = await manager.stats()
    assert [s["shard_id"] for s in stats] == [0, 1, 2, 3]
    for entry, count, pid in zip(stats, counts, pids, strict=True):
        assert entry["ready"] is True and entry["status"] == "ready" and entry["pid"] == pid
        assert entry["guild_count"] == count and entry["user_count"] > 0
        assert 10 < entry["memory_mb"] < 1000 and entry["uptime_ms"] >= 0
        assert "ping" in entry and entry["restarts"] == 0
        # The counters of the metrics: every GUILD_CREATE, the messages, the REST calls.
        assert entry["events_by_type"]["GUILD_CREATE"] == count
        assert entry["events_by_type"]["MESSAGE_CREATE"] >= 1
        assert entry["rest_requests"] >= 2 and entry["rest_429s"] == 0  # gateway/bot, a reply

    await manager.stop()
    assert await wait_until(
        lambda: len(c := client_closes(sandbox)) == 4 and c, 5, "4 client closes"
    ) == {0: [1000], 1: [1000], 2: [1000], 3: [1000]}
    assert not node_shards()
    assert "Traceback" not in reporter.text()


async def test_kill_9_respawn_shard_and_restart_shards_replace_the_node_processes(
    sandbox: Sandbox, make_manager, js_bot: Path
) -> None:
    manager, reporter = make_manager(js_bot, total_shards=4)
    shards = await manager.spawn()
    old = {s["id"]: s["pid"] for s in shards}

    os.kill(old[1], signal.SIGKILL)
    shard = manager.shards[1]
    await wait_until(lambda: shard.status != "ready", 5, "shard 1 to stop being ready")
    await wait_until(
        lambda: shard.status == "ready" and shard.pid not in (None, old[1]), 15, "shard 1 back"
    )
    assert "killed by SIGKILL" in reporter.text()
    assert (await manager.stats())[1]["restarts"] == 1

    assert await manager.respawn_shard(2) is True
    assert manager.shards[2].pid not in (None, old[2])
    assert {p.pid for p in node_shards()} == {
        old[0],
        manager.shards[1].pid,
        manager.shards[2].pid,
        old[3],
    }
    # Each replacement IDENTIFYed again through the queue: 6 in all, none too early.
    assert len(identifies(sandbox)) == 6
    assert sandbox.state()["identify_violations"] == 0
    assert await manager.broadcast_eval("client.shard.ids[0]") == [0, 1, 2, 3]

    # A rolling restart replaces every shard; discord.js shards do not hand their session
    # over, so each new process IDENTIFYs through the queue.
    before = {i: s.pid for i, s in manager.shards.items()}
    results = await manager.restart_shards({"batch": 2})
    assert [(r["shard_id"], r["ok"], r["handed_over"]) for r in results] == [
        (i, True, False) for i in range(4)
    ]
    assert all(manager.shards[i].pid not in (None, before[i]) for i in range(4))
    assert len(identifies(sandbox)) == 10 and sandbox.state()["identify_violations"] == 0


async def test_a_resumable_disconnect_resumes_and_respawn_all_from_the_bot_replaces_all(
    sandbox: Sandbox, make_manager, js_bot: Path
) -> None:
    manager, _ = make_manager(js_bot, total_shards=2)
    shards = await manager.spawn()
    seen = record_statuses(manager)
    # discord.js resumes the session by itself (no IDENTIFY, so no trip through the queue).
    await sandbox.disconnect(1, 4000, shard_count=2)
    await wait_until(lambda: "1:ready" in seen, 15, "shard 1 resumed")
    assert "1:reconnecting" in seen
    assert manager.shards[1].pid == shards[1]["pid"] and manager.shards[1].restarts == 0
    assert len(identifies(sandbox, 1)) == 1
    assert [entry["resumes"] for entry in await manager.stats()] == [0, 1]

    # client.shard.respawnAll() inside the bot: the manager replaces every shard in turn.
    await sandbox.inject_message(text_channel(sandbox, 0, 2), "!respawnall")
    await wait_until(
        lambda: all(
            s.status == "ready" and s.pid not in (None, old["pid"])
            for s, old in zip(manager.shards.values(), shards, strict=True)
        ),
        30,
        "both shards replaced",
    )
    assert [len(identifies(sandbox, i)) for i in (0, 1)] == [2, 2]


async def test_a_blocked_event_loop_stops_the_heartbeats_and_is_restarted(
    sandbox: Sandbox, make_manager, js_bot: Path
) -> None:
    manager, reporter = make_manager(js_bot, total_shards=2)
    shards = await manager.spawn()
    await sandbox.inject_message(text_channel(sandbox, 0, 2), "!block")
    shard = manager.shards[0]
    await wait_until(
        lambda: shard.status == "ready" and shard.pid not in (None, shards[0]["pid"]),
        20,
        "shard 0 replaced",
    )
    assert "its event loop is blocked" in reporter.text()


async def test_a_fatal_close_code_fails_the_shard_once_with_the_explanation(
    js_bot: Path, discordjs_dir: Path
) -> None:
    # The bot asks for message content, a privileged intent this application lacks: 4014.
    from ezlang.sharding.manager import ShardManager

    async with Sandbox(guilds=20, identify_window=0.25, privileged_intents=False) as sb:
        reporter = CapturingReporter()
        manager = ShardManager(
            js_bot, {"token": sb.token, "api": sb.api_url, "total_shards": 1}, reporter=reporter
        )
        try:
            with pytest.raises(EzError) as err:
                await manager.spawn()
        finally:
            await manager.stop()
        assert "4014" in err.value.message and "privileged intent" in err.value.message
        assert "not retried" in err.value.message
        # One attempt, never retried: the gateway closed one session with 4014.
        refused = [c for c in sb.state()["closes"] if c["by"] == "sandbox" and c["code"] == 4014]
        assert len(refused) == 1 and sb.state()["identify_violations"] == 0


async def test_what_is_missing_is_said_before_any_shard_starts(
    sandbox: Sandbox, make_manager, tmp_path: Path, discordjs_dir: Path, monkeypatch
) -> None:
    lonely = tmp_path / "bot.js"  # no node_modules anywhere above tmp_path
    lonely.write_text(JS_BOT.read_text())
    manager, _ = make_manager(lonely, total_shards=1)
    with pytest.raises(EzError) as err:
        await manager.spawn()
    assert err.value.kind == "ImportError"
    assert f"cd {tmp_path} && npm install discord.js" in err.value.message

    broken = discordjs_dir / "broken.js"
    broken.write_text("const x = ;\n")
    manager, _ = make_manager(broken, total_shards=1)
    with pytest.raises(EzError) as err:
        await manager.spawn()
    assert err.value.kind == "SyntaxError" and "broken.js line 1" in err.value.message

    monkeypatch.setenv(ENV_NODE, str(tmp_path / "no-such-node"))
    manager, _ = make_manager(discordjs_dir / "bot.js", total_shards=1)
    with pytest.raises(EzError) as err:
        await manager.spawn()
    assert err.value.kind == "ShardingError" and "apt-get install nodejs npm" in err.value.message
    assert identifies(sandbox) == [] and not node_shards()


async def test_node_shards_exit_when_the_manager_is_killed_even_with_a_blocked_loop(
    js_bot: Path,
) -> None:
    async with Sandbox(guilds=20, identify_window=0.2) as sb:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            str(Path(__file__).parent / "bots" / "run_manager.py"),
            sb.api_url,
            "2",
            str(js_bot),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            env={**os.environ, "DISCORD_TOKEN": sb.token},
        )
        assert proc.stdout is not None
        seen: list[str] = []
        while not any("all 2 shards ready" in line for line in seen):
            line = await asyncio.wait_for(proc.stdout.readline(), 30)
            assert line, "manager exited early:\n" + "".join(seen)
            seen.append(line.decode())
        pids = [p.pid for p in node_shards()]
        assert len(pids) == 2
        # Shard 1's event loop is blocked for good when the manager dies: only the preload's
        # watchdog thread can end it.
        await sb.inject_message(text_channel(sb, 1, 2), "!block")
        while not any("blocking the event loop" in line for line in seen):
            line = await asyncio.wait_for(proc.stdout.readline(), 10)
            assert line, "manager exited early:\n" + "".join(seen)
            seen.append(line.decode())
        proc.kill()
        await proc.wait()
        # (Orphans are no longer this test's descendants: watch their pids, and kill any left.)
        try:
            await wait_until(lambda: not alive(pids), 10, "the orphaned node shards to exit")
        finally:
            for pid in alive(pids):
                os.kill(pid, signal.SIGKILL)
        # Shard 0 saw the channel close and still ended its session normally.
        closes = await wait_until(lambda: len(c := client_closes(sb)) == 2 and c, 5, "2 closes")
        assert closes[0] == [1000] and closes[1] != [1000]


async def test_the_example_runs_with_sandbox(discordjs_dir: Path) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "ezlang",
        "run",
        str(discordjs_dir / "example" / "manager-js.ez"),
        "--sandbox",
        "ROUNDS=1",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 90)
    text, errors = out.decode(), err.decode()
    assert proc.returncode == 0, text + errors
    assert "All 5 discord.js shards are ready" in text
    assert "servers per shard: [1000, 1000, 1000, 1000, 1000]" in text
    assert "All shards stopped" in text
    assert "Traceback" not in errors
