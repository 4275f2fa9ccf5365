"""The local identify queue: Discord's IDENTIFY rate limit, enforced inside the manager.

Discord allows ``max_concurrency`` IDENTIFYs per window (5 s), one per bucket
``shard_id % max_concurrency``; an IDENTIFY that arrives early is refused with op 9 and still
counts against the daily budget. Discord measures on receipt, and a permission granted here
reaches the gateway a little later through the shard's IPC and websocket, so consecutive grants
in one bucket are spaced by ``window + margin`` to absorb that jitter.
"""

from __future__ import annotations

import asyncio
import contextlib
import time


class LocalIdentifyQueue:
    """An :class:`~ezlang.sharding.interfaces.IdentifyQueue` for the shards of one host.

    Besides the grants, shards report when their IDENTIFY actually left (:meth:`note_sent`,
    on the machine-wide monotonic clock). The next grant in a bucket is timed from the later of
    the previous grant and that real send, and waits for the report (up to two windows), so a
    shard that was slow to send after its grant — a busy machine — cannot make the next one
    arrive early.
    """

    def __init__(self, max_concurrency: int = 1, window: float = 5.0, margin: float = 0.075):
        if max_concurrency < 1:
            raise ValueError("max_concurrency must be >= 1")
        self.max_concurrency = max_concurrency
        self.window = window
        self.margin = margin
        # Bucket -> monotonic time of the last grant / the last reported send.
        self._last: dict[int, float] = {}
        self._sent: dict[int, float] = {}
        # Bucket -> set once the last grant's send was reported (or never granted).
        self._reported: dict[int, asyncio.Event] = {}
        # One lock per bucket keeps grants FIFO.
        self._locks: dict[int, asyncio.Lock] = {}
        self._waiters: set[asyncio.Task[None]] = set()
        self._closed = False

    def configure(self, max_concurrency: int, window: float) -> None:
        """Adopt the values learnt from ``GET /gateway/bot`` (before any shard identifies)."""
        self.max_concurrency = max_concurrency
        self.window = window

    def _free_at(self, bucket: int) -> float:
        start = max(self._last.get(bucket, -1e9), self._sent.get(bucket, -1e9))
        return start + self.window + self.margin

    def next_slot_in(self) -> float:
        """Seconds until the earliest bucket is free again (0 when one is free now)."""
        now = time.monotonic()
        waits = [max(0.0, self._free_at(b) - now) for b in range(self.max_concurrency)]
        return min(waits) if waits else 0.0

    def note_sent(self, shard_id: int, at: float) -> None:
        """Shard ``shard_id`` sent its IDENTIFY at monotonic time ``at``."""
        bucket = shard_id % self.max_concurrency
        self._sent[bucket] = max(self._sent.get(bucket, -1e9), at)
        event = self._reported.get(bucket)
        if event is not None:
            event.set()

    async def acquire(self, shard_id: int) -> None:
        """Return when ``shard_id`` may IDENTIFY now; the slot is taken on return."""
        if self._closed:
            raise asyncio.CancelledError("identify queue closed")
        bucket = shard_id % self.max_concurrency
        lock = self._locks.setdefault(bucket, asyncio.Lock())
        reported = self._reported.setdefault(bucket, asyncio.Event())
        if bucket not in self._last:
            reported.set()
        task = asyncio.current_task()
        if task is not None:
            self._waiters.add(task)
        try:
            async with lock:
                while True:
                    now = time.monotonic()
                    if not reported.is_set():
                        # The previous shard has not said its IDENTIFY left: wait for that
                        # (it may still be about to send), but not forever (it may have died).
                        give_up = self._last[bucket] + 2 * self.window - now
                        if give_up > 0:
                            with contextlib.suppress(TimeoutError):
                                await asyncio.wait_for(reported.wait(), give_up)
                            continue
                    delay = self._free_at(bucket) - now
                    if delay <= 0:
                        break
                    await asyncio.sleep(delay)
                self._last[bucket] = time.monotonic()
                reported.clear()
        finally:
            if task is not None:
                self._waiters.discard(task)

    async def close(self) -> None:
        """Cancel pending ``acquire`` calls."""
        self._closed = True
        for task in list(self._waiters):
            if task is not asyncio.current_task():
                task.cancel()
