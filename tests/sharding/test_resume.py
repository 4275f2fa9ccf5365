"""Cold resume: a shard is a session that outlives its process (docs/SHARDING.md,
"Deploying without downtime"). Real shard processes, the real discord.py client, the sandbox
counting IDENTIFYs and keeping sessions."""

from __future__ import annotations

import asyncio
import collections
import os
import re
import signal
import sys
import time
from pathlib import Path

import pytest

from ezlang.lang.errors import EzError
from ezlang.sandbox import Sandbox
from ezlang.sharding.manager import ShardManager

from .conftest import (
    FAST,
    HERE,
    WINDOW,
    CapturingReporter,
    client_closes,
    identifies,
    record_statuses,
    text_channel,
    wait_until,
)

COUNTER = HERE / "bots" / "counter.ez"
pytestmark = pytest.mark.timeout(90)


def handled(lines: list[str], tag: str) -> collections.Counter[int]:
    """How many times each numbered message ``tag:N`` was handled, from the shards' output."""
    pattern = re.compile(rf"\] (?:v2 )?handled {re.escape(tag)}:(\d+)$")
    out: collections.Counter[int] = collections.Counter()
    for line in lines:
        m = pattern.search(line)
        if m:
            out[int(m.group(1))] += 1
    return out


def session_of(sb: Sandbox, shard_id: int, count: int) -> list[str]:
    return [c["session_id"] for c in sb.state()["connections"] if c["shard"] == [shard_id, count]]


class Stream:
    """A numbered stream of user messages into one channel, in the background."""

    def __init__(self, sb: Sandbox, channel: str, tag: str, rate: float) -> None:
        self.sb, self.channel, self.tag, self.rate = sb, channel, tag, rate
        self.sent = 0
        self.undelivered = 0  # sent while no connection took them (kept for a RESUME)
        self._stop = asyncio.Event()
        self.task = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        started = time.monotonic()
        while not self._stop.is_set():
            due = int((time.monotonic() - started) * self.rate) + 1
            while self.sent < due:
                result = await self.sb.inject_message(self.channel, f"{self.tag}:{self.sent}")
                self.undelivered += not result["delivered"]
                self.sent += 1
            await asyncio.sleep(1 / self.rate)

    async def stop(self) -> int:
        self._stop.set()
        await self.task
        return self.sent


async def test_a_killed_shard_resumes_and_every_message_is_handled_exactly_once(
    sandbox: Sandbox, make_manager
) -> None:
    manager, reporter = make_manager(COUNTER, total_shards=2)
    await manager.spawn()
    victim = manager.shards[1]
    old_pid = victim.pid
    session = session_of(sandbox, 1, 2)
    starts = sandbox.state()["session_start_limit"]["remaining"]
    stream = Stream(sandbox, text_channel(sandbox, 1, 2), "k", rate=100)
    await wait_until(lambda: len(handled(reporter.lines, "k")) >= 20, 10, "the stream flowing")
    seen = record_statuses(manager)
    os.kill(old_pid, signal.SIGKILL)
    await wait_until(
        lambda: victim.status == "ready" and victim.pid != old_pid, 30, "the replacement ready"
    )
    assert seen[0] == "1:dead" and seen[-1] == "1:ready"  # never "ready" while down
    await asyncio.sleep(0.3)  # a little traffic after the resume too
    sent = await stream.stop()
    await wait_until(lambda: len(handled(reporter.lines, "k")) == sent, 15, "every message handled")
    counts = handled(reporter.lines, "k")
    assert sorted(counts) == list(range(sent))
    assert [n for n, c in counts.items() if c != 1] == [], "a message was handled twice"
    # Messages were sent while no process held the session, and still arrived.
    assert stream.undelivered > 0
    # A first crash with a resumable session is restarted at once (no backoff).
    assert "shard 1 exited (killed by SIGKILL); restarting now, resuming its session" in (
        reporter.text()
    )
    # The replacement RESUMEd the same session: no IDENTIFY, no session start.
    assert session_of(sandbox, 1, 2) == session
    assert len(identifies(sandbox, 1)) == 1
    assert sandbox.state()["session_start_limit"]["remaining"] == starts
    stats = (await manager.stats())[1]
    assert stats["ready"] is True and stats["restarts"] == 1
    # The resumed process filled its guild cache and ran on_ready.
    assert stats["guild_count"] == len(sandbox.guilds_for_shard(1, 2)) > 0
    # (on_ready's print reaches the manager a moment after the status says ready)
    await wait_until(
        lambda: sum("counter shard 1 ready with" in line for line in reporter.lines) == 2,
        5,
        "the new process's on_ready",
    )


