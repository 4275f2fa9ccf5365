"""``ShardManager``: spawns, supervises and talks to the shard processes of one bot.

Python API (the EasyLang builtins are thin wrappers around it)::

    m = ShardManager("bot.ez", {"token": "...", "total_shards": 4})
    await m.spawn()                       # [{id, ready, pid, status}, ...] once all are READY
    await m.broadcast_eval("return client.guilds.cache.size")
    await m.fetch_client_values("guilds.cache.size")
    await m.respawn_shard(2)
    await m.stats()
    await m.stop()

Structure: the aggregating operations (``broadcast_eval``, ``fetch_client_values``, ``stats``)
all go through ONE fan-out (:mod:`ezlang.sharding.aggregate`), which asks local children
through their IPC channels and, with a multi-host backend, shards of other hosts through
``remote``; :meth:`ShardManager.call_shard` is the single-shard entry other hosts use, and
:meth:`ShardManager.route` (:mod:`ezlang.sharding.routing`) runs what bot code inside a shard
asks for. :meth:`ShardManager.serve` (:mod:`ezlang.sharding.serving`) handles signals. The
manager is the :class:`~ezlang.sharding.interfaces.ShardHost` of its
:class:`~ezlang.sharding.process.ShardProcess` objects. The identify queue and the shard
directory are injected objects implementing :mod:`ezlang.sharding.interfaces` (local ones by
default, see :mod:`ezlang.sharding.backends`).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import time
from collections.abc import Awaitable, Mapping
from pathlib import Path
from typing import Any, ClassVar

from ezlang.lang.errors import EzError
from ezlang.sharding import aggregate, rest_limits, routing, serving, startup
from ezlang.sharding.aggregate import STATS_TIMEOUT
from ezlang.sharding.backends import (
    GatewayFacts,
    LocalShardDirectory,
    RemoteCaller,
)
from ezlang.sharding.gateway import api_base
from ezlang.sharding.handover import Restarter
from ezlang.sharding.interfaces import IdentifyQueue, ShardDirectory
from ezlang.sharding.monitor import Monitor
from ezlang.sharding.options import (
    ShardOptions,
    check_bot_syntax,
    parse_options,
    shard_id_arg,
)
from ezlang.sharding.process import SCRUBBED_ENV, ShardProcess, process_class
from ezlang.sharding.progress import Reporter, make_reporter
from ezlang.sharding.routing import OP_NAMES
from ezlang.sharding.serving import keep_sessions_on as keep_sessions_on  # (re-exported)
from ezlang.sharding.sessions import SessionStore, session_file
from ezlang.sharding.zygote import Zygote

#: Set to 0 to start every shard as a fresh interpreter instead of forking it from a zygote.
ZYGOTE_ENV = "EZLANG_SHARD_ZYGOTE"

#: Seconds between writes of the session file while sessions change.
SESSION_SAVE_DELAY = 0.5


def _sharding_error(message: str) -> EzError:
    return EzError("ShardingError", message)


class ShardManager:
    """The supervisor of one bot's shard processes on this host."""

    _live: ClassVar[ShardManager | None] = None

    def __init__(
        self,
        bot_file: str | Path,
        options: ShardOptions | Mapping[str, Any] | None = None,
        *,
        identify_queue: IdentifyQueue | None = None,
        directory: ShardDirectory | None = None,
        remote: RemoteCaller | None = None,
        reporter: Reporter | None = None,
        base_dir: Path | None = None,
        default_token: str | None = None,
        default_api: str | None = None,
    ) -> None:
        live = ShardManager._live
        if live is not None and live.has_live_shards:
            raise _sharding_error(
                "a shard manager with running shards already exists in this program; "
                "call stop_shards() first (one manager per program)"
            )
        self.options = parse_options(
            bot_file,
            options,
            base_dir=base_dir,
            default_token=default_token,
            default_api=default_api,
        )
        self.total_shards: int = self.options.total_shards or 0
        self.shards: dict[int, ShardProcess] = {}
        self.identify_queue: IdentifyQueue | None = identify_queue
        self.directory: ShardDirectory | None = directory
        self.remote: RemoteCaller | None = remote
        self.reporter = reporter or make_reporter(self.options.progress, self.options.log_format)
        self.monitor = Monitor(self)  # metrics, dashboard, live table (ezlang.sharding.monitor)
        self.gateway: GatewayFacts | None = None
        self._token = self.options.token
        self._changed = asyncio.Event()
        self._spawned = False
        self._stopping = False
        self._stopped = asyncio.Event()
        self._background: set[asyncio.Task[Any]] = set()
        self._spawn_timed_out: set[int] = set()
        self._in_spawn = False
        self.zygote: Zygote | None = None
        self._ids: list[int] = []
        # Resumable sessions (ezlang.sharding.sessions), kept in a file beside the bot; with
        # Redis, several managers share one bot file, so none is written.
        self.sessions = SessionStore(
            self.options.resume_window,
            None if self.options.redis else session_file(self.options.bot_file),
            scope=self._api,
        )
        self._save_timer: asyncio.TimerHandle | None = None
        self._redis_sessions: Any = None  # ezlang.sharding.redis.sessions.RedisSessions
        self._redis_save_error: str | None = None
        self.restarter = Restarter(self)
        #: Grants every shard's REST requests (made at the first one: rest_limits.route).
        self.rest_grants: rest_limits.RestGrants | None = None

    # --- small helpers -----------------------------------------------------------------------------

    def scrub(self, text: str) -> str:
        """``text`` with the token hidden (every line forwarded from a shard goes through this)."""
        return text.replace(self._token, "[token hidden]") if self._token in text else text

    @property
    def has_live_shards(self) -> bool:
        """True while any shard process of this manager is running or being supervised."""
        return self._spawned and not self._stopped.is_set()

    def info(self) -> dict[str, Any]:
        """What ``create_shard_manager`` returns (never the token)."""
        out = self.options.public()
        if self.total_shards:
            out["total_shards"] = self.total_shards
        return out

    def spawn_bg(self, coro: Any) -> None:
        """Run ``coro`` in a task of the manager (the dashboard's actions, hand-over steps)."""
        # Owned by the manager: stop() cancels and awaits whatever is still running.
        task = asyncio.get_running_loop().create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _publish(self, shard_id: int, info: dict[str, Any]) -> None:
        assert self.directory is not None
        try:
            await self.directory.update(shard_id, info)
        except Exception as exc:  # a directory hiccup must not hurt local shards: say it, go on
            self.reporter.problem(f"could not publish shard {shard_id}'s status: {exc!r}")

    async def _wait_change(self, timeout: float) -> None:
        self._changed.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._changed.wait(), timeout)

    # --- the ShardHost interface (what the ShardProcess objects call) ------------------------------

    def shard_status_changed(self, shard_id: int, status: str, pid: int | None) -> None:
        """Note a shard's new status: wake waiters, print it, publish it to the directory."""
        self._changed.set()
        self.reporter.shard_status(shard_id, status, pid)
        if self.directory is not None:
            info = {"status": status, "pid": pid, "ready": status == "ready"}
            if isinstance(self.directory, LocalShardDirectory):
                self.directory.note(shard_id, info)  # a dict update: no task needed
            else:
                self.spawn_bg(self._publish(shard_id, info))

    def shard_config(self, shard_id: int, handover: bool = False) -> dict[str, Any]:
        """What shard ``shard_id`` gets in answer to its ``hello`` (token included);
        ``handover``: a successor in a rolling restart (it gets its session later)."""
        return {
            "shard_id": shard_id,
            "shard_count": self.total_shards,
            "token": self._token,
            "api": self._api,
            "gateway": self.gateway.url if self.gateway else None,
            # With the gateway URL, the shard needs no GET /gateway/bot of its own.
            "heartbeat_interval": self.options.heartbeat_interval,
            "eval_timeout": self.options.eval_timeout,
            "max_eval_bytes": self.options.max_eval_bytes,
            # A session the previous process of this shard left resumable: RESUME it.
            "resume": None if handover else self.sessions.offer(shard_id, self.total_shards),
            "handover": handover,
        }

    async def hand_over(self, shard_id: int) -> Any:
        """A successor is loaded: retire the old process, return the session to RESUME."""
        return await self.restarter.hand_over(shard_id)

    def session_resumable(self, shard_id: int) -> bool:
        """Whether a new process of shard ``shard_id`` would RESUME its saved session."""
        return self.sessions.resumable(shard_id, self.total_shards)

    async def _save_redis_sessions(self) -> None:
        """Write this manager's sessions to Redis (the ``redis`` option's session file)."""
        if self._redis_sessions is None:
            return
        try:
            await self._redis_sessions.write(self.sessions, list(self._ids))
            self._redis_save_error = None
        except Exception as exc:  # Redis down: say it once per kind of failure, keep going
            why = f"could not save the shard sessions in Redis: {exc}"
            if why != self._redis_save_error:
                self._redis_save_error = why
                self.reporter.problem(why)

    def session_reported(self, shard_id: int, data: Any) -> None:
        """Keep shard ``shard_id``'s session; write the session file soon (coalesced)."""
        self.sessions.report(shard_id, self.total_shards, data)
        stored = self.sessions.path is not None or self._redis_sessions is not None
        if stored and self._save_timer is None and not self._stopping:
            loop = asyncio.get_running_loop()
            self._save_timer = loop.call_later(SESSION_SAVE_DELAY, self._save_sessions)

    def _save_sessions(self) -> None:
        self._save_timer = None
        if self._redis_sessions is not None and not self._stopping:
            self.spawn_bg(self._save_redis_sessions())
        try:
            self.sessions.save()
        except OSError as exc:  # a read-only directory: resuming after a restart is lost
            self.reporter.problem(f"could not save the shard sessions: {exc}")

    def shard_missed_spawn_timeout(self, shard_id: int) -> None:
        """A shard was killed for missing ``spawn_timeout``: during spawn, that fails it."""
        if not self._in_spawn:
            return  # after spawn_shards() returned, a slow start is just a crash to retry
        self._spawn_timed_out.add(shard_id)
        self._changed.set()

    async def route(self, from_shard: int, data: Any) -> Any:
        """Run a cross-shard operation that bot code called inside shard ``from_shard``."""
        return await routing.route(self, from_shard, data)

    # --- spawning ------------------------------------------------------------------------------------

    @property
    def _api(self) -> str:
        return api_base(self.options.api)

    def identify_bound(self, count: int | None = None) -> float:
        """``ceil(N / max_concurrency) × window``: the fastest a spawn of N shards can be."""
        n = len(self.shards) if count is None else count
        queue = self.identify_queue
        mc = getattr(queue, "max_concurrency", 1) or 1
        window = getattr(queue, "window", 5.0)
        return math.ceil(n / mc) * window

    async def spawn(self) -> list[dict[str, Any]]:
        """Start every shard at once and return when all are READY.

        Raises ``ShardingError`` naming the shards that did not become READY (and why) when a
        shard fails for good or misses ``spawn_timeout``; the other shards keep running.
        """
        if self._spawned:
            raise _sharding_error("spawn_shards() was already called for this manager")
        live = ShardManager._live
        if live is not None and live is not self and live.has_live_shards:
            raise _sharding_error("another shard manager with running shards exists")
        await self.monitor.start()  # a busy metrics/dashboard port fails before anything starts
        # The fork server imports discord.py while we check the bot and talk to the API.
        zygote_start = asyncio.ensure_future(self._start_zygote())
        try:
            # A syntax error would make every shard crash at start: report it once, up front,
            # before a single session start is spent.
            check_bot_syntax(self.options.bot_file)
            gateway = await self._prepare()
        except BaseException:
            zygote_start.cancel()
            # Zygote.start() returns None on its own failures; only the cancellation comes back.
            with contextlib.suppress(asyncio.CancelledError):
                await zygote_start
            await self.monitor.stop()
            raise
        self.zygote = await zygote_start
        return await self._launch_all(gateway)

    async def _start_zygote(self) -> Zygote | None:
        if os.environ.get(ZYGOTE_ENV, "1") == "0":
            return None
        if not process_class(self.options.bot_file).uses_zygote:
            return None
        env = {k: v for k, v in os.environ.items() if k not in SCRUBBED_ENV}
        return await Zygote.start(
            str(self.options.bot_file.parent),
            env,
            lambda line: self.reporter.child_line("[zygote] " + self.scrub(line), True),
        )

    async def _prepare(self) -> GatewayFacts:
        """Ask the API, check the budget, set up the backends: everything before any shard."""
        gateway = await startup.gateway_facts(self._api, self._token, self.options)
        gateway, ids = await startup.set_up_backends(self, gateway)
        # Sessions a previous manager left resumable (stopped with SIGTERM, or crashed).
        self.sessions.load()
        storage = getattr(self.directory, "session_storage", None)
        if callable(storage):  # Redis: the sessions of this manager's shards live there
            self._redis_sessions = storage()
            try:
                await self._redis_sessions.read(self.sessions, ids)
            except Exception as exc:  # Redis trouble costs IDENTIFYs, never the start
                self.reporter.problem(f"could not read the shard sessions from Redis: {exc}")
        if self.remote is not None:
            await self.remote.start(self.call_shard)
        self._ids = ids
        return gateway

    async def _launch_all(self, gateway: GatewayFacts) -> list[dict[str, Any]]:
        ids = self._ids
        self._spawned = True
        ShardManager._live = self
        kind = process_class(self.options.bot_file)  # one bot file, whatever its language
        self.shards = {i: kind(self, i) for i in ids}
        queue = self.identify_queue
        next_slot = getattr(queue, "next_slot_in", lambda: 0.0)
        self.reporter.spawn_started(ids, self.total_shards, self.identify_bound(), next_slot)
        for shard in self.shards.values():
            shard.start()
        self._in_spawn = True
        try:
            await self._wait_all_ready()
        finally:
            self._in_spawn = False
            self.reporter.spawn_finished(all(s.status == "ready" for s in self.shards.values()))
        self.monitor.spawned()
        return [
            {"id": s.id, "ready": s.status == "ready", "pid": s.pid, "status": s.status}
            for s in self.shards.values()
        ]

    async def _wait_all_ready(self) -> None:
        while True:
            waiting = [s for s in self.shards.values() if s.status != "ready"]
            if not waiting:
                return
            bad: dict[int, str] = {}
            for s in waiting:
                if s.status == "failed" or s.terminal:
                    bad[s.id] = s.failure or s.exit_summary(
                        s.last_exit["code"] if s.last_exit else None
                    )
                elif s.id in self._spawn_timed_out:
                    bad[s.id] = s.spawn_timeout_reason or "did not become READY in time"
            if len(bad) == len(waiting):
                lines = []
                for shard_id in sorted(bad):
                    s = self.shards[shard_id]
                    lines.append(f"  shard {shard_id} ({s.status}): {bad[shard_id]}")
                ready = len(self.shards) - len(bad)
                still = [i for i in bad if not self.shards[i].terminal]
                tail = (
                    f"\n(shards {still} are still being restarted in the background)"
                    if still
                    else ""
                )
                raise _sharding_error(
                    f"{len(bad)} of {len(self.shards)} shards did not become ready "
                    f"({ready} ready):\n" + "\n".join(lines) + tail
                )
            await self._wait_change(0.25)

    # --- one shard (other hosts' calls, respawn) ------------------------------------------------------

    async def call_shard(
        self, shard_id: int, op: str, payload: Any = None, timeout: float | None = None
    ) -> Any:
        """Run ``op`` on shard ``shard_id`` (local child, or another host's through ``remote``).

        ``stats`` and ``respawn`` are answered by the shard's own manager; ``eval`` and
        ``fetch`` by the shard process. Errors name the shard. This is how other hosts reach
        this host's shards; this host's own aggregating operations use :meth:`_fan_out`.
        """
        shard = self.shards.get(shard_id)
        if shard is None:
            if self.remote is not None and 0 <= shard_id < self.total_shards:
                return await self.remote.call(shard_id, op, payload, timeout)
            raise self.unknown_shard(shard_id)
        if op == "stats":
            return (await self.stats_of([shard_id], timeout or STATS_TIMEOUT))[0]
        if op == "respawn":
            return await self._respawn_local(shard)
        return await shard.call(OP_NAMES.get(op, op), op, payload, timeout)

    def unknown_shard(self, shard_id: Any) -> EzError:
        """The ``ValueError`` for a shard id that is not one of :meth:`all_ids`."""
        ids = self.all_ids()
        shown = f"0..{ids[-1]}" if ids == list(range(len(ids))) and ids else str(ids)
        return EzError("ValueError", f"unknown shard {shard_id!r}; the shards are {shown}")

    def all_ids(self) -> list[int]:
        """Every shard id of the bot: all hosts' with a multi-host backend, else this one's."""
        if self.remote is not None and self.total_shards:
            return list(range(self.total_shards))
        return sorted(self.shards)

    def require_spawned(self, what: str) -> None:
        """Raise a ``ShardingError`` for ``what`` unless the shards are spawned and running."""
        if not self._spawned:
            raise _sharding_error(f"{what}: no shards yet — call spawn_shards() first")
        if self._stopped.is_set():
            raise _sharding_error(f"{what}: the shards were stopped (stop_shards())")

    # --- aggregating operations: one fan-out ---------------------------------------------------------

    async def call_all(
        self, what: str, op: str, payload: Any, timeout: float, ids: list[int] | None = None
    ) -> list[Any]:
        """The results of ``op`` on every shard (or ``ids``), ordered like the ids; the first
        shard that fails or does not answer raises an error naming it."""
        return await aggregate.call_all(self, what, op, payload, timeout, ids)

    async def broadcast_eval(
        self,
        code: str,
        shard: int | None = None,
        timeout: float | None = None,
        context: Any = None,
    ) -> Any:
        """Run EasyLang ``code`` in every shard (or one) with ``client`` bound; results by id
        (see :func:`ezlang.sharding.aggregate.broadcast_eval`)."""
        return await aggregate.broadcast_eval(self, code, shard, timeout, context)

    async def fetch_client_values(self, path: str) -> list[Any]:
        """The value of the client view's dotted ``path`` in every shard, ordered by shard id."""
        return await aggregate.fetch_client_values(self, path)

    async def stats(self) -> list[dict[str, Any]]:
        """One stats object per shard, gathered in parallel; unreachable shards say so.

        The same fan-out as ``broadcast_eval`` without failing fast: a shard that fails or is
        slow gets an entry with its ``error``, the others are unaffected.
        """
        self.require_spawned("get_shard_stats")
        return await self.stats_of(self.all_ids())

    async def stats_of(
        self, ids: list[int], timeout: float = STATS_TIMEOUT
    ) -> list[dict[str, Any]]:
        """The stats entries of shards ``ids`` (local or not), in that order."""
        return await aggregate.stats_of(self, ids, timeout)

    # --- respawn and stop ----------------------------------------------------------------------------

    async def respawn_shard(self, shard_id: int) -> bool:
        """Replace shard ``shard_id``'s process; returns True once the new one is READY."""
        shard_id = shard_id_arg(shard_id, "respawn_shard")
        self.require_spawned("respawn_shard")
        if shard_id not in self.all_ids():
            raise self.unknown_shard(shard_id)
        limit = self.options.spawn_timeout + self.identify_bound() + 10
        return bool(await self.call_shard(shard_id, "respawn", None, limit))

    async def _respawn_local(self, shard: ShardProcess) -> bool:
        before = shard.generation
        await shard.restart()
        deadline = time.monotonic() + self.options.spawn_timeout + self.identify_bound() + 5
        while True:
            if shard.generation > before and shard.ready_generation == shard.generation:
                if shard.status == "ready":
                    return True
            # Until the new process exists, "failed" is the old one's (respawning a failed shard).
            started = shard.generation > before
            if started and shard.status == "failed":
                raise _sharding_error(f"respawn_shard: shard {shard.id} failed: {shard.failure}")
            if started and shard.terminal and shard.status != "ready":
                raise _sharding_error(
                    f"respawn_shard: shard {shard.id} stopped ({shard.last_error() or 'no error'})"
                )
            if self._stopping:
                raise _sharding_error("respawn_shard: the manager is stopping")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise _sharding_error(
                    f"respawn_shard: shard {shard.id} did not become READY in time "
                    f"({shard.last_error() or shard.status})"
                )
            await self._wait_change(min(0.25, remaining))

    async def restart_shards(
        self, options: Mapping[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        """Rolling restart with session hand-over: ``options`` ``{batch, shards}``; see
        :meth:`ezlang.sharding.handover.Restarter.restart_shards`."""
        self.require_spawned("restart_shards")
        if self._stopping:
            raise _sharding_error("restart_shards: the manager is stopping")
        return await self.restarter.restart_shards(options)

    def restart_on_sighup(self) -> bool:
        """Run :meth:`restart_shards` when the process gets SIGHUP; False where impossible."""
        return self.restarter.on_sighup()

    async def stop(self, keep_sessions: bool = False) -> None:
        """Close every shard cleanly; returns when all processes are gone (idempotent).

        ``keep_sessions``: drop the gateway connections without ending their sessions and
        keep them in the session file, so that a manager started within ``resume_window``
        RESUMEs every shard. Otherwise each session is closed with 1000 (ended) and forgotten.
        """
        if self._stopping:
            await self._stopped.wait()
            return
        self._stopping = True
        count = len(self.shards)
        started = time.monotonic()
        if count:
            # A user pressing Ctrl-C sees that the shutdown happened, and how long it took.
            self.reporter.stopping(count)
        try:
            await self.monitor.stop()
            await self.restarter.stop()
            await asyncio.gather(
                *(s.stop(keep_session=keep_sessions) for s in self.shards.values())
            )
            if self._save_timer is not None:
                self._save_timer.cancel()
                self._save_timer = None
            if not keep_sessions:
                self.sessions.forget()
            if self._spawned:
                self._save_sessions()
                await self._save_redis_sessions()
            if count:
                self.reporter.stopped(count, time.monotonic() - started)
            background = list(self._background)
            for task in background:
                task.cancel()
            await asyncio.gather(*background, return_exceptions=True)
            if self.directory is not None and self.shards:
                await self._close_part(
                    "shard directory", self.directory.release(sorted(self.shards))
                )
            if self.remote is not None:
                await self._close_part("multi-host link", self.remote.close())
            if self.identify_queue is not None:
                await self._close_part("identify queue", self.identify_queue.close())
            if self.rest_grants is not None:
                await self._close_part("REST limiter", self.rest_grants.close())
            if self.zygote is not None:
                await self._close_part("shard fork server", self.zygote.close())
        finally:
            self._stopped.set()
            if ShardManager._live is self:
                ShardManager._live = None

    async def _close_part(self, what: str, closing: Awaitable[Any]) -> None:
        try:
            await closing
        except Exception as exc:  # one part failing to close must not keep the others open
            self.reporter.problem(f"could not close the {what}: {exc!r}")

    async def wait_stopped(self) -> None:
        """Return once :meth:`stop` has finished."""
        await self._stopped.wait()

    async def serve(self) -> None:
        """Spawn, supervise until SIGINT/SIGTERM, then stop every shard (for Python scripts);
        see :func:`ezlang.sharding.serving.serve`."""
        await serving.serve(self)
