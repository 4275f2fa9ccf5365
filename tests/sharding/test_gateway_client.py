"""The one ``GET /gateway/bot`` client (``ezlang.discord.connect.fetch_gateway``), as the bot
runtime (``DiscordError``) and the shard manager (``ShardingError``) use it."""

from __future__ import annotations

import dataclasses
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Callable

import pytest
from aiohttp import web

from ezlang.discord import connect
from ezlang.lang.errors import EzError
from ezlang.sandbox import Sandbox
from ezlang.sharding import gateway

SECRET = "secret-token-that-must-never-show"


@pytest.fixture
async def fake_api() -> AsyncIterator[Callable[[web.Response], str]]:
    """Start an HTTP server on a free loopback port that answers every request with the
    response given; returns its ``…/api/v10`` base."""
    runners: list[web.AppRunner] = []

    async def start(response: web.Response) -> str:
        async def handler(request: web.Request) -> web.Response:
            return response

        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", handler)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        runners.append(runner)
        host, port = runner.addresses[0][:2]
        return f"http://{host}:{port}/api/v10"

    yield start  # type: ignore[misc]
    for runner in runners:
        await runner.cleanup()


async def test_the_sandbox_answers_both_callers_alike() -> None:
    async with Sandbox(guilds=3000, max_concurrency=2, identify_window=0.5) as sb:
        info = await connect.fetch_gateway(sb.api_url, sb.token)
        assert info.url.startswith("ws://127.0.0.1:")
        assert info.shards == 3  # the sandbox recommends one shard per 1000 servers
        assert info.max_concurrency == 2 and info.identify_window == 0.5
        assert info.remaining > 0
        again = await gateway.fetch_gateway_bot(sb.api_url, sb.token)
        assert dataclasses.replace(again, reset_after_ms=info.reset_after_ms) == info


async def test_a_rejected_token_is_each_callers_error_and_never_shows_the_token() -> None:
    async with Sandbox(guilds=1) as sb:
        with pytest.raises(EzError) as bot_error:
            await connect.fetch_gateway(sb.api_url, SECRET)
        with pytest.raises(EzError) as manager_error:
            await gateway.fetch_gateway_bot(sb.api_url, SECRET)
    assert bot_error.value.kind == "DiscordError"
    assert bot_error.value.message == connect.BAD_TOKEN
    assert manager_error.value.kind == "ShardingError"
    assert manager_error.value.message == gateway.BAD_TOKEN
    assert "manager's 'token' option" in gateway.BAD_TOKEN
    for err in (bot_error.value, manager_error.value):
        assert SECRET not in str(err)


async def test_an_unreachable_api_names_the_url_not_the_token() -> None:
    with socket.socket() as s:  # a free port with nothing listening on it
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    api = f"http://127.0.0.1:{port}/api/v10"
    with pytest.raises(EzError) as info:
        await gateway.fetch_gateway_bot(api, SECRET, timeout=5)
    assert info.value.kind == "ShardingError"
    assert info.value.message.startswith(f"cannot reach the Discord API at {api}: ")
    assert SECRET not in str(info.value)


async def test_errors_and_foreign_answers_are_explained(fake_api) -> None:
    failing = await fake_api(web.json_response({"message": "Service down", "code": 0}, status=503))
    with pytest.raises(EzError) as info:
        await connect.fetch_gateway(failing, SECRET)
    assert info.value.kind == "DiscordError"
    assert info.value.message == (
        f"GET /gateway/bot at {failing} failed: 503 Service Unavailable: Service down"
    )
    for body in ("<html>hello</html>", "[1, 2]", '{"shards": 1}'):
        foreign = await fake_api(web.Response(text=body))
        with pytest.raises(EzError) as info:
            await gateway.fetch_gateway_bot(foreign, SECRET)
        assert info.value.kind == "ShardingError"
        assert (
            info.value.message == f"{foreign} does not look like a Discord API (GET /gateway/bot)"
        )


def test_api_base_keeps_each_callers_wording(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(connect.API_ENV, raising=False)
    assert gateway.api_base(None) == connect.DISCORD_API
    assert gateway.api_base("http://127.0.0.1:9") == "http://127.0.0.1:9/api/v10"
    with pytest.raises(EzError) as info:
        gateway.api_base("ftp://x")
    assert info.value.kind == "ValueError"
    assert info.value.message == "option 'api' must be an http(s) URL, got 'ftp://x'"
    with pytest.raises(EzError) as info:
        connect.api_base({"api": "ftp://x"})
    assert info.value.kind == "DiscordError"


def test_the_manager_never_imports_discord_py() -> None:
    # discord.py costs the manager ~0.5 s before the first shard can start.
    code = (
        "import sys, ezlang.sharding.manager, ezlang.sharding.gateway, ezlang.discord.connect\n"
        "print('discord' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert out.stdout.strip() == "False", out.stderr