async def test_an_ended_session_falls_back_to_identify_through_the_queue(
    sandbox: Sandbox, make_manager
) -> None:
    manager, reporter = make_manager(COUNTER, total_shards=2)
    await manager.spawn()
    # The first process's on_ready line, before the kill (spawn() returns at READY, which can
    # be before that print reaches the manager; a kill then would lose it).
    await wait_until(
        lambda: any("counter shard 0 ready with" in line for line in reporter.lines),
        10,
        "the first process's on_ready",
    )
    victim = manager.shards[0]
    old_pid, session = victim.pid, session_of(sandbox, 0, 2)
    # Discord forgets the session (before the kill: the replacement starts at once), so the
    # replacement's RESUME gets op 9 d:false.
    for s in list(sandbox.gateway.sessions.values()):
        if s.session_id in session:
            sandbox.gateway.end_session(s)
    seen = record_statuses(manager)
    os.kill(old_pid, signal.SIGKILL)
    await wait_until(
        lambda: victim.status == "ready" and victim.pid != old_pid, 30, "the replacement ready"
    )
    assert seen[0] == "0:dead" and "0:identifying" in seen and seen[-1] == "0:ready"
    assert len(identifies(sandbox, 0)) == 2  # the fallback IDENTIFY went through the queue
    assert session_of(sandbox, 0, 2) != session
    assert sandbox.state()["identify_violations"] == 0

    # (on_ready's print reaches the manager a moment after the status says ready)
    def readies() -> list[str]:
        return [line for line in reporter.lines if "counter shard 0 ready with" in line]

    await wait_until(lambda: len(readies()) >= 2, 10, "the new process's on_ready")
    assert len(readies()) == 2, readies()  # once per process, not again


async def test_outside_the_resume_window_a_replacement_identifies(
    sandbox: Sandbox, make_manager
) -> None:
    manager, _ = make_manager(COUNTER, total_shards=2, resume_window=0)
    await manager.spawn()
    victim = manager.shards[1]
    old_pid = victim.pid
    os.kill(old_pid, signal.SIGKILL)
    await wait_until(
        lambda: victim.status == "ready" and victim.pid != old_pid, 30, "the replacement ready"
    )
    assert len(identifies(sandbox, 1)) == 2
    assert manager.sessions.window == 0


async def test_a_zombie_connection_is_noticed_within_a_heartbeat_and_resumed() -> None:
    async with Sandbox(
        guilds=40, max_concurrency=1, identify_window=WINDOW, heartbeat_interval=1.0
    ) as sb:
        reporter = CapturingReporter()
        opts = {"token": sb.token, "api": sb.api_url, **FAST, "total_shards": 2}
        manager = ShardManager(COUNTER, opts, reporter=reporter)
        try:
            await manager.spawn()
            seen: list[tuple[float, str]] = []
            original = manager.shard_status_changed

            def record(shard_id: int, status: str, pid: int | None) -> None:
                if shard_id == 1:
                    seen.append((time.monotonic(), status))
                original(shard_id, status, pid)

            manager.shard_status_changed = record  # type: ignore[method-assign]
            channel = text_channel(sb, 1, 2)
            started = time.monotonic()
            assert await sb.zombie(1, 2) == 1
            for n in range(5):  # sent into the zombie: buffered, never written
                await sb.inject_message(channel, f"z:{n}")
            await wait_until(lambda: any(s == "resuming" for _, s in seen), 10, "resuming")
            noticed = next(t for t, s in seen if s == "resuming") - started
            assert noticed <= 1.0 + 5.0, f"noticed after {noticed:.1f} s"
            # While resuming, stats never say ready.
            stats = (await manager.stats())[1]
            if not any(s == "ready" for _, s in seen):
                assert stats["ready"] is False and stats["status"] == "resuming"
            await wait_until(lambda: seen[-1][1] == "ready", 15, "resumed")
            assert [s for _, s in seen] == ["resuming", "ready"]
            await wait_until(lambda: len(handled(reporter.lines, "z")) == 5, 10, "the 5 messages")
            assert set(handled(reporter.lines, "z").values()) == {1}
            assert len(identifies(sb, 1)) == 1
            assert "zombie" in reporter.text()
        finally:
            await asyncio.wait_for(manager.stop(), 30)


