"""The small interfaces the shard manager is built on, each with a local and a Redis implementation.

* :class:`IdentifyQueue` — Discord's identify rate limit: at most ``max_concurrency`` IDENTIFYs per
  ``window`` seconds, one per bucket ``shard_id % max_concurrency``. Local: an asyncio
  implementation inside the manager. Multi-host: Redis (one queue for every host of the bot).
* :class:`ShardDirectory` — which host runs which shard, with status and a TTL heartbeat, and how to
  reach shards on other hosts. Local: the manager's own table. Multi-host: Redis.

The manager depends only on these protocols; nothing Redis-specific lives in the single-host
code path.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class IdentifyQueue(Protocol):
    """Grants IDENTIFY slots in Discord's rhythm."""

    max_concurrency: int
    window: float

    async def acquire(self, shard_id: int) -> None:
        """Return when shard ``shard_id`` may send IDENTIFY now; the slot is taken on return.

        Waits while bucket ``shard_id % max_concurrency`` had an IDENTIFY less than ``window``
        seconds ago (plus a small safety margin for network jitter).
        """
        ...

    async def close(self) -> None:
        """Release resources; pending ``acquire`` calls are cancelled."""
        ...


@runtime_checkable
class ShardDirectory(Protocol):
    """Where every shard of the bot lives, across hosts."""

    host: str

    async def claim(self, shard_ids: list[int]) -> None:
        """Register this host as the owner of ``shard_ids``.

        Raises ``EzError("ShardingError", …)`` naming the owner when a live other host owns one.
        """
        ...

    async def update(self, shard_id: int, info: dict[str, Any]) -> None:
        """Publish a shard's status (status, pid, ready, …) and refresh its TTL heartbeat."""
        ...

    async def release(self, shard_ids: list[int]) -> None:
        """Give up ownership (clean shutdown)."""
        ...

    async def entries(self) -> dict[int, dict[str, Any]]:
        """Every known shard of the bot: shard id → info including ``host`` and ``status``.

        A shard whose owner's heartbeat expired shows ``status: "unreachable"``.
        """
        ...
