"""``ezlang sandbox``'s activity log: a real discord.py client connects to the CLI's sandbox
and the log on stderr says what happened, with shard numbers; off when not asked for in a
pipe."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
import time
from collections.abc import AsyncIterator
from typing import Any

import discord
import pytest
import yarl

from .conftest import PacedClient, RunningClient, default_intents

pytestmark = pytest.mark.timeout(90)

DEADLINE = 30.0


class SandboxProcess:
    """``ezlang sandbox`` as a child process, its stderr lines collected as they come."""

    def __init__(self, proc: asyncio.subprocess.Process, info: dict[str, str]) -> None:
        self.proc = proc
        self.info = info
        self.err: list[str] = []
        assert proc.stderr is not None
        self._reader = asyncio.create_task(self._pump(proc.stderr))

    async def _pump(self, stream: asyncio.StreamReader) -> None:
        while line := await stream.readline():
            self.err.append(line.decode(errors="replace").rstrip("\n"))

    async def wait_err(self, needle: str) -> str:
        deadline = time.monotonic() + DEADLINE
        while time.monotonic() < deadline:
            for line in self.err:
                if needle in line:
                    return line
            await asyncio.sleep(0.02)
        raise AssertionError(f"no {needle!r} on stderr:\n" + "\n".join(self.err))

    async def stop(self) -> int:
        if self.proc.returncode is None:
            self.proc.terminate()
        code = await asyncio.wait_for(self.proc.wait(), DEADLINE)
        await self._reader
        return code


@contextlib.asynccontextmanager
async def sandbox_cli(*flags: str) -> AsyncIterator[SandboxProcess]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "ezlang", "sandbox", "--guilds", "30", "--identify-window", "0.2",
        *flags,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env=dict(os.environ, PYTHONUNBUFFERED="1"),
    )  # fmt: skip
    assert proc.stdout is not None
    try:
        first = await asyncio.wait_for(proc.stdout.readline(), DEADLINE)
        assert first.startswith(b"SANDBOX_READY "), first
        info = json.loads(first[len(b"SANDBOX_READY ") :])
        sp = SandboxProcess(proc, info)
        try:
            yield sp
        finally:
            await sp.stop()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


@contextlib.contextmanager
def pointed_at_urls(api: str, gateway: str) -> Any:
    old_base = discord.http.Route.BASE
    old_gw = discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
    discord.http.Route.BASE = api
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(gateway)
    try:
        yield
    finally:
        discord.http.Route.BASE = old_base
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = old_gw


async def _connect_and_talk(sp: SandboxProcess) -> RunningClient:
    """A discord.py bot connects, a user message comes in, the bot answers it."""
    import aiohttp

    info = sp.info
    rc = RunningClient(
        PacedClient(
            intents=default_intents(), guild_ready_timeout=0.1, chunk_guilds_at_startup=False
        ),
        info["token"],
    )
    await rc.wait_ready()
    channel = next(c for c in rc.client.get_all_channels() if isinstance(c, discord.TextChannel))
    async with aiohttp.ClientSession() as http:
        async with http.post(
            info["control"] + "/messages", json={"channel_id": str(channel.id), "content": "hi"}
        ) as resp:
            assert resp.status == 200
    deadline = time.monotonic() + DEADLINE
    while not rc.messages and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    assert rc.messages and rc.messages[0].content == "hi"
    await channel.send("hello back")
    return rc


async def test_sandbox_log_shows_connections_identify_and_messages() -> None:
    async with sandbox_cli("--log") as sp:
        with pointed_at_urls(sp.info["api"], sp.info["gateway"]):
            rc = await _connect_and_talk(sp)
            await sp.wait_err("message out: the bot in channel")
            await rc.close()
        # (discord.py's own close() races its reader and often closes with 4000.)
        await sp.wait_err("sandbox: gateway: connection #1 (shard 0/1) closed by the client")
        assert await sp.stop() == 0
    log = "\n".join(sp.err)
    assert "sandbox: gateway: connection #1 opened" in log
    assert "sandbox: shard 0/1: IDENTIFY on connection #1" in log
    assert "message in: " in log and '"hi"' in log and "→ shard 0/1" in log
    assert '"hello back"' in log
    assert "Traceback" not in log


async def test_sandbox_log_is_off_in_a_pipe_unless_asked() -> None:
    async with sandbox_cli() as sp:
        with pointed_at_urls(sp.info["api"], sp.info["gateway"]):
            rc = await _connect_and_talk(sp)
            await rc.close()
        assert await sp.stop() == 0
    assert not [line for line in sp.err if line.startswith("sandbox: ")], sp.err
