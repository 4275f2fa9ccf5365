"""The gateway's session model: a session, its replay buffer, and the table of sessions.

One :class:`Session` per successful IDENTIFY. A session outlives its connection (that
is what RESUME is for): every dispatch gets the session's next ``seq`` and is kept in a
bounded replay buffer, and goes out on the connection only while one is attached and
healthy. :class:`SessionTable` holds the live sessions and the rules for when one ends.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .gateway_protocol import SESSION_ENDING_CLOSES, frame
from .log import SandboxLog, close_text, shard_text

if TYPE_CHECKING:
    from .gateway_wire import Connection


# What a replay buffer keeps per dispatch: the payload JSON itself, or something much
# smaller that renders it again — a guild index (GUILD_CREATE, re-rendered from the world's
# cache) or the (head, id, tail) pieces of a load-generator message. A 100,000-guild world
# with every shard connected would otherwise hold every GUILD_CREATE twice.
BufferedData = str | int | tuple[str, str, str]


@dataclass(eq=False)
class Session:
    """A gateway session: what RESUME continues."""

    session_id: str
    shard: tuple[int, int]
    intents: int
    buffer_size: int
    render_guild: Callable[[int], str]
    seq: int = 0
    conn: Connection | None = None
    ended: bool = False
    buffer: deque[tuple[int, str, BufferedData]] = field(default_factory=deque)
    expiry: asyncio.TimerHandle | None = None
    #: Counters for the control API, so tests can prove "0 lost": dispatches replayed by
    #: RESUMEs, how many RESUMEs, and the highest seq a client heartbeat acknowledged.
    replayed: int = 0
    resumes: int = 0
    acked_seq: int = 0

    @property
    def status(self) -> str:
        """``connected``, ``zombie`` (connected but deaf) or ``disconnected`` (resumable)."""
        if self.conn is None or self.conn.closed:
            return "disconnected"
        return "zombie" if self.conn.zombie else "connected"

    def push(self, event: str, data: BufferedData, data_json: str | None = None) -> bool:
        """Give a dispatch the next seq, buffer it, send it if connected. True if sent.

        ``data`` is what the buffer keeps; ``data_json`` its JSON when ``data`` is not
        already the JSON string.
        """
        self.seq += 1
        buf = self.buffer
        buf.append((self.seq, event, data))
        if len(buf) > self.buffer_size:
            buf.popleft()
        conn = self.conn
        if conn is not None and not conn.closed and not conn.zombie:
            if data_json is None:
                data_json = self._render(data)
            conn.enqueue(frame(self.seq, event, data_json))
            return True
        return False

    def _render(self, data: BufferedData) -> str:
        if isinstance(data, str):
            return data
        if isinstance(data, int):
            return self.render_guild(data)
        head, mid, tail = data
        return f"{head}{mid}{tail}"

    def replay_from(self, seq: int) -> list[str] | None:
        """Frames after ``seq``, or None if ``seq`` is not resumable (lost or from the future)."""
        if seq > self.seq or seq < 0:
            return None
        if seq == self.seq:
            return []
        if not self.buffer or self.buffer[0][0] > seq + 1:
            return None
        return [frame(s, event, self._render(d)) for s, event, d in self.buffer if s > seq]


class SessionTable:
    """The live sessions, by id and by shard, and the rules for when one ends.

    A session ends when closed with a session-ending code or a client 1000/1001, or
    when no connection resumes it within ``resume_timeout`` seconds.
    """

    def __init__(self, resume_timeout: float) -> None:
        self.resume_timeout = resume_timeout
        self.sessions: dict[str, Session] = {}
        self.by_shard: dict[tuple[int, int], list[Session]] = {}
        self.close_log: list[dict[str, Any]] = []
        #: The activity log (``--log``); silent unless given a stream.
        self.log = SandboxLog()

    def _attach(self, conn: Connection, session: Session) -> None:
        if session.expiry is not None:
            session.expiry.cancel()
            session.expiry = None
        session.conn = conn
        conn.session = session

    def _detach(self, conn: Connection, code: int | None, by: str) -> None:
        session = conn.session
        if self.log.enabled:
            shard = shard_text(session.shard) if session is not None else "no shard"
            self.log.line(
                f"gateway: connection #{conn.number} ({shard}) closed by the {by} "
                f"with {close_text(code)}"
            )
        self.close_log.append(
            {
                "code": code,
                "by": by,
                "shard": list(session.shard) if session is not None else None,
                "at": time.time(),
            }
        )
        if len(self.close_log) > 1000:
            del self.close_log[:500]
        if session is None or session.conn is not conn:
            return
        session.conn = None
        # Closing with 1000/1001 from the client, or with a session-ending code, ends it.
        if code in SESSION_ENDING_CLOSES or (conn.close_code is None and code in (1000, 1001)):
            self.end_session(session)
            return
        loop = asyncio.get_running_loop()
        session.expiry = loop.call_later(self.resume_timeout, self.end_session, session)

    def end_session(self, session: Session) -> None:
        """Forget a session: it can not be resumed any more."""
        if session.ended:
            return
        session.ended = True
        if session.expiry is not None:
            session.expiry.cancel()
            session.expiry = None
        self.sessions.pop(session.session_id, None)
        peers = self.by_shard.get(session.shard)
        if peers is not None:
            try:
                peers.remove(session)
            except ValueError:
                pass
            if not peers:
                del self.by_shard[session.shard]
        session.buffer.clear()

    def sessions_for_guild(self, guild_id: int) -> list[Session]:
        """Every live (not ended) session whose shard owns ``guild_id``, any shard count."""
        out: list[Session] = []
        for (shard_id, count), peers in self.by_shard.items():
            if (guild_id >> 22) % count == shard_id:
                out.extend(peers)
        return out

    def live_sessions(self) -> list[Session]:
        """Sessions with a healthy connection, in shard order."""
        return sorted(
            (s for s in self.sessions.values() if s.status == "connected"),
            key=lambda s: (s.shard[1], s.shard[0]),
        )

    def find_sessions(self, shard_id: int, shard_count: int | None) -> list[Session]:
        """Sessions of shard ``shard_id`` (of ``shard_count`` if given), newest last."""
        out: list[Session] = []
        for (sid, count), peers in self.by_shard.items():
            if sid == shard_id and (shard_count is None or count == shard_count):
                out.extend(peers)
        return out
