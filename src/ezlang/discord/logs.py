"""discord.py's (and ezlang's) log lines on stderr: one short line each, unless --debug."""

from __future__ import annotations

import logging
import os
import sys
from typing import Any


class _ShortLogFormatter(logging.Formatter):
    def __init__(self, prefix: str, debug: bool) -> None:
        super().__init__(prefix + "%(message)s")
        self.debug = debug

    def formatException(self, ei: Any) -> str:  # noqa: N802 - logging's API
        # Reconnect warnings carry tracebacks; beginners need the one line, --debug shows all.
        if self.debug:
            return super().formatException(ei)
        exc = ei[1]
        return f"  ({type(exc).__name__}: {exc})" if exc is not None else ""


def install_discord_logging(debug: bool) -> None:
    """Show discord.py's (and our) warnings as short lines on stderr, unless logging is set up."""
    if logging.getLogger().handlers:
        return
    for name, prefix in (("discord", "discord.py: "), ("ezlang.discord", "ezlang: ")):
        logger = logging.getLogger(name)
        if logger.handlers:
            continue
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(_ShortLogFormatter(prefix, debug))
        logger.addHandler(handler)
        verbose = debug and os.environ.get("EZLANG_DISCORD_DEBUG")
        logger.setLevel(logging.DEBUG if verbose else logging.WARNING)
        logger.propagate = False
