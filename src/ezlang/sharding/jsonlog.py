"""Structured manager logs (option ``log_format: "json"``, ``--log-json``): one JSON object
per line on stderr, for log shippers (Loki, Elasticsearch, CloudWatch, …).

Every object has ``time`` (UTC, ISO 8601 with milliseconds), ``level`` (``info``,
``warning``, ``error``), ``shard`` (the shard id, or ``null`` for the manager itself), ``event``
(a stable name such as ``shard_ready``, ``shard_exited``, ``shard_failed``, ``stopping``,
``shard_stderr``) and ``message`` (the same text the plain format prints). What shards print on
stdout is program output and stays plain text on stdout.
"""

from __future__ import annotations

import datetime
import json
from typing import TextIO

from ezlang.sharding.progress import Reporter


def _now() -> str:
    now = datetime.datetime.now(datetime.UTC)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"


class JsonReporter(Reporter):
    """A :class:`Reporter` whose stderr lines are JSON objects (no progress bar)."""

    def __init__(self, progress: bool | None = None, out: TextIO | None = None) -> None:
        super().__init__(progress, out)
        self.fancy = False  # a log shipper wants one object per line, never a redrawn bar

    def record(self, level: str, message: str, shard: int | None, event: str) -> None:
        """Write one JSON object on stderr."""
        line = json.dumps(
            {"time": _now(), "level": level, "shard": shard, "event": event, "message": message},
            ensure_ascii=False,
        )
        self._emit(line, self.err)

    def _line(self, level: str, message: str, shard: int | None, event: str) -> None:
        self.record(level, message, shard, event)

    def child_line(self, line: str, is_err: bool = False, *, shard: int | None = None) -> None:
        if not is_err:
            self._emit(line, self.out)  # program output: plain text on stdout
            return
        # The "[shard N] " / "[zygote] " prefix is in the fields now, not in the message.
        message = line.split("] ", 1)[1] if line.startswith("[") and "] " in line else line
        self.record("warning", message, shard, "shard_stderr")
