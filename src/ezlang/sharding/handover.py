"""Rolling restarts with session hand-over: new code, no lost events, no IDENTIFY.

``restart_shards({batch})`` replaces the shard processes of this manager ``batch`` at a time.
For each shard:

1. A **successor** process starts beside the running one and loads the bot file as it is on
   disk now (new code): it runs the script up to ``bot_start()`` and logs in. It is on
   probation: not published, one attempt only.
2. Ready to connect, it asks for the session (``handover`` over IPC). The manager asks the old
   process to hand over: the old one stops dispatching at once (it processes no gateway
   message after that, so its ``seq`` is final), answers with ``{session_id, seq,
   resume_gateway_url}``, lets its running handlers finish and exits without ending the
   session (close 4000, never 1000).
3. The successor RESUMEs the session: Discord (or the sandbox) replays what arrived in
   between. It becomes the shard (``manager.shards[id]``) at the moment of the hand-over.

A successor that fails before step 2 (a syntax or runtime error in the new code, a crash, no
``bot_start()`` within ``spawn_timeout``) is stopped and the old process keeps the shard; the
restart stops there and raises a ``ShardingError`` with the reason, so one broken deploy does
not replace anything. A shard that is not running and ready is simply respawned.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ezlang.lang.errors import EzError
from ezlang.sharding.options import check_bot_syntax, shard_id_arg
from ezlang.sharding.process import ShardProcess

if TYPE_CHECKING:
    from ezlang.sharding.manager import ShardManager


def _error(message: str) -> EzError:
    return EzError("ShardingError", message)


class Restarter:
    """The rolling restarts of one manager: successors on probation and retired processes."""

    def __init__(self, manager: ShardManager) -> None:
        self.manager = manager
        self.successors: dict[int, ShardProcess] = {}
        self.retired: set[ShardProcess] = set()

    async def restart_shards(self, options: Mapping[str, Any] | None) -> list[dict[str, Any]]:
        """``restart_shards(options)``: check the options and the new code, then replace
        the shards (:meth:`restart`) and say how it went.

        ``options``: ``batch`` (shards replaced at a time, default 1) and ``shards`` (the ids
        to restart, default every shard of this manager). Returns ``[{shard_id, ok,
        handed_over, gap_ms}]`` (``gap_ms``: from the hand-over to the new process being
        ready); raises ``ShardingError`` (the old processes keep running) when a new process
        fails to load.
        """
        m = self.manager
        if options is not None and not isinstance(options, Mapping):
            raise EzError("TypeError", "restart_shards(options) needs an object like {batch: 2}")
        opts = dict(options or {})
        unknown = [k for k in opts if k not in ("batch", "shards")]
        if unknown:
            raise EzError(
                "ValueError",
                f"restart_shards: unknown option '{unknown[0]}' (known: batch, shards)",
            )
        batch = opts.get("batch", 1)
        if isinstance(batch, bool) or not isinstance(batch, int | float) or batch != int(batch):
            raise EzError("TypeError", "restart_shards: option 'batch' must be a whole number")
        if batch < 1:
            raise EzError(
                "ValueError", f"restart_shards: option 'batch' must be at least 1, got {batch:g}"
            )
        ids = opts.get("shards")
        if ids is None:
            ids = sorted(m.shards)
        else:
            if not isinstance(ids, list | tuple):
                raise EzError(
                    "TypeError", "restart_shards: option 'shards' must be an array of shard ids"
                )
            ids = [shard_id_arg(i, "restart_shards") for i in ids]
            for i in ids:
                if i not in m.shards:
                    raise m.unknown_shard(i)
        # New code with a syntax error would fail in every new process: say it once, first.
        check_bot_syntax(m.options.bot_file)
        started = time.monotonic()
        results = await self.restart(ids, int(batch))
        gaps = [r["gap_ms"] for r in results if r.get("gap_ms") is not None]
        m.reporter.notice(
            f"restarted {len(results)} shard(s) in {time.monotonic() - started:.1f} s"
            + (f" (hand-over to ready: at most {max(gaps):.0f} ms)" if gaps else "")
        )
        return results

    def on_sighup(self) -> bool:
        """Restart every shard when the manager process gets SIGHUP (the Unix convention for
        "reload"); False where signals cannot be caught."""
        m = self.manager

        async def restart() -> None:
            try:
                await m.restart_shards()
            except EzError as exc:
                m.reporter.problem(exc.message)

        def on_hup() -> None:
            if m.has_live_shards:
                m.spawn_bg(restart())

        try:
            asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, on_hup)
        except (NotImplementedError, RuntimeError, ValueError, AttributeError):
            return False
        return True

    async def restart(self, shard_ids: list[int], batch: int) -> list[dict[str, Any]]:
        """Replace ``shard_ids`` ``batch`` at a time; one result per shard, in order."""
        results: list[dict[str, Any]] = []
        for start in range(0, len(shard_ids), batch):
            group = shard_ids[start : start + batch]
            done = await asyncio.gather(*(self._restart_one(i) for i in group))
            results.extend(done)
            failed = [r for r in done if not r["ok"]]
            if failed:
                left = shard_ids[start + batch :]
                untouched = f"; not restarted: shards {', '.join(map(str, left))}" if left else ""
                raise _error(
                    "restart_shards: "
                    + "; ".join(f"shard {r['shard_id']}: {r['error']}" for r in failed)
                    + untouched
                )
        return results

    async def _restart_one(self, shard_id: int) -> dict[str, Any]:
        m = self.manager
        old = m.shards[shard_id]
        started = time.monotonic()
        if not (old.alive and old.status == "ready") or not old.hands_over:
            # Nothing to hand over, or a kind of shard that cannot (a discord.js bot): a plain
            # respawn (a .ez/.py shard resumes if its session is fresh).
            try:
                await m._respawn_local(old)
            except EzError as exc:
                return {"shard_id": shard_id, "ok": False, "error": exc.message}
            return {"shard_id": shard_id, "ok": True, "handed_over": False, "gap_ms": None}
        new = type(old)(m, shard_id)
        new.successor = new.probation = True
        new.published = False
        new.generation = old.generation  # restarts keep counting
        new.policy = old.policy
        self.successors[shard_id] = new
        new.start()
        limit = m.options.spawn_timeout + 5.0
        try:
            while True:
                if not new.probation and new.status == "ready" and m.shards.get(shard_id) is new:
                    break
                if new.status == "failed" or new.terminal:
                    why = new.failure or new.last_error() or new.status
                    if new.probation:
                        await new.stop()
                        m.reporter.problem(
                            f"restart of shard {shard_id}: the new process failed to load "
                            f"({why}); the old process keeps running"
                        )
                        return {
                            "shard_id": shard_id,
                            "ok": False,
                            "error": f"the new process failed to load ({why}); the old "
                            "process keeps running",
                        }
                    return {"shard_id": shard_id, "ok": False, "error": f"not ready: {why}"}
                if time.monotonic() - started > limit:
                    if new.probation:
                        await new.stop()
                        return {
                            "shard_id": shard_id,
                            "ok": False,
                            "error": f"the new process did not reach bot_start() within "
                            f"{limit:g} s; the old process keeps running",
                        }
                    return {
                        "shard_id": shard_id,
                        "ok": False,
                        "error": f"the new process took over but was not ready within {limit:g} s",
                    }
                await m._wait_change(0.05)
        finally:
            self.successors.pop(shard_id, None)
        assert new.handover_at is not None and new.ready_since is not None
        gap = (new.ready_since - new.handover_at) * 1000
        return {"shard_id": shard_id, "ok": True, "handed_over": True, "gap_ms": round(gap, 1)}

    async def hand_over(self, shard_id: int) -> Any:
        """The successor of ``shard_id`` is loaded: retire the old process, make the successor
        the shard, and return the session it must RESUME (``None``: IDENTIFY)."""
        m = self.manager
        new = self.successors.get(shard_id)
        if new is None or not new.probation:
            raise _error(f"shard {shard_id}: no hand-over is in progress")
        old = m.shards[shard_id]
        new.handover_at = time.monotonic()
        session = await old.retire()
        if isinstance(session, dict) and session.get("session_id"):
            m.sessions.report(shard_id, m.total_shards, session)
        else:
            # The old process died meanwhile, or had no session: resume what was reported.
            session = m.sessions.offer(shard_id, m.total_shards)
        new.probation = False
        new.published = True
        m.shards[shard_id] = new
        m.shard_status_changed(shard_id, new.status, new.pid)
        self.retired.add(old)
        m.spawn_bg(self._finish(old))
        return session

    async def _finish(self, old: ShardProcess) -> None:
        try:
            await old.stop(grace=10.0)
        finally:
            self.retired.discard(old)

    async def stop(self) -> None:
        """Stop successors still on probation and wait for retired processes."""
        parts = [s.stop() for s in list(self.successors.values())]
        parts += [s.stop() for s in list(self.retired)]
        if parts:
            await asyncio.gather(*parts, return_exceptions=True)
