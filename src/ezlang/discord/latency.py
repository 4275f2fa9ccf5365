"""Honest gateway latency: only a heartbeat sent after READY counts.

discord.py sends its first heartbeat as soon as the gateway says HELLO, before IDENTIFY. A
shard then waits for its identify slot and reads the whole GUILD_CREATE flood before it reads
that heartbeat's ACK, so ``client.latency`` reads several seconds right after startup. Here a
heartbeat is marked when it is sent with a session already established (READY, or a RESUME
of one), and only the ACK of such a heartbeat gives a latency: until then there is none
(``None``; ``client.ws.ping`` says -1, like discord.js before its first heartbeat).
"""

from __future__ import annotations

import math
import time
from typing import Any

_installed = False


def install() -> None:
    """Mark heartbeats and record honest latencies (patches discord.py once per process)."""
    global _installed
    if _installed:
        return
    _installed = True
    from discord.gateway import KeepAliveHandler

    get_payload = KeepAliveHandler.get_payload
    ack = KeepAliveHandler.ack

    def marked_payload(self: Any) -> dict[str, Any]:
        # Every heartbeat (timed, on HELLO, or asked for by op 1) is built here, just before
        # it is sent: remember when, and whether the session existed then.
        self.ez_after_ready = getattr(self.ws, "session_id", None) is not None
        self.ez_sent_at = time.perf_counter()
        return get_payload(self)

    def honest_ack(self: Any) -> None:
        ack(self)
        # Timed from our own mark: discord.py's heartbeat thread sets ``_last_send`` only after
        # the send completes, so on a fast link the ACK can arrive first and its ``latency``
        # then spans a whole heartbeat interval.
        sent = getattr(self, "ez_sent_at", None)
        if getattr(self, "ez_after_ready", False) and sent is not None:
            rtt = self._last_ack - sent
            if math.isfinite(rtt) and rtt >= 0:
                self.ez_latency = rtt

    KeepAliveHandler.get_payload = marked_payload  # type: ignore[method-assign]
    KeepAliveHandler.ack = honest_ack  # type: ignore[method-assign]


def measured_latency(client: Any) -> float | None:
    """Seconds of the last heartbeat round trip measured after READY, or ``None``.

    For a client with several shards in one process (``AutoShardedClient``): the average
    over the shards that have a measurement, as discord.py's ``latency`` averages them.
    """
    shards = getattr(client, "shards", None)
    if isinstance(shards, dict):
        values = [_of(getattr(getattr(i, "_parent", None), "ws", None)) for i in shards.values()]
        measured = [v for v in values if v is not None]
        return sum(measured) / len(measured) if measured else None
    return _of(getattr(client, "ws", None))


def _of(ws: Any) -> float | None:
    value = getattr(getattr(ws, "_keep_alive", None), "ez_latency", None)
    return value if isinstance(value, float) else None
