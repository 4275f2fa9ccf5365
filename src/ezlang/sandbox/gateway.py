"""The sandbox gateway server: Discord's v10 websocket protocol on aiohttp.

:class:`Gateway` accepts websockets, answers HELLO/heartbeats, handles IDENTIFY, RESUME,
presence updates and member requests, and fans dispatches out to the sessions owning a
guild. The pieces it is built from live next to it: protocol constants in
:mod:`.gateway_protocol`, compression, framing and the per-connection writer in
:mod:`.gateway_wire`, sessions with their replay buffers in :mod:`.gateway_session`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import secrets
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from aiohttp import WSMsgType, web

from .gateway_protocol import (
    CLOSE_ALREADY_AUTHENTICATED,
    CLOSE_AUTHENTICATION_FAILED,
    CLOSE_DECODE_ERROR,
    CLOSE_DISALLOWED_INTENTS,
    CLOSE_INVALID_API_VERSION,
    CLOSE_INVALID_INTENTS,
    CLOSE_INVALID_SHARD,
    CLOSE_NOT_AUTHENTICATED,
    CLOSE_RATE_LIMITED,
    CLOSE_SESSION_TIMED_OUT,
    CLOSE_SHARDING_REQUIRED,
    CLOSE_UNKNOWN_ERROR,
    CLOSE_UNKNOWN_OPCODE,
    HEARTBEAT_ACK,
    HEARTBEAT_REQUEST,
    HELLO_TEMPLATE,
    INTENT_GUILD_MESSAGE_REACTIONS,
    INTENT_GUILD_MESSAGES,
    INTENT_GUILD_VOICE_STATES,
    INTENT_GUILDS,
    INTENT_MESSAGE_CONTENT,
    INVALID_SESSION,
    INVALID_SESSION_RESUMABLE,
    MAX_GUILDS_PER_SHARD,
    MAX_PAYLOAD,
    OP_HEARTBEAT,
    OP_IDENTIFY,
    OP_PRESENCE_UPDATE,
    OP_REQUEST_GUILD_MEMBERS,
    OP_REQUEST_SOUNDBOARD_SOUNDS,
    OP_RESUME,
    OP_VOICE_STATE_UPDATE,
    PRIVILEGED_INTENTS,
    RECONNECT,
    SEND_LIMIT,
    SEND_LIMIT_WINDOW,
    VALID_INTENTS,
    frame,
)
from .gateway_session import Session, SessionTable
from .gateway_wire import Connection, stream_encoder, supported_compressions
from .log import intents_text, shard_text
from .ratelimit import IdentifyLimiter
from .world import World, dumps

# What other modules import from here (the gateway's public face, wherever it lives).
__all__ = [
    "CLOSE_UNKNOWN_ERROR",
    "INTENT_GUILDS",
    "INTENT_GUILD_MESSAGES",
    "INTENT_GUILD_MESSAGE_REACTIONS",
    "INTENT_MESSAGE_CONTENT",
    "INVALID_SESSION",
    "INVALID_SESSION_RESUMABLE",
    "MAX_GUILDS_PER_SHARD",
    "RECONNECT",
    "Connection",
    "Gateway",
    "Presence",
    "Session",
    "frame",
    "supported_compressions",
]

log = logging.getLogger("ezlang.sandbox.gateway")


_MENTION = re.compile(r"<@!?(\d+)>")


@dataclass
class Presence:
    """The last presence a shard sent (op 3 or IDENTIFY's ``presence``)."""

    shard: tuple[int, int]
    presence: dict[str, Any]
    at: float


class Gateway(SessionTable):
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
        super().__init__(resume_timeout)
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
        self._url = url_getter
        self.connections: set[Connection] = set()
        self.presences: dict[tuple[int, int], Presence] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._msg_id_last = 0
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
        try:
            encoder = stream_encoder(compress)
        except ValueError:
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
            conn.enqueue(HELLO_TEMPLATE % int(self.heartbeat_interval * 1000))
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
                conn.enqueue(HEARTBEAT_ACK)
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
            conn.enqueue(INVALID_SESSION)
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
            conn.enqueue(INVALID_SESSION)
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
                s.conn.enqueue(HEARTBEAT_REQUEST)


def _iso_from_snowflake(snowflake: int) -> str:
    ms = (snowflake >> 22) + 1_420_070_400_000
    t = time.gmtime(ms // 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", t) + f".{ms % 1000:03d}000+00:00"
