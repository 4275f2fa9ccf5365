"""REST limits shared by every shard of a bot: Discord's global limit and the invalid request limit.

Discord allows a bot ``50`` REST requests per second in all (the *global* limit, per token,
whatever process or machine sends them), and restricts an IP that gets ``10,000`` invalid
answers (401, 403, 429) within 10 minutes. Each shard process only sees its own requests, so
16 shards that each think they have 50/s get global 429s, and a storm of 429s counts towards
the IP restriction. Here the manager decides instead:

* **Shard side** (:func:`install`): an aiohttp trace on discord.py's HTTP session (the hook
  discord.py offers, ``HTTPClient.http_trace``) waits, before every REST request is sent, for a
  *grant* from the manager (a ``route`` call over the shard's IPC channel, op ``rest_grant``),
  and counts the answers: requests, 429s, global 429s, invalid answers. The gateway websocket
  and the interaction/webhook-token routes (not bound to the global limit) are not held.
* **Manager side** (:class:`RestGrants`): grants at most ``rest_global_rate`` requests per
  ``WINDOW`` (plus a margin for the trip to Discord) — through :class:`SlidingWindow` on one
  host, or Redis (:mod:`ezlang.sharding.redis.rest_limit`) when the bot runs on several, so
  all hosts share one window. It also sums the shards' invalid answers over 10 minutes
  (:class:`InvalidRequests`) and grants ever more slowly from half the limit on, stopping at
  95 % until old answers leave the window (the limit is per IP: per host, never shared).

A grant that reaches its shard late (a busy event loop) is not used: the shard asks again (up
to :data:`LATE_TRIES` times), so a request leaves within half the margin of its grant.
"""

from __future__ import annotations

import asyncio
import collections
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from ezlang.lang.errors import EzError

if TYPE_CHECKING:
    from ezlang.sharding.manager import ShardManager

#: The manager operation a shard asks for before each REST request.
GRANT_OP = "rest_grant"
ROUTED_OPS = (GRANT_OP,)
#: Discord's global limit counts requests per second.
WINDOW = 1.0
#: Extra seconds in the window: requests granted together may reach Discord a little apart.
MARGIN = 0.05
#: Discord's invalid request limit: answers per window of seconds.
INVALID_WINDOW = 600.0
#: Fractions of the invalid request limit: slow down from here, stop granting from here.
SLOW_FROM = 0.5
STOP_AT = 0.95
#: The slowest rate while slowing down, as a fraction of the global rate.
SLOWEST = 0.1
#: Seconds between the manager's "REST at the global limit" lines (only while requests wait).
REPORT_EVERY = 60.0
#: A grant that took longer than this waited for the limit (it was not just asked and given).
HELD = 0.01
#: Grants a shard asks for at most when each arrives too late (the last one is used anyway).
LATE_TRIES = 3
#: Seconds over which a shard's REST rate is measured (``rest_rate`` in its stats).
RATE_PERIOD = 10.0


class GlobalLimiter(Protocol):
    """Grants REST requests within the bot's global limit."""

    async def acquire(self) -> None:
        """Return when one more request may be sent (it is counted on return)."""
        ...

    async def close(self) -> None: ...


class SlidingWindow:
    """At most ``rate`` grants in any ``window + margin`` seconds, in the order asked (one host)."""

    def __init__(self, rate: int, window: float = WINDOW, margin: float = MARGIN) -> None:
        self.rate = rate
        self.span = window + margin
        self._times: collections.deque[float] = collections.deque()
        self._lock = asyncio.Lock()  # FIFO: a waiting shard is never overtaken

    def wait_time(self, now: float) -> float:
        """Seconds until a grant is possible (0: now); forgets grants that left the window."""
        times = self._times
        edge = now - self.span
        while times and times[0] <= edge:
            times.popleft()
        if len(times) < self.rate:
            return 0.0
        return times[0] + self.span - now

    async def acquire(self) -> None:
        async with self._lock:
            while True:
                now = time.monotonic()
                wait = self.wait_time(now)
                if wait <= 0:
                    self._times.append(now)
                    return
                await asyncio.sleep(wait)

    async def close(self) -> None:
        return None


