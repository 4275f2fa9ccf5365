"""The :class:`Sandbox`: one aiohttp server with REST, gateway and control API.

``async with Sandbox(...) as sb`` (or ``await sb.start()`` / ``await sb.stop()``) binds
127.0.0.1 on an OS-chosen port and exposes ``sb.api_url`` (``…/api/v10``),
``sb.gateway_url`` and ``sb.control_url`` (``…/_sandbox``). The Python helpers on this
class mirror the control API one for one, so tests can drive the sandbox without HTTP.
"""

from __future__ import annotations

import asyncio
from typing import Any, TextIO

from aiohttp import web

from .commands import CommandStore
from .control import ControlApi
from .errors import SandboxError
from .gateway import (
    CLOSE_UNKNOWN_ERROR,
    INTENT_GUILD_MESSAGES,
    INTENT_MESSAGE_CONTENT,
    INVALID_SESSION,
    INVALID_SESSION_RESUMABLE,
    RECONNECT,
    Gateway,
    Session,
    frame,
    supported_compressions,
)
from .guild_state import ServerModel
from .interactions import InteractionStore
from .log import SandboxLog
from .message_store import MessageStore
from .ratelimit import IdentifyLimiter, InvalidRequestLimiter, RestLimiter
from .rest import RestApi, error
from .world import World, dumps


