"""What the manager knows about its shards over time: the one source of the metrics endpoint,
the web dashboard and the live terminal table.

The manager calls in at three points — an IDENTIFY waiting in the queue
(:meth:`Monitor.identify_wait`), a ``broadcast_eval`` (:meth:`Monitor.eval_done`), and its
start/stop — and the consumers read :meth:`Monitor.refresh`'s picture: every shard's stats
(the same fan-out as ``get_shard_stats``, at most once per ``max_age``), its counters summed
over all its processes, and its events per second. Nothing here runs unless a consumer is
configured (``metrics``, ``dashboard``, ``live``), except the identify bookkeeping, which costs
a few assignments per IDENTIFY.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ezlang.sharding.manager import ShardManager

#: Counters a shard reports in its stats (``ezlang.discord.counters``), summed across restarts.
SHARD_COUNTERS = ("handler_errors", "rest_requests", "rest_429s", "resumes")
#: How many IDENTIFYs the dashboard's timeline remembers.
TIMELINE = 200


class ShardTotals:
    """One shard's counters over all its processes: what earlier processes counted plus what
    the current one reports (a new process starts counting from zero)."""

    def __init__(self) -> None:
        self.base: dict[str, int] = {}
        self.base_events: dict[str, int] = {}
        self.current: dict[str, int] = {}
        self.current_events: dict[str, int] = {}
        self.generation = 0

    def update(self, generation: int, entry: dict[str, Any]) -> None:
        """Take a stats ``entry`` of the shard's process number ``generation``."""
        if generation != self.generation:
            for key, value in self.current.items():
                self.base[key] = self.base.get(key, 0) + value
            for key, value in self.current_events.items():
                self.base_events[key] = self.base_events.get(key, 0) + value
            self.current, self.current_events = {}, {}
            self.generation = generation
        self.current = {k: int(entry.get(k) or 0) for k in SHARD_COUNTERS}
        events = entry.get("events_by_type")
        if isinstance(events, dict):
            self.current_events = {str(k): int(v) for k, v in events.items()}

    def total(self, key: str) -> int:
        return self.base.get(key, 0) + self.current.get(key, 0)

    def events(self) -> dict[str, int]:
        out = dict(self.base_events)
        for key, value in self.current_events.items():
            out[key] = out.get(key, 0) + value
        return out


