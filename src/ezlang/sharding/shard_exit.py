"""Leaving a shard process: bounded last steps, warnings on stderr, the exit itself, and the
watchdog thread that ends a shard whose manager is gone.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from typing import Any

from ezlang.lang.errors import EzError
from ezlang.sharding.pids import pid_alive


def warn(message: str) -> None:
    """Print an ``ezlang: warning:`` line on stderr."""
    # The shard's stderr reaches the manager's output, prefixed with the shard id.
    print(f"ezlang: warning: {message}", file=sys.stderr, flush=True)


async def bounded(coro: Any, timeout: float, what: str) -> None:
    """Run ``coro`` for at most ``timeout`` seconds on the way out; say on stderr if it failed
    or did not stop (never raises except when the caller itself is cancelled)."""
    task = asyncio.ensure_future(coro)
    try:
        # asyncio.wait, not wait_for: on Python 3.11 a wait_for() inside ``coro`` can swallow
        # the cancellation, and wait_for would then wait for it for ever.
        done, _ = await asyncio.wait([task], timeout=timeout)
        if not done:
            task.cancel()
            done, _ = await asyncio.wait([task], timeout=1.0)
            warn(f"{what} did not finish within {timeout:g} s" + ("" if done else "; left behind"))
            return
    except asyncio.CancelledError:
        task.cancel()
        raise
    if not task.cancelled() and task.exception() is not None:
        exc = task.exception()
        why = f"{exc.kind}: {exc.message}" if isinstance(exc, EzError) else f"{exc!r}"
        warn(f"{what} failed: {why}")


def flush_and_exit(code: int) -> None:
    """Flush stdout and stderr and end the process at once (no cleanup: it is over)."""
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):
        pass  # a closed or broken pipe: there is nowhere left to say anything
    os._exit(code)


def manager_alive(pid: int) -> bool:
    """True while the manager (process ``pid``) exists and is not a zombie."""
    return pid_alive(pid)


def orphan_watchdog(manager_pid: int) -> None:
    """End this shard once process ``manager_pid`` (its manager) is gone (a thread's target)."""
    # Runs in a thread so that it works even when the event loop is blocked by user code.
    while True:
        time.sleep(0.5)
        if not manager_alive(manager_pid):
            # Give the event loop a moment to notice end-of-file and close politely.
            time.sleep(3.0)
            flush_and_exit(0)