class Sandbox:
    """A local Discord: REST + gateway + control API on one loopback port."""

    def __init__(
        self,
        guilds: int = 5000,
        max_concurrency: int = 1,
        identify_window: float = 5.0,
        token: str = "sandbox-token",
        seed: int = 0,
        privileged_intents: bool = True,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        heartbeat_interval: float = 41.25,
        resume_timeout: float = 120.0,
        replay_buffer: int = 10_000,
        rest_rate_limits: bool = True,
        rest_global_limit: int | None = 50,
        invalid_request_limit: int = 10_000,
        invalid_request_window: float = 600.0,
        invalid_request_ban: float = 3600.0,
        session_start_total: int = 1000,
        prewarm: bool = True,
        guild_create_delay: float = 0.0,
        log: TextIO | None = None,
        interaction_timeout: float = 3.0,
        interaction_token_ttl: float = 900.0,
    ) -> None:
        """``log``: a stream (stderr) for the activity log, one line per connection, IDENTIFY,
        message in or out, reaction and close; None (the default) keeps the sandbox quiet."""
        if guilds < 0:
            raise SandboxError("guilds must be 0 or more")
        if max_concurrency < 1:
            raise SandboxError("max_concurrency must be 1 or more")
        if identify_window < 0:
            raise SandboxError("identify_window must be 0 or more")
        if guild_create_delay < 0:
            raise SandboxError("guild_create_delay must be 0 or more")
        if heartbeat_interval <= 0:
            raise SandboxError("heartbeat_interval must be positive")
        if not token:
            raise SandboxError("token must not be empty")
        self.world = World(guilds, seed)
        self.token = token
        self.seed = seed
        self.host = host
        self.port = port
        self.max_concurrency = max_concurrency
        self.identify_window = identify_window
        self.privileged_intents = privileged_intents
        self.limiter = IdentifyLimiter(max_concurrency, identify_window, session_start_total)
        self.rest_limiter = RestLimiter(
            enabled=rest_rate_limits, global_limit=rest_global_limit or None
        )
        self.invalid_requests = InvalidRequestLimiter(
            invalid_request_limit, invalid_request_window, invalid_request_ban
        )
        self.gateway = Gateway(
            self.world,
            token=token,
            limiter=self.limiter,
            privileged_intents=privileged_intents,
            heartbeat_interval=heartbeat_interval,
            replay_buffer=replay_buffer,
            resume_timeout=resume_timeout,
            url_getter=lambda: self.gateway_url,
            guild_create_delay=guild_create_delay,
        )
        self.gateway.log = self.log = SandboxLog(log)
        #: Application commands (global and per guild) and the interactions users started.
        self.app_commands = CommandStore(self.world.application_id, self.gateway.next_snowflake)
        self.interactions = InteractionStore(self)
        #: Roles, members and bans of the guilds that changed (guild_state.py).
        self.server = ServerModel(self)
        if interaction_timeout <= 0 or interaction_token_ttl <= 0:
            raise SandboxError("interaction_timeout and interaction_token_ttl must be positive")
        self.interactions.window = interaction_timeout
        self.interactions.token_ttl = interaction_token_ttl
        self.reactions: list[dict[str, Any]] = []
        self.rest_requests = 0
        #: Every channel's remembered messages and the bots' (message_store.py).
        self.messages = MessageStore(self)
        self._messages = self.messages.history  # guild_state.py reads it (ban deletions)
        self._runner: web.AppRunner | None = None
        self._base = ""
        self._prewarm = prewarm
        self._prewarm_task: asyncio.Task[None] | None = None

    # ---- lifecycle ---------------------------------------------------------------------

    async def start(self) -> Sandbox:
        """Bind and start serving. Returns self."""
        if self._runner is not None:
            return self
        app = web.Application(client_max_size=16 * 1024 * 1024)
        RestApi(self).add_routes(app, "/api/v10")
        RestApi(self).add_routes(app, "/api/v9")
        ControlApi(self).add_routes(app, "/_sandbox")
        app.router.add_get("/gateway", self.gateway.handle)
        app.router.add_get("/", self.gateway.handle)
        app.router.add_route("*", "/api/{tail:.*}", _not_found)
        runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port, reuse_address=True)
        await site.start()
        self._runner = runner
        sockname = runner.addresses[0]
        self.port = sockname[1]
        host = self.host if ":" not in self.host else f"[{self.host}]"
        self._base = f"{host}:{self.port}"
        if self._prewarm and self.world.guild_count:
            self._prewarm_task = asyncio.create_task(self._warm_guild_cache())
        return self

    async def _warm_guild_cache(self) -> None:
        """Render guild JSON in the background, in small slices, so the first READY of
        each shard finds its GUILD_CREATEs cached."""
        world = self.world
        for start in range(0, min(world.guild_count, world.cache_size), 50):
            for i in range(start, min(start + 50, world.guild_count)):
                world.guild_json(i)
            await asyncio.sleep(0)

    async def stop(self) -> None:
        """Close every gateway connection and stop serving."""
        runner, self._runner = self._runner, None
        if runner is None:
            return
        if self._prewarm_task is not None:
            self._prewarm_task.cancel()
            await asyncio.gather(self._prewarm_task, return_exceptions=True)
            self._prewarm_task = None
        self.interactions.close()
        await self.gateway.close_all()
        await runner.cleanup()

    async def __aenter__(self) -> Sandbox:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def api_url(self) -> str:
        """REST base, e.g. ``http://127.0.0.1:PORT/api/v10`` (for ``discord.http.Route.BASE``)."""
        return f"http://{self._base}/api/v10"

    @property
    def gateway_url(self) -> str:
        """Gateway websocket URL, e.g. ``ws://127.0.0.1:PORT/gateway``."""
        return f"ws://{self._base}/gateway"

    @property
    def control_url(self) -> str:
        """Control API base, e.g. ``http://127.0.0.1:PORT/_sandbox``."""
        return f"http://{self._base}/_sandbox"

    # ---- introspection -----------------------------------------------------------------

    @property
    def identify_violations(self) -> int:
        """IDENTIFYs that came too early for their bucket (each answered with op 9)."""
        return self.limiter.violations

    def state(self) -> dict[str, Any]:
        """What ``GET /_sandbox/state`` returns."""
        sessions = sorted(
            self.gateway.sessions.values(), key=lambda s: (s.shard[1], s.shard[0], s.session_id)
        )
        return {
            "guilds": self.world.guild_count,
            "recommended_shards": self.world.recommended_shards(),
            "connections": [
                {
                    "shard": list(s.shard),
                    "session_id": s.session_id,
                    "seq": s.seq,
                    "status": s.status,
                    "resumes": s.resumes,
                    "replayed": s.replayed,
                    "acked_seq": s.acked_seq,
                }
                for s in sessions
            ],
            "identifies": [
                {"shard": list(r.shard), "at": r.at, "accepted": r.accepted, "reason": r.reason}
                for r in self.limiter.records
            ],
            "identify_violations": self.limiter.violations,
            "identify_refused_session_limit": self.limiter.exhausted,
            "session_start_limit": self.limiter.session_start_limit(),
            "identify_window": self.identify_window,
            "max_concurrency": self.max_concurrency,
            "compressions": supported_compressions(),
            "rest_requests": self.rest_requests,
            "rest_rate_limited": self.rest_limiter.rejected,
            "global_rate_limited": self.rest_limiter.global_rejected,
            "invalid_requests": self.invalid_requests.count,
            "invalid_request_refused": self.invalid_requests.refused,
            "closes": list(self.gateway.close_log),
        }

    def guilds_for_shard(self, shard_id: int, shard_count: int) -> list[dict[str, Any]]:
        """The guilds shard ``shard_id`` of ``shard_count`` holds, with their channels."""
        if shard_count < 1 or not 0 <= shard_id < shard_count:
            raise SandboxError(f"invalid shard {shard_id} of {shard_count}")
        world = self.world
        return [
            {
                "id": str(world.guild_id(i)),
                "name": world.guild_name(i),
                "channels": [
                    {"id": c["id"], "name": c["name"], "type": c["type"]} for c in world.channels(i)
                ],
                "text_channel_ids": [str(c) for c in world.text_channel_ids(world.guild_id(i))],
                "member_ids": [str(u) for u in world.member_ids(i)],
            }
            for i in world.guild_indices_for_shard(shard_id, shard_count)
        ]

    def set_guild_unavailable(self, guild_id: int | str, unavailable: bool = True) -> None:
        """Put a guild in (or out of) an outage, as the next READYs will see it.

        READY still lists it; instead of its GUILD_CREATE the session gets
        ``GUILD_DELETE {"id": …, "unavailable": true}``, as Discord sends for a guild it can
        not serve.
        """
        gid = int(guild_id)
        if self.world.guild_index(gid) is None:
            raise SandboxError(f"unknown guild {guild_id}")
        if unavailable:
            self.gateway.unavailable_guilds.add(gid)
        else:
            self.gateway.unavailable_guilds.discard(gid)

    def presences(self) -> list[dict[str, Any]]:
        """The last presence per shard (op 3, or IDENTIFY's ``presence``)."""
        return [
            {"shard": list(p.shard), "presence": p.presence, "at": p.at}
            for p in sorted(self.gateway.presences.values(), key=lambda p: (p.shard[1], p.shard[0]))
        ]

    # ---- messages (message_store.py) ---------------------------------------------------

    def channel_messages(self, channel_id: int) -> list[dict[str, Any]]:
        """Every remembered message of a channel (injected and bot), oldest first."""
        return self.messages.channel_messages(channel_id)

    def find_message(self, channel_id: int, message_id: str) -> dict[str, Any] | None:
        """A remembered message by id, or None."""
        return self.messages.find_message(channel_id, message_id)

    async def inject_message(
        self, channel_id: int | str, content: str, author_id: int | str | None = None
    ) -> dict[str, Any]:
        """A user posts ``content`` in a channel (:meth:`MessageStore.inject_message`)."""
        return await self.messages.inject_message(channel_id, content, author_id)

    def add_reaction(
        self,
        channel_id: int | str,
        message_id: int | str,
        emoji: str,
        user_id: int | str | None = None,
    ) -> dict[str, Any]:
        """A user or the bot reacts to a message (:meth:`MessageStore.add_reaction`)."""
        return self.messages.add_reaction(channel_id, message_id, emoji, user_id)

    def record_bot_message(
        self, channel_id: int, body: dict[str, Any], overrides: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """Record and dispatch a message the bot POSTed (:meth:`MessageStore.record_bot_message`)."""
        return self.messages.record_bot_message(channel_id, body, overrides)

    def edit_bot_message(
        self, channel_id: int, message_id: str, body: dict[str, Any]
    ) -> dict[str, Any] | None:
        """Apply a PATCH to a bot message; dispatches MESSAGE_UPDATE."""
        return self.messages.edit_bot_message(channel_id, message_id, body)

    def delete_message(self, channel_id: int, message_id: str) -> bool:
        """Delete a remembered message; dispatches MESSAGE_DELETE."""
        return self.messages.delete_message(channel_id, message_id)

    def bot_messages(self, channel_id: int | str) -> list[dict[str, Any]]:
        """Messages bots posted in a channel (the latest 1,000), oldest first."""
        return self.messages.bot_messages(channel_id)

    def all_bot_messages(self) -> list[dict[str, Any]]:
        """Every message bots posted (the latest 1,000 per channel), in posting order."""
        return self.messages.all_bot_messages()

    async def wait_for_bot_messages(
        self, channel_id: int | str, count: int = 1, timeout: float = 10.0
    ) -> list[dict[str, Any]]:
        """Wait until a channel holds at least ``count`` bot messages; returns them
        (:meth:`MessageStore.wait_for_bot_messages`). Raises ``TimeoutError`` after ``timeout``."""
        return await self.messages.wait_for_bot_messages(channel_id, count, timeout)

    # ---- interactions (a user acting; see interactions.py) ------------------------------

    async def interact(self, **body: Any) -> dict[str, Any]:
        """A user uses a command, clicks a component or submits a modal (``POST
        /interactions`` of the control API, same fields); waits up to ``wait`` seconds
        (3.5) for the bot's first response and returns the interaction's summary."""
        return await self.interactions.interact(body)

    # ---- fault injection ---------------------------------------------------------------

    def _sessions(self, shard_id: int, shard_count: int | None) -> list[Session]:
        found = self.gateway.find_sessions(shard_id, shard_count)
        if not found:
            raise SandboxError(f"no session for shard {shard_id}")
        return found

    async def disconnect(
        self, shard_id: int, code: int = CLOSE_UNKNOWN_ERROR, shard_count: int | None = None
    ) -> int:
        """Close the shard's connection(s) with ``code``. Returns how many were closed."""
        if not 1000 <= code <= 4999:
            raise SandboxError("code must be a websocket close code (1000-4999)")
        closed = 0
        for s in self._sessions(shard_id, shard_count):
            conn = s.conn
            if conn is not None and not conn.closed:
                await conn.close(code)
                closed += 1
        return closed

    async def reconnect(self, shard_id: int, shard_count: int | None = None) -> int:
        """Send op 7 RECONNECT; the client should reconnect and RESUME."""
        n = 0
        for s in self._sessions(shard_id, shard_count):
            if s.conn is not None and not s.conn.closed:
                s.conn.enqueue(RECONNECT)
                n += 1
        return n

    async def invalidate(
        self, shard_id: int, shard_count: int | None = None, resumable: bool = False
    ) -> int:
        """Send op 9 INVALID_SESSION; unless ``resumable`` the session is ended."""
        n = 0
        for s in self._sessions(shard_id, shard_count):
            if s.conn is not None and not s.conn.closed:
                s.conn.enqueue(INVALID_SESSION_RESUMABLE if resumable else INVALID_SESSION)
                n += 1
            if not resumable:
                self.gateway.end_session(s)
        return n

    async def zombie(self, shard_id: int, shard_count: int | None = None) -> int:
        """Stop ACKing heartbeats and sending anything on the shard's connection(s).

        Events keep being buffered, so a client that detects the zombie and RESUMEs
        loses nothing.
        """
        n = 0
        for s in self._sessions(shard_id, shard_count):
            if s.conn is not None and not s.conn.closed:
                s.conn.zombie = True
                n += 1
        return n

    async def reset_token(self, new_token: str) -> None:
        """Simulate Discord resetting the bot token: the old one stops working everywhere.

        Live connections close with 4004, sessions end, and REST answers 401 to the old
        token (what happens to a bot that burns through its session starts).
        """
        if not new_token:
            raise SandboxError("token must not be empty")
        self.token = new_token
        self.gateway.token = new_token
        for session in list(self.gateway.sessions.values()):
            conn = session.conn
            self.gateway.end_session(session)
            if conn is not None and not conn.closed:
                await conn.close(4004)

    def force_rate_limit(
        self, count: int = 1, retry_after: float = 1.0, is_global: bool = False
    ) -> None:
        """Answer the next ``count`` REST requests with 429 (``retry_after`` seconds)."""
        if count < 0 or retry_after < 0:
            raise SandboxError("count and retry_after must be 0 or more")
        self.rest_limiter.force(count, retry_after, is_global)

    # ---- load generator ----------------------------------------------------------------

    async def load(self, rate: float, seconds: float, content: str = "load") -> int:
        """Stream MESSAGE_CREATE at ``rate`` per second for ``seconds`` over all live shards.

        Each connected session gets messages in its first guild's first text channel, in
        turn. Returns how many were dispatched. This is the fast path: the payload is
        rendered once per session and only the id and seq change.
        """
        if rate <= 0 or seconds < 0:
            raise SandboxError("rate must be positive and seconds 0 or more")
        total = int(rate * seconds)
        targets = [s for s in self.gateway.live_sessions() if s.intents & INTENT_GUILD_MESSAGES]
        if not targets or total == 0:
            return 0
        templates: list[tuple[Session, str, str]] = []
        marker = "__SANDBOX_ID__"
        for s in targets:
            ids = self.world.guild_ids_for_shard(*s.shard)
            if not ids:
                continue
            gid = ids[0]
            cid = self.world.text_channel_ids(gid)[0]
            author = self.world.user(self.world.member_ids(self.world.guild_index(gid) or 0)[0])
            assert author is not None
            payload = self.gateway.message_payload(0, cid, gid, content, author)
            payload["id"] = marker
            if not s.intents & INTENT_MESSAGE_CONTENT:
                payload["content"] = ""
            text = dumps(payload)
            head, tail = text.split(f'"{marker}"')
            templates.append((s, head, tail))
        if not templates:
            return 0
        loop = asyncio.get_running_loop()
        start = loop.time()
        sent = 0
        n = len(templates)
        next_snowflake = self.gateway.next_snowflake
        tick = 0.005
        while sent < total:
            elapsed = loop.time() - start
            # Cap the batch so writer tasks get the loop regularly even at absurd rates.
            due = min(total, int(rate * elapsed) + 1, sent + 2000)
            while sent < due:
                s, head, tail = templates[sent % n]
                if s.ended:
                    sent += 1
                    continue
                mid = f'"{next_snowflake()}"'
                s.push("MESSAGE_CREATE", (head, mid, tail), f"{head}{mid}{tail}")
                sent += 1
            # Backpressure: never let an outbox grow without bound if a client is slow.
            backlog = max((len(s.conn.outbox) for s, _, _ in templates if s.conn), default=0)
            if backlog > 50_000:
                await asyncio.sleep(tick)
            elif sent < total:
                await asyncio.sleep(max(0.0, start + (sent / rate) - loop.time()) or 0)
        return sent

    # ---- raw gateway helpers (tests) ---------------------------------------------------

    def dispatch_raw(
        self, shard_id: int, event: str, data: Any, shard_count: int | None = None
    ) -> int:
        """Dispatch an arbitrary event to a shard's session(s). Returns how many got it."""
        n = 0
        text = dumps(data)
        for s in self._sessions(shard_id, shard_count):
            s.push(event, text)
            n += 1
        return n


async def _not_found(request: web.Request) -> web.Response:
    return error(404, "404: Not Found")


__all__ = ["Sandbox", "SandboxError", "frame"]
