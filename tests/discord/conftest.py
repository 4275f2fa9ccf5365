"""Fixtures for the bot runtime tests: a real sandbox on loopback and a fresh run context.

Every test talks to a real :class:`ezlang.sandbox.Sandbox` with the real discord.py client.
Waiting is always on a condition with a deadline (:func:`wait_until`), never a fixed sleep.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest

from ezlang.discord import plugin
from ezlang.lang import context
from ezlang.lang.context import RunContext

DEADLINE = 20.0  # seconds; generous for a loaded 2-core CI machine


async def wait_until(
    predicate: Callable[[], Awaitable[Any] | Any], timeout: float = DEADLINE, what: str = ""
) -> Any:
    """Poll ``predicate`` (sync or async) until it returns a truthy value or the deadline passes."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what or predicate}")
        await asyncio.sleep(0.02)


class Control:
    """The sandbox control API over HTTP, as a user with curl would use it."""

    def __init__(self, url: str, http: aiohttp.ClientSession) -> None:
        self.url = url.rstrip("/")
        self.http = http

    async def get(self, path: str, **params: Any) -> Any:
        async with self.http.get(self.url + path, params=params) as resp:
            assert resp.status == 200, await resp.text()
            return await resp.json(content_type=None)

    async def post(self, path: str, body: dict[str, Any] | None = None) -> Any:
        async with self.http.post(self.url + path, json=body or {}) as resp:
            assert resp.status == 200, await resp.text()
            return await resp.json(content_type=None)

    async def first_text_channel(self, shard: int = 0, shard_count: int = 1) -> str:
        guilds = await self.get("/guilds", shard=shard, shard_count=shard_count)
        if isinstance(guilds, dict):
            guilds = guilds.get("guilds", [])
        for guild in guilds:
            for channel in guild.get("channels", []):
                if channel.get("type", 0) == 0:
                    return str(channel["id"])
        raise AssertionError("the sandbox has no text channel")

    async def inject(self, channel_id: str, content: str) -> dict[str, Any]:
        return await self.post("/messages", {"channel_id": channel_id, "content": content})

    async def bot_messages(self, channel_id: str) -> list[dict[str, Any]]:
        data = await self.get(f"/channels/{channel_id}/messages")
        return data if isinstance(data, list) else data.get("messages", [])

    async def wait_for_bot_message(
        self,
        channel_id: str,
        predicate: Callable[[dict[str, Any]], bool],
        timeout: float = DEADLINE,
    ) -> dict[str, Any]:
        async def find() -> dict[str, Any] | None:
            for message in await self.bot_messages(channel_id):
                if predicate(message):
                    return message
            return None

        return await wait_until(find, timeout, what="a bot message")


@pytest.fixture
async def sandbox() -> AsyncIterator[Any]:
    """A small sandbox (one shard) with a short identify window."""
    from ezlang.sandbox import Sandbox

    async with Sandbox(guilds=20, identify_window=0.5, seed=1) as sb:
        yield sb


@pytest.fixture
async def control(sandbox: Any) -> AsyncIterator[Control]:
    async with aiohttp.ClientSession() as http:
        yield Control(sandbox.control_url, http)


@pytest.fixture
async def run_ctx(sandbox: Any) -> AsyncIterator[RunContext]:
    """A fresh RunContext pointed at the sandbox, as ``ezlang run --api URL`` makes one.

    On teardown the bot is stopped (gateway close 1000) before the sandbox goes away.
    """
    ctx = RunContext(options={"api": sandbox.api_url, "token": sandbox.token})
    previous = context.set_current(ctx)
    try:
        yield ctx
    finally:
        await ctx.run_shutdown_hooks()
        context.set_current(previous)
        plugin.install(None)


from .processes import ezlang_run  # noqa: E402,F401  (the fixture, for test_cli*.py)
