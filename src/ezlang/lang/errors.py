"""EasyLang errors.

Every error a user can cause is an :class:`EzError` with a ``kind`` (one of :data:`KINDS`) and a
message. Builtins and extension layers raise ``EzError(kind, message)`` without a position; the
runtime finds the ``.ez`` position and call stack from the traceback (compiled EasyLang code
carries ``.ez`` file names, lines and columns). Syntax errors carry their position directly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

KINDS = (
    "SyntaxError", "NameError", "TypeError", "ValueError", "IndexError", "ArgumentError",
    "ImportError", "DiscordError", "ShardingError", "TimeoutError", "Error",
)


@dataclass(frozen=True, slots=True)
class SourcePos:
    """A position in EasyLang source: 1-based line and column."""

    file: str
    line: int
    col: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


class EzError(Exception):
    """An EasyLang error: ``kind`` and ``message``; ``pos``/``stack`` once known.

    ``value`` is the thrown EasyLang value for ``throw value`` (kind ``Error``).
    """

    def __init__(
        self,
        kind: str,
        message: str,
        *,
        pos: SourcePos | None = None,
        value: Any = None,
    ) -> None:
        if kind not in KINDS:
            raise ValueError(f"unknown EasyLang error kind {kind!r}")
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.pos = pos
        self.value = value
        # Filled in by the runtime: [(function name, SourcePos), ...] innermost last.
        self.stack: list[tuple[str, SourcePos]] = []

    def __str__(self) -> str:
        where = f" at {self.pos}" if self.pos else ""
        return f"{self.kind}: {self.message}{where}"


def ez_error(kind: str, message: str) -> EzError:
    """Shorthand for builtins: ``raise ez_error("TypeError", "...")``."""
    return EzError(kind, message)
