"""Discord's rate limits, as the sandbox enforces them.

- :class:`IdentifyLimiter` — the gateway's session-start rules: at most one IDENTIFY
  per bucket (``shard_id % max_concurrency``) per window, counted from the moment the
  server *receives* the IDENTIFY, and a daily ``session_start_limit``.
- :class:`RestLimiter` — per-route REST buckets with Discord's ``X-RateLimit-*``
  headers (e.g. 5 messages per 5 s per channel), the global limit per bot token (50
  requests per second), plus forced 429s for fault injection.
- :class:`InvalidRequestLimiter` — Discord's invalid request limit ("Cloudflare bans"): an IP
  whose requests end in 401, 403 or 429 (except 429s of a ``shared`` scope) 10,000 times in
  10 minutes is refused by the edge for a while, with a plain-text 429 that is not Discord's.
"""

from __future__ import annotations

import collections
import time
import zlib
from dataclasses import dataclass, field
from typing import Any


@dataclass
class IdentifyRecord:
    """One IDENTIFY the server accepted or refused."""

    shard: tuple[int, int]
    at: float  # wall clock (time.time()) of receipt
    accepted: bool
    reason: str | None = None  # why refused: "too_early" or "session_start_limit"


@dataclass
class IdentifyLimiter:
    """Session-start accounting: concurrency buckets, violations and the daily total."""

    max_concurrency: int = 1
    window: float = 5.0
    total: int = 1000
    reset_after_ms: int = 86_400_000
    remaining: int = field(init=False)
    violations: int = field(default=0, init=False)
    exhausted: int = field(default=0, init=False)  # refused: session_start_limit spent
    records: list[IdentifyRecord] = field(default_factory=list, init=False)
    # bucket -> monotonic time of the last accepted IDENTIFY in it
    _last: dict[int, float] = field(default_factory=dict, init=False)
    _created: float = field(default_factory=time.monotonic, init=False)

    def __post_init__(self) -> None:
        self.remaining = self.total

    def bucket(self, shard_id: int) -> int:
        """Discord's bucket: ``shard_id % max_concurrency``."""
        return shard_id % self.max_concurrency

    def try_identify(self, shard: tuple[int, int], received_at: float) -> bool:
        """Account for an IDENTIFY received at ``received_at`` (monotonic).

        Returns True when it may proceed; False when it came too early for its bucket
        (a violation) or the daily limit is spent; the caller then answers op 9.
        """
        bucket = self.bucket(shard[0])
        last = self._last.get(bucket)
        wall = time.time()
        if last is not None and received_at - last < self.window:
            self.violations += 1
            self.records.append(IdentifyRecord(shard, wall, False, "too_early"))
            return False
        if self.remaining <= 0:
            # Not a concurrency violation: the daily budget is spent (on Discord, this is
            # where the token gets reset).
            self.exhausted += 1
            self.records.append(IdentifyRecord(shard, wall, False, "session_start_limit"))
            return False
        self._last[bucket] = received_at
        self.remaining -= 1
        self.records.append(IdentifyRecord(shard, wall, True))
        return True

    def session_start_limit(self) -> dict[str, int]:
        """The ``session_start_limit`` object of ``GET /gateway/bot``."""
        elapsed_ms = int((time.monotonic() - self._created) * 1000)
        return {
            "total": self.total,
            "remaining": self.remaining,
            "reset_after": max(0, self.reset_after_ms - elapsed_ms),
            "max_concurrency": self.max_concurrency,
        }


@dataclass
class _Bucket:
    limit: int
    per: float
    remaining: int
    reset_at: float  # monotonic


@dataclass(frozen=True)
class RestDecision:
    """What the limiter says about one request: allowed or 429, and the headers to send."""

    allowed: bool
    headers: dict[str, str]
    retry_after: float = 0.0
    is_global: bool = False


