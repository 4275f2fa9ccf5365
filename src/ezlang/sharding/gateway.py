"""What the manager asks Discord before it starts anything: ``GET /gateway/bot``.

The bot runtime has its own copy of this request in ``ezlang.discord.connect``; the manager
does not use it because that module imports discord.py, which costs the manager ~0.5 s (more
on a busy machine) before the first shard process can even start — time that shows up
directly in the spawn time. The manager itself never needs discord.py.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from urllib.parse import urlsplit

import aiohttp

from ezlang.lang.errors import EzError

DISCORD_API = "https://discord.com/api/v10"
#: Discord's IDENTIFY window: max_concurrency IDENTIFYs per 5 seconds.
DEFAULT_IDENTIFY_WINDOW = 5.0

BAD_TOKEN = (
    "Discord rejected the bot token (401 Unauthorized), so no shard was started. Check the "
    "manager's 'token' option or DISCORD_TOKEN; a new token is at "
    "https://discord.com/developers/applications → your app → Bot → Reset Token"
)


@dataclass(frozen=True, slots=True)
class GatewayBot:
    """The answer of ``GET /gateway/bot``."""

    url: str
    recommended_shards: int
    max_concurrency: int
    identify_window: float
    remaining: int
    reset_after_ms: int
    #: The API marked itself as a local sandbox (it sends ``x_identify_window``).
    sandbox: bool = False


def api_base(api: str | None) -> str:
    """The REST base to use (``…/api/v10``); a bare ``http://host:port`` gets ``/api/v10``."""
    import os

    raw = (api or os.environ.get("EZLANG_DISCORD_API") or DISCORD_API).strip().rstrip("/")
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise EzError("ValueError", f"option 'api' must be an http(s) URL, got {raw!r}")
    if parts.path in ("", "/"):
        raw += "/api/v10"
    return raw


def _discord_message(body: str) -> str:
    try:
        data = json.loads(body)
    except ValueError:
        return body.strip()[:300] or "(no message)"
    if isinstance(data, dict) and data.get("message"):
        return str(data["message"])
    return body.strip()[:300]


async def fetch_gateway_bot(api: str, token: str, *, timeout: float = 15.0) -> GatewayBot:
    """``GET {api}/gateway/bot``; a clear ``ShardingError`` (never containing the token)."""
    headers = {"Authorization": f"Bot {token}", "User-Agent": "DiscordBot (ezlang, 0.1)"}
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as http:
            async with http.get(f"{api}/gateway/bot", headers=headers) as resp:
                body = await resp.text()
                status, reason = resp.status, resp.reason
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        raise EzError(
            "ShardingError",
            f"cannot reach the Discord API at {api}: {str(exc) or type(exc).__name__}",
        ) from None
    if status == 401:
        raise EzError("ShardingError", BAD_TOKEN)
    if status >= 400:
        raise EzError(
            "ShardingError",
            f"GET /gateway/bot at {api} failed: {status} {reason}: {_discord_message(body)}",
        )
    try:
        data = json.loads(body)
        limit = data.get("session_start_limit") or {}
        return GatewayBot(
            url=str(data["url"]),
            recommended_shards=max(1, int(data.get("shards") or 1)),
            max_concurrency=max(1, int(limit.get("max_concurrency") or 1)),
            identify_window=float(data.get("x_identify_window") or DEFAULT_IDENTIFY_WINDOW),
            remaining=int(limit.get("remaining", 1)),
            reset_after_ms=int(limit.get("reset_after") or 0),
            sandbox="x_identify_window" in data,
        )
    except (ValueError, KeyError, TypeError, AttributeError):
        raise EzError(
            "ShardingError", f"{api} does not look like a Discord API (GET /gateway/bot)"
        ) from None