class Monitor:
    """The manager's observations (one per :class:`ShardManager`)."""

    def __init__(self, manager: ShardManager) -> None:
        self.manager = manager
        self.identify_depth = 0  # IDENTIFYs waiting in the queue right now
        self.identifies: dict[int, int] = {}  # shard id -> IDENTIFY permissions granted
        self.timeline: deque[dict[str, Any]] = deque(maxlen=TIMELINE)
        self.entries: dict[int, dict[str, Any]] = {}  # shard id -> last stats entry
        self.totals: dict[int, ShardTotals] = {}
        self.rates: dict[int, float] = {}  # shard id -> events per second (last interval)
        self._last_events: dict[int, tuple[float, int]] = {}
        self.refreshed_at = 0.0
        self._refreshing: asyncio.Future[None] | None = None
        self.metrics: Any = None  # ezlang.sharding.metrics.ManagerMetrics, when enabled
        self._parts: list[Any] = []  # started servers / views, stopped in reverse order
        self.metrics_url: str | None = None  # where they are served (port 0: the port taken)
        self.dashboard_url: str | None = None
        self.show_all = False  # ask other hosts' shards too (dashboard, live table)

    # --- hooks the manager and its shards call -------------------------------------------------

    @contextlib.asynccontextmanager
    async def identify_wait(self, shard_id: int) -> AsyncIterator[None]:
        """Around one shard's wait for its IDENTIFY slot."""
        requested = time.time()
        started = time.monotonic()
        self.identify_depth += 1
        row: dict[str, Any] = {"shard": shard_id, "requested": requested, "granted": None}
        self.timeline.append(row)
        try:
            yield
        finally:
            self.identify_depth -= 1
        # Only a granted slot gets here (a cancelled wait leaves the row without "granted").
        row["granted"] = time.time()
        self.identifies[shard_id] = self.identifies.get(shard_id, 0) + 1
        if self.metrics is not None:
            self.metrics.observe_identify(time.monotonic() - started)

    def eval_done(self, started: float) -> None:
        """A ``broadcast_eval`` that began at ``perf_counter()`` ``started`` has ended."""
        if self.metrics is not None:
            self.metrics.observe_eval(time.perf_counter() - started)

    # --- the picture ------------------------------------------------------------------------------

    async def refresh(self, max_age: float = 0.5) -> None:
        """Ask every shard for its stats unless the last answers are younger than ``max_age``
        (callers at the same moment share one round)."""
        if time.monotonic() - self.refreshed_at < max_age:
            return
        if self._refreshing is None or self._refreshing.done():
            # Owned here, not by the caller: a caller that goes away (a closed page) does not
            # cancel the round for the others, and stop() waits for it.
            self._refreshing = asyncio.ensure_future(self._refresh())
            self._refreshing.add_done_callback(_retrieve)
        await asyncio.shield(self._refreshing)

    async def _refresh(self) -> None:
        manager = self.manager
        if not manager.has_live_shards:
            return
        generations = {i: s.generation for i, s in manager.shards.items()}
        # The metrics export only this host's shards; the dashboard and the table show all.
        ids = manager.all_ids() if self.show_all else sorted(manager.shards)
        entries = await manager.stats_of(ids)
        now = time.monotonic()
        for entry in entries:
            shard_id = int(entry["shard_id"])
            self.entries[shard_id] = entry
            shard = manager.shards.get(shard_id)
            if shard is None or shard.generation != generations.get(shard_id):
                continue  # another host's shard, or restarted during the round
            if "events_received" in entry:
                self.totals.setdefault(shard_id, ShardTotals()).update(shard.generation, entry)
            self._rate(shard_id, now)
        self.refreshed_at = now

    def _rate(self, shard_id: int, now: float) -> None:
        events = sum(self.totals[shard_id].events().values()) if shard_id in self.totals else 0
        last = self._last_events.get(shard_id)
        if last is not None and now > last[0]:
            self.rates[shard_id] = max(0.0, (events - last[1]) / (now - last[0]))
        self._last_events[shard_id] = (now, events)

    def shard_rows(self) -> list[dict[str, Any]]:
        """One row per shard for the dashboard and the live table (plain values)."""
        manager = self.manager
        rows = []
        for shard_id in manager.all_ids():
            entry = self.entries.get(shard_id, {})
            shard = manager.shards.get(shard_id)
            row = {
                "shard_id": shard_id,
                "host": entry.get("host"),
                "status": shard.status if shard is not None else entry.get("status", "unknown"),
                "guilds": entry.get("guild_count"),
                "users": entry.get("user_count"),
                "ping": entry.get("ping"),
                "memory_mb": entry.get("memory_mb"),
                "restarts": shard.restarts if shard is not None else entry.get("restarts", 0),
                "last_exit": shard.last_exit if shard is not None else entry.get("last_exit"),
                "pid": shard.pid if shard is not None else entry.get("pid"),
                "events_per_s": round(self.rates.get(shard_id, 0.0), 2),
                "error": entry.get("error"),
            }
            rows.append(row)
        return rows

    def identify_view(self) -> dict[str, Any]:
        """The identify queue for the dashboard's timeline (times in ms since the epoch)."""
        queue = self.manager.identify_queue
        return {
            "max_concurrency": getattr(queue, "max_concurrency", None),
            "window": getattr(queue, "window", None),
            "depth": self.identify_depth,
            "timeline": [
                {
                    "shard": row["shard"],
                    "requested": round(row["requested"] * 1000),
                    "granted": round(row["granted"] * 1000) if row["granted"] else None,
                }
                for row in self.timeline
            ],
        }

    # --- the consumers ------------------------------------------------------------------------

    async def start(self) -> None:
        """Start what the options ask for: the metrics endpoint, the dashboard."""
        opts = self.manager.options
        reporter = self.manager.reporter
        if opts.metrics is not None:
            from ezlang.sharding.metrics import ManagerMetrics

            self.metrics = ManagerMetrics(self)
            url = await self._serve(self.metrics.app(), opts.metrics.host, opts.metrics.port)
            reporter.info(f"metrics on {url}/metrics", event="metrics")
            self.metrics_url = url + "/metrics"
        if opts.dashboard is not None:
            from ezlang.sharding.dashboard import dashboard_app

            board = opts.dashboard
            self.show_all = True
            url = await self._serve(dashboard_app(self, board.token), board.host, board.port)
            note = "" if board.token else " (actions off: no dashboard token)"
            reporter.info(f"dashboard on {url}/{note}", event="dashboard")
            self.dashboard_url = url + "/"

    def spawned(self) -> None:
        """``spawn_shards()`` returned: show the live table if the options want it."""
        from ezlang.sharding import live

        opts = self.manager.options
        if live.wanted(opts.live, self.manager.reporter.quiet, opts.log_format):
            self.show_all = True
            view = live.LiveView(self)
            view.start()
            self._parts.append(view)

    async def _serve(self, app: Any, host: str, port: int) -> str:
        from aiohttp import web

        from ezlang.lang.errors import EzError

        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        try:
            await site.start()
        except OSError as exc:
            await runner.cleanup()
            raise EzError(
                "ShardingError", f"cannot listen on {host}:{port}: {exc.strerror or exc}"
            ) from None
        self._parts.append(runner)
        bound = runner.addresses[0][1] if runner.addresses else port  # port 0: the one taken
        shown = f"[{host}]" if ":" in host else host
        return f"http://{shown}:{bound}"

    def add_part(self, part: Any) -> None:
        """Own ``part`` (anything with ``async cleanup()``): :meth:`stop` ends it."""
        self._parts.append(part)

    async def stop(self) -> None:
        """Stop every server and view (idempotent)."""
        parts, self._parts = self._parts, []
        for part in reversed(parts):
            try:
                await part.cleanup()
            except Exception as exc:  # one part failing to stop must not keep the others
                self.manager.reporter.problem(f"could not stop {part!r}: {exc!r}")
        # Nothing can ask for a new round now; the one in flight ends within STATS_TIMEOUT.
        if self._refreshing is not None and not self._refreshing.done():
            await asyncio.wait({self._refreshing})


def _retrieve(future: asyncio.Future[None]) -> None:
    # Every caller that waited for the round got its error already; nobody left is fine too.
    if not future.cancelled():
        future.exception()