async def test_a_manager_stopped_keeping_sessions_is_resumed_by_the_next_one(
    sandbox: Sandbox, make_manager
) -> None:
    first, first_out = make_manager(COUNTER, total_shards=3)
    await first.spawn()
    sessions = {i: session_of(sandbox, i, 3) for i in range(3)}
    for i in range(3):  # handled before the stop
        await sandbox.inject_message(text_channel(sandbox, i, 3), f"before:{i}")
    await wait_until(lambda: len(handled(first_out.lines, "before")) == 3, 10, "3 handled")
    await first.stop(keep_sessions=True)
    assert first.sessions.path is not None and first.sessions.path.exists()
    # Events while no manager runs wait in the sessions' replay buffers.
    gap = [
        await sandbox.inject_message(text_channel(sandbox, n % 3, 3), f"gap:{n}") for n in range(9)
    ]
    assert not any(r["delivered"] for r in gap)
    second, second_out = make_manager(COUNTER, total_shards=3)
    await second.spawn()
    await wait_until(lambda: len(handled(second_out.lines, "gap")) == 9, 10, "the gap's events")
    assert set(handled(second_out.lines, "gap").values()) == {1}
    assert handled(second_out.lines, "before") == collections.Counter()  # not replayed
    assert len(identifies(sandbox)) == 3  # the first manager's only
    assert {i: session_of(sandbox, i, 3) for i in range(3)} == sessions
    stats = await second.stats()
    assert [s["ready"] for s in stats] == [True, True, True]
    await second.stop()
    # A normal stop ends the sessions and removes the file.
    assert not second.sessions.path.exists()
    assert sandbox.state()["connections"] == []


async def test_a_rolling_restart_hands_every_session_over_with_new_code(
    sandbox: Sandbox, make_manager, tmp_path
) -> None:
    bot = tmp_path / "bot.ez"
    bot.write_text(COUNTER.read_text())
    manager, reporter = make_manager(bot, total_shards=3)
    await manager.spawn()
    pids = {i: s.pid for i, s in manager.shards.items()}
    sessions = {i: session_of(sandbox, i, 3) for i in range(3)}
    streams = [Stream(sandbox, text_channel(sandbox, i, 3), f"r{i}", rate=40) for i in range(3)]
    await wait_until(lambda: len(handled(reporter.lines, "r0")) >= 10, 10, "the streams flowing")
    # New code on disk: the new processes must run it.
    bot.write_text(COUNTER.read_text().replace('print("handled "', 'print("v2 handled "'))
    results = await manager.restart_shards({"batch": 1})
    await asyncio.sleep(0.3)
    sent = [await s.stop() for s in streams]
    for i in range(3):
        await wait_until(
            lambda i=i: len(handled(reporter.lines, f"r{i}")) == sent[i], 15, f"stream {i} handled"
        )
        counts = handled(reporter.lines, f"r{i}")
        assert sorted(counts) == list(range(sent[i]))
        assert [n for n, c in counts.items() if c != 1] == [], f"shard {i}: handled twice"
    assert [r["shard_id"] for r in results] == [0, 1, 2]
    assert all(r["ok"] and r["handed_over"] and r["gap_ms"] > 0 for r in results)
    assert all(manager.shards[i].pid != pids[i] for i in range(3))
    assert any("] v2 handled r0:" in line for line in reporter.lines)  # the new code runs
    assert len(identifies(sandbox)) == 3  # no IDENTIFY during the restart
    assert {i: session_of(sandbox, i, 3) for i in range(3)} == sessions
    stats = await manager.stats()
    assert [(s["ready"], s["restarts"]) for s in stats] == [(True, 1)] * 3
    assert "restarted 3 shard(s)" in reporter.text()


