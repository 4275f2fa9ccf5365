"""Fixtures for the sandbox tests: a running Sandbox and real discord.py clients pointed at it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import zlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import discord
import discord.gateway
import discord.http
import discord.utils
import pytest
import yarl

from ezlang.sandbox import Sandbox

# discord.py logs every reconnect at WARNING; keep test output readable.
logging.getLogger("discord").setLevel(logging.ERROR)


@contextlib.contextmanager
def pointed_at(sb: Sandbox):
    """Point discord.py's REST base and default gateway at the sandbox, then restore them."""
    old_base = discord.http.Route.BASE
    old_gw = discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
    discord.http.Route.BASE = sb.api_url
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(sb.gateway_url)
    try:
        yield
    finally:
        discord.http.Route.BASE = old_base
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = old_gw


class ZlibStreamContext:
    """discord.py's own zlib-stream decompressor (it defines it only without zstandard)."""

    COMPRESSION_TYPE = "zlib-stream"

    def __init__(self) -> None:
        self.buffer = bytearray()
        self.context = zlib.decompressobj()

    def decompress(self, data: bytes, /) -> str | None:
        self.buffer.extend(data)
        if len(data) < 4 or data[-4:] != b"\x00\x00\xff\xff":
            return None
        msg = self.context.decompress(self.buffer)
        self.buffer = bytearray()
        return msg.decode("utf-8")


@contextlib.contextmanager
def compression(mode: str):
    """Make discord.py use ``zstd-stream`` (its default here), ``zlib-stream`` or none."""
    gw = discord.gateway.DiscordWebSocket
    old_ctx = discord.utils._ActiveDecompressionContext
    old_from_client = gw.__dict__["from_client"]
    try:
        if mode == "zlib-stream":
            discord.utils._ActiveDecompressionContext = ZlibStreamContext
        elif mode == "none":
            original = old_from_client.__func__

            async def no_compress(cls: Any, client: Any, **kwargs: Any) -> Any:
                kwargs["compress"] = False
                return await original(cls, client, **kwargs)

            gw.from_client = classmethod(no_compress)
        else:
            assert mode == "zstd-stream"
            assert discord.utils._ActiveDecompressionContext.COMPRESSION_TYPE == "zstd-stream"
        yield
    finally:
        discord.utils._ActiveDecompressionContext = old_ctx
        gw.from_client = old_from_client


def default_intents() -> discord.Intents:
    intents = discord.Intents.default()
    intents.message_content = True
    return intents


async def wait_for(predicate: Callable[[], Any], timeout: float = 10.0, what: str = "") -> Any:
    """Poll ``predicate`` until it is truthy or the deadline passes (no fixed sleeps)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if loop.time() > deadline:
            raise TimeoutError(f"condition not met within {timeout}s: {what or predicate}")
        await asyncio.sleep(0.01)


class RunningClient:
    """A discord.py client started in a task, with its on_ready tracked."""

    def __init__(self, client: discord.Client, token: str) -> None:
        self.client = client
        self.ready = asyncio.Event()
        self.events: list[tuple[str, Any]] = []
        self.messages: list[discord.Message] = []
        self.error: BaseException | None = None

        @client.event
        async def on_ready() -> None:
            self.ready.set()

        @client.event
        async def on_message(message: discord.Message) -> None:
            self.messages.append(message)

        async def runner() -> None:
            try:
                await client.start(token)
            except BaseException as exc:  # recorded so tests can assert on close codes
                self.error = exc

        self.task = asyncio.create_task(runner())

    async def wait_ready(self, timeout: float = 15.0) -> None:
        done, _ = await asyncio.wait(
            [asyncio.ensure_future(self.ready.wait()), self.task],
            timeout=timeout,
            return_when=asyncio.FIRST_COMPLETED,
        )
        if not self.ready.is_set():
            raise AssertionError(f"client not ready within {timeout}s (error: {self.error!r})")

    async def close(self) -> None:
        await self.client.close()
        # runner() records the client's own error; only a close that hangs is left here.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.task, 5)


class PacedClient(discord.Client):
    """discord.Client whose re-IDENTIFYs wait the test sandbox's window, not discord.py's 5 s."""

    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        if not initial:
            await asyncio.sleep(0.25)


@pytest.fixture
async def sandbox() -> AsyncIterator[Sandbox]:
    """A small, fast sandbox: 20 guilds, short identify window."""
    async with Sandbox(guilds=20, identify_window=0.2, heartbeat_interval=1.0) as sb:
        with pointed_at(sb):
            yield sb


@pytest.fixture
async def clients() -> AsyncIterator[Callable[..., RunningClient]]:
    """Factory for running discord.py clients; all are closed at teardown."""
    started: list[RunningClient] = []

    def start(
        token: str,
        cls: type[discord.Client] = PacedClient,
        **kwargs: Any,
    ) -> RunningClient:
        kwargs.setdefault("intents", default_intents())
        kwargs.setdefault("guild_ready_timeout", 0.1)
        kwargs.setdefault("chunk_guilds_at_startup", False)
        kwargs.setdefault("enable_debug_events", True)
        rc = RunningClient(cls(**kwargs), token)
        started.append(rc)
        return rc

    yield start
    await asyncio.gather(*(rc.close() for rc in started), return_exceptions=True)
