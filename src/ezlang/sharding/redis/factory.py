"""The manager's entry into multi-host mode: :func:`make_backends` (see ``backends.py``)."""

from __future__ import annotations

import hashlib
import os
from typing import Any

import aiohttp

from ezlang.discord.connect import api_base
from ezlang.lang.errors import EzError
from ezlang.sharding.backends import Backends
from ezlang.sharding.redis.connection import validate_redis_url
from ezlang.sharding.redis.multihost import RedisMultiHost, RedisRemoteCaller

__all__ = ["REDIS_TTL_ENV", "application_id", "make_backends"]

#: Environment override of the directory TTL (seconds); default 3 × the manager's heartbeat.
REDIS_TTL_ENV = "EZLANG_REDIS_TTL"


async def application_id(api: str, token: str) -> str:
    """The bot's application id (``GET /oauth2/applications/@me``): the key of all its state.

    Falls back to a digest of the token (never the token itself) when the API does not say, so
    the hosts of one bot still meet under one key.
    """
    headers = {"Authorization": f"Bot {token}", "User-Agent": "DiscordBot (ezlang, 0.1)"}
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15)) as http:
            async with http.get(f"{api}/oauth2/applications/@me", headers=headers) as resp:
                if resp.status < 400:
                    data = await resp.json(content_type=None)
                    if isinstance(data, dict) and data.get("id"):
                        return str(data["id"])
    except (aiohttp.ClientError, TimeoutError, OSError, ValueError):
        pass
    return "token-" + hashlib.sha256(token.encode()).hexdigest()[:16]


async def make_backends(options: Any, gateway: Any) -> Backends:
    """Multi-host backends for a manager with the ``redis`` option (see ``backends.py``).

    Agrees on the bot-wide settings with the other hosts (the first manager decides), then
    returns the Redis identify queue, the Redis shard directory and the cross-host caller, all
    sharing one membership (:class:`~ezlang.sharding.redis.multihost.RedisMultiHost`).
    """
    url = validate_redis_url(options.redis)
    api = api_base({"api": options.api} if options.api else {})
    app_id = await application_id(api, options.token)
    ttl_env = os.environ.get(REDIS_TTL_ENV)
    try:
        ttl = float(ttl_env) if ttl_env else max(3 * options.heartbeat_interval, 1.0)
    except ValueError:
        raise EzError(
            "ValueError", f"${REDIS_TTL_ENV} must be a number of seconds, got {ttl_env!r}"
        ) from None
    multi = RedisMultiHost(
        url,
        app_id,
        ttl=ttl,
        max_concurrency=gateway.max_concurrency,
        identify_window=gateway.identify_window,
        secret=options.token,
    )
    multi.bus.max_bytes = options.max_eval_bytes
    try:
        return await _join(multi, options, gateway)
    except BaseException:
        await multi.leave()
        raise


async def _join(multi: RedisMultiHost, options: Any, gateway: Any) -> Backends:
    settings = await multi.agree(
        total_shards=gateway.total_shards,
        explicit=options.total_shards is not None,
        max_concurrency=gateway.max_concurrency,
        identify_window=gateway.identify_window,
        shard_ids=None if options.shard_list is None else list(options.shard_list),
    )
    remote = RedisRemoteCaller(multi)
    # Listen before the manager claims its shards, so nobody sees them without a way in.
    await multi.bus.start(multi._serve)
    return Backends(
        identify_queue=multi.queue,
        directory=multi.directory,
        remote=remote,
        total_shards=settings.total_shards,
        max_concurrency=settings.max_concurrency,
        identify_window=settings.identify_window,
    )
