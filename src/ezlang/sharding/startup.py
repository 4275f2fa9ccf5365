"""What a spawn does before any shard starts: ask ``GET /gateway/bot``, check the options and
Discord's session-start budget against it, set up the backends (identify queue, directory,
multi-host link) and claim the shards (:meth:`ezlang.sharding.manager.ShardManager.spawn`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ezlang.lang.errors import EzError
from ezlang.sharding.backends import Backends, GatewayFacts, make_backends
from ezlang.sharding.gateway import fetch_gateway_bot
from ezlang.sharding.identify import LocalIdentifyQueue
from ezlang.sharding.options import ShardOptions

if TYPE_CHECKING:
    from ezlang.sharding.manager import ShardManager


async def gateway_facts(api: str, token: str, opts: ShardOptions) -> GatewayFacts:
    """What ``GET /gateway/bot`` says, with the options applied."""
    gw = await fetch_gateway_bot(api, token)
    total = opts.total_shards or gw.shards
    # Never faster than the API allows, whatever the options say.
    mc = min(opts.max_concurrency or gw.max_concurrency, gw.max_concurrency)
    window = max(opts.identify_window or gw.identify_window, gw.identify_window)
    return GatewayFacts(
        url=gw.url,
        recommended_shards=gw.shards,
        total_shards=total,
        max_concurrency=mc,
        identify_window=window,
        remaining=gw.remaining,
        reset_after_ms=gw.reset_after_ms,
    )


async def set_up_backends(
    manager: ShardManager, gateway: GatewayFacts
) -> tuple[GatewayFacts, list[int]]:
    """Check ``shard_list`` and the session-start budget, set up the manager's backends and
    claim its shards: the gateway facts as the backends amend them, and the shard ids."""
    opts = manager.options
    if opts.shard_list is not None:
        bad = [i for i in opts.shard_list if i >= gateway.total_shards]
        if bad:
            raise EzError(
                "ValueError",
                f"option 'shard_list' has shard {bad[0]} outside [0, "
                f"{gateway.total_shards}) (total_shards is {gateway.total_shards})",
            )
    if manager.identify_queue is None or manager.directory is None:
        backends = await make_backends(opts, gateway)
    else:
        backends = Backends(manager.identify_queue, manager.directory, manager.remote)
    if backends.total_shards or backends.max_concurrency or backends.identify_window:
        gateway = GatewayFacts(
            url=gateway.url,
            recommended_shards=gateway.recommended_shards,
            total_shards=backends.total_shards or gateway.total_shards,
            max_concurrency=backends.max_concurrency or gateway.max_concurrency,
            identify_window=backends.identify_window or gateway.identify_window,
            remaining=gateway.remaining,
            reset_after_ms=gateway.reset_after_ms,
        )
    manager.identify_queue = manager.identify_queue or backends.identify_queue
    manager.directory = manager.directory or backends.directory
    manager.remote = manager.remote or backends.remote
    if isinstance(manager.identify_queue, LocalIdentifyQueue):
        manager.identify_queue.configure(gateway.max_concurrency, gateway.identify_window)
    manager.gateway = gateway
    manager.total_shards = gateway.total_shards
    ids = (
        list(opts.shard_list) if opts.shard_list is not None else list(range(manager.total_shards))
    )
    if gateway.remaining < len(ids):
        hours = gateway.reset_after_ms / 3_600_000
        raise EzError(
            "ShardingError",
            f"Discord allows only {gateway.remaining} more session starts today and "
            f"{len(ids)} shards need one each; the budget resets in {hours:.1f} h. "
            "Starting anyway could get the bot's token reset, so no shard was started.",
        )
    await manager.directory.claim(ids)
    return gateway, ids
