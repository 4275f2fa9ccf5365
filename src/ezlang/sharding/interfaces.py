"""The small interfaces the shard manager is built on, each with a local and a Redis implementation.

* :class:`IdentifyQueue` — Discord's identify rate limit: at most ``max_concurrency`` IDENTIFYs per
  ``window`` seconds, one per bucket ``shard_id % max_concurrency``. Local: an asyncio
  implementation inside the manager. Multi-host: Redis (one queue for every host of the bot).
* :class:`ShardDirectory` — which host runs which shard, with status and a TTL heartbeat, and how to
  reach shards on other hosts. Local: the manager's own table. Multi-host: Redis.

The manager depends only on these protocols; nothing Redis-specific lives in the single-host
code path.

* :class:`ShardHost` — what a :class:`~ezlang.sharding.process.ShardProcess` needs from the
  manager that owns it (configuration, the identify queue, and the three things a shard tells
  or asks its manager). The manager implements it; the process never reaches past it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from ezlang.lang.errors import EzError

if TYPE_CHECKING:
    from ezlang.sharding.monitor import Monitor
    from ezlang.sharding.options import ShardOptions
    from ezlang.sharding.progress import Reporter
    from ezlang.sharding.zygote import Zygote


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


class ShardHost(Protocol):
    """The manager as one of its :class:`~ezlang.sharding.process.ShardProcess` objects sees it."""

    @property
    def options(self) -> ShardOptions:
        """The manager's validated options (timeouts, restart policy, the bot file)."""
        ...

    @property
    def reporter(self) -> Reporter:
        """Where shard output and supervision notices go."""
        ...

    @property
    def total_shards(self) -> int:
        """The bot's shard count (all hosts)."""
        ...

    @property
    def zygote(self) -> Zygote | None:
        """The fork server to start shards from, if there is one."""
        ...

    @property
    def monitor(self) -> Monitor:
        """Where waits in the identify queue are recorded (metrics, dashboard)."""
        ...

    @property
    def identify_queue(self) -> IdentifyQueue | None:
        """The queue every IDENTIFY waits in (set before any shard starts)."""
        ...

    def scrub(self, text: str) -> str:
        """``text`` with the bot token hidden."""
        ...

    def shard_config(self, shard_id: int, handover: bool = False) -> dict[str, Any]:
        """The answer to a starting shard's ``hello``: its id, the count, token, URLs, timings,
        and the session to resume (``handover``: it will get one from the process it replaces)."""
        ...

    async def hand_over(self, shard_id: int) -> Any:
        """The successor of shard ``shard_id`` is loaded: retire the old process and return
        its session (``None``: IDENTIFY)."""
        ...

    def shard_status_changed(self, shard_id: int, status: str, pid: int | None) -> None:
        """Shard ``shard_id`` is now ``status`` (one of ``process.STATUSES``)."""
        ...

    def session_resumable(self, shard_id: int) -> bool:
        """Whether a new process of shard ``shard_id`` would RESUME its saved session."""
        ...

    def session_reported(self, shard_id: int, data: Any) -> None:
        """Shard ``shard_id``'s gateway session is now ``data`` (``{session_id, seq,
        resume_gateway_url}``; ``session_id`` null: it has none)."""
        ...

    def shard_missed_spawn_timeout(self, shard_id: int) -> None:
        """Shard ``shard_id`` was killed for not becoming READY within ``spawn_timeout``."""
        ...

    async def route(self, from_shard: int, data: Any) -> Any:
        """Run a cross-shard call (``broadcast_eval``, ``fetch_client_values``, ``stats``) that
        bot code made inside shard ``from_shard``."""
        ...


class ShardCallError(EzError):
    """A call failed because of the shard itself, not the code it ran; the message names it.

    ``reason`` says which: ``"exited"`` (the process died or is shutting down during the call),
    ``"not_running"`` (there was no process to ask) or ``"timeout"`` (no answer in time).
    """

    def __init__(self, kind: str, message: str, *, shard_id: int, reason: str) -> None:
        super().__init__(kind, message)
        self.shard_id = shard_id
        self.reason = reason
