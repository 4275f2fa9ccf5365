"""What the manager prints: spawn progress, supervision notices, and forwarded shard output.

Progress and notices go to stderr; forwarded shard output keeps its stream. On a terminal
``spawn_shards()`` shows a rich progress bar (shards ready, the next identify
slot); otherwise it prints one plain line per shard, which reads well in logs and CI. Lines
from shards are forwarded with their ``[shard N]`` prefix by :class:`Reporter.child_line`.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any, TextIO


class Reporter:
    """The manager's output; one per manager."""

    def __init__(self, progress: bool | None = None, out: TextIO | None = None) -> None:
        self.out = out or sys.stdout
        self.err = sys.stderr if out is None else out
        # Progress is not program output: it goes to stderr, so `ezlang run manager.ez > out`
        # keeps only what the program (and its shards) print.
        tty = bool(getattr(self.err, "isatty", lambda: False)())
        self.fancy = tty if progress is None else (progress and tty)
        self.quiet = progress is False
        self._progress: Any = None
        self._task: Any = None
        self._total = 0
        self._ready: set[int] = set()
        self._started = 0.0
        self._next_slot: Callable[[], float] | None = None
        self._problems_seen: set[str] = set()
        self._display: Any = None  # the live table, while it is shown (ezlang.sharding.live)

    # --- lines ---------------------------------------------------------------------------------

    def _emit(self, text: str, out: TextIO) -> None:
        if self._progress is not None and out is self.err:
            self._progress.console.print(text, markup=False, highlight=False)
            return
        if self._display is not None:
            self._display.write_above(text, out)  # the live table stays below
            return
        try:
            out.write(text + "\n")
            out.flush()
        except (OSError, ValueError):  # a closed terminal must not take the manager down
            pass

    def attach_display(self, display: Any) -> None:
        """Lines go above ``display`` (the live table: ``write_above``) until detached."""
        self._display = display

    def child_line(self, line: str, is_err: bool = False, *, shard: int | None = None) -> None:
        """Forward one line of a shard's output (already prefixed): stdout or stderr."""
        self._emit(line, self.err if is_err else self.out)

    def _line(self, level: str, message: str, shard: int | None, event: str) -> None:
        # Every manager message comes through here (the JSON reporter writes it as an object).
        self._emit(f"[manager] {message}", self.err)

    def info(self, message: str, *, shard: int | None = None, event: str = "info") -> None:
        """A manager notice (suppressed with ``progress: false``)."""
        if not self.quiet:
            self._line("info", message, shard, event)

    def problem(
        self,
        message: str,
        *,
        shard: int | None = None,
        event: str = "problem",
        level: str = "warning",
    ) -> None:
        """Something the user must know about (always printed, on stderr)."""
        self._line(level, message, shard, event)

    def notice(self, message: str, *, event: str = "notice") -> None:
        """A manager event the user should see even with ``progress: false`` (on stderr, so
        it does not mix with the program's own output): shutdown, say."""
        self._line("info", message, None, event)

    def stopping(self, count: int) -> None:
        """The manager starts stopping its ``count`` shards (SIGINT/SIGTERM, stop_shards())."""
        self.notice(f"stopping {_shards(count)}…", event="stopping")

    def stopped(self, count: int, elapsed: float) -> None:
        """Every shard process is gone, ``elapsed`` seconds after :meth:`stopping`."""
        self.notice(f"all {_shards(count)} stopped in {elapsed:.1f} s", event="stopped")

    # --- spawn progress --------------------------------------------------------------------------

    def spawn_started(
        self, shard_ids: list[int], total: int, bound: float, next_slot: Callable[[], float]
    ) -> None:
        self._total = len(shard_ids)
        self._ready.clear()
        self._started = time.monotonic()
        self._next_slot = next_slot
        line = f"spawning {len(shard_ids)} of {total} shards (identify bound {bound:.1f} s)"
        if self.fancy:
            from rich.console import Console
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

            self._progress = Progress(
                TextColumn("[bold]shards"),
                BarColumn(),
                TextColumn("{task.completed}/{task.total} ready"),
                TimeElapsedColumn(),
                TextColumn("{task.fields[slot]}"),
                transient=False,
                # The bar lives on stderr; what the program prints stays on stdout.
                redirect_stdout=False,
                console=Console(file=self.err, force_terminal=True),
            )
            self._progress.start()
            self._task = self._progress.add_task("spawn", total=self._total, slot="")
            self._progress.console.print(f"[manager] {line}", markup=False, highlight=False)
        else:
            self.info(line, event="spawn_started")

    def shard_status(self, shard_id: int, status: str, pid: int | None) -> None:
        if self._progress is not None:
            if status == "ready":
                self._ready.add(shard_id)
            slot = self._next_slot() if self._next_slot else 0.0
            self._progress.update(
                self._task,
                completed=len(self._ready),
                slot=f"next identify in {slot:.1f} s" if slot > 0.05 else "",
            )
            return
        if status == "ready" and self._started and shard_id not in self._ready:
            self._ready.add(shard_id)
            elapsed = time.monotonic() - self._started
            self.info(
                f"shard {shard_id} ready (pid {pid}) — {len(self._ready)}/{self._total} "
                f"after {elapsed:.1f} s",
                shard=shard_id,
                event="shard_ready",
            )

    def spawn_finished(self, ok: bool) -> None:
        elapsed = time.monotonic() - self._started
        if self._progress is not None:
            self._progress.update(self._task, completed=len(self._ready), slot="")
            self._progress.stop()
            self._progress = None
        if ok:
            self.info(f"all {self._total} shards ready in {elapsed:.1f} s", event="spawn_finished")
        self._started = 0.0


def make_reporter(progress: bool | None, log_format: str = "text") -> Reporter:
    """The reporter for a manager's ``progress`` and ``log_format`` options."""
    if log_format == "json":
        from ezlang.sharding.jsonlog import JsonReporter

        return JsonReporter(progress)
    return Reporter(progress)


def stats_table(stats: list[dict[str, Any]]) -> str:
    """A plain-text table of ``get_shard_stats()`` rows (for logs and the example)."""
    head = ("shard", "status", "guilds", "users", "ping", "memory", "restarts", "pid")
    rows = [head]
    for s in stats:
        rows.append(
            (
                str(s.get("shard_id")),
                str(s.get("status")),
                str(s.get("guild_count", "-")),
                str(s.get("user_count", "-")),
                f"{s['ping']} ms" if s.get("ping") is not None else "-",
                f"{s['memory_mb']} MB" if s.get("memory_mb") is not None else "-",
                str(s.get("restarts", 0)),
                str(s.get("pid") or "-"),
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows)


def _shards(count: int) -> str:
    """ "1 shard", "5 shards"."""
    return f"{count} shard" if count == 1 else f"{count} shards"