class RestLimiter:
    """Per-route REST buckets (Discord-style headers) and injected 429s."""

    def __init__(
        self, *, enabled: bool = True, global_limit: int | None = None, clock: Any = None
    ) -> None:
        self.enabled = enabled
        self.global_limit = global_limit
        self._clock = clock or time.monotonic
        self._buckets: dict[tuple[str, str], _Bucket] = {}
        self._global: _Bucket | None = None
        self._forced: list[tuple[float, bool]] = []  # (retry_after, global) per forced 429
        self.rejected = 0
        self.global_rejected = 0  # the 429s with ``global: true`` among them

    def force(self, count: int, retry_after: float, is_global: bool = False) -> None:
        """Answer the next ``count`` REST requests with 429 (fault injection)."""
        self._forced.extend([(retry_after, is_global)] * count)

    def check(self, route: str, major: str, limit: int, per: float) -> RestDecision:
        """Spend one request of bucket ``(route, major)`` (``limit`` per ``per`` seconds)."""
        now = self._clock()
        bucket_hash = f"{zlib.crc32(route.encode()):08x}"  # stable across runs
        if self._forced:
            retry_after, is_global = self._forced.pop(0)
            self.rejected += 1
            self.global_rejected += is_global
            headers = {
                "X-RateLimit-Limit": str(limit),
                "X-RateLimit-Remaining": "0",
                "X-RateLimit-Reset": f"{time.time() + retry_after:.3f}",
                "X-RateLimit-Reset-After": f"{retry_after:.3f}",
                "X-RateLimit-Bucket": bucket_hash,
                "Retry-After": str(max(1, int(retry_after + 0.999))),
                "X-RateLimit-Scope": "global" if is_global else "user",
            }
            if is_global:
                headers["X-RateLimit-Global"] = "true"
            return RestDecision(False, headers, retry_after, is_global)
        if not self.enabled:
            return RestDecision(True, {})
        if self.global_limit is not None:
            g = self._global
            if g is None or now >= g.reset_at:
                g = self._global = _Bucket(self.global_limit, 1.0, self.global_limit, now + 1.0)
            if g.remaining <= 0:
                retry = g.reset_at - now
                self.rejected += 1
                self.global_rejected += 1
                return RestDecision(
                    False,
                    {
                        "X-RateLimit-Global": "true",
                        "X-RateLimit-Scope": "global",
                        "Retry-After": str(max(1, int(retry + 0.999))),
                    },
                    retry,
                    True,
                )
            g.remaining -= 1
        key = (route, major)
        b = self._buckets.get(key)
        if b is None or now >= b.reset_at:
            b = self._buckets[key] = _Bucket(limit, per, limit, now + per)
        reset_after = max(0.0, b.reset_at - now)
        headers = {
            "X-RateLimit-Limit": str(b.limit),
            "X-RateLimit-Reset": f"{time.time() + reset_after:.3f}",
            "X-RateLimit-Reset-After": f"{reset_after:.3f}",
            "X-RateLimit-Bucket": bucket_hash,
        }
        if b.remaining <= 0:
            self.rejected += 1
            headers["X-RateLimit-Remaining"] = "0"
            headers["X-RateLimit-Scope"] = "user"
            headers["Retry-After"] = str(max(1, int(reset_after + 0.999)))
            return RestDecision(False, headers, reset_after, False)
        b.remaining -= 1
        headers["X-RateLimit-Remaining"] = str(b.remaining)
        return RestDecision(True, headers)


#: What Cloudflare answers an IP it restricts (plain text, no ``Via`` header: not Discord's).
CLOUDFLARE_BODY = "error code: 1015"


class InvalidRequestLimiter:
    """Discord's invalid request limit: ``limit`` invalid answers per ``window`` seconds.

    An invalid answer is a 401, 403 or 429 (a 429 with ``X-RateLimit-Scope: shared`` does
    not count). Past the limit every request is refused for ``ban`` seconds.
    """

    def __init__(
        self,
        limit: int = 10_000,
        window: float = 600.0,
        ban: float = 3600.0,
        clock: Any = None,
    ) -> None:
        self.limit = limit
        self.window = window
        self.ban = ban
        self._clock = clock or time.monotonic
        self._times: collections.deque[float] = collections.deque()
        self.banned_until = 0.0
        self.refused = 0  # requests refused while banned

    def _expire(self, now: float) -> None:
        edge = now - self.window
        times = self._times
        while times and times[0] <= edge:
            times.popleft()

    @property
    def count(self) -> int:
        """Invalid answers within the last ``window`` seconds."""
        self._expire(self._clock())
        return len(self._times)

    def banned(self) -> float:
        """Seconds left of the current restriction (0: none)."""
        left = self.banned_until - self._clock()
        return left if left > 0 else 0.0

    def note(self, status: int, scope: str | None = None) -> None:
        """Count an answer of ``status``; the limit-th invalid one starts the restriction."""
        if status not in (401, 403, 429) or (status == 429 and scope == "shared"):
            return
        now = self._clock()
        self._expire(now)
        self._times.append(now)
        if len(self._times) >= self.limit and self.banned_until <= now:
            self.banned_until = now + self.ban
