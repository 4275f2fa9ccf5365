"""The per-process run context: what one ``ezlang run`` knows besides the program.

One :class:`RunContext` is current while a program runs. It carries the ``NAME=value``
command-line arguments (for ``get_argument``), options set by the CLI for extension layers
(``api``: a Discord-compatible REST base such as a sandbox's; ``token``: the token that
``--sandbox`` supplies), the tasks that keep the process alive after the main script ends (a
connected bot, a supervising shard manager), and the shutdown hooks SIGINT/SIGTERM run.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class RunContext:
    main_file: Path | None = None
    arguments: dict[str, str] = field(default_factory=dict)
    debug: bool = False
    options: dict[str, Any] = field(default_factory=dict)
    keepalive: set[asyncio.Future[Any]] = field(default_factory=set)
    shutdown_hooks: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    #: Checks run when the program ends by itself (not on a signal or an error); one that
    #: raises reports what the program left undone (exit 1), e.g. handlers but no bot_start().
    end_checks: list[Callable[[], None]] = field(default_factory=list)
    #: The signal that asked the program to stop (SIGINT or SIGTERM), once one did; shutdown
    #: hooks may treat them differently (the shard manager keeps sessions on SIGTERM).
    stop_signal: int | None = None

    def keep_alive(self, fut: asyncio.Future[Any]) -> None:
        """Keep the process running (after the main script ends) until ``fut`` is done."""
        self.keepalive.add(fut)
        fut.add_done_callback(self._forget_unless_failed)

    def _forget_unless_failed(self, fut: asyncio.Future[Any]) -> None:
        # A failed future stays until the runner has reported its error (exit 1); if it
        # left the set on completion, a bot whose connection Discord refused would exit 0.
        if fut.cancelled() or fut.exception() is None:
            self.keepalive.discard(fut)

    def at_program_end(self, check: Callable[[], None]) -> None:
        """Run ``check()`` when the program ends by itself; an EzError it raises means exit 1."""
        self.end_checks.append(check)

    def on_shutdown(self, hook: Callable[[], Awaitable[None]]) -> None:
        """Run ``await hook()`` when the program is asked to stop (SIGINT/SIGTERM), newest first."""
        self.shutdown_hooks.append(hook)

    async def run_shutdown_hooks(self) -> None:
        hooks, self.shutdown_hooks = self.shutdown_hooks[::-1], []
        for hook in hooks:
            await hook()


_current = RunContext()


def current() -> RunContext:
    """The context of the program running in this process."""
    return _current


def set_current(ctx: RunContext) -> RunContext:
    """Make ``ctx`` current; returns the previous one."""
    global _current
    previous, _current = _current, ctx
    return previous