class InvalidRequests:
    """Invalid answers (401, 403, 429) this host's shards got in the last ``window`` seconds."""

    def __init__(self, limit: int, window: float = INVALID_WINDOW, clock: Any = None) -> None:
        self.limit = limit
        self.window = window
        self._clock: Callable[[], float] = clock or time.monotonic
        self._counts: collections.deque[tuple[float, int]] = collections.deque()
        self._total = 0

    def add(self, count: int) -> None:
        if count > 0:
            self._counts.append((self._clock(), count))
            self._total += count

    @property
    def count(self) -> int:
        edge = self._clock() - self.window
        counts = self._counts
        while counts and counts[0][0] <= edge:
            self._total -= counts.popleft()[1]
        return self._total

    def pace(self) -> float:
        """The fraction of the global rate to grant now: 1 below half the limit, falling to
        :data:`SLOWEST` towards :data:`STOP_AT`, 0 from there on."""
        used = self.count / self.limit
        if used < SLOW_FROM:
            return 1.0
        if used >= STOP_AT:
            return 0.0
        return max(SLOWEST, 1.0 - (used - SLOW_FROM) / (STOP_AT - SLOW_FROM))

    def resume_in(self) -> float:
        """Seconds until the count falls below :data:`STOP_AT` of the limit (old answers leave)."""
        need = self._total - int(STOP_AT * self.limit) + 1
        for at, n in self._counts:
            need -= n
            if need <= 0:
                return max(0.0, at + self.window - self._clock())
        return 0.0


class RestGrants:
    """The manager's REST gate: global-limit grants plus the invalid-request brake."""

    def __init__(
        self,
        limiter: GlobalLimiter,
        rate: int,
        invalid_limit: int,
        warn: Callable[[str], None],
        note: Callable[[str], None] | None = None,
        report_every: float = REPORT_EVERY,
    ) -> None:
        self.limiter = limiter
        self.rate = rate
        self.invalid = InvalidRequests(invalid_limit)
        self.warn = warn
        self.note = note or warn
        self.report_every = report_every
        self.granted = 0
        # Since the last "at the limit" line: when it began, grants, grants that had to wait.
        self._period = (time.monotonic(), 0, 0, 0.0)
        self._last_slow = 0.0  # when the brake last granted (see _brake)
        self._level = 0  # 0 normal, 1 slowing down, 2 stopped: warned once per change

    async def grant(self, shard_id: int, invalid: int = 0) -> dict[str, Any]:
        """Wait until shard ``shard_id`` may send one REST request; note its invalid answers."""
        self.invalid.add(invalid)
        asked = time.monotonic()
        await self._brake()
        await self.limiter.acquire()
        now = time.monotonic()
        self.granted += 1
        self._count(now, now - asked)
        return {"at": now}

    def _count(self, now: float, waited: float) -> None:
        """Log the granted rate every ``report_every`` seconds while requests have to wait."""
        began, granted, held, longest = self._period
        granted += 1
        if waited > HELD:
            held += 1
            longest = max(longest, waited)
        if now - began < self.report_every:
            self._period = (began, granted, held, longest)
            return
        if held:
            self.note(
                f"REST at the global limit: {granted / (now - began):.1f} requests/s granted "
                f"over the last {now - began:.0f} s (limit {self.rate}/s); {held} waited, the "
                f"longest {longest:.2f} s"
            )
        self._period = (now, 0, 0, 0.0)

    async def _brake(self) -> None:
        while True:
            pace = self.invalid.pace()
            self._note_level(pace)
            if pace >= 1.0:
                return
            if pace <= 0.0:
                await asyncio.sleep(max(0.05, self.invalid.resume_in()))
                continue
            # Slowed down: one grant per 1 / (pace × rate) seconds across the host.
            gap = 1.0 / (pace * self.rate)
            now = time.monotonic()
            wait = self._last_slow + gap - now
            if wait <= 0:
                self._last_slow = now
                return
            await asyncio.sleep(wait)

    def _note_level(self, pace: float) -> None:
        level = 0 if pace >= 1.0 else 2 if pace <= 0.0 else 1
        if level == self._level:
            return
        self._level = level
        count, limit = self.invalid.count, self.invalid.limit
        if level == 2:
            self.warn(
                f"REST paused: the shards got {count} invalid answers (401/403/429) in 10 "
                f"minutes, near Discord's limit of {limit} per IP (past it Cloudflare blocks "
                "this machine for about an hour); requests wait until old answers expire"
            )
        elif level == 1:
            self.warn(
                f"REST slowed down: {count} invalid answers (401/403/429) in 10 minutes, over "
                f"half of Discord's limit of {limit} per IP; fix what is refused (see the "
                "errors above) — requests are granted more slowly until the count falls"
            )
        else:
            self.warn("REST back to the full rate: invalid answers are well below the limit")

    def snapshot(self) -> dict[str, Any]:
        """The manager's view for its stats and logs."""
        return {
            "rest_global_rate": self.rate,
            "rest_granted": self.granted,
            "invalid_requests_10min": self.invalid.count,
        }

    async def close(self) -> None:
        await self.limiter.close()


def make_grants(manager: ShardManager) -> RestGrants:
    """The manager's :class:`RestGrants`, shared through Redis when the bot has ``redis``."""
    opts = manager.options
    limiter: GlobalLimiter
    if opts.redis:
        from ezlang.sharding.redis.rest_limit import RedisGlobalLimiter

        limiter = RedisGlobalLimiter(
            opts.redis, opts.token, opts.rest_global_rate, warn=manager.reporter.problem
        )
    else:
        limiter = SlidingWindow(opts.rest_global_rate)
    reporter = manager.reporter
    return RestGrants(
        limiter,
        opts.rest_global_rate,
        opts.rest_invalid_limit,
        reporter.problem,
        lambda message: reporter.notice(message, event="rest"),
    )


