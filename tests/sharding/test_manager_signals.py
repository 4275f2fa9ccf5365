"""What happens to the shards when the manager process itself is signalled or killed."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
import time

import psutil
import pytest

from ezlang.sandbox import Sandbox

from .conftest import HERE, client_closes, wait_until

pytestmark = pytest.mark.timeout(60)


async def start_manager(sb: Sandbox, shards: int) -> tuple[asyncio.subprocess.Process, list[str]]:
    env = {**os.environ, "DISCORD_TOKEN": sb.token}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(HERE / "bots" / "run_manager.py"),
        sb.api_url,
        str(shards),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env=env,
    )
    lines: list[str] = []
    assert proc.stdout is not None
    deadline = time.monotonic() + 30
    while not any(f"all {shards} shards ready" in line for line in lines):
        line = await asyncio.wait_for(proc.stdout.readline(), max(0.1, deadline - time.monotonic()))
        assert line, "manager exited early:\n" + "".join(lines)
        lines.append(line.decode())
    return proc, lines


async def read_lines(proc: asyncio.subprocess.Process, lines: list[str]) -> None:
    """Keep appending the process's output lines to ``lines`` until it closes stdout."""
    assert proc.stdout is not None
    while line := await proc.stdout.readline():
        lines.append(line.decode())


def shard_pids(manager_pid: int) -> list[int]:
    """The manager's shard processes and its zygote (the shards' parent)."""
    return [
        p.pid
        for p in psutil.Process(manager_pid).children(recursive=True)
        if "ezlang.sharding" in " ".join(p.cmdline())
    ]


def gone(pids: list[int]) -> bool:
    alive = []
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                alive.append(pid)
        except psutil.NoSuchProcess:
            pass
    return not alive


async def wait_gone(pids: list[int], timeout: float) -> float:
    started = time.monotonic()
    while not gone(pids):
        if time.monotonic() - started > timeout:
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            raise AssertionError(f"shards {pids} still alive after {timeout} s")
        await asyncio.sleep(0.05)
    return time.monotonic() - started


async def test_sigint_to_the_manager_stops_all_shards_cleanly_within_10_s() -> None:
    async with Sandbox(guilds=20, identify_window=0.2) as sb:
        proc, lines = await start_manager(sb, 3)
        pids = shard_pids(proc.pid)
        assert len(pids) >= 3
        proc.send_signal(signal.SIGINT)
        assert await wait_gone(pids, 10) < 10
        out, _ = await asyncio.wait_for(proc.communicate(), 10)
        assert proc.returncode == 0
        assert "manager stopped" in out.decode()
        # What a user pressing Ctrl-C sees: the shutdown began, and it finished.
        assert "[manager] stopping 3 shards…" in out.decode()
        assert re.search(r"\[manager\] all 3 shards stopped in \d+\.\d s", out.decode())
        assert sb.state()["identify_violations"] == 0
        # Ctrl-C ends the sessions (1000): Discord shows the bot offline at once.
        assert client_closes(sb) == {0: [1000], 1: [1000], 2: [1000]}
        assert sb.state()["connections"] == []


async def test_sigterm_keeps_the_sessions_and_the_next_manager_resumes_them() -> None:
    async with Sandbox(guilds=20, identify_window=0.2) as sb:
        proc, lines = await start_manager(sb, 3)
        pids = shard_pids(proc.pid)
        proc.send_signal(signal.SIGTERM)
        assert await wait_gone(pids, 10) < 10
        out, _ = await asyncio.wait_for(proc.communicate(), 10)
        assert proc.returncode == 0
        assert re.search(r"\[manager\] all 3 shards stopped in \d+\.\d s", out.decode())
        # Dropped without ending the sessions (not 1000/1001): they stay resumable.
        assert client_closes(sb) == {0: [4000], 1: [4000], 2: [4000]}
        channels = [sb.guilds_for_shard(i, 3)[0]["text_channel_ids"][0] for i in range(3)]
        for n in range(6):  # sent while no manager runs
            result = await sb.inject_message(channels[n % 3], f"count:{n}")
            assert result["delivered"] is False
        proc, lines = await start_manager(sb, 3)
        pump = asyncio.ensure_future(read_lines(proc, lines))
        try:
            assert len(sb.state()["identifies"]) == 3  # the first start's only
            await wait_until(
                lambda: sum("handled count:" in line for line in lines) == 6, 10, "the 6 messages"
            )
        finally:
            proc.send_signal(signal.SIGINT)
            await asyncio.wait_for(pump, 15)
            await asyncio.wait_for(proc.wait(), 5)
        text = "".join(lines)
        assert sorted(re.findall(r"handled count:(\d+)", text)) == [str(n) for n in range(6)]
        assert len(sb.state()["identifies"]) == 3
        assert sb.state()["identify_violations"] == 0


async def test_sigkill_to_the_manager_makes_its_shards_exit_within_10_s() -> None:
    async with Sandbox(guilds=20, identify_window=0.2) as sb:
        proc, _ = await start_manager(sb, 2)
        pids = shard_pids(proc.pid)
        assert len(pids) >= 2
        proc.kill()
        await proc.wait()
        assert await wait_gone(pids, 10) < 10
        # Each orphaned shard saw end-of-file and still closed its session normally.
        await wait_until(lambda: len(client_closes(sb)) == 2, 5, "both shards' closes")
        assert client_closes(sb) == {0: [1000], 1: [1000]}


async def test_sighup_restarts_every_shard_handing_the_sessions_over() -> None:
    async with Sandbox(guilds=20, identify_window=0.2) as sb:
        proc, lines = await start_manager(sb, 2)
        pump = asyncio.ensure_future(read_lines(proc, lines))
        try:
            before = shard_pids(proc.pid)
            proc.send_signal(signal.SIGHUP)
            await wait_until(
                lambda: any("restarted 2 shard(s)" in line for line in lines), 20, "the restart"
            )
            after = shard_pids(proc.pid)
            assert proc.returncode is None  # SIGHUP restarts the shards, not the manager
            assert len(set(after) - set(before)) >= 2  # two new shard processes
            assert len(sb.state()["identifies"]) == 2  # handed over: no IDENTIFY
        finally:
            proc.send_signal(signal.SIGINT)
            await asyncio.wait_for(pump, 15)
            await asyncio.wait_for(proc.wait(), 5)
