"""``ShardManager``: spawns, supervises and talks to the shard processes of one bot.

Python API (the EasyLang builtins are thin wrappers around it)::

    m = ShardManager("bot.ez", {"token": "...", "total_shards": 4})
    await m.spawn()                       # [{id, ready, pid, status}, ...] once all are READY
    await m.broadcast_eval("return client.guilds.cache.size")
    await m.fetch_client_values("guilds.cache.size")
    await m.respawn_shard(2)
    await m.stats()
    await m.stop()

Structure: every cross-shard operation goes through ONE method, :meth:`ShardManager.call_shard`,
which reaches a single shard (a local child through its IPC channel, or — with a multi-host
backend — a shard of another host through ``remote``); the aggregating operations
(``broadcast_eval``, ``fetch_client_values``, ``stats``) only fan out over it and order the
results. The identify queue and the shard directory are injected objects implementing
:mod:`ezlang.sharding.interfaces` (local ones by default, see :mod:`ezlang.sharding.backends`).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import math
import os
import signal
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

from ezlang.lang.errors import EzError
from ezlang.sharding import ipc
from ezlang.sharding.backends import (
    Backends,
    GatewayFacts,
    LocalShardDirectory,
    RemoteCaller,
    make_backends,
)
from ezlang.sharding.gateway import api_base, fetch_gateway_bot
from ezlang.sharding.identify import LocalIdentifyQueue
from ezlang.sharding.interfaces import IdentifyQueue, ShardDirectory
from ezlang.sharding.options import ShardOptions, parse_options
from ezlang.sharding.process import SCRUBBED_ENV, ShardProcess
from ezlang.sharding.progress import Reporter
from ezlang.sharding.zygote import Zygote

#: Set to 0 to start every shard as a fresh interpreter instead of forking it from a zygote.
ZYGOTE_ENV = "EZLANG_SHARD_ZYGOTE"

#: Operations ``call_shard`` handles in the manager that owns the shard (not in the child).
MANAGER_OPS = ("stats", "respawn")
#: Operations a shard may ask its manager to run for it (cross-shard calls from bot code).
ROUTABLE = ("broadcast_eval", "fetch_client_values", "stats")
#: Seconds ``stats`` waits for a shard before reporting it unreachable.
STATS_TIMEOUT = 2.0


def _sharding_error(message: str) -> EzError:
    return EzError("ShardingError", message)


def check_bot_syntax(path: Path) -> None:
    """Raise the bot file's ``SyntaxError`` (an ``EzError`` with its position), if it has one."""
    if path.suffix == ".py":
        try:
            compile(path.read_text(encoding="utf-8"), str(path), "exec")
        except SyntaxError as exc:
            raise EzError(
                "SyntaxError",
                f"{path.name} line {exc.lineno}: {exc.msg} (the bot file cannot start)",
            ) from None
        return
    from ezlang.lang import compile_file

    compile_file(str(path))


