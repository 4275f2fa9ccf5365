"""The manager's Prometheus endpoint (option ``metrics``, ``--metrics PORT``).

Every manager has its own ``CollectorRegistry`` (several managers may live in one process, in
tests), served at ``/metrics`` by a small aiohttp app on loopback by default. Per-shard values
are read at scrape time from the :class:`~ezlang.sharding.monitor.Monitor`, which asks the
shards for their stats first (the same IPC round as ``get_shard_stats``); the histograms are
fed as things happen. Names follow the Prometheus conventions: ``ezlang_`` prefix, seconds
and bytes as units, ``_total`` counters. With several hosts (option ``redis``) every series
also has a ``host`` label, so one Grafana panel can show the whole bot.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import psutil
from aiohttp import web
from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from ezlang.sharding.process import STATUSES

if TYPE_CHECKING:
    from ezlang.sharding.monitor import Monitor

#: broadcast_eval takes ~0.1 ms to seconds: buckets from 0.5 ms to 10 s.
EVAL_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
#: An IDENTIFY waits from nothing to minutes (many shards, one bucket).
IDENTIFY_BUCKETS = (0.01, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)


class ManagerMetrics:
    """The registry of one manager and the aiohttp app that serves it."""

    def __init__(self, monitor: Monitor) -> None:
        self.monitor = monitor
        manager = monitor.manager
        self.registry = CollectorRegistry(auto_describe=True)
        self.host: str | None = None
        if manager.options.redis is not None:
            # The directory (and so the host name) exists once spawn has asked the API; the
            # histograms get their host label at their first observation, which comes later.
            self.host = ""
        labels = ["host"] if self.host is not None else []
        self.eval_duration = Histogram(
            "ezlang_broadcast_eval_duration_seconds",
            "Time from a broadcast_eval call to the last shard's answer.",
            labels,
            buckets=EVAL_BUCKETS,
            registry=self.registry,
        )
        self.identify_wait = Histogram(
            "ezlang_identify_wait_seconds",
            "Time a shard waited in the identify queue for its IDENTIFY slot.",
            labels,
            buckets=IDENTIFY_BUCKETS,
            registry=self.registry,
        )
        self.registry.register(_ShardCollector(self))
        self._processes: dict[int, psutil.Process] = {}

    def observe_eval(self, seconds: float) -> None:
        """One ``broadcast_eval`` took ``seconds``."""
        hist = self.eval_duration
        (hist.labels(self._host()) if self.host is not None else hist).observe(seconds)

    def observe_identify(self, seconds: float) -> None:
        """One IDENTIFY waited ``seconds`` for its slot."""
        hist = self.identify_wait
        (hist.labels(self._host()) if self.host is not None else hist).observe(seconds)

    def _host(self) -> str:
        directory = self.monitor.manager.directory
        return str(getattr(directory, "host", "") or self.host or "")

    def rss(self, pid: int | None) -> int | None:
        """Resident memory of process ``pid`` in bytes (``None``: gone)."""
        if pid is None:
            return None
        proc = self._processes.get(pid)
        try:
            if proc is None:
                proc = self._processes[pid] = psutil.Process(pid)
                for old in [p for p in self._processes if p != pid and not psutil.pid_exists(p)]:
                    del self._processes[old]
            return int(proc.memory_info().rss)
        except psutil.Error:
            self._processes.pop(pid, None)
            return None

    def app(self) -> web.Application:
        """``GET /metrics`` in the Prometheus text format."""

        async def metrics(request: web.Request) -> web.Response:
            await self.monitor.refresh()
            body = generate_latest(self.registry)
            return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

        async def index(request: web.Request) -> web.Response:
            return web.Response(text="ezlang shard manager: the metrics are at /metrics\n")

        app = web.Application()
        app.router.add_get("/metrics", metrics)
        app.router.add_get("/", index)
        return app


class _ShardCollector:
    """Per-shard series, built at scrape time from the monitor's latest picture."""

    def __init__(self, metrics: ManagerMetrics) -> None:
        self.metrics = metrics

    def collect(self) -> Iterator[Metric]:
        metrics = self.metrics
        monitor = metrics.monitor
        manager = monitor.manager
        host = metrics._host() if metrics.host is not None else None
        names = ["shard"] + (["host"] if host is not None else [])

        def lv(shard_id: int, *more: str) -> list[str]:
            return [str(shard_id)] + ([host] if host is not None else []) + list(more)

        def gauge(name: str, doc: str, extra: tuple[str, ...] = ()) -> GaugeMetricFamily:
            return GaugeMetricFamily(name, doc, labels=names + list(extra))

        def counter(name: str, doc: str, extra: tuple[str, ...] = ()) -> CounterMetricFamily:
            return CounterMetricFamily(name, doc, labels=names + list(extra))

        up = gauge("ezlang_shard_up", "1 while the shard is READY.")
        status = gauge("ezlang_shard_status", "1 for the shard's current status.", ("status",))
        guilds = gauge("ezlang_shard_guilds", "Servers (guilds) the shard holds.")
        users = gauge("ezlang_shard_users", "Members of the shard's servers (member_count).")
        latency = gauge(
            "ezlang_shard_latency_seconds",
            "Gateway heartbeat round trip (absent until measured after READY).",
        )
        rss = gauge("ezlang_shard_resident_memory_bytes", "Resident memory of the shard process.")
        restarts = counter("ezlang_shard_restarts", "Times the shard's process was replaced.")
        identifies = counter("ezlang_shard_identifies", "IDENTIFY slots granted to the shard.")
        resumes = counter("ezlang_shard_resumes", "Sessions the shard resumed (RESUMED).")
        events = counter(
            "ezlang_shard_events_received", "Gateway events the shard received.", ("type",)
        )
        errors = counter("ezlang_shard_handler_errors", "Errors raised by the bot's handlers.")
        rest = counter("ezlang_shard_rest_requests", "REST requests the shard made.")
        limited = counter(
            "ezlang_shard_rest_ratelimited", "REST requests answered 429 Too Many Requests."
        )
        for shard_id, shard in sorted(manager.shards.items()):
            entry = monitor.entries.get(shard_id, {})
            up.add_metric(lv(shard_id), 1.0 if shard.status == "ready" else 0.0)
            for name in STATUSES:
                status.add_metric(lv(shard_id, name), 1.0 if shard.status == name else 0.0)
            if entry.get("guild_count") is not None:
                guilds.add_metric(lv(shard_id), float(entry["guild_count"]))
            if entry.get("user_count") is not None:
                users.add_metric(lv(shard_id), float(entry["user_count"]))
            if entry.get("ping") is not None and shard.status == "ready":
                latency.add_metric(lv(shard_id), entry["ping"] / 1000)
            memory = metrics.rss(shard.pid if shard.alive else None)
            if memory is not None:
                rss.add_metric(lv(shard_id), float(memory))
            restarts.add_metric(lv(shard_id), float(shard.restarts))
            identifies.add_metric(lv(shard_id), float(monitor.identifies.get(shard_id, 0)))
            totals = monitor.totals.get(shard_id)
            if totals is None:
                continue  # no stats answered yet: no counters rather than made-up zeros
            resumes.add_metric(lv(shard_id), float(totals.total("resumes")))
            errors.add_metric(lv(shard_id), float(totals.total("handler_errors")))
            rest.add_metric(lv(shard_id), float(totals.total("rest_requests")))
            limited.add_metric(lv(shard_id), float(totals.total("rest_429s")))
            for kind, count in sorted(totals.events().items()):
                events.add_metric(lv(shard_id, kind), float(count))
        depth = GaugeMetricFamily(
            "ezlang_identify_queue_depth",
            "IDENTIFYs waiting in the identify queue now.",
            labels=["host"] if host is not None else [],
        )
        depth.add_metric([host] if host is not None else [], float(monitor.identify_depth))
        yield from (up, status, guilds, users, latency, rss, restarts, identifies, resumes)
        yield from (events, errors, rest, limited, depth)

    def describe(self) -> list[Metric]:
        return []  # the families depend on the shards: collect() is the only description


__all__ = ["ManagerMetrics"]
