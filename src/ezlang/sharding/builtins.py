"""The EasyLang sharding functions (``ezlang.extensions.SHARDING_BUILTINS``).

In the manager script they drive this process's :class:`ShardManager`; inside a shard,
``broadcast_eval``, ``fetch_client_values`` and ``get_shard_stats`` are routed through the
manager, so a ``!totalstats`` command can answer with totals. ``get_shard_info`` belongs to
the bot runtime. Every function takes and returns plain EasyLang values and raises clear
EasyLang errors (``TypeError``, ``ValueError``, ``ShardingError``, ``TimeoutError``).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping
from typing import Any

from ezlang.lang import context
from ezlang.lang.errors import EzError
from ezlang.lang.registry import register
from ezlang.sharding import agent as agent_mod
from ezlang.sharding.manager import ShardManager, keep_sessions_on
from ezlang.sharding.options import timeout_arg
from ezlang.sharding.process import ENV_REDIS_URL

_manager: ShardManager | None = None

NO_MANAGER = (
    "no shard manager yet: call create_shard_manager(bot_file, options) first, then spawn_shards()"
)


def _current_manager(what: str) -> ShardManager:
    if _manager is None:
        raise EzError("ShardingError", f"{what}: {NO_MANAGER}")
    return _manager


def _in_shard_agent() -> agent_mod.ShardAgent | None:
    return agent_mod.current() if _manager is None else None


def create_shard_manager(bot_file: Any = None, options: Any = None) -> dict[str, Any]:
    """Make the shard manager of this program; returns ``{bot_file, total_shards, respawn}``."""
    global _manager
    if agent_mod.current() is not None:
        raise EzError(
            "ShardingError",
            "create_shard_manager() cannot be called inside a shard (the bot file); "
            "call it in the manager script",
        )
    if bot_file is None:
        raise EzError("ArgumentError", "create_shard_manager(bot_file, options) needs bot_file")
    if options is not None and not isinstance(options, Mapping):
        raise EzError(
            "TypeError", "create_shard_manager: options must be an object like {total_shards: 2}"
        )
    if _manager is not None and _manager.has_live_shards:
        raise EzError(
            "ShardingError",
            "a shard manager with running shards already exists; call stop_shards() first",
        )
    ctx = context.current()
    base_dir = ctx.main_file.parent if ctx.main_file is not None else None
    # --metrics, --dashboard and --log-json give defaults; the script's options win.
    defaults = ctx.options.get("shard_manager_defaults")
    if defaults:
        options = {**defaults, **(options or {})}
    manager = ShardManager(
        bot_file,
        options,
        base_dir=base_dir,
        default_token=ctx.options.get("token"),
        default_api=ctx.options.get("api"),
    )
    _manager = manager
    if manager.options.redis:
        # One Redis for the whole bot: the manager script's own database builtins follow the
        # option too, as its shards do (they get it in their environment).
        os.environ[ENV_REDIS_URL] = manager.options.redis
    return manager.info()


async def spawn_shards() -> list[dict[str, Any]]:
    """Start every shard; returns ``[{id, ready, pid, status}]`` once all are READY."""
    manager = _current_manager("spawn_shards()")
    ctx = context.current()
    # The manager keeps supervising after the script ends, until SIGINT/SIGTERM; SIGTERM
    # keeps the gateway sessions for the next start, SIGINT (Ctrl-C) ends them.

    async def stop_on_signal() -> None:
        await manager.stop(keep_sessions=keep_sessions_on(ctx.stop_signal))

    ctx.on_shutdown(stop_on_signal)
    # SIGHUP (`kill -HUP <manager pid>`, `ezlang restart-shards`): rolling restart, new code.
    manager.restart_on_sighup()
    try:
        result = await manager.spawn()
    finally:
        if manager.has_live_shards:
            ctx.keep_alive(asyncio.ensure_future(manager.wait_stopped()))
    return result


def _eval_options(options: Any) -> tuple[Any, Any, Any]:
    if options is None:
        return None, None, None
    if not isinstance(options, Mapping):
        raise EzError(
            "TypeError",
            "broadcast_eval: options must be an object like {shard: 0, timeout: 5, context: {}}",
        )
    for key in options:
        if key not in ("shard", "timeout", "context"):
            raise EzError(
                "ValueError",
                f"broadcast_eval: unknown option '{key}' (known: shard, timeout, context)",
            )
    context = options.get("context")
    if context is not None:  # checked here, so a bad one is an error at the caller's line
        context = agent_mod.plain_arg("broadcast_eval", "the context", context)
    return options.get("shard"), options.get("timeout"), context


async def broadcast_eval(code: Any = None, options: Any = None) -> Any:
    """Run EasyLang ``code`` in every shard with ``client`` bound (and ``context``, the
    ``{context: ...}`` option's plain values); results by shard id."""
    if code is None:
        raise EzError("ArgumentError", "broadcast_eval(code, options?) needs the code string")
    shard, timeout, context = _eval_options(options)
    agent = _in_shard_agent()
    if agent is not None:
        if not isinstance(code, str):
            raise EzError("TypeError", f"broadcast_eval: code must be a string, got {code!r}")
        limit = timeout_arg(timeout, float(agent.config.get("eval_timeout", 5)))
        args = {"code": code, "shard": shard, "timeout": limit, "context": context}
        return await agent.route("broadcast_eval", args, limit + 2)
    manager = _current_manager("broadcast_eval()")
    return await manager.broadcast_eval(code, shard=shard, timeout=timeout, context=context)


async def fetch_client_values(path: Any = None) -> list[Any]:
    """The client view's dotted ``path`` (``"guilds.cache.size"``) in every shard."""
    if path is None:
        raise EzError(
            "ArgumentError", 'fetch_client_values(property) needs a path like "guilds.cache.size"'
        )
    agent = _in_shard_agent()
    if agent is not None:
        if not isinstance(path, str):
            raise EzError(
                "TypeError", f"fetch_client_values: the property must be a string, got {path!r}"
            )
        limit = float(agent.config.get("eval_timeout", 5)) + 2
        return await agent.route("fetch_client_values", {"path": path}, limit)  # type: ignore[no-any-return]
    return await _current_manager("fetch_client_values()").fetch_client_values(path)


async def respawn_shard(shard_id: Any = None) -> bool:
    """Restart one shard's process; ``true`` once the new one is READY."""
    if shard_id is None:
        raise EzError("ArgumentError", "respawn_shard(shard_id) needs the shard id")
    if _in_shard_agent() is not None:
        raise EzError("ShardingError", "respawn_shard() can only be called in the manager script")
    return await _current_manager("respawn_shard()").respawn_shard(shard_id)


async def get_shard_stats() -> list[dict[str, Any]]:
    """One stats object per shard (guilds, users, ping, memory, uptime, status, …)."""
    agent = _in_shard_agent()
    if agent is not None:
        return await agent.route("stats", {}, 10)  # type: ignore[no-any-return]
    return await _current_manager("get_shard_stats()").stats()


async def stop_shards(options: Any = None) -> bool:
    """Close every shard cleanly; returns ``true`` when all processes are gone.

    ``{keep_sessions: true}`` leaves the gateway sessions resumable for the next start.
    """
    if _in_shard_agent() is not None:
        raise EzError("ShardingError", "stop_shards() can only be called in the manager script")
    keep = False
    if options is not None:
        if not isinstance(options, Mapping):
            raise EzError(
                "TypeError", "stop_shards(options) needs an object like {keep_sessions: true}"
            )
        unknown = [k for k in options if k != "keep_sessions"]
        if unknown:
            raise EzError(
                "ValueError", f"stop_shards: unknown option '{unknown[0]}' (known: keep_sessions)"
            )
        keep = options.get("keep_sessions", False)
        if not isinstance(keep, bool):
            raise EzError("TypeError", "stop_shards: option 'keep_sessions' must be true or false")
    manager = _current_manager("stop_shards()")
    await manager.stop(keep_sessions=keep)
    return True


async def restart_shards(options: Any = None) -> list[dict[str, Any]]:
    """Replace every shard's process with one running the bot file as it is now, handing each
    session over (no IDENTIFY, no lost event); ``{batch, shards}``. Manager only."""
    if _in_shard_agent() is not None:
        raise EzError("ShardingError", "restart_shards() can only be called in the manager script")
    return await _current_manager("restart_shards()").restart_shards(options)


for _name, _fn in (
    ("create_shard_manager", create_shard_manager),
    ("spawn_shards", spawn_shards),
    ("broadcast_eval", broadcast_eval),
    ("fetch_client_values", fetch_client_values),
    ("respawn_shard", respawn_shard),
    ("get_shard_stats", get_shard_stats),
    ("stop_shards", stop_shards),
    ("restart_shards", restart_shards),
):
    register(_name, _fn)
