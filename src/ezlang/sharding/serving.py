"""Running a shard manager as a service (``ShardManager.serve``): spawn, supervise until
SIGINT/SIGTERM, stop; which signal keeps the gateway sessions; SIGHUP restarts the shards."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ezlang.sharding.manager import ShardManager


def keep_sessions_on(signum: int | None) -> bool:
    """Whether stopping on signal ``signum`` keeps the gateway sessions: only SIGTERM does."""
    return signum == signal.SIGTERM


async def serve(manager: ShardManager) -> None:
    """Spawn, supervise until SIGINT/SIGTERM, then stop every shard (for Python scripts)."""
    loop = asyncio.get_running_loop()
    requested = asyncio.Event()
    received: list[int] = []
    installed = []

    def on_signal(sig: int) -> None:
        received.append(sig)
        requested.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, on_signal, sig)
            installed.append(sig)
    hup = manager.restart_on_sighup()
    spawn = asyncio.ensure_future(manager.spawn())
    stop_wait = asyncio.ensure_future(requested.wait())
    try:
        await asyncio.wait({spawn, stop_wait}, return_when=asyncio.FIRST_COMPLETED)
        if spawn.done():
            spawn.result()  # a failed spawn raises here
            await stop_wait
    finally:
        # Both are ours: end them before stopping. A spawn cut short by the stop request
        # has nothing left to report.
        spawn.cancel()
        stop_wait.cancel()
        await asyncio.gather(spawn, stop_wait, return_exceptions=True)
        # SIGTERM (a deploy, systemd, docker stop) keeps the sessions for the next start;
        # SIGINT (Ctrl-C) ends them (see docs/SHARDING.md, "Deploying without downtime").
        await manager.stop(keep_sessions=keep_sessions_on(received[0] if received else None))
        for sig in installed:
            loop.remove_signal_handler(sig)
        if hup:
            loop.remove_signal_handler(signal.SIGHUP)
