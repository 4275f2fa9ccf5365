"""One call to many shards at once: the single fan-out behind ``broadcast_eval``,
``fetch_client_values`` and ``get_shard_stats``.

Local shards (children of this manager) are asked through their IPC channels on the hot path:
the payload is encoded once, each shard gets one write, and the replies are stored by the IPC
reader's callback as they arrive — no future, task or timer per shard. Shards of other hosts
(multi-host) are asked through the manager's ``remote`` caller, one owned task each, whose
outcome lands in the same :class:`FanOut`. The caller wakes once: when the last reply is in,
when the first error is in (``fail_fast``), or at the deadline.

What the replies mean (results in order, stats entries) is the manager's business; this
module collects them, and :func:`name_shard` words a shard's failure the one way.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Mapping
from typing import Any

from ezlang.lang.errors import EzError
from ezlang.sharding import ipc
from ezlang.sharding.backends import RemoteCaller
from ezlang.sharding.interfaces import ShardCallError
from ezlang.sharding.process import ShardProcess

#: Extra seconds a fan-out waits for other hosts beyond the call's own timeout, so their own
#: (more precise) timeout errors arrive before the fan-out gives up on them.
REMOTE_SLACK = 1.0


class FanOut:
    """The outcome of one fan-out: per position in ``ids``, a result or an error, or nothing."""

    __slots__ = ("ids", "results", "errors", "answered", "missing", "waiter", "fail_fast")

    def __init__(self, ids: list[int], waiter: asyncio.Future[None], fail_fast: bool) -> None:
        self.ids = ids
        self.results: list[Any] = [None] * len(ids)
        self.errors: dict[int, BaseException] = {}  # index -> the error of that shard
        self.answered = [False] * len(ids)
        self.missing = len(ids)
        self.waiter = waiter
        self.fail_fast = fail_fast

    def on_reply(self, index: int, ok: bool, value: Any) -> None:
        """Record shard ``ids[index]``'s reply (the first one counts)."""
        if self.answered[index]:
            return
        self.answered[index] = True
        self.missing -= 1
        if ok:
            self.results[index] = value
        else:
            self.errors[index] = value
        if (self.missing == 0 or (self.fail_fast and not ok)) and not self.waiter.done():
            self.waiter.set_result(None)

    def on_task_done(self, index: int, task: asyncio.Task[Any]) -> None:
        """Record the outcome of the task that asked shard ``ids[index]`` (another host)."""
        if task.cancelled():
            return  # the fan-out ended before it: the shard counts as not answered
        exc = task.exception()
        if exc is None:
            self.on_reply(index, True, task.result())
        else:
            self.on_reply(index, False, exc)

    def first_failure(self) -> int | None:
        """The position of the first shard that failed or did not answer (``None``: all ok)."""
        if self.errors:
            return min(self.errors)
        if self.missing:
            return self.answered.index(False)
        return None


def name_shard(what: str, shard_id: int, exc: BaseException) -> EzError:
    """The error to raise for shard ``shard_id``'s failure in ``what``, naming the shard once."""
    if isinstance(exc, ShardCallError) and exc.shard_id == shard_id:
        return exc  # the shard itself failed: its message already names it and ``what``
    if not isinstance(exc, EzError):
        return EzError(
            "ShardingError", f"{what} failed on shard {shard_id}: {type(exc).__name__}: {exc}"
        )
    return EzError(exc.kind, f"{what} failed on shard {shard_id}: {exc.message}")


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


async def fan_out(
    ids: list[int],
    what: str,
    op: str,
    payload: Any,
    timeout: float,
    *,
    local: Mapping[int, ShardProcess],
    remote: RemoteCaller | None,
    fail_fast: bool,
    max_bytes: int = ipc.DEFAULT_MAX_PAYLOAD,
) -> FanOut:
    """Ask every shard in ``ids`` for ``op`` at once and collect the replies.

    A shard in ``local`` is asked through its channel; any other through ``remote``. A shard
    that cannot be asked at all (not running, or no ``remote``) gets its error at once. Returns
    after every shard answered, or — with ``fail_fast`` — after the first error, or after
    ``timeout`` seconds; shards still silent then are the ones not ``answered``. Nothing started
    here outlives the call: replies still on their way are forgotten, tasks cancelled and
    awaited. A payload over ``max_bytes`` of JSON is the caller's ``ValueError``: no shard
    is asked.
    """
    loop = asyncio.get_running_loop()
    data_json = ipc.dumps(payload)
    if len(data_json) > max_bytes:
        raise ipc.too_large(f"{what}: the request", len(data_json), max_bytes, ipc.REQUEST_FIX)
    fan = FanOut(ids, loop.create_future(), fail_fast)
    sent: list[tuple[ipc.Channel, int]] = []
    tasks: list[asyncio.Task[Any]] = []
    try:
        for index, shard_id in enumerate(ids):
            if fail_fast and fan.errors:
                break  # the first error decides: ask no one else
            shard = local.get(shard_id)
            if shard is None:
                if remote is None:
                    fan.on_reply(
                        index, False, EzError("ShardingError", f"shard {shard_id} is not known")
                    )
                    continue
                task = loop.create_task(remote.call(shard_id, op, payload, timeout))
                task.add_done_callback(functools.partial(fan.on_task_done, index))
                tasks.append(task)
                continue
            try:
                channel = shard.running_channel(what)
                rid = channel.send_request(op, data_json, functools.partial(fan.on_reply, index))
            except (EzError, ipc.ChannelClosed) as exc:
                fan.on_reply(index, False, exc)
                continue
            sent.append((channel, rid))
        if fan.missing and not fan.waiter.done():
            limit = timeout + (REMOTE_SLACK if tasks else 0.0)
            timer = loop.call_later(limit, _wake, fan.waiter)
            try:
                await fan.waiter
            finally:
                timer.cancel()
    finally:
        for channel, rid in sent:
            channel.forget(rid)
        for task in tasks:
            task.cancel()
        if tasks:
            # Their outcomes are already recorded (or no longer wanted): wait for them to end.
            await asyncio.gather(*tasks, return_exceptions=True)
    return fan
