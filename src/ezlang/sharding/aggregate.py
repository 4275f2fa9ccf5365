"""The manager's aggregating operations: ``broadcast_eval``, ``fetch_client_values`` and the
stats entries, all through ONE fan-out (:func:`ezlang.sharding.fanout.fan_out`), which asks
local children through their IPC channels and, with a multi-host backend, shards of other
hosts through the manager's ``remote``. :class:`~ezlang.sharding.manager.ShardManager`'s
methods of the same names call these.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

from ezlang.lang.errors import EzError
from ezlang.sharding.fanout import FanOut, fan_out, name_shard
from ezlang.sharding.interfaces import ShardCallError
from ezlang.sharding.options import shard_id_arg, timeout_arg
from ezlang.sharding.plain import plain_arg

if TYPE_CHECKING:
    from ezlang.sharding.manager import ShardManager

#: Seconds ``stats`` waits for a shard before reporting it unreachable.
STATS_TIMEOUT = 2.0


async def _fan_out(
    manager: ShardManager,
    what: str,
    op: str,
    payload: Any,
    timeout: float,
    *,
    fail_fast: bool,
    ids: list[int] | None = None,
) -> FanOut:
    """Ask every shard (or ``ids``), local or on another host, at once: see :func:`fan_out`."""
    return await fan_out(
        manager.all_ids() if ids is None else ids,
        what,
        op,
        payload,
        timeout,
        local=manager.shards,
        remote=manager.remote,
        fail_fast=fail_fast,
        max_bytes=manager.options.max_eval_bytes,
    )


async def _shard_failure(
    manager: ShardManager, what: str, fan: FanOut, index: int, timeout: float
) -> BaseException:
    """Why shard ``fan.ids[index]`` has no result: a dead or silent shard says what happened."""
    shard_id = fan.ids[index]
    error = fan.errors.get(index)
    shard = manager.shards.get(shard_id)
    if shard is not None:
        return await shard.call_error(what, error or TimeoutError(), timeout)
    if error is None:  # another host's shard, still silent at the deadline
        return EzError(
            "TimeoutError", f"shard {shard_id} did not answer {what} within {timeout:g} s"
        )
    return error


async def call_all(
    manager: ShardManager,
    what: str,
    op: str,
    payload: Any,
    timeout: float,
    ids: list[int] | None = None,
) -> list[Any]:
    """The results of ``op`` on every shard (or ``ids``), ordered like the ids; the first
    shard that fails or does not answer raises an error naming it."""
    fan = await _fan_out(manager, what, op, payload, timeout, fail_fast=True, ids=ids)
    index = fan.first_failure()
    if index is None:
        return fan.results
    error = await _shard_failure(manager, what, fan, index, timeout)
    raise name_shard(what, fan.ids[index], error)


async def broadcast_eval(
    manager: ShardManager,
    code: str,
    shard: int | None = None,
    timeout: float | None = None,
    context: Any = None,
) -> Any:
    """Run EasyLang ``code`` in every shard (or one) with ``client`` bound; results by id.

    ``code`` is a body with ``return`` or a bare expression; ``context`` (plain values) is
    bound as ``context`` inside it. Never hangs: each shard gets ``timeout`` seconds
    (default ``eval_timeout``) and a shard that fails or dies raises an error naming it.
    Code and context, and each shard's result, are limited to ``max_eval_bytes`` of JSON
    (a ``ValueError`` over it).
    """
    if not isinstance(code, str):
        raise EzError("TypeError", f"broadcast_eval: code must be a string, got {code!r}")
    if not code.strip():
        raise EzError("ValueError", "broadcast_eval: code must not be empty")
    limit = timeout_arg(timeout, manager.options.eval_timeout)
    manager.require_spawned("broadcast_eval")
    payload: dict[str, Any] = {"code": code, "timeout": limit}
    if context is not None:
        payload["context"] = plain_arg("broadcast_eval", "the context", context)
    # The child enforces the limit itself; the manager's own limit is a little longer so
    # the child's clearer message wins, while a frozen child still cannot hang the call.
    call_limit = limit + 0.25
    started = time.perf_counter()
    try:
        if shard is None:
            return await call_all(manager, "broadcast_eval", "eval", payload, call_limit)
        shard_id = shard_id_arg(shard, "broadcast_eval")
        if shard_id not in manager.all_ids():
            raise manager.unknown_shard(shard_id)
        ids = [shard_id]
        return (await call_all(manager, "broadcast_eval", "eval", payload, call_limit, ids))[0]
    finally:
        manager.monitor.eval_done(started)  # the latency histogram of the metrics


async def fetch_client_values(manager: ShardManager, path: str) -> list[Any]:
    """The value of the client view's dotted ``path`` in every shard, ordered by shard id."""
    if not isinstance(path, str):
        raise EzError(
            "TypeError", f"fetch_client_values: the property must be a string, got {path!r}"
        )
    if not path.strip():
        raise EzError("ValueError", "fetch_client_values: the property must not be empty")
    manager.require_spawned("fetch_client_values")
    what = "fetch_client_values"
    limit = manager.options.eval_timeout
    fan = await _fan_out(manager, what, "fetch", {"path": path}, limit, fail_fast=True)
    index = fan.first_failure()
    if index is None:
        return fan.results
    error = await _shard_failure(manager, what, fan, index, limit)
    if (
        isinstance(error, EzError)
        and error.kind == "ValueError"
        and not isinstance(error, ShardCallError)
    ):
        # A shard's fetch fails with ValueError only for a bad path, and the path is the
        # same on every shard: say it once, without a shard number.
        raise EzError("ValueError", error.message) from None
    raise name_shard(what, fan.ids[index], error)


async def stats_of(
    manager: ShardManager, ids: list[int], timeout: float = STATS_TIMEOUT
) -> list[dict[str, Any]]:
    """The stats entries of shards ``ids`` (local or not), in that order."""
    what = "get_shard_stats"
    fan = await _fan_out(manager, what, "stats", None, timeout, fail_fast=False, ids=ids)
    failures = await asyncio.gather(
        *(
            _shard_failure(manager, what, fan, index, timeout)
            for index in range(len(fan.ids))
            if index in fan.errors or not fan.answered[index]
        )
    )
    failed = iter(failures)
    # Multi-host: every entry says which host runs the shard (remote errors carry `host`).
    here = getattr(manager.directory, "host", None) if manager.remote is not None else None
    out: list[dict[str, Any]] = []
    for index, shard_id in enumerate(fan.ids):
        ok = fan.answered[index] and index not in fan.errors
        error = None if ok else next(failed)
        shard = manager.shards.get(shard_id)
        if shard is not None:
            entry = shard.stats_entry(fan.results[index] if ok else None, error)
            if here is not None:
                entry["host"] = here
        elif ok:
            entry = fan.results[index]  # built by the manager of the shard's host
        else:
            message = error.message if isinstance(error, EzError) else str(error)
            entry = {
                "shard_id": shard_id,
                "ready": False,
                "status": "unreachable",
                "error": message,
                "host": getattr(error, "host", None),
            }
        out.append(entry)
    return out
