"""What the manager asks Discord before it starts anything: ``GET /gateway/bot``.

The request itself is :func:`ezlang.discord.connect.fetch_gateway` (the one client of it, which
does not import discord.py: the manager never needs it); this module gives it the manager's
words — ``ShardingError``, and a rejected token that points at the manager's options.
"""

from __future__ import annotations

import os

from ezlang.discord.connect import API_ENV, GatewayInfo, fetch_gateway
from ezlang.discord.connect import api_base as _api_base
from ezlang.lang.errors import EzError

BAD_TOKEN = (
    "Discord rejected the bot token (401 Unauthorized), so no shard was started. Check the "
    "manager's 'token' option or DISCORD_TOKEN; a new token is at "
    "https://discord.com/developers/applications → your app → Bot → Reset Token"
)


def api_base(api: str | None) -> str:
    """The REST base to use (``…/api/v10``): option ``api``, then ``EZLANG_DISCORD_API``, then
    Discord; a bare ``http://host:port`` gets ``/api/v10``."""
    try:
        return _api_base({"api": api})
    except EzError:  # the only error: not an http(s) URL
        raw = api or os.environ.get(API_ENV)
        raise EzError("ValueError", f"option 'api' must be an http(s) URL, got {raw!r}") from None


async def fetch_gateway_bot(api: str, token: str, *, timeout: float = 15.0) -> GatewayInfo:
    """``GET {api}/gateway/bot``; a clear ``ShardingError`` (never containing the token)."""
    return await fetch_gateway(
        api, token, timeout=timeout, kind="ShardingError", bad_token=BAD_TOKEN
    )
