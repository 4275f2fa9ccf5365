"""Where a bot connects: Discord itself, or any Discord-compatible API (a sandbox, a REST proxy).

The REST base comes from ``ctx.options["api"]`` (``ezlang run --api URL``, ``--sandbox``), else
the environment variable ``EZLANG_DISCORD_API``, else Discord. discord.py reads its REST base
from the class attribute ``discord.http.Route.BASE`` on every request and its first gateway URL
from ``discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY``, so pointing a client elsewhere means
setting both; the gateway URL is whatever that API's ``GET /gateway/bot`` answers, exactly as
Discord's own clients learn it. ``GET /gateway/bot`` also tells us how many shards the bot
needs and the identify rate limit (``max_concurrency``; a sandbox adds ``x_identify_window``).

This module is also the shard manager's only ``GET /gateway/bot`` client, so it imports
discord.py only where it is needed (:func:`point_discord_py_at`): the manager never needs
discord.py, and importing it costs ~0.5 s before the first shard can start.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import yarl

from ezlang.lang.errors import EzError
from ezlang.lang.values import to_repr

DISCORD_API = "https://discord.com/api/v10"
DISCORD_GATEWAY = yarl.URL("wss://gateway.discord.gg/")
API_ENV = "EZLANG_DISCORD_API"
#: Discord's IDENTIFY window: max_concurrency IDENTIFYs per 5 seconds.
DEFAULT_IDENTIFY_WINDOW = 5.0

BAD_TOKEN = (
    "Discord rejected the bot token (401 Unauthorized). Check the token given to bot_start(), "
    "TOKEN=… or DISCORD_TOKEN; a new one is at https://discord.com/developers/applications "
    "→ your app → Bot → Reset Token"
)


@dataclass(frozen=True, slots=True)
class GatewayInfo:
    """What ``GET /gateway/bot`` says about connecting this bot."""

    url: str
    shards: int
    max_concurrency: int
    identify_window: float
    remaining: int
    reset_after_ms: int


def api_base(options: Mapping[str, Any] | None = None) -> str:
    """The REST base URL (``…/api/v10``) to use: option ``api``, then the environment, then Discord.

    A bare ``http://host:port`` gets ``/api/v10`` appended, so ``--api http://127.0.0.1:8080``
    works as users expect.
    """
    raw = (options or {}).get("api") or os.environ.get(API_ENV) or DISCORD_API
    raw = str(raw).strip().rstrip("/")
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise EzError(
            "DiscordError",
            f"the Discord API URL {to_repr(raw)} is not an http(s) URL "
            f"(expected something like http://127.0.0.1:8080/api/v10)",
        )
    if parts.path in ("", "/"):
        raw += "/api/v10"
    return raw


def point_discord_py_at(api: str, gateway_url: str | None) -> None:
    """Make discord.py send REST to ``api`` and open its first gateway connection to ``gateway_url``.

    Both are process-wide class attributes of discord.py: one process runs one bot.
    """
    import discord.gateway
    import discord.http

    discord.http.Route.BASE = api
    gateway = yarl.URL(gateway_url) if gateway_url else DISCORD_GATEWAY
    if not gateway.path or gateway.path == "":
        gateway = gateway.with_path("/")
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = gateway


async def fetch_gateway(
    api: str,
    token: str,
    *,
    timeout: float = 15.0,
    kind: str = "DiscordError",
    bad_token: str = BAD_TOKEN,
) -> GatewayInfo:
    """``GET {api}/gateway/bot`` with ``token``; a clear EasyLang error on every failure.

    ``kind`` is the error kind (the shard manager's is ``ShardingError``) and ``bad_token``
    the message for a rejected token (401), which should say where the token came from. The
    error messages never contain the token.
    """
    headers = {"Authorization": f"Bot {token}", "User-Agent": "DiscordBot (ezlang, 0.1)"}
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as http:
            async with http.get(f"{api}/gateway/bot", headers=headers) as resp:
                text = await resp.text()
                status, reason = resp.status, resp.reason
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        # aiohttp's messages name the URL, never the headers (so never the token).
        why = str(exc) or type(exc).__name__
        raise EzError(kind, f"cannot reach the Discord API at {api}: {why}") from None
    if status == 401:
        raise EzError(kind, bad_token)
    if status >= 400:
        raise EzError(
            kind, f"GET /gateway/bot at {api} failed: {status} {reason}: {discord_message(text)}"
        )
    try:
        data = json.loads(text)
        limit = data.get("session_start_limit") or {}
        return GatewayInfo(
            url=str(data["url"]),
            shards=max(1, int(data.get("shards") or 1)),
            max_concurrency=max(1, int(limit.get("max_concurrency") or 1)),
            identify_window=float(data.get("x_identify_window") or DEFAULT_IDENTIFY_WINDOW),
            remaining=int(limit.get("remaining", 1)),
            reset_after_ms=int(limit.get("reset_after") or 0),
        )
    except (ValueError, KeyError, TypeError, AttributeError):
        raise EzError(kind, f"{api} does not look like a Discord API (GET /gateway/bot)") from None


def discord_message(body: str) -> str:
    """Discord's human message from an error body (``{"message": …, "code": …}``), else the text."""
    try:
        data = json.loads(body)
    except ValueError:
        return body.strip()[:300] or "(no message)"
    if isinstance(data, dict) and data.get("message"):
        code = data.get("code")
        return f"{data['message']}" + (f" (error code {code})" if code else "")
    return body.strip()[:300]
