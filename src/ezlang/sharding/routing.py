"""What a shard may ask its manager to run for it: the cross-shard calls of bot code.

Bot code inside a shard (``broadcast_eval``, ``fetch_client_values``, ``get_shard_stats``,
``respawn_all``, shard messaging, REST grants) reaches its manager as a ``route`` request over
the IPC channel; :func:`route` runs it with the manager's own operations.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ezlang.lang.errors import EzError
from ezlang.sharding import messaging, rest_limits
from ezlang.sharding.options import shard_id_arg

if TYPE_CHECKING:
    from ezlang.sharding.manager import ShardManager

#: Operations a shard may ask its manager to run for it (cross-shard calls from bot code).
ROUTABLE = (
    "broadcast_eval",
    "fetch_client_values",
    "stats",
    "respawn_all",
    *messaging.ROUTED_OPS,
    *rest_limits.ROUTED_OPS,
)
#: The user-facing name of each shard operation, for errors (``call_shard`` from other hosts).
OP_NAMES = {
    "eval": "broadcast_eval",
    "fetch": "fetch_client_values",
    "stats": "get_shard_stats",
    messaging.DELIVER_OP: "send_to_shard",
}


async def route(manager: ShardManager, from_shard: int, data: Any) -> Any:
    """Run a cross-shard operation that bot code called inside shard ``from_shard``."""
    if not isinstance(data, dict) or data.get("op") not in ROUTABLE:
        raise EzError("ShardingError", f"shard {from_shard} asked for an unknown operation")
    args: dict[str, Any] = data.get("args") or {}
    op = data["op"]
    if op in rest_limits.ROUTED_OPS:
        return await rest_limits.route(manager, from_shard, op, args)
    if op in messaging.ROUTED_OPS:
        return await messaging.route(manager, from_shard, op, args)
    if op == "broadcast_eval":
        return await manager.broadcast_eval(
            args.get("code"),  # type: ignore[arg-type]
            shard=args.get("shard"),
            timeout=args.get("timeout"),
            context=args.get("context"),
        )
    if op == "fetch_client_values":
        if args.get("shard") is not None:  # one shard's value (discord.js's fetchClientValues)
            shard_id = shard_id_arg(args["shard"], "fetch_client_values")
            limit = manager.options.eval_timeout
            return await manager.call_shard(shard_id, "fetch", {"path": args.get("path")}, limit)
        return await manager.fetch_client_values(args.get("path"))  # type: ignore[arg-type]
    if op == "respawn_all":
        # discord.js's client.shard.respawnAll(): answered at once, done by the manager
        # (the calling shard is replaced too), one shard after the other.
        manager.spawn_bg(_respawn_all(manager))
        return True
    return await manager.stats()


async def _respawn_all(manager: ShardManager) -> None:
    for shard_id in sorted(manager.shards):
        try:
            await manager.respawn_shard(shard_id)
        except EzError as exc:
            manager.reporter.problem(f"respawning every shard: {exc.message}")
