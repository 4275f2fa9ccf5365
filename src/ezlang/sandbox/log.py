"""The sandbox's activity log: one short line per thing that happens, on stderr.

``ezlang sandbox`` turns it on when stderr is a terminal (``--log``/``--no-log`` decide
otherwise); ``ezlang run --sandbox --log`` turns it on for the embedded sandbox. It shows
gateway connections, IDENTIFY/RESUME (with the shard), the messages users send in and the
bot sends out, reactions, and closes with their codes, so a beginner can see what their bot
did. Off, it costs one attribute test per event.
"""

from __future__ import annotations

from typing import TextIO

#: Gateway intent bits by name, for the IDENTIFY line.
INTENT_NAMES = {
    1 << 0: "guilds",
    1 << 1: "members",
    1 << 2: "moderation",
    1 << 8: "presences",
    1 << 9: "guild_messages",
    1 << 10: "guild_reactions",
    1 << 12: "dm_messages",
    1 << 13: "dm_reactions",
    1 << 15: "message_content",
}

#: Close codes in words (1000/1001 are the client's own clean closes).
CLOSE_NAMES = {
    1000: "normal close",
    1001: "going away",
    1006: "dropped",
    4000: "unknown error",
    4001: "unknown opcode",
    4002: "decode error",
    4003: "not authenticated",
    4004: "authentication failed: wrong token",
    4005: "already authenticated",
    4007: "invalid seq",
    4008: "rate limited",
    4009: "session timed out",
    4010: "invalid shard",
    4011: "sharding required",
    4012: "invalid API version",
    4013: "invalid intents",
    4014: "disallowed intents",
}

#: Message text longer than this is cut in the log (the full text is in the control API).
MAX_SHOWN = 80


class SandboxLog:
    """Writes ``sandbox: …`` lines to ``out``; does nothing when ``out`` is None."""

    def __init__(self, out: TextIO | None = None) -> None:
        self.out = out

    @property
    def enabled(self) -> bool:
        return self.out is not None

    def line(self, text: str) -> None:
        """Write one line (a closed or broken stream turns the log off, never the sandbox)."""
        out = self.out
        if out is None:
            return
        try:
            out.write(f"sandbox: {text}\n")
            out.flush()
        except (OSError, ValueError):
            self.out = None


def shard_text(shard: tuple[int, int] | list[int] | None) -> str:
    """``shard 0/2`` (shard id / shard count), or ``no shard`` for an unidentified connection."""
    if shard is None:
        return "no shard"
    return f"shard {shard[0]}/{shard[1]}"


def intents_text(intents: int) -> str:
    names = [name for bit, name in INTENT_NAMES.items() if intents & bit]
    return ", ".join(names) or "none"


def close_text(code: int | None) -> str:
    if code is None:
        return "without a close code"
    name = CLOSE_NAMES.get(code)
    return f"{code} ({name})" if name else str(code)


def quote(text: str) -> str:
    """Message text for one log line: newlines shown as ⏎, long text cut."""
    text = text.replace("\r", "").replace("\n", " ⏎ ")
    if len(text) > MAX_SHOWN:
        text = text[: MAX_SHOWN - 1] + "…"
    return f'"{text}"'
