"""Gateway sessions as data the manager owns: a shard is a session that outlives its process.

Every shard reports ``{session_id, seq, resume_gateway_url}`` over its IPC channel (see
:mod:`ezlang.sharding.resume`). The :class:`SessionStore` keeps the latest report per shard,
so that when a shard process dies (crash, ``kill -9``, killed for a blocked event loop) its
replacement can RESUME the session instead of IDENTIFYing: no identify slot, no session
start, and Discord replays the events sent while no process was connected.

A session is offered only while Discord would still accept it (:attr:`SessionStore.window`
seconds since the shard last reported it; Discord does not publish its limit, so the
default is deliberately short) and at most :data:`MAX_OFFERS` times, so a session a
replacement cannot resume (it crashes before RESUMED) does not hold up an IDENTIFY for
ever. A stale offer costs one op 9 ``INVALID_SESSION`` (``d: false``), after which the
shard IDENTIFYs through the identify queue as usual.

The store can persist itself (:meth:`SessionStore.save`, a private JSON file next to the
bot, or a Redis key when the manager uses Redis), so a manager stopped with SIGTERM and
started again within the window resumes every shard.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

#: How many replacement processes may be offered the same saved session.
MAX_OFFERS = 2


@dataclass
class SavedSession:
    """One shard's resumable gateway session."""

    session_id: str
    seq: int | None
    resume_gateway_url: str
    shard_count: int
    #: Wall-clock time (``time.time()``) of the shard's latest report: the connection was
    #: alive then, so Discord's resume window starts no earlier.
    seen_at: float
    offers: int = 0

    def public(self) -> dict[str, Any]:
        """What a shard process needs to RESUME (the ``resume`` of its configuration)."""
        return {
            "session_id": self.session_id,
            "seq": self.seq,
            "resume_gateway_url": self.resume_gateway_url,
        }


def _parse(data: Any, shard_count: int) -> SavedSession | None:
    """A shard's report as a session, or ``None`` (no session, or a malformed report)."""
    if not isinstance(data, dict):
        return None
    sid, url, seq = data.get("session_id"), data.get("resume_gateway_url"), data.get("seq")
    if not isinstance(sid, str) or not sid or not isinstance(url, str) or not url:
        return None
    if seq is not None and (type(seq) is not int or seq < 0):
        return None
    return SavedSession(sid, seq, url, shard_count, time.time())


class SessionStore:
    """The latest session of every shard of this manager, and the rule for resuming it."""

    def __init__(self, window: float, path: Path | None = None, scope: str = "") -> None:
        self.window = window
        self.path = path
        #: The API the sessions belong to; a file written for another API is ignored.
        self.scope = scope
        self.sessions: dict[int, SavedSession] = {}
        self.dirty = False

    # --- reports from the shards ---------------------------------------------------------------

    def report(self, shard_id: int, shard_count: int, data: Any) -> None:
        """Shard ``shard_id`` says where its session is now (``session_id: null``: none)."""
        new = _parse(data, shard_count)
        old = self.sessions.get(shard_id)
        if new is None:
            if old is not None:
                del self.sessions[shard_id]
                self.dirty = True
            return
        if old is not None and old.session_id == new.session_id:
            # The same session (the common case: a new seq); it is connected, so a later
            # replacement may be offered it again.
            old.seq, old.resume_gateway_url, old.seen_at = (
                new.seq,
                new.resume_gateway_url,
                new.seen_at,
            )
            old.offers = 0
        else:
            self.sessions[shard_id] = new
        self.dirty = True

    def forget(self, shard_id: int | None = None) -> None:
        """Drop shard ``shard_id``'s session (all with ``None``): it was ended."""
        if shard_id is None:
            self.dirty = self.dirty or bool(self.sessions)
            self.sessions.clear()
        elif self.sessions.pop(shard_id, None) is not None:
            self.dirty = True

    # --- resuming ------------------------------------------------------------------------------

    def resumable(self, shard_id: int, shard_count: int, now: float | None = None) -> bool:
        """Whether shard ``shard_id``'s saved session may still be resumed."""
        saved = self.sessions.get(shard_id)
        if saved is None or saved.shard_count != shard_count or saved.offers >= MAX_OFFERS:
            return False
        age = (time.time() if now is None else now) - saved.seen_at
        return 0 <= age < self.window

    def offer(self, shard_id: int, shard_count: int) -> dict[str, Any] | None:
        """The session a new process of shard ``shard_id`` should RESUME, or ``None`` to
        IDENTIFY. Each offer is counted (see :data:`MAX_OFFERS`)."""
        if not self.resumable(shard_id, shard_count):
            if shard_id in self.sessions:
                self.forget(shard_id)
            return None
        saved = self.sessions[shard_id]
        saved.offers += 1
        self.dirty = True
        return saved.public()

    # --- persistence ---------------------------------------------------------------------------

    def dump(self) -> str:
        """The sessions as JSON text (what :meth:`save` writes)."""
        return json.dumps(
            {
                "version": 1,
                "scope": self.scope,
                "sessions": {str(k): asdict(v) for k, v in self.sessions.items()},
            }
        )

    def dump_one(self, shard_id: int) -> str | None:
        """Shard ``shard_id``'s session alone, in the same form (``None``: it has none)."""
        saved = self.sessions.get(shard_id)
        if saved is None:
            return None
        return json.dumps(
            {"version": 1, "scope": self.scope, "sessions": {str(shard_id): asdict(saved)}}
        )

    def load_text(self, text: str | None) -> int:
        """Add the sessions of ``text`` (from :meth:`dump`); returns how many were read.

        Unreadable or foreign content is ignored: it only costs IDENTIFYs.
        """
        if not text:
            return 0
        try:
            data = json.loads(text)
            same = data.get("version") == 1 and data.get("scope") == self.scope
            rows = data["sessions"] if same else {}
            loaded = 0
            for key, row in rows.items():
                saved = SavedSession(
                    session_id=str(row["session_id"]),
                    seq=None if row["seq"] is None else int(row["seq"]),
                    resume_gateway_url=str(row["resume_gateway_url"]),
                    shard_count=int(row["shard_count"]),
                    seen_at=float(row["seen_at"]),
                    offers=int(row.get("offers", 0)),
                )
                self.sessions[int(key)] = saved
                loaded += 1
            return loaded
        except (ValueError, KeyError, TypeError, AttributeError):
            return 0

    def save(self) -> None:
        """Write the sessions to :attr:`path` (private, replaced atomically); no sessions
        removes the file."""
        self.dirty = False
        path = self.path
        if path is None:
            return
        if not self.sessions:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
            return
        tmp = path.with_name(path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(self.dump())
        os.replace(tmp, path)

    def load(self) -> int:
        """Read :attr:`path` if it exists; returns how many sessions were read."""
        if self.path is None:
            return 0
        try:
            text = self.path.read_text(encoding="utf-8")
        except (FileNotFoundError, OSError, UnicodeDecodeError):
            return 0
        return self.load_text(text)


def session_file(bot_file: Path) -> Path:
    """Where the sessions of the bot ``bot_file`` are kept: a hidden file beside it."""
    return bot_file.with_name(f".{bot_file.name}.sessions.json")
