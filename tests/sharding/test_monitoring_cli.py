"""Monitoring as a user runs it (``ezlang run manager.ez --sandbox``): ``--log-json``,
``--metrics``/``--dashboard``, and the live table on a real pseudo-terminal."""

from __future__ import annotations

import asyncio
import fcntl
import json
import os
import pty
import re
import select
import shutil
import signal
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import aiohttp
import pytest

from .conftest import HERE

pytestmark = pytest.mark.timeout(120)

NOISE = ("Traceback", "never retrieved", "Exception ignored", "Task was destroyed")


def write_manager(tmp_path: Path, body: str) -> Path:
    shutil.copy(HERE / "bots" / "bot.ez", tmp_path / "bot.ez")
    script = tmp_path / "manager.ez"
    script.write_text(body, encoding="utf-8")
    return script


def ezlang(script: Path, *flags: str) -> list[str]:
    return [sys.executable, "-m", "ezlang", "run", str(script), "--sandbox", *flags]


async def test_log_json_writes_one_object_per_line_and_keeps_stdout_plain(tmp_path) -> None:
    script = write_manager(
        tmp_path,
        'create_shard_manager("bot.ez", {total_shards: 3})\n'
        'spawn_shards()\nprint("spawned")\nstop_shards()\n',
    )
    proc = await asyncio.create_subprocess_exec(
        *ezlang(script, "--log-json"),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 90)
    assert proc.returncode == 0, err.decode()
    assert "spawned" in out.decode().splitlines()
    assert re.search(r"^\[shard 2\] ez shard 2 ready$", out.decode(), re.M)  # program output
    records = []
    for line in err.decode().splitlines():
        if line.startswith("sandbox: "):
            continue  # the embedded sandbox's own lines, not the manager's
        record = json.loads(line)  # every manager line is one JSON object
        assert set(record) == {"time", "level", "shard", "event", "message"}, record
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", record["time"])
        records.append(record)
    events = [r["event"] for r in records]
    assert events[0] == "spawn_started" and "spawn_finished" in events
    ready = sorted(r["shard"] for r in records if r["event"] == "shard_ready")
    assert ready == [0, 1, 2]
    assert events[-2:] == ["stopping", "stopped"]
    assert all(r["level"] == "info" for r in records), records


async def test_metrics_and_dashboard_flags_serve_on_loopback(tmp_path) -> None:
    script = write_manager(
        tmp_path,
        'create_shard_manager("bot.ez", {total_shards: 3})\nspawn_shards()\nprint("spawned")\n',
    )
    proc = await asyncio.create_subprocess_exec(
        *ezlang(script, "--metrics", "0", "--dashboard", "0"),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    urls: dict[str, str] = {}
    lines: list[str] = []
    try:
        deadline = time.monotonic() + 60
        while len(urls) < 2:
            raw = await asyncio.wait_for(proc.stderr.readline(), deadline - time.monotonic())
            assert raw, "\n".join(lines)
            line = raw.decode().rstrip()
            lines.append(line)
            found = re.match(
                r"\[manager\] (metrics|dashboard) on (http://127\.0\.0\.1:\d+/\S*)", line
            )
            if found:
                urls[found.group(1)] = found.group(2)
        assert "(actions off: no dashboard token)" in "\n".join(lines)
        out: list[str] = []
        while "spawned" not in out:
            raw = await asyncio.wait_for(proc.stdout.readline(), 60)
            assert raw, out
            out.append(raw.decode().strip())
        async with aiohttp.ClientSession() as http:
            async with http.get(urls["metrics"]) as resp:
                text = await resp.text()
            async with http.get(urls["dashboard"] + "api/state") as resp:
                state = await resp.json()
        assert 'ezlang_shard_up{shard="2"} 1.0' in text
        assert [s["status"] for s in state["shards"]] == ["ready"] * 3
    finally:
        proc.send_signal(signal.SIGINT)
        _, rest = await asyncio.wait_for(proc.communicate(), 60)
    err = "\n".join(lines) + rest.decode()
    assert proc.returncode == 0, err
    assert "all 3 shards stopped" in err
    assert "\x1b[" not in err  # not a terminal: plain lines, no live table
    for noise in NOISE:
        assert noise not in err, err


def test_on_a_terminal_the_live_table_is_redrawn_in_place(tmp_path) -> None:
    script = write_manager(
        tmp_path,
        'create_shard_manager("bot.ez", {total_shards: 3})\n'
        'spawn_shards()\nprint("PROGRAM OUTPUT")\nwait(2.5)\nstop_shards()\nprint("AFTER STOP")\n',
    )
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 140, 0, 0))
    env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "140", "LINES": "40"}
    proc = subprocess.Popen(
        ezlang(script), stdin=subprocess.DEVNULL, stdout=slave, stderr=slave, env=env
    )
    os.close(slave)
    chunks = []
    deadline = time.monotonic() + 90
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.5)
            if ready:
                try:
                    data = os.read(master, 65536)
                except OSError:  # EIO: the child side is closed
                    break
                if not data:
                    break
                chunks.append(data)
            elif proc.poll() is not None:
                break
        code = proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)
    screen = b"".join(chunks).decode("utf-8", "replace")
    assert code == 0, screen
    # One table, redrawn: the title comes several times, each redraw erases the old one.
    assert screen.count("3/3 shards ready") >= 2, screen
    assert "\x1b[1A" in screen and "\x1b[2K" in screen
    for column in ("status", "guilds", "ping", "memory", "events/s", "restarts"):
        assert column in screen
    # What the program prints goes above the table, once, and so do the manager's messages.
    assert screen.count("PROGRAM OUTPUT") == 1
    assert screen.index("PROGRAM OUTPUT") < screen.rindex("3/3 shards ready")
    assert "all 3 shards stopped" in screen
    assert screen.rindex("AFTER STOP") > screen.rindex("3/3 shards ready")
    for noise in NOISE:
        assert noise not in screen, screen
