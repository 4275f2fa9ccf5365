"""The sandbox gateway: Discord's v10 websocket protocol on aiohttp.

One :class:`Connection` per websocket, one :class:`Session` per successful IDENTIFY.
A session outlives its connection (that is what RESUME is for): every dispatch gets
the session's next ``seq`` and is kept in a bounded replay buffer, and goes out on the
connection only while one is attached and healthy.

Outgoing frames are queued per connection and written by a single writer task, so the
stream compressor (``zlib-stream``/``zstd-stream``: one compressor per connection,
flushed per message) always sees frames in ``seq`` order.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import secrets
import struct
import time
import zlib
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from aiohttp import WSMsgType, web

from .log import SandboxLog, close_text, intents_text, shard_text
from .ratelimit import IdentifyLimiter
from .world import World, dumps

try:  # zstd-stream is offered only when zstandard is importable (as discord.py does)
    import zstandard
except ImportError:  # pragma: no cover - exercised only without zstandard
    zstandard = None  # type: ignore[assignment]

log = logging.getLogger("ezlang.sandbox.gateway")

# Opcodes (https://discord.com/developers/docs/topics/opcodes-and-status-codes)
OP_DISPATCH = 0
OP_HEARTBEAT = 1
OP_IDENTIFY = 2
OP_PRESENCE_UPDATE = 3
OP_VOICE_STATE_UPDATE = 4
OP_RESUME = 6
OP_RECONNECT = 7
OP_REQUEST_GUILD_MEMBERS = 8
OP_INVALID_SESSION = 9
OP_HELLO = 10
OP_HEARTBEAT_ACK = 11
OP_REQUEST_SOUNDBOARD_SOUNDS = 31

# Close codes
CLOSE_UNKNOWN_ERROR = 4000
CLOSE_UNKNOWN_OPCODE = 4001
CLOSE_DECODE_ERROR = 4002
CLOSE_NOT_AUTHENTICATED = 4003
CLOSE_AUTHENTICATION_FAILED = 4004
CLOSE_ALREADY_AUTHENTICATED = 4005
CLOSE_INVALID_SEQ = 4007
CLOSE_RATE_LIMITED = 4008
CLOSE_SESSION_TIMED_OUT = 4009
CLOSE_INVALID_SHARD = 4010
CLOSE_SHARDING_REQUIRED = 4011
CLOSE_INVALID_API_VERSION = 4012
CLOSE_INVALID_INTENTS = 4013
CLOSE_DISALLOWED_INTENTS = 4014

CLOSE_REASONS = {
    CLOSE_UNKNOWN_ERROR: "Unknown error.",
    CLOSE_UNKNOWN_OPCODE: "Unknown opcode.",
    CLOSE_DECODE_ERROR: "Error while decoding payload.",
    CLOSE_NOT_AUTHENTICATED: "Not authenticated.",
    CLOSE_AUTHENTICATION_FAILED: "Authentication failed.",
    CLOSE_ALREADY_AUTHENTICATED: "Already authenticated.",
    CLOSE_INVALID_SEQ: "Invalid seq.",
    CLOSE_RATE_LIMITED: "Rate limited.",
    CLOSE_SESSION_TIMED_OUT: "Session timed out.",
    CLOSE_INVALID_SHARD: "Invalid shard.",
    CLOSE_SHARDING_REQUIRED: "Sharding required.",
    CLOSE_INVALID_API_VERSION: "Invalid API version.",
    CLOSE_INVALID_INTENTS: "Invalid intent(s).",
    CLOSE_DISALLOWED_INTENTS: "Disallowed intent(s).",
}

# Closing with one of these ends the session: it can not be resumed afterwards.
SESSION_ENDING_CLOSES = frozenset(
    {
        CLOSE_AUTHENTICATION_FAILED,
        CLOSE_INVALID_SEQ,
        CLOSE_SESSION_TIMED_OUT,
        CLOSE_INVALID_SHARD,
        CLOSE_SHARDING_REQUIRED,
        CLOSE_INVALID_API_VERSION,
        CLOSE_INVALID_INTENTS,
        CLOSE_DISALLOWED_INTENTS,
    }
)

# Intents: every defined bit, and the privileged ones (GUILD_MEMBERS, GUILD_PRESENCES,
# MESSAGE_CONTENT).
INTENT_GUILDS = 1 << 0
INTENT_GUILD_MEMBERS = 1 << 1
INTENT_GUILD_VOICE_STATES = 1 << 7
INTENT_GUILD_PRESENCES = 1 << 8
INTENT_GUILD_MESSAGES = 1 << 9
INTENT_MESSAGE_CONTENT = 1 << 15
INTENT_GUILD_MESSAGE_REACTIONS = 1 << 10
VALID_INTENTS = sum(1 << b for b in (*range(0, 17), 20, 21, 24, 25))
PRIVILEGED_INTENTS = INTENT_GUILD_MEMBERS | INTENT_GUILD_PRESENCES | INTENT_MESSAGE_CONTENT

MAX_GUILDS_PER_SHARD = 2500
# Discord refuses client payloads over 4096 bytes (close 4002).
MAX_PAYLOAD = 4096
# Discord closes a connection that sends more than 120 payloads per 60 s.
SEND_LIMIT = 120
SEND_LIMIT_WINDOW = 60.0

_HELLO_TEMPLATE = '{"op":10,"s":null,"t":null,"d":{"heartbeat_interval":%d,"_trace":["sandbox"]}}'
_ACK = '{"op":11,"s":null,"t":null,"d":null}'
_RECONNECT = '{"op":7,"s":null,"t":null,"d":null}'
_INVALID_FALSE = '{"op":9,"s":null,"t":null,"d":false}'
_INVALID_TRUE = '{"op":9,"s":null,"t":null,"d":true}'
_HEARTBEAT_REQUEST = '{"op":1,"s":null,"t":null,"d":null}'

_MENTION = re.compile(r"<@!?(\d+)>")


def frame(seq: int, event: str, data_json: str) -> str:
    """A dispatch frame; ``data_json`` is already JSON (so cached payloads are not re-encoded)."""
    return f'{{"op":0,"s":{seq},"t":"{event}","d":{data_json}}}'


class _ZlibStream:
    """``zlib-stream``: one deflate stream per connection, each message ends in Z_SYNC_FLUSH."""

    def __init__(self) -> None:
        self._c = zlib.compressobj()

    def __call__(self, text: str) -> bytes:
        c = self._c
        return c.compress(text.encode()) + c.flush(zlib.Z_SYNC_FLUSH)


class _ZstdStream:
    """``zstd-stream``: one zstd frame per connection, each message ends a flushed block."""

    def __init__(self) -> None:
        assert zstandard is not None
        self._c = zstandard.ZstdCompressor().compressobj()
        self._flush = zstandard.COMPRESSOBJ_FLUSH_BLOCK

    def __call__(self, text: str) -> bytes:
        c = self._c
        return c.compress(text.encode()) + c.flush(self._flush)


def supported_compressions() -> list[str]:
    """The transport compressions this sandbox speaks."""
    return ["zlib-stream"] + (["zstd-stream"] if zstandard is not None else [])


@dataclass
class Presence:
    """The last presence a shard sent (op 3 or IDENTIFY's ``presence``)."""

    shard: tuple[int, int]
    presence: dict[str, Any]
    at: float


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


def _ws_header(length: int, opcode: int) -> bytes:
    """An unmasked server-to-client websocket frame header (RFC 6455 section 5.2), FIN set."""
    if length < 126:
        return bytes((0x80 | opcode, length))
    if length < 65536:
        return struct.pack("!BBH", 0x80 | opcode, 126, length)
    return struct.pack("!BBQ", 0x80 | opcode, 127, length)


_OP_TEXT = 0x1
_OP_BINARY = 0x2
# Write-buffer bounds for the fast path: pause above HIGH, resume below LOW.
_HIGH_WATER = 4 * 1024 * 1024
_LOW_WATER = 512 * 1024


class Connection:
    """One websocket; owns the outbound queue and its writer task."""

    def __init__(
        self,
        ws: web.WebSocketResponse,
        encoder: Callable[[str], bytes] | None,
        transport: asyncio.Transport | None = None,
    ) -> None:
        self.ws = ws
        self.encoder = encoder
        self.transport = transport
        self.outbox: deque[str] = deque()
        self.wake = asyncio.Event()
        self.closed = False
        self.zombie = False
        self.session: Session | None = None
        self.last_heartbeat = time.monotonic()
        self.sent_in_window = 0
        self.window_start = time.monotonic()
        self.close_code: int | None = None  # what the sandbox closed with
        self.peer_close_code: int | None = None  # what the client closed with
        self.number = 0  # for the activity log (numbered only while logging)
        self.drained = asyncio.Event()
        self.drained.set()

    def enqueue(self, text: str) -> None:
        """Queue a frame for the writer (keeps order; never blocks the caller)."""
        self.outbox.append(text)
        self.drained.clear()
        self.wake.set()

    async def writer(self) -> None:
        """Write queued frames in order until the connection closes.

        Fast path: frames are framed here (RFC 6455: FIN + opcode + length, unmasked
        from a server) and written in batches with one ``transport.write``; aiohttp
        still owns the handshake, reading, pings and the close handshake. Sending each
        frame through ``send_str`` costs a syscall per message and caps a connection
        well below the 20,000 MESSAGE_CREATE/s the sandbox promises.
        """
        outbox = self.outbox
        encoder = self.encoder
        transport = self.transport
        opcode = _OP_TEXT if encoder is None else _OP_BINARY
        try:
            while not self.closed:
                await self.wake.wait()
                self.wake.clear()
                while outbox and not self.closed:
                    if transport is None:  # no raw transport: the plain aiohttp way
                        text = outbox.popleft()
                        if encoder is None:
                            await self.ws.send_str(text)
                        else:
                            await self.ws.send_bytes(encoder(text))
                        continue
                    if transport.is_closing():
                        return
                    parts: list[bytes] = []
                    for _ in range(min(len(outbox), 512)):
                        text = outbox.popleft()
                        data = text.encode() if encoder is None else encoder(text)
                        parts.append(_ws_header(len(data), opcode))
                        parts.append(data)
                    transport.write(b"".join(parts))
                    if transport.get_write_buffer_size() > _HIGH_WATER:
                        while (
                            transport.get_write_buffer_size() > _LOW_WATER
                            and not transport.is_closing()
                            and not self.closed
                        ):
                            await asyncio.sleep(0.002)
                    elif outbox:
                        await asyncio.sleep(0)  # let readers and other writers run
                self.drained.set()
        except (ConnectionResetError, RuntimeError, asyncio.CancelledError):
            pass
        finally:
            self.drained.set()

    async def close(self, code: int, reason: str | None = None) -> None:
        """Flush what is queued, then close with ``code``."""
        if self.closed:
            return
        self.close_code = code
        try:
            if self.outbox:
                await asyncio.wait_for(self.drained.wait(), 2.0)
        except TimeoutError:
            pass
        self.closed = True
        self.wake.set()
        msg = (reason or CLOSE_REASONS.get(code, "")).encode()
        try:
            await self.ws.close(code=code, message=msg)
        except Exception:  # the peer may already be gone
            pass


class Gateway:
    """All gateway state: sessions, connections, identify accounting, presences."""

    def __init__(
        self,
        world: World,
        *,
        token: str,
        limiter: IdentifyLimiter,
        privileged_intents: bool,
        heartbeat_interval: float,
        replay_buffer: int,
        resume_timeout: float,
        url_getter: Callable[[], str],
        guild_create_delay: float = 0.0,
    ) -> None:
        self.world = world
        #: Seconds between the GUILD_CREATEs after READY (0: all at once).
        self.guild_create_delay = guild_create_delay
        #: Guilds in an outage: READY lists them, then GUILD_DELETE {unavailable: true}.
        self.unavailable_guilds: set[int] = set()
        self.token = token
        self.limiter = limiter
        self.privileged_intents = privileged_intents
        self.heartbeat_interval = heartbeat_interval
        self.replay_buffer = replay_buffer
        self.resume_timeout = resume_timeout
        self._url = url_getter
        self.sessions: dict[str, Session] = {}
        self.by_shard: dict[tuple[int, int], list[Session]] = {}
        self.connections: set[Connection] = set()
        self.presences: dict[tuple[int, int], Presence] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._msg_id_last = 0
        self.close_log: list[dict[str, Any]] = []
        #: The activity log (``--log``); silent unless given a stream.
        self.log = SandboxLog()
        self._conn_numbers = 0

    # ---- snowflakes --------------------------------------------------------------------

    def next_snowflake(self) -> int:
        """A fresh, strictly increasing snowflake for messages."""
        now = (int(time.time() * 1000) - 1_420_070_400_000) << 22
        self._msg_id_last = max(now, self._msg_id_last + 1)
        return self._msg_id_last

    # ---- websocket handler -------------------------------------------------------------

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """The websocket endpoint: ``/gateway?v=10&encoding=json&compress=…``."""
        q = request.query
        compress = q.get("compress")
        encoder: Callable[[str], bytes] | None
        if compress is None or compress == "":
            encoder = None
        elif compress == "zlib-stream":
            encoder = _ZlibStream()
        elif compress == "zstd-stream" and zstandard is not None:
            encoder = _ZstdStream()
        else:
            return web.Response(
                status=400,
                body=dumps(
                    {"message": f"Unsupported compression {compress!r}", "code": 0}
                ).encode(),
                headers={"Content-Type": "application/json"},
            )
        ws = web.WebSocketResponse(
            autoping=True, heartbeat=None, compress=False, max_msg_size=1 << 20
        )
        await ws.prepare(request)
        transport = request.transport
        conn = Connection(
            ws, encoder, transport if isinstance(transport, asyncio.Transport) else None
        )
        self.connections.add(conn)
        if self.log.enabled:
            self._conn_numbers += 1
            conn.number = self._conn_numbers
            peer = request.remote or "?"
            self.log.line(f"gateway: connection #{conn.number} opened (from {peer})")
        writer = asyncio.create_task(conn.writer(), name="sandbox-gateway-writer")
        watchdog = asyncio.create_task(self._watchdog(conn), name="sandbox-gateway-watchdog")
        try:
            version = q.get("v")
            encoding = q.get("encoding", "json")
            conn.enqueue(_HELLO_TEMPLATE % int(self.heartbeat_interval * 1000))
            if version is not None and version not in ("9", "10"):
                await conn.close(CLOSE_INVALID_API_VERSION)
            elif encoding != "json":
                await conn.close(CLOSE_DECODE_ERROR, "Only encoding=json is supported.")
            else:
                await self._read_loop(conn)
        finally:
            conn.closed = True
            conn.wake.set()
            watchdog.cancel()
            self.connections.discard(conn)
            await asyncio.gather(writer, watchdog, return_exceptions=True)
            code: int | None
            if conn.close_code is not None:
                code, by = conn.close_code, "sandbox"
            else:
                code = conn.peer_close_code if conn.peer_close_code is not None else ws.close_code
                by = "client"
            self._detach(conn, code, by)
        return ws

    async def _read_loop(self, conn: Connection) -> None:
        ws = conn.ws
        while not conn.closed:
            msg = await ws.receive()
            if msg.type == WSMsgType.TEXT:
                raw: str | bytes = msg.data
            elif msg.type == WSMsgType.BINARY:
                raw = msg.data
            else:
                if msg.type == WSMsgType.CLOSE:
                    conn.peer_close_code = msg.data
                log.debug("gateway read loop ends on %s %r", msg.type, msg.data)
                break
            if len(raw) > MAX_PAYLOAD:
                await conn.close(CLOSE_DECODE_ERROR, "Payload too large.")
                break
            try:
                payload = json.loads(raw)
                if not isinstance(payload, dict) or not isinstance(payload.get("op"), int):
                    raise ValueError("not a gateway payload")
            except (ValueError, UnicodeDecodeError):
                await conn.close(CLOSE_DECODE_ERROR)
                break
            # Heartbeats are not counted: sandboxes often run with sub-second heartbeat
            # intervals, which on Discord (41.25 s) could never approach the limit.
            if payload["op"] != OP_HEARTBEAT and not self._count_send(conn):
                await conn.close(CLOSE_RATE_LIMITED)
                break
            await self._on_payload(conn, payload["op"], payload.get("d"))
            if conn.closed:
                break

    def _count_send(self, conn: Connection) -> bool:
        now = time.monotonic()
        if now - conn.window_start >= SEND_LIMIT_WINDOW:
            conn.window_start = now
            conn.sent_in_window = 0
        conn.sent_in_window += 1
        return conn.sent_in_window <= SEND_LIMIT

    async def _watchdog(self, conn: Connection) -> None:
        """Close 4009 when heartbeats stop for 1.5 intervals."""
        limit = self.heartbeat_interval * 1.5
        while not conn.closed:
            wait = conn.last_heartbeat + limit - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
                continue
            await conn.close(CLOSE_SESSION_TIMED_OUT)
            return

    async def _on_payload(self, conn: Connection, op: int, d: Any) -> None:
        if op == OP_HEARTBEAT:
            conn.last_heartbeat = time.monotonic()
            session = conn.session
            if session is not None and type(d) is int and d > session.acked_seq:
                session.acked_seq = min(d, session.seq)  # what the client says it has
            if not conn.zombie:
                conn.enqueue(_ACK)
        elif op == OP_IDENTIFY:
            await self._identify(conn, d, time.monotonic())
        elif op == OP_RESUME:
            await self._resume(conn, d)
        elif op in (
            OP_PRESENCE_UPDATE,
            OP_REQUEST_GUILD_MEMBERS,
            OP_VOICE_STATE_UPDATE,
            OP_REQUEST_SOUNDBOARD_SOUNDS,
        ):
            if conn.session is None:
                await conn.close(CLOSE_NOT_AUTHENTICATED)
            elif op == OP_PRESENCE_UPDATE:
                if not isinstance(d, dict):
                    await conn.close(CLOSE_DECODE_ERROR)
                    return
                self._record_presence(conn.session.shard, d)
            elif op == OP_REQUEST_GUILD_MEMBERS:
                await self._request_members(conn, d)
        else:
            await conn.close(CLOSE_UNKNOWN_OPCODE)

    # ---- IDENTIFY ----------------------------------------------------------------------

    async def _identify(self, conn: Connection, d: Any, received_at: float) -> None:
        if conn.session is not None:
            await conn.close(CLOSE_ALREADY_AUTHENTICATED)
            return
        if not isinstance(d, dict) or not isinstance(d.get("properties", {}), dict):
            await conn.close(CLOSE_DECODE_ERROR)
            return
        if d.get("token") != self.token and d.get("token") != f"Bot {self.token}":
            await conn.close(CLOSE_AUTHENTICATION_FAILED)
            return
        shard_raw = d.get("shard", [0, 1])
        if (
            not isinstance(shard_raw, list)
            or len(shard_raw) != 2
            or not all(type(x) is int for x in shard_raw)
            or shard_raw[1] < 1
            or not 0 <= shard_raw[0] < shard_raw[1]
        ):
            await conn.close(CLOSE_INVALID_SHARD)
            return
        shard = (shard_raw[0], shard_raw[1])
        if self.world.count_for_shard(*shard) > MAX_GUILDS_PER_SHARD:
            await conn.close(CLOSE_SHARDING_REQUIRED)
            return
        intents = d.get("intents")
        if type(intents) is not int or intents < 0 or intents & ~VALID_INTENTS:
            await conn.close(CLOSE_INVALID_INTENTS)
            return
        if intents & PRIVILEGED_INTENTS and not self.privileged_intents:
            await conn.close(CLOSE_DISALLOWED_INTENTS)
            return
        if not self.limiter.try_identify(shard, received_at):
            log.info("IDENTIFY too early for shard %s: op 9", shard)
            self.log.line(
                f"{shard_text(shard)}: IDENTIFY too early for its rate-limit bucket → op 9 "
                "invalid session (the client must wait and identify again)"
            )
            conn.enqueue(_INVALID_FALSE)
            return
        # GUILD_CREATE carries the guild's voice states only with GUILD_VOICE_STATES.
        render = partial(self.world.guild_json, voice=bool(intents & INTENT_GUILD_VOICE_STATES))
        session = Session(secrets.token_hex(16), shard, intents, self.replay_buffer, render)
        self.sessions[session.session_id] = session
        self.by_shard.setdefault(shard, []).append(session)
        self._attach(conn, session)
        presence = d.get("presence")
        if isinstance(presence, dict):
            self._record_presence(shard, presence)
        if self.log.enabled:
            self.log.line(
                f"{shard_text(shard)}: IDENTIFY on connection #{conn.number}, intents "
                f"{intents_text(intents)} → READY with "
                f"{self.world.count_for_shard(*shard)} guild(s)"
            )
        await self._send_ready(session)

    async def _send_ready(self, session: Session) -> None:
        world = self.world
        indices = world.guild_indices_for_shard(*session.shard)
        gids = ",".join(f'{{"id":"{world.guild_id(i)}","unavailable":true}}' for i in indices)
        rest = dumps(
            {
                "session_id": session.session_id,
                "session_type": "normal",
                "resume_gateway_url": self._url(),
                "shard": list(session.shard),
                "application": {"id": str(world.application_id), "flags": 0},
                "user": world.bot_user(),
                "user_settings": {},
                "private_channels": [],
                "relationships": [],
                "presences": [],
                "guild_join_requests": [],
                "geo_ordered_rtc_regions": [],
                "auth": {},
                "_trace": ["sandbox"],
            }
        )
        session.push("READY", f'{{"v":10,"guilds":[{gids}],{rest[1:]}')
        if self.guild_create_delay > 0:
            # Discord streams the guilds after READY; pace them without holding up this
            # connection's reader (heartbeats must still be answered meanwhile).
            self._spawn(self._send_guilds(session, indices))
        else:
            await self._send_guilds(session, indices)

    async def _send_guilds(self, session: Session, indices: Sequence[int]) -> None:
        """One GUILD_CREATE per guild of READY (GUILD_DELETE for one in an outage)."""
        world, delay = self.world, self.guild_create_delay
        for n, i in enumerate(indices, 1):
            guild_id = world.guild_id(i)
            if guild_id in self.unavailable_guilds:
                session.push("GUILD_DELETE", f'{{"id":"{guild_id}","unavailable":true}}')
            else:
                session.push("GUILD_CREATE", i, session.render_guild(i))
            if delay > 0:
                await asyncio.sleep(delay)
            elif n % 100 == 0:
                # Render in slices and let the writer run in between, so READY and the
                # first guilds are on the wire while the rest (maybe uncached) render.
                await asyncio.sleep(0)
            if session.ended:
                return

    # ---- RESUME ------------------------------------------------------------------------

    async def _resume(self, conn: Connection, d: Any) -> None:
        if conn.session is not None:
            await conn.close(CLOSE_ALREADY_AUTHENTICATED)
            return
        if not isinstance(d, dict):
            await conn.close(CLOSE_DECODE_ERROR)
            return
        if d.get("token") != self.token and d.get("token") != f"Bot {self.token}":
            await conn.close(CLOSE_AUTHENTICATION_FAILED)
            return
        session = self.sessions.get(d.get("session_id"))  # type: ignore[arg-type]
        seq = d.get("seq")
        if seq is None:
            seq = 0
        frames = None
        if session is not None and not session.ended and type(seq) is int:
            frames = session.replay_from(seq)
        if session is None or frames is None:
            if self.log.enabled:
                who = shard_text(session.shard) if session is not None else "unknown session"
                self.log.line(f"{who}: RESUME refused (session gone) → op 9 invalid session")
            conn.enqueue(_INVALID_FALSE)
            if session is not None:
                self.end_session(session)
            return
        old = session.conn
        if old is not None and old is not conn:
            # A new connection takes the session over; the old one is dropped.
            session.conn = None
            old.session = None
            self._spawn(old.close(CLOSE_UNKNOWN_ERROR, "Session resumed elsewhere."))
        self._attach(conn, session)
        session.resumes += 1
        session.replayed += len(frames)
        for text in frames:
            conn.enqueue(text)
        session.push("RESUMED", '{"_trace":["sandbox"]}')
        if self.log.enabled:
            self.log.line(
                f"{shard_text(session.shard)}: RESUMED on connection #{conn.number} "
                f"({len(frames)} missed event(s) replayed)"
            )

    # ---- sessions ----------------------------------------------------------------------

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

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ---- presences and members ---------------------------------------------------------

    def _record_presence(self, shard: tuple[int, int], presence: dict[str, Any]) -> None:
        self.presences[shard] = Presence(shard, presence, time.time())

    async def _request_members(self, conn: Connection, d: Any) -> None:
        session = conn.session
        if not isinstance(d, dict) or session is None:
            await conn.close(CLOSE_DECODE_ERROR)
            return
        gids = d.get("guild_id")
        if not isinstance(gids, list):
            gids = [gids]
        query = d.get("query")
        limit = d.get("limit") or 0
        user_ids = d.get("user_ids")
        if user_ids is not None and not isinstance(user_ids, list):
            user_ids = [user_ids]
        for gid_raw in gids:
            try:
                gid = int(gid_raw)
            except (TypeError, ValueError):
                await conn.close(CLOSE_DECODE_ERROR)
                return
            index = self.world.guild_index(gid)
            if index is None or self.world.shard_of(gid, session.shard[1]) != session.shard[0]:
                continue
            ids = self.world.current_member_ids(index)
            members = [self.world.member(index, uid) for uid in ids]
            found = [m for m in members if m is not None]
            not_found: list[str] = []
            if user_ids is not None:
                wanted = {str(u) for u in user_ids}
                found = [m for m in found if m["user"]["id"] in wanted]
                not_found = sorted(wanted - {m["user"]["id"] for m in found})
            elif query:
                q = str(query).lower()
                found = [m for m in found if m["user"]["username"].lower().startswith(q)]
            if limit:
                found = found[:limit]
            chunk: dict[str, Any] = {
                "guild_id": str(gid),
                "members": found,
                "chunk_index": 0,
                "chunk_count": 1,
            }
            if not_found:
                chunk["not_found"] = not_found
            if d.get("presences"):
                chunk["presences"] = []
            if d.get("nonce") is not None:
                chunk["nonce"] = d["nonce"]
            session.push("GUILD_MEMBERS_CHUNK", dumps(chunk))

    # ---- dispatching events ------------------------------------------------------------

    def sessions_for_guild(self, guild_id: int) -> list[Session]:
        """Every live (not ended) session whose shard owns ``guild_id``, any shard count."""
        out: list[Session] = []
        for (shard_id, count), peers in self.by_shard.items():
            if (guild_id >> 22) % count == shard_id:
                out.extend(peers)
        return out

    def message_payload(
        self, message_id: int, channel_id: int, guild_id: int, content: str, author: dict[str, Any]
    ) -> dict[str, Any]:
        """A MESSAGE_CREATE ``d`` as Discord sends it for a guild text message."""
        mentions = []
        for m in _MENTION.finditer(content):
            user = self.world.user(int(m.group(1)))
            if user is not None and user not in mentions:
                mentions.append(user)
        index = self.world.guild_index(guild_id)
        member = None
        if index is not None:
            member = self.world.member(index, int(author["id"]))
            if member is not None:
                member = {k: v for k, v in member.items() if k != "user"}
        payload: dict[str, Any] = {
            "id": str(message_id),
            "channel_id": str(channel_id),
            "guild_id": str(guild_id),
            "type": 0,
            "content": content,
            "author": author,
            "timestamp": _iso_from_snowflake(message_id),
            "edited_timestamp": None,
            "tts": False,
            "mention_everyone": False,
            "mentions": mentions,
            "mention_roles": [],
            "attachments": [],
            "embeds": [],
            "components": [],
            "pinned": False,
            "flags": 0,
        }
        if member is not None:
            payload["member"] = member
        return payload

    def dispatch_guild_message(self, payload: dict[str, Any]) -> tuple[int, bool]:
        """Send a MESSAGE_CREATE to the sessions owning its guild, honouring intents.

        Returns ``(sessions reached or buffered, delivered now to at least one)``.
        Without MESSAGE_CONTENT a session gets an empty ``content`` (unless the bot is
        mentioned), as on Discord; without GUILD_MESSAGES it gets nothing.
        """
        guild_id = int(payload["guild_id"])
        full: str | None = None
        stripped: str | None = None
        bot_mentioned = any(u["id"] == str(self.world.bot_id) for u in payload["mentions"])
        bot_author = payload["author"]["id"] == str(self.world.bot_id)
        delivered = False
        reached = 0
        for session in self.sessions_for_guild(guild_id):
            if not session.intents & INTENT_GUILD_MESSAGES:
                continue
            if session.intents & INTENT_MESSAGE_CONTENT or bot_mentioned or bot_author:
                if full is None:
                    full = dumps(payload)
                text = full
            else:
                if stripped is None:
                    stripped = dumps(
                        {
                            **payload,
                            "content": "",
                            "embeds": [],
                            "attachments": [],
                            "components": [],
                        }
                    )
                text = stripped
            reached += 1
            delivered = session.push("MESSAGE_CREATE", text) or delivered
        return reached, delivered

    def dispatch_guild_event(
        self, guild_id: int, event: str, payload: dict[str, Any], intent: int
    ) -> dict[str, Any]:
        """Send ``event`` to the sessions owning ``guild_id`` that asked for ``intent``."""
        text = dumps(payload)
        reached = 0
        delivered = False
        for session in self.sessions_for_guild(guild_id):
            if session.intents & intent:
                reached += 1
                delivered = session.push(event, text) or delivered
        return {"sessions": reached, "delivered": delivered}

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

    async def close_all(self) -> None:
        """Close every connection (server shutdown)."""
        await asyncio.gather(
            *(c.close(1001, "Sandbox shutting down.") for c in list(self.connections)),
            return_exceptions=True,
        )
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for session in list(self.sessions.values()):
            self.end_session(session)

    def request_heartbeat(self, sessions: Iterable[Session]) -> None:
        """Ask clients for an immediate heartbeat (op 1 from the server)."""
        for s in sessions:
            if s.conn is not None and not s.conn.closed:
                s.conn.enqueue(_HEARTBEAT_REQUEST)


def _iso_from_snowflake(snowflake: int) -> str:
    ms = (snowflake >> 22) + 1_420_070_400_000
    t = time.gmtime(ms // 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", t) + f".{ms % 1000:03d}000+00:00"


INVALID_SESSION_RESUMABLE = _INVALID_TRUE
INVALID_SESSION = _INVALID_FALSE
RECONNECT = _RECONNECT