async def route(manager: ShardManager, from_shard: int, op: str, args: dict[str, Any]) -> Any:
    """A shard asks for a REST grant (``op`` is :data:`GRANT_OP`)."""
    grants = manager.rest_grants
    if grants is None:
        grants = manager.rest_grants = make_grants(manager)
    invalid = args.get("invalid", 0)
    return await grants.grant(from_shard, invalid if isinstance(invalid, int) else 0)


# --- inside a shard process ------------------------------------------------------------------


class ShardRest:
    """What one shard counts about its REST traffic (``get_shard_stats`` fields)."""

    def __init__(self) -> None:
        self.requests = 0
        self.rate_limited = 0  # 429s of any kind
        self.global_rate_limited = 0
        self.invalid = 0  # 401/403/429 (not "shared" 429s)
        self.unreported_invalid = 0  # not yet told to the manager
        self.wait_s = 0.0  # time spent waiting for grants
        self.regrants = 0  # grants that arrived too late to use
        self._recent: collections.deque[float] = collections.deque()

    def rate(self, now: float) -> float:
        recent = self._recent
        while recent and recent[0] <= now - RATE_PERIOD:
            recent.popleft()
        return round(len(recent) / RATE_PERIOD, 2)

    def snapshot(self) -> dict[str, Any]:
        return {
            "rest_rate": self.rate(time.monotonic()),
            "rest_global_429s": self.global_rate_limited,
            "rest_invalid": self.invalid,
            "rest_wait_s": round(self.wait_s, 3),
            "rest_late_grants": self.regrants,
        }


REST = ShardRest()


def _held(url: Any, base: str) -> bool:
    """Whether a request to ``url`` counts against the global limit."""
    text = str(url)
    if not text.startswith(base):
        return False  # the gateway websocket, a CDN download
    rest = text[len(base) :].split("?", 1)[0]
    # Interaction responses and webhook-token routes are not bound to the global limit;
    # /webhooks/{id} alone is the bot's own (authenticated) request.
    if rest.startswith("/interactions/"):
        return False
    return not (rest.startswith("/webhooks/") and rest.count("/") >= 3)


def install(agent: Any, client: Any) -> None:
    """Hold every REST request of ``client`` for a grant from the manager, and count answers.

    Uses discord.py's ``http_trace`` (one :class:`aiohttp.TraceConfig` on its session, made at
    login): its ``on_request_start`` is awaited before the request is sent, retries included.
    """
    http = getattr(client, "http", None)
    if http is None:
        return
    trace = http.http_trace
    if trace is None:
        import aiohttp

        trace = http.http_trace = aiohttp.TraceConfig()
    stats = REST

    async def on_start(session: Any, ctx: Any, params: Any) -> None:
        from discord.http import Route

        if not _held(params.url, Route.BASE):
            return
        started = time.monotonic()
        for attempt in range(LATE_TRIES):
            invalid, stats.unreported_invalid = stats.unreported_invalid, 0
            try:
                reply = await agent.route(GRANT_OP, {"invalid": invalid}, None)
            except EzError:
                stats.unreported_invalid += invalid
                raise
            at = reply.get("at") if isinstance(reply, dict) else None
            now = time.monotonic()
            # The same clock on one machine: a grant older than half the margin came too late.
            # Asked again a few times at most: a shard whose loop is always that slow must not
            # spend the whole bot's rate on grants it cannot use.
            if not isinstance(at, int | float) or now - at <= MARGIN / 2:
                break
            if attempt < LATE_TRIES - 1:
                stats.regrants += 1
        stats.wait_s += now - started
        ctx.held = True

    async def on_end(session: Any, ctx: Any, params: Any) -> None:
        if not getattr(ctx, "held", False):
            return
        status = params.response.status
        stats.requests += 1
        stats._recent.append(time.monotonic())
        if status == 429:
            stats.rate_limited += 1
            headers = params.response.headers
            if headers.get("X-RateLimit-Global") or headers.get("X-RateLimit-Scope") == "global":
                stats.global_rate_limited += 1
                print(
                    f"ezlang: warning: shard {agent.shard_id} got a global 429 from Discord "
                    f"({params.method} {params.url.path}) although the manager grants every "
                    "request: does another program use this bot token?",
                    file=sys.stderr,
                    flush=True,
                )
            if headers.get("X-RateLimit-Scope") == "shared":
                return
        if status in (401, 403, 429):
            stats.invalid += 1
            stats.unreported_invalid += 1

    trace.on_request_start.append(on_start)
    trace.on_request_end.append(on_end)
