"""The live terminal table (option ``live``): one table of every shard, updated in place.

Shown after ``spawn_shards()`` while the manager supervises, when stdout and stderr are a
terminal (``live: "auto"``, the default) or always (``live: true``). The table is drawn on
stderr with rich's ``Live``; every other line — manager messages, shard output, what the
program prints — is written above it on its own stream: the table is erased, the line written
to stdout or stderr, and the table drawn again below it. Without a terminal nothing changes:
plain lines, as before.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import sys
import time
from typing import TYPE_CHECKING, Any, TextIO

from rich.console import Console
from rich.live import Live
from rich.table import Table

if TYPE_CHECKING:
    from ezlang.sharding.monitor import Monitor

#: Seconds between two refreshes of the table (each asks the shards for their stats).
REFRESH = 1.0

_STYLE = {"ready": "green", "failed": "bold red", "dead": "red", "identifying": "yellow"}


def wanted(live: bool | None, quiet: bool, log_format: str) -> bool:
    """Whether to show the live table for the option ``live`` (``None``: auto)."""
    if live is not None:
        return live
    if quiet or log_format != "text":
        return False
    return all(bool(getattr(s, "isatty", lambda: False)()) for s in (sys.stdout, sys.stderr))


def render(monitor: Monitor) -> Table:
    """The table of every shard, as the monitor last saw them."""
    manager = monitor.manager
    ready = sum(1 for s in manager.shards.values() if s.status == "ready")
    table = Table(
        title=f"{ready}/{len(manager.shards)} shards ready",
        title_justify="left",
        caption=f"identify queue: {monitor.identify_depth} waiting · Ctrl-C stops every shard",
        caption_justify="left",
    )
    multi = any(row["host"] for row in monitor.shard_rows())
    columns = ["shard", *(["host"] if multi else []), "status", "guilds", "users", "ping"]
    for name in [*columns, "memory", "events/s", "restarts", "last exit"]:
        table.add_column(name, justify="right" if name not in ("status", "host") else "left")
    for row in monitor.shard_rows():
        status = str(row["status"])
        last = row["last_exit"]
        cells = [
            str(row["shard_id"]),
            *([str(row["host"] or "")] if multi else []),
            f"[{_STYLE.get(status, 'cyan')}]{status}[/]",
            _num(row["guilds"]),
            _num(row["users"]),
            f"{row['ping']} ms" if row["ping"] is not None else "—",
            f"{row['memory_mb']} MB" if row["memory_mb"] is not None else "—",
            f"{row['events_per_s']:.1f}",
            str(row["restarts"]),
            str(last["reason"]) if last else "—",
        ]
        table.add_row(*cells)
    return table


def _num(value: Any) -> str:
    return "—" if value is None else f"{value:,}"


class _Above(io.TextIOBase):
    """``sys.stdout`` while the table is shown: whole lines go above the table, to stdout."""

    def __init__(self, view: LiveView, real: TextIO) -> None:
        self.view = view
        self.real = real
        self.pending = ""

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return self.real.isatty()

    def write(self, text: str) -> int:
        self.pending += text
        while "\n" in self.pending:
            line, self.pending = self.pending.split("\n", 1)
            self.view.write_above(line, self.real)
        return len(text)

    def flush(self) -> None:
        if self.pending:
            line, self.pending = self.pending, ""
            self.view.write_above(line, self.real)


class LiveView:
    """The table, its refresh task, and the redirection of lines above it."""

    def __init__(self, monitor: Monitor) -> None:
        self.monitor = monitor
        self.err: TextIO = sys.stderr
        self.live = Live(
            render(monitor),
            console=Console(file=self.err, force_terminal=True),
            auto_refresh=False,
            redirect_stdout=False,
            redirect_stderr=False,
        )
        self._stdout: TextIO | None = None
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Show the table and keep it fresh (every :data:`REFRESH` seconds)."""
        self.live.start(refresh=True)
        self._stdout = sys.stdout
        sys.stdout = _Above(self, self._stdout)  # type: ignore[assignment]
        self.monitor.manager.reporter.attach_display(self)
        self._task = asyncio.get_running_loop().create_task(self._refresh_loop())

    async def _refresh_loop(self) -> None:
        while True:
            started = time.monotonic()
            try:
                await self.monitor.refresh(max_age=REFRESH / 2)
            except Exception as exc:  # the table must not die with a failed round
                self.write_above(f"[manager] live table: {exc!r}", self.err)
            self.live.update(render(self.monitor), refresh=True)
            await asyncio.sleep(max(0.05, REFRESH - (time.monotonic() - started)))

    def write_above(self, text: str, out: TextIO) -> None:
        """Write ``text`` as a line on ``out``, above the table."""
        live = self.live
        with live._lock:
            # Erase the table (cursor back to where it began), write the line, draw it again.
            live.console.control(live._live_render.position_cursor())
            live._live_render._shape = None
            try:
                out.write(text + "\n")
                out.flush()
            except (OSError, ValueError):
                pass  # a closed terminal must not take the manager down
            live.refresh()

    async def cleanup(self) -> None:
        """Stop refreshing, leave the last table on screen, give the streams back."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self.monitor.manager.reporter.attach_display(None)
        if self._stdout is not None:
            sys.stdout.flush()
            sys.stdout = self._stdout
            self._stdout = None
        self.live.stop()
