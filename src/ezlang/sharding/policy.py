"""Supervision policy as data (in the spirit of an Erlang/OTP supervisor's restart intensity).

A crashed shard is restarted after a backoff that starts at ``base_delay`` and doubles up to
``max_delay``; the backoff resets once a shard has been READY for ``reset_after`` seconds. After
``max_restarts`` crashes within ``restart_window`` seconds the shard is ``failed`` and left
alone: a crash loop must never burn Discord's daily session-start budget (1000 IDENTIFYs), which
makes Discord reset the bot's token. Close codes in :data:`FATAL_CLOSE_CODES` mean that retrying
cannot help, so they are never retried.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

#: Gateway close codes that must not be retried, with what the user should do about them.
FATAL_CLOSE_CODES: dict[int, str] = {
    4004: "authentication failed: the token is wrong or was reset. Copy the token again from "
    "the Discord developer portal (Bot → Reset Token) and pass it as the 'token' option or "
    "DISCORD_TOKEN.",
    4010: "invalid shard: a shard id is not within [0, total_shards). Check 'total_shards' "
    "and 'shard_list'.",
    4011: "sharding required: a shard would hold more than 2500 servers. Use more shards "
    '(total_shards: "auto" asks Discord for the recommended count).',
    4012: "invalid API version: this ezlang is too old for the gateway; upgrade ezlang.",
    4013: "invalid intents: the intents value is not valid. Check set_intents() in the bot.",
    4014: "disallowed intents: the bot asks for a privileged intent (members, presences or "
    "message content) that is not enabled. Enable it in the developer portal (Bot → "
    "Privileged Gateway Intents) or stop requesting it.",
}


def explain_close_code(code: int) -> str:
    """A human explanation of a fatal gateway close code (or a generic line for others)."""
    return FATAL_CLOSE_CODES.get(code, f"the gateway closed the connection with code {code}")


@dataclass
class RestartPolicy:
    """When and whether to restart a shard that exited; one instance per shard."""

    max_restarts: int = 5
    restart_window: float = 3600.0
    base_delay: float = 1.0
    max_delay: float = 60.0
    reset_after: float = 60.0
    _crashes: deque[float] = field(default_factory=deque, repr=False)
    _consecutive: int = 0

    def record_ready_period(self, ready_seconds: float) -> None:
        """Tell the policy how long the shard that just exited had been READY.

        A shard that ran READY for ``reset_after`` seconds earned a fresh backoff.
        """
        if ready_seconds >= self.reset_after:
            self._consecutive = 0

    def record_crash(self, now: float) -> bool:
        """Count one crash at monotonic time ``now``; False when the shard must now be failed."""
        self._crashes.append(now)
        while self._crashes and now - self._crashes[0] > self.restart_window:
            self._crashes.popleft()
        self._consecutive += 1
        return len(self._crashes) <= self.max_restarts

    def next_delay(self, resumable: bool = False) -> float:
        """Seconds to wait before the next restart (after :meth:`record_crash`).

        ``resumable``: the replacement will RESUME the dead process's session. A first crash
        is then restarted at once — a RESUME spends no session start, and the events wait in
        Discord's replay buffer until it is back; a second crash in a row backs off as usual.
        """
        if self._consecutive <= 0 or (resumable and self._consecutive == 1):
            return 0.0
        return min(self.max_delay, self.base_delay * 2 ** (self._consecutive - 1))

    @property
    def crashes_in_window(self) -> int:
        """Crashes currently counted against ``max_restarts``."""
        return len(self._crashes)