async def test_a_new_process_that_fails_to_load_leaves_the_old_one_running(
    sandbox: Sandbox, make_manager, tmp_path
) -> None:
    bot = tmp_path / "bot.ez"
    bot.write_text(COUNTER.read_text())
    manager, reporter = make_manager(bot, total_shards=2)
    await manager.spawn()
    pids = {i: s.pid for i, s in manager.shards.items()}
    # A runtime error at load: only running the new code finds it.
    bot.write_text(
        COUNTER.read_text().replace("bot_start()", "let x = no_such_function()\nbot_start()")
    )
    with pytest.raises(EzError) as info:
        await manager.restart_shards()
    assert info.value.kind == "ShardingError"
    message = info.value.message
    assert "shard 0" in message and "no_such_function" in message
    assert "old process keeps running" in message and "not restarted: shards 1" in message
    assert {i: s.pid for i, s in manager.shards.items()} == pids
    assert [s["ready"] for s in await manager.stats()] == [True, True]
    await sandbox.inject_message(text_channel(sandbox, 0, 2), "after:0")
    await wait_until(lambda: handled(reporter.lines, "after")[0] == 1, 10, "still handling")
    assert len(identifies(sandbox)) == 2
    # A syntax error is found before any process starts.
    bot.write_text("on_message(func(m) {\n")
    with pytest.raises(EzError) as info:
        await manager.restart_shards()
    assert info.value.kind in ("SyntaxError", "ShardingError")
    assert {i: s.pid for i, s in manager.shards.items()} == pids
    with pytest.raises(EzError) as info:
        await manager.restart_shards({"batch": 0})
    assert info.value.kind == "ValueError" and "batch" in info.value.message
    with pytest.raises(EzError) as info:
        await manager.restart_shards({"bach": 1})
    assert info.value.kind == "ValueError" and "known: batch, shards" in info.value.message


async def run_manager_script(sb: Sandbox, script: Path) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "ezlang", "run", str(script), "--api", sb.api_url,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env={**os.environ, "DISCORD_TOKEN": sb.token},
    )  # fmt: skip
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode()


async def test_restart_shards_and_keep_sessions_from_an_easylang_manager(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    (tmp_path / "bot.ez").write_text(COUNTER.read_text())
    script = tmp_path / "manager.ez"
    script.write_text(
        'create_shard_manager("bot.ez", {total_shards: 2})\n'
        "spawn_shards()\n"
        "for r in restart_shards({batch: 2}) {\n"
        '    print("restart " + r.shard_id + " " + r.ok + " " + r.handed_over)\n'
        "}\n"
        'print("stopped: " + stop_shards({keep_sessions: true}))\n'
    )
    code, out = await run_manager_script(sandbox, script)
    assert code == 0, out
    assert "restart 0 true true" in out and "restart 1 true true" in out
    assert "stopped: true" in out
    assert len(identifies(sandbox)) == 2  # the spawn's only
    # The hand-over and the stop each dropped a connection without ending the session.
    assert client_closes(sandbox) == {0: [4000, 4000], 1: [4000, 4000]}
    assert (tmp_path / ".bot.ez.sessions.json").exists()
    # A wrong option is an EasyLang error with its position, and nothing is restarted.
    script.write_text(
        'create_shard_manager("bot.ez", {total_shards: 2})\n'
        "spawn_shards()\n"
        'restart_shards({batch: "2"})\n'
    )
    code, out = await run_manager_script(sandbox, script)
    assert code == 1
    assert "TypeError" in out and "batch" in out and "manager.ez:3" in out
    assert "Traceback" not in out
    assert len(identifies(sandbox)) == 2  # the second manager resumed both sessions
