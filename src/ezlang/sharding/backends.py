"""Which identify queue, shard directory and remote caller a manager uses.

Single host (the default): :class:`~ezlang.sharding.identify.LocalIdentifyQueue`,
:class:`LocalShardDirectory` and no remote caller. With the ``redis`` option (or
``$EZLANG_REDIS_URL``) the Redis implementations from :mod:`ezlang.sharding.redis` are used; that
package (and redis-py) is imported only then.

Contract for a multi-host backend (``ezlang.sharding.redis.factory.make_backends``)::

    async def make_backends(options: ShardOptions, gateway: GatewayFacts) -> Backends

It may fix the bot-wide settings (``total_shards``, ``max_concurrency``, ``identify_window``) in
the returned :class:`Backends` (the first manager of a bot decides, the others adopt), and
returns a ``remote`` object with ``async call(shard_id, op, payload, timeout)`` for shards on
other hosts, ``async start(local_call)`` to serve other hosts' calls through the manager's
``call_shard``, and ``async close()``.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from ezlang.sharding.identify import LocalIdentifyQueue
from ezlang.sharding.interfaces import IdentifyQueue, ShardDirectory
from ezlang.sharding.options import ShardOptions

LocalCall = Callable[[int, str, Any, float | None], Awaitable[Any]]


class RemoteCaller(Protocol):
    """Reaches shards that run under another host's manager."""

    async def call(self, shard_id: int, op: str, payload: Any, timeout: float | None) -> Any: ...

    async def start(self, local_call: LocalCall) -> None: ...

    async def close(self) -> None: ...


@dataclass(frozen=True)
class GatewayFacts:
    """What ``GET /gateway/bot`` said, after the user's options were applied."""

    url: str
    recommended_shards: int
    total_shards: int
    max_concurrency: int
    identify_window: float
    remaining: int
    reset_after_ms: int


@dataclass
class Backends:
    """The injected parts of a manager; ``None`` settings mean "keep the manager's own"."""

    identify_queue: IdentifyQueue
    directory: ShardDirectory
    remote: RemoteCaller | None = None
    total_shards: int | None = None
    max_concurrency: int | None = None
    identify_window: float | None = None


class LocalShardDirectory:
    """A :class:`~ezlang.sharding.interfaces.ShardDirectory` that is just this manager's table."""

    def __init__(self, host: str | None = None) -> None:
        self.host = host or f"{socket.gethostname()}:{os.getpid()}"
        self._entries: dict[int, dict[str, Any]] = {}

    async def claim(self, shard_ids: list[int]) -> None:
        for shard_id in shard_ids:
            self._entries[shard_id] = {"host": self.host, "status": "starting"}

    def note(self, shard_id: int, info: dict[str, Any]) -> None:
        """:meth:`update` without the coroutine (the manager calls it on every status change)."""
        self._entries.setdefault(shard_id, {"host": self.host}).update(info)

    async def update(self, shard_id: int, info: dict[str, Any]) -> None:
        self.note(shard_id, info)

    async def release(self, shard_ids: list[int]) -> None:
        for shard_id in shard_ids:
            self._entries.pop(shard_id, None)

    async def entries(self) -> dict[int, dict[str, Any]]:
        return {k: dict(v) for k, v in sorted(self._entries.items())}


async def make_backends(options: ShardOptions, gateway: GatewayFacts) -> Backends:
    """The backends ``options`` ask for (local unless a Redis URL is configured)."""
    if options.redis:
        from ezlang.sharding.redis import factory as redis_backend

        factory = getattr(redis_backend, "make_backends", None)
        if factory is None:
            from ezlang.lang.errors import EzError

            raise EzError("ShardingError", "multi-host sharding (redis) is not available yet")
        return await factory(options, gateway)  # type: ignore[no-any-return]
    return Backends(
        identify_queue=LocalIdentifyQueue(gateway.max_concurrency, gateway.identify_window),
        directory=LocalShardDirectory(),
    )
