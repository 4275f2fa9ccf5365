"""Shard-to-shard messaging (``ezlang.extensions.MESSAGING_BUILTINS``).

``send_to_shard(shard_id, data)`` and ``send_to_all_shards(data)`` deliver a plain value to
the ``on_shard_message(func(data, from_shard))`` handlers of other shards;
``shard_for_guild(guild_id)`` says which shard receives a guild's events, and
``eval_on_guild_shard(guild_id, code)`` runs code there.

The path of a message: the sending shard turns ``data`` into plain values (the one serialiser,
:func:`ezlang.sharding.plain.to_plain`) and asks its manager (``route`` over the IPC channel);
the manager delivers it with its ordinary shard calls (op ``message``): a local shard through
its channel, a shard of another host through the signed Redis bus (the manager's ``remote``).
The receiving agent answers once its handlers are started — the sender learns that the
message arrived, not what the handlers did with it (their errors are the receiving shard's, as
for event handlers). The manager script may send too (``from_shard`` is then ``null``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ezlang.lang.errors import EzError
from ezlang.lang.registry import register
from ezlang.lang.values import to_repr
from ezlang.sharding import agent as agent_mod
from ezlang.sharding import shard_exit
from ezlang.sharding.options import shard_id_arg

if TYPE_CHECKING:
    from ezlang.sharding.manager import ShardManager

#: The manager operations a shard may ask for (see ``ShardManager.route``).
ROUTED_OPS = ("send_to_shard", "send_to_all_shards")
#: The shard operation that delivers one message (``ShardManager.call_shard``).
DELIVER_OP = "message"

_handlers: list[Callable[..., Any]] = []
_tasks: set[asyncio.Task[Any]] = set()


# --- the receiving side (inside a shard) -----------------------------------------------------


def on_shard_message(fn: Any = None) -> None:
    """Register ``fn(data, from_shard)`` for messages from other shards (inside a shard)."""
    if not callable(fn):
        raise EzError(
            "TypeError", "on_shard_message(handler) needs a function like func(data, from_shard)"
        )
    if agent_mod.current() is None:
        raise EzError(
            "ShardingError",
            "on_shard_message() works inside a shard (the bot file run by a shard manager); "
            "this program is not a shard",
        )
    _handlers.append(fn)


def deliver(shard_id: int, message: Any) -> bool:
    """Start every ``on_shard_message`` handler with ``message`` (the agent's ``message`` op).

    Raises ``ShardingError`` when this shard has no handler, so the sender is not left
    believing someone read its message.
    """
    if not _handlers:
        raise EzError(
            "ShardingError",
            f"shard {shard_id} has no on_shard_message handler, so nothing received the message",
        )
    if not isinstance(message, dict):
        raise EzError("ShardingError", "a shard message must be an object {data, from}")
    loop = asyncio.get_running_loop()
    for fn in list(_handlers):
        task = loop.create_task(_run(fn, message.get("data"), message.get("from")))
        _tasks.add(task)
        task.add_done_callback(_tasks.discard)
    return True


async def _run(fn: Callable[..., Any], data: Any, from_shard: Any) -> None:
    from ezlang.discord import runtime as bot_runtime
    from ezlang.lang.asyncbridge import call_async

    try:
        await call_async(fn, data, from_shard)
    except Exception as exc:  # a handler's mistake must not stop the shard
        rt = bot_runtime.current()
        if rt is not None:
            rt.report_handler_error(exc, "shardMessage")
        else:
            shard_exit.warn(f"an on_shard_message handler failed: {exc!r}")


# --- the manager's side -----------------------------------------------------------------------


def _message(what: str, data: Any, from_shard: int | None) -> dict[str, Any]:
    return {"data": agent_mod.plain_arg(what, "the data", data), "from": from_shard}


async def manager_send(
    manager: ShardManager, target: Any, data: Any, from_shard: int | None = None
) -> bool:
    """Deliver ``data`` to shard ``target`` (local or on another host); ``True`` on arrival."""
    what = "send_to_shard"
    shard_id = shard_id_arg(target, what)
    message = _message(what, data, from_shard)
    manager.require_spawned(what)
    if shard_id not in manager.all_ids():
        raise EzError("ValueError", f"{what}: {manager.unknown_shard(shard_id).message}")
    await manager.call_shard(shard_id, DELIVER_OP, message, manager.options.eval_timeout)
    return True


async def manager_send_all(manager: ShardManager, data: Any, from_shard: int | None = None) -> int:
    """Deliver ``data`` to every shard (the sender included); returns how many got it.

    The first shard that cannot take it raises an error naming it.
    """
    what = "send_to_all_shards"
    message = _message(what, data, from_shard)
    manager.require_spawned(what)
    results = await manager.call_all(what, DELIVER_OP, message, manager.options.eval_timeout)
    return len(results)


async def route(manager: ShardManager, from_shard: int, op: str, args: dict[str, Any]) -> Any:
    """Run ``send_to_shard`` / ``send_to_all_shards`` that bot code called in ``from_shard``."""
    if op == "send_to_shard":
        return await manager_send(manager, args.get("shard"), args.get("data"), from_shard)
    return await manager_send_all(manager, args.get("data"), from_shard)


# --- the builtins -----------------------------------------------------------------------------


def _manager() -> ShardManager | None:
    from ezlang.sharding import builtins as sharding_builtins

    return sharding_builtins._manager


def _where(what: str) -> tuple[agent_mod.ShardAgent | None, ShardManager]:
    """This shard's agent, or the manager of this (manager) program; else a clear error."""
    agent = agent_mod.current()
    manager = _manager()
    if agent is None and manager is None:
        raise EzError(
            "ShardingError",
            f"{what} needs shards: call it in a bot run by a shard manager, or in the manager "
            "script after create_shard_manager() and spawn_shards()",
        )
    return agent, manager  # type: ignore[return-value]


def _check_target(agent: agent_mod.ShardAgent, target: Any, what: str) -> int:
    shard_id = shard_id_arg(target, what)
    if not 0 <= shard_id < agent.shard_count:
        raise EzError(
            "ValueError",
            f"{what}: unknown shard {shard_id}; the shards are 0..{agent.shard_count - 1}",
        )
    return shard_id


async def send_to_shard(shard_id: Any = None, data: Any = None) -> bool:
    """Send plain ``data`` to shard ``shard_id``'s ``on_shard_message`` handlers."""
    what = "send_to_shard"
    if shard_id is None:
        raise EzError("ArgumentError", "send_to_shard(shard_id, data) needs the shard id")
    agent, manager = _where(f"{what}()")
    if agent is None:
        return await manager_send(manager, shard_id, data)
    target = _check_target(agent, shard_id, what)
    message = _message(what, data, agent.shard_id)
    limit = float(agent.config.get("eval_timeout", 5)) + 2
    args = {"shard": target, "data": message["data"]}
    return bool(await agent.route(what, args, limit))


async def send_to_all_shards(data: Any = None) -> int:
    """Send plain ``data`` to every shard (this one included); returns how many got it."""
    what = "send_to_all_shards"
    agent, manager = _where(f"{what}()")
    if agent is None:
        return await manager_send_all(manager, data)
    message = _message(what, data, agent.shard_id)
    limit = float(agent.config.get("eval_timeout", 5)) + 2
    return int(await agent.route(what, {"data": message["data"]}, limit))


def _guild_id(value: Any, what: str) -> int:
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        if value >= 1 << 64:  # Discord ids are 64-bit
            raise EzError(
                "ValueError", f"{what}: {value} is not a guild id (ids have at most 20 digits)"
            )
        return value
    # to_repr: the value as EasyLang shows it (a Python repr would say None, <function …>).
    raise EzError(
        "TypeError",
        f'{what}: the guild id must be an id string like "1234…", got {to_repr(value)}',
    )


def _total_shards(what: str) -> int:
    agent, manager = _where(f"{what}()")
    total = agent.shard_count if agent is not None else manager.total_shards
    if not total:
        raise EzError(
            "ShardingError",
            f'{what}(): the shard count is not known yet (total_shards is "auto"): call it '
            "after spawn_shards()",
        )
    return total


def shard_for_guild(guild_id: Any = None) -> int:
    """The shard that receives guild ``guild_id``'s events: ``(id >> 22) % total_shards``."""
    what = "shard_for_guild"
    gid = _guild_id(guild_id, what)
    return (gid >> 22) % _total_shards(what)


async def eval_on_guild_shard(guild_id: Any = None, code: Any = None, options: Any = None) -> Any:
    """``broadcast_eval(code, {shard: shard_for_guild(guild_id)})``: run code where the guild is."""
    from ezlang.sharding.builtins import broadcast_eval

    what = "eval_on_guild_shard"
    if code is None:
        raise EzError("ArgumentError", "eval_on_guild_shard(guild_id, code) needs the code string")
    gid = _guild_id(guild_id, what)
    shard = (gid >> 22) % _total_shards(what)
    merged: dict[str, Any] = dict(options) if isinstance(options, dict) else {}
    if options is not None and not isinstance(options, dict):
        raise EzError("TypeError", f"{what}: options must be an object like {{timeout: 5}}")
    if "shard" in merged:
        raise EzError("ValueError", f"{what}: the guild decides the shard; use broadcast_eval")
    merged["shard"] = shard
    return await broadcast_eval(code, merged)


for _name, _fn in (
    ("send_to_shard", send_to_shard),
    ("send_to_all_shards", send_to_all_shards),
    ("on_shard_message", on_shard_message),
    ("shard_for_guild", shard_for_guild),
    ("eval_on_guild_shard", eval_on_guild_shard),
):
    register(_name, _fn)
