"""What a bot process counts about itself: gateway events by type, handler errors, REST calls.

One :data:`COUNTERS` per process (a process runs one bot). The counts are plain integers,
cheap enough to keep for every bot; a shard hands them to its manager with its stats
(``get_shard_stats``), and the manager turns them into Prometheus counters (see
``ezlang.sharding.metrics``). REST requests are counted by an aiohttp trace on discord.py's
HTTP session (:func:`trace_config`), so every request is seen, retries included.
"""

from __future__ import annotations

from typing import Any

import aiohttp


class BotCounters:
    """Monotonic counts since this process started."""

    __slots__ = ("events", "handler_errors", "rest_requests", "rest_429s", "resumes")

    def __init__(self) -> None:
        self.events: dict[str, int] = {}  # gateway dispatch type ("MESSAGE_CREATE") -> count
        self.handler_errors = 0
        self.rest_requests = 0
        self.rest_429s = 0
        self.resumes = 0

    def event(self, event_type: str) -> None:
        """One gateway dispatch of ``event_type`` arrived."""
        events = self.events
        events[event_type] = events.get(event_type, 0) + 1

    def snapshot(self) -> dict[str, Any]:
        """The counts as plain values (what a shard's stats carry)."""
        return {
            "events_received": sum(self.events.values()),
            "events_by_type": dict(self.events),
            "handler_errors": self.handler_errors,
            "rest_requests": self.rest_requests,
            "rest_429s": self.rest_429s,
            "resumes": self.resumes,
        }


COUNTERS = BotCounters()


async def _on_request_end(
    session: aiohttp.ClientSession, ctx: Any, params: aiohttp.TraceRequestEndParams
) -> None:
    status = params.response.status
    if status == 101:  # the gateway websocket upgrade is not a REST request
        return
    COUNTERS.rest_requests += 1
    if status == 429:
        COUNTERS.rest_429s += 1


def trace_config() -> aiohttp.TraceConfig:
    """An aiohttp trace that counts REST requests and 429 answers into :data:`COUNTERS`."""
    trace = aiohttp.TraceConfig()
    trace.on_request_end.append(_on_request_end)
    return trace