class _Gather:
    """The replies of one fan-out, filled in by the IPC reader's callbacks."""

    __slots__ = ("results", "errors", "answered", "missing", "waiter", "fail_fast")

    def __init__(self, ids: list[int], waiter: asyncio.Future[None], fail_fast: bool) -> None:
        self.results: list[Any] = [None] * len(ids)
        self.errors: dict[int, BaseException] = {}  # index -> the error of that shard
        self.answered = [False] * len(ids)
        self.missing = len(ids)
        self.waiter = waiter
        self.fail_fast = fail_fast

    def on_reply(self, index: int, ok: bool, value: Any) -> None:
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


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


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
        self.reporter = reporter or Reporter(self.options.progress)
        self.gateway: GatewayFacts | None = None
        self._token = self.options.token
        self._api_is_sandbox = False  # what GET /gateway/bot said (x_identify_window)
        self._changed = asyncio.Event()
        self._spawned = False
        self._stopping = False
        self._stopped = asyncio.Event()
        self._background: set[asyncio.Task[Any]] = set()
        self._spawn_timed_out: set[int] = set()
        self._in_spawn = False
        self.zygote: Zygote | None = None
        self._ids: list[int] = []

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

    def _spawn_bg(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _status_changed(self, shard: ShardProcess) -> None:
        self._changed.set()
        self.reporter.shard_status(shard.id, shard.status, shard.pid)
        if self.directory is not None:
            info = {"status": shard.status, "pid": shard.pid, "ready": shard.status == "ready"}
            if isinstance(self.directory, LocalShardDirectory):
                self.directory._entries.setdefault(shard.id, {"host": self.directory.host}).update(
                    info
                )
            else:
                self._spawn_bg(self._publish(shard.id, info))

    async def _publish(self, shard_id: int, info: dict[str, Any]) -> None:
        with contextlib.suppress(Exception):  # a directory hiccup must not hurt local shards
            assert self.directory is not None
            await self.directory.update(shard_id, info)

    async def _wait_change(self, timeout: float) -> None:
        self._changed.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._changed.wait(), timeout)

    # --- hooks used by ShardProcess ------------------------------------------------------------------

    def _hello(self, shard: ShardProcess) -> dict[str, Any]:
        return {
            "shard_id": shard.id,
            "shard_count": self.total_shards,
            "token": self._token,
            "api": self._api,
            "gateway": self.gateway.url if self.gateway else None,
            # With the gateway URL, the shard needs no GET /gateway/bot of its own.
            "sandbox": self._api_is_sandbox,
            "heartbeat_interval": self.options.heartbeat_interval,
            "eval_timeout": self.options.eval_timeout,
        }

    def _spawn_timeout(self, shard: ShardProcess) -> None:
        if not self._in_spawn:
            return  # after spawn_shards() returned, a slow start is just a crash to retry
        self._spawn_timed_out.add(shard.id)
        self._changed.set()

    async def _route(self, from_shard: int, data: Any) -> Any:
        """Run a cross-shard operation that bot code called inside shard ``from_shard``."""
        if not isinstance(data, dict) or data.get("op") not in ROUTABLE:
            raise _sharding_error(f"shard {from_shard} asked for an unknown operation")
        args: dict[str, Any] = data.get("args") or {}
        op = data["op"]
        if op == "broadcast_eval":
            return await self.broadcast_eval(
                args.get("code"),  # type: ignore[arg-type]
                shard=args.get("shard"),
                timeout=args.get("timeout"),
            )
        if op == "fetch_client_values":
            return await self.fetch_client_values(args.get("path"))  # type: ignore[arg-type]
        return await self.stats()

    # --- spawning ------------------------------------------------------------------------------------

    @property
    def _api(self) -> str:
        return api_base(self.options.api)

    async def _fetch_gateway(self) -> GatewayFacts:
        gw = await fetch_gateway_bot(self._api, self._token)
        self._api_is_sandbox = gw.sandbox
        opts = self.options
        total = opts.total_shards or gw.recommended_shards
        # Never faster than the API allows, whatever the options say.
        mc = min(opts.max_concurrency or gw.max_concurrency, gw.max_concurrency)
        window = max(opts.identify_window or gw.identify_window, gw.identify_window)
        return GatewayFacts(
            url=gw.url,
            recommended_shards=gw.recommended_shards,
            total_shards=total,
            max_concurrency=mc,
            identify_window=window,
            remaining=gw.remaining,
            reset_after_ms=gw.reset_after_ms,
        )

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
        # The fork server imports discord.py while we check the bot and talk to the API.
        zygote_start = asyncio.ensure_future(self._start_zygote())
        try:
            # A syntax error would make every shard crash at start: report it once, up front,
            # before a single session start is spent.
            check_bot_syntax(self.options.bot_file)
            gateway = await self._prepare()
        except BaseException:
            zygote_start.cancel()
            with contextlib.suppress(BaseException):
                await zygote_start
            raise
        self.zygote = await zygote_start
        return await self._launch_all(gateway)

    async def _start_zygote(self) -> Zygote | None:
        if os.environ.get(ZYGOTE_ENV, "1") == "0":
            return None
        env = {k: v for k, v in os.environ.items() if k not in SCRUBBED_ENV}
        return await Zygote.start(
            str(self.options.bot_file.parent),
            env,
            lambda line: self.reporter.child_line("[zygote] " + self.scrub(line), True),
        )

    async def _prepare(self) -> GatewayFacts:
        """Ask the API, check the budget, set up the backends: everything before any shard."""
        gateway = await self._fetch_gateway()
        opts = self.options
        if opts.shard_list is not None:
            bad = [i for i in opts.shard_list if i >= gateway.total_shards]
            if bad:
                raise EzError(
                    "ValueError",
                    f"option 'shard_list' has shard {bad[0]} outside [0, "
                    f"{gateway.total_shards}) (total_shards is {gateway.total_shards})",
                )
        if self.identify_queue is None or self.directory is None:
            backends = await make_backends(opts, gateway)
        else:
            backends = Backends(self.identify_queue, self.directory, self.remote)
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
        self.identify_queue = self.identify_queue or backends.identify_queue
        self.directory = self.directory or backends.directory
        self.remote = self.remote or backends.remote
        if isinstance(self.identify_queue, LocalIdentifyQueue):
            self.identify_queue.configure(gateway.max_concurrency, gateway.identify_window)
        self.gateway = gateway
        self.total_shards = gateway.total_shards
        ids = (
            list(opts.shard_list) if opts.shard_list is not None else list(range(self.total_shards))
        )
        if gateway.remaining < len(ids):
            hours = gateway.reset_after_ms / 3_600_000
            raise _sharding_error(
                f"Discord allows only {gateway.remaining} more session starts today and "
                f"{len(ids)} shards need one each; the budget resets in {hours:.1f} h. "
                "Starting anyway could get the bot's token reset, so no shard was started."
            )
        await self.directory.claim(ids)
        if self.remote is not None:
            await self.remote.start(self.call_shard)
        self._ids = ids
        return gateway

    async def _launch_all(self, gateway: GatewayFacts) -> list[dict[str, Any]]:
        ids = self._ids
        self._spawned = True
        ShardManager._live = self
        self.shards = {i: ShardProcess(self, i) for i in ids}
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
                    bad[s.id] = s.failure or s._exit_summary(
                        s.last_exit["code"] if s.last_exit else None
                    )
                elif s.id in self._spawn_timed_out:
                    bad[s.id] = s.spawn_timeout_reason or "did not become READY in time"
            if len(bad) == len(waiting):
                lines = []
                for shard_id in sorted(bad):
                    s = self.shards[shard_id]
                    detail = bad[shard_id]
                    close_code = (s.last_exit or {}).get("close_code")
                    if close_code and str(close_code) not in detail:
                        detail += f" [close code {close_code}]"
                    lines.append(f"  shard {shard_id} ({s.status}): {detail}")
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

    # --- the one path to a single shard ------------------------------------------------------------

    async def call_shard(
        self, shard_id: int, op: str, payload: Any = None, timeout: float | None = None
    ) -> Any:
        """Run ``op`` on shard ``shard_id`` (local child, or another host's through ``remote``).

        ``stats`` and ``respawn`` are answered by the shard's own manager; ``eval`` and
        ``fetch`` by the shard process. Errors name the shard.
        """
        shard = self.shards.get(shard_id)
        if shard is None:
            if self.remote is not None and 0 <= shard_id < self.total_shards:
                return await self.remote.call(shard_id, op, payload, timeout)
            raise self._unknown_shard(shard_id)
        if op == "stats":
            return await self._shard_stats(shard, timeout or STATS_TIMEOUT)
        if op == "respawn":
            return await self._respawn_local(shard)
        return await shard.call(op, payload, timeout)

    def _unknown_shard(self, shard_id: Any) -> EzError:
        ids = self._all_ids()
        shown = f"0..{ids[-1]}" if ids == list(range(len(ids))) and ids else str(ids)
        return EzError("ValueError", f"unknown shard {shard_id!r}; the shards are {shown}")

    def _all_ids(self) -> list[int]:
        if self.remote is not None and self.total_shards:
            return list(range(self.total_shards))
        return sorted(self.shards)

    def _require_spawned(self, what: str) -> None:
        if not self._spawned:
            raise _sharding_error(f"{what}: no shards yet — call spawn_shards() first")
        if self._stopped.is_set():
            raise _sharding_error(f"{what}: the shards were stopped (stop_shards())")

    @staticmethod
    def _shard_arg(value: Any, what: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise EzError("TypeError", f"{what}: the shard id must be a number, got {value!r}")
        if isinstance(value, float) and not value.is_integer():
            raise EzError("ValueError", f"{what}: the shard id must be a whole number")
        return int(value)

    @staticmethod
    def _timeout_arg(value: Any, default: float) -> float:
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise EzError(
                "TypeError", f"option 'timeout' must be a number of seconds, got {value!r}"
            )
        if not value > 0 or not math.isfinite(value):
            raise EzError(
                "ValueError", f"option 'timeout' must be a positive number, got {value!r}"
            )
        return float(value)

    # --- aggregating operations ---------------------------------------------------------------------

    async def _fan_out(self, what: str, op: str, payload: Any, timeout: float | None) -> list[Any]:
        ids = self._all_ids()
        if self.remote is None:
            return await self._fan_out_local(what, op, payload, timeout, ids)
        tasks = [asyncio.ensure_future(self.call_shard(i, op, payload, timeout)) for i in ids]
        try:
            # Fail fast: the first shard that fails or dies decides, the others are cancelled.
            await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        finally:
            for task in tasks:
                if not task.done():
                    task.cancel()
        for shard_id, task in zip(ids, tasks, strict=True):
            if task.done() and not task.cancelled() and task.exception() is not None:
                raise self._name_shard(what, shard_id, task.exception())  # type: ignore[arg-type]
        return [task.result() for task in tasks]

    async def _gather_local(
        self, op: str, payload: Any, timeout: float, ids: list[int], *, fail_fast: bool
    ) -> _Gather:
        """Ask every local shard in ``ids`` at once and collect the replies.

        The hot path of broadcast_eval: the payload is encoded once, each shard gets one
        write, and the replies are stored by the IPC reader's callback as they arrive — no
        future, task or timer per shard, one wake-up of the caller when the last reply (or,
        with ``fail_fast``, the first error) is in, or when ``timeout`` expires.
        """
        loop = asyncio.get_running_loop()
        gather = _Gather(ids, loop.create_future(), fail_fast)
        data_json = ipc.dumps(payload)
        sent: list[tuple[ipc.Channel, int]] = []
        try:
            for index, shard_id in enumerate(ids):
                try:
                    channel = self.shards[shard_id].running_channel()
                    rid = channel.send_request(
                        op, data_json, functools.partial(gather.on_reply, index)
                    )
                except (EzError, ipc.ChannelClosed) as exc:
                    gather.on_reply(index, False, exc)
                    if fail_fast:
                        break
                    continue
                sent.append((channel, rid))
            waiter = gather.waiter
            if not waiter.done():
                timer = loop.call_later(timeout, _wake, waiter)
                try:
                    await waiter
                finally:
                    timer.cancel()
        finally:
            for channel, rid in sent:
                channel.forget(rid)
        return gather

    async def _fan_out_local(
        self, what: str, op: str, payload: Any, timeout: float | None, ids: list[int]
    ) -> list[Any]:
        limit = self.options.eval_timeout if timeout is None else timeout
        gather = await self._gather_local(op, payload, limit, ids, fail_fast=True)
        if gather.errors:
            index = min(gather.errors)
            shard_id = ids[index]
            error = await self.shards[shard_id].call_error(op, gather.errors[index], limit)
            raise self._name_shard(what, shard_id, error)
        if gather.missing:
            shard_id = ids[gather.answered.index(False)]
            error = await self.shards[shard_id].call_error(op, TimeoutError(), limit)
            raise self._name_shard(what, shard_id, error)
        return gather.results

    @staticmethod
    def _name_shard(what: str, shard_id: int, exc: BaseException) -> EzError:
        if not isinstance(exc, EzError):
            return _sharding_error(
                f"{what} failed on shard {shard_id}: {type(exc).__name__}: {exc}"
            )
        if exc.message.startswith(f"shard {shard_id} "):
            return EzError(exc.kind, f"{what}: {exc.message}")
        return EzError(exc.kind, f"{what} failed on shard {shard_id}: {exc.message}")

    async def broadcast_eval(
        self, code: str, shard: int | None = None, timeout: float | None = None
    ) -> Any:
        """Run EasyLang ``code`` in every shard (or one) with ``client`` bound; results by id.

        ``code`` is a body with ``return`` or a bare expression. Never hangs: each shard gets
        ``timeout`` seconds (default ``eval_timeout``) and a shard that fails or dies raises an
        error naming it.
        """
        if not isinstance(code, str):
            raise EzError("TypeError", f"broadcast_eval: code must be a string, got {code!r}")
        if not code.strip():
            raise EzError("ValueError", "broadcast_eval: code must not be empty")
        limit = self._timeout_arg(timeout, self.options.eval_timeout)
        self._require_spawned("broadcast_eval")
        payload = {"code": code, "timeout": limit}
        # The child enforces the limit itself; the manager's own limit is a little longer so
        # the child's clearer message wins, while a frozen child still cannot hang the call.
        call_limit = limit + 0.25
        if shard is not None:
            shard_id = self._shard_arg(shard, "broadcast_eval")
            if shard_id not in self._all_ids():
                raise self._unknown_shard(shard_id)
            try:
                return await self.call_shard(shard_id, "eval", payload, call_limit)
            except Exception as exc:
                raise self._name_shard("broadcast_eval", shard_id, exc) from None
        return await self._fan_out("broadcast_eval", "eval", payload, call_limit)

    async def fetch_client_values(self, path: str) -> list[Any]:
        """The value of the client view's dotted ``path`` in every shard, ordered by shard id."""
        if not isinstance(path, str):
            raise EzError(
                "TypeError", f"fetch_client_values: the property must be a string, got {path!r}"
            )
        if not path.strip():
            raise EzError("ValueError", "fetch_client_values: the property must not be empty")
        self._require_spawned("fetch_client_values")
        try:
            return await self._fan_out(
                "fetch_client_values", "fetch", {"path": path}, self.options.eval_timeout
            )
        except EzError as exc:
            if exc.kind == "ValueError" and "unknown property" in exc.message:
                # The same on every shard: say it once, without a shard number.
                raise EzError("ValueError", exc.message.split(": ", 1)[-1]) from None
            raise

    async def _shard_stats(self, shard: ShardProcess, timeout: float) -> dict[str, Any]:
        try:
            child = await shard.call("stats", None, timeout)
        except EzError as exc:
            return self._stats_entry(shard, None, exc)
        return self._stats_entry(shard, child, None)

    @staticmethod
    def _stats_entry(
        shard: ShardProcess, child: dict[str, Any] | None, error: BaseException | None
    ) -> dict[str, Any]:
        """The shard's numbers from its process plus the manager's view of it."""
        snap = shard.snapshot()
        if child is None:
            message = error.message if isinstance(error, EzError) else str(error)
            return {
                "shard_id": shard.id,
                "ready": False,
                "status": snap["status"],
                "error": message,
                "pid": snap["pid"],
                "restarts": snap["restarts"],
                "last_exit": snap["last_exit"],
            }
        out = dict(child)
        out["shard_id"] = shard.id
        out["ready"] = bool(child.get("ready")) and snap["status"] == "ready"
        out.update(
            status=snap["status"],
            pid=snap["pid"],
            restarts=snap["restarts"],
            last_exit=snap["last_exit"],
        )
        return out

    async def _stats_local(self, ids: list[int]) -> list[dict[str, Any]]:
        # The same one-wait fan-out as broadcast_eval, without failing fast: a shard that
        # fails or is slow gets an error entry, the others are unaffected.
        gather = await self._gather_local("stats", None, STATS_TIMEOUT, ids, fail_fast=False)
        out = []
        for index, shard_id in enumerate(ids):
            shard = self.shards[shard_id]
            if gather.answered[index] and index not in gather.errors:
                out.append(self._stats_entry(shard, gather.results[index], None))
                continue
            failure = gather.errors.get(index) or TimeoutError()
            failure = await shard.call_error("stats", failure, STATS_TIMEOUT)
            out.append(self._stats_entry(shard, None, failure))
        return out

    async def stats(self) -> list[dict[str, Any]]:
        """One stats object per shard, gathered in parallel; unreachable shards say so."""
        self._require_spawned("get_shard_stats")
        ids = self._all_ids()
        if self.remote is None:
            return await self._stats_local(ids)
        results = await asyncio.gather(
            *(self.call_shard(i, "stats", None, STATS_TIMEOUT) for i in ids),
            return_exceptions=True,
        )
        out: list[dict[str, Any]] = []
        # Multi-host: every entry says which host runs the shard (remote errors carry `host`).
        here = getattr(self.directory, "host", None) if self.remote is not None else None
        for shard_id, result in zip(ids, results, strict=True):
            if isinstance(result, BaseException):
                message = result.message if isinstance(result, EzError) else str(result)
                entry = {
                    "shard_id": shard_id,
                    "ready": False,
                    "status": "unreachable",
                    "error": message,
                }
                if here is not None:
                    local = shard_id in self.shards
                    entry["host"] = here if local else getattr(result, "host", None)
                out.append(entry)
            else:
                if here is not None:
                    result.setdefault("host", here)
                out.append(result)
        return out

    # --- respawn and stop ----------------------------------------------------------------------------

    async def respawn_shard(self, shard_id: int) -> bool:
        """Replace shard ``shard_id``'s process; returns True once the new one is READY."""
        shard_id = self._shard_arg(shard_id, "respawn_shard")
        self._require_spawned("respawn_shard")
        if shard_id not in self._all_ids():
            raise self._unknown_shard(shard_id)
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

    async def stop(self) -> None:
        """Close every shard cleanly; returns when all processes are gone (idempotent)."""
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
            await asyncio.gather(*(s.stop() for s in self.shards.values()))
            if count:
                self.reporter.stopped(count, time.monotonic() - started)
            for task in list(self._background):
                task.cancel()
            with contextlib.suppress(Exception):
                if self.directory is not None and self.shards:
                    await self.directory.release(sorted(self.shards))
            with contextlib.suppress(Exception):
                if self.remote is not None:
                    await self.remote.close()
            with contextlib.suppress(Exception):
                if self.identify_queue is not None:
                    await self.identify_queue.close()
            if self.zygote is not None:
                with contextlib.suppress(Exception):
                    await self.zygote.close()
        finally:
            self._stopped.set()
            if ShardManager._live is self:
                ShardManager._live = None

    def kill_all(self) -> None:
        """SIGKILL every shard process now (last resort when the manager must exit at once)."""
        for shard in self.shards.values():
            shard.kill_now()

    async def wait_stopped(self) -> None:
        """Return once :meth:`stop` has finished."""
        await self._stopped.wait()

    async def serve(self) -> None:
        """Spawn, supervise until SIGINT/SIGTERM, then stop every shard (for Python scripts)."""
        loop = asyncio.get_running_loop()
        requested = asyncio.Event()
        installed = []
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(sig, requested.set)
                installed.append(sig)
        try:
            spawn = asyncio.ensure_future(self.spawn())
            stop_wait = asyncio.ensure_future(requested.wait())
            await asyncio.wait({spawn, stop_wait}, return_when=asyncio.FIRST_COMPLETED)
            if spawn.done():
                spawn.result()
                await stop_wait
            else:
                spawn.cancel()
                with contextlib.suppress(BaseException):
                    await spawn
            stop_wait.cancel()
        finally:
            await self.stop()
            for sig in installed:
                loop.remove_signal_handler(sig)
