"""The bot runtime: one discord.py client per program, EasyLang handlers, presence and intents.

A :class:`BotRuntime` belongs to the current ``RunContext`` (one per ``ezlang run``; tests make
their own). ``bot_start`` logs in (so a bad token fails at the ``bot_start`` line), then runs
the gateway connection as a task the context keeps alive; SIGINT/SIGTERM run :meth:`stop`,
which closes the gateway with code 1000.

Events reach EasyLang through the clients' ``dispatch`` (:mod:`ezlang.discord.clients`):
discord.py's event names are
mapped to the discord.js names EasyLang users know, the arguments are converted to plain
EasyLang values once per event, and every handler runs in its own task through
``call_async`` — concurrently, as in JavaScript — so a slow handler never holds up the
gateway or the other handlers. Handler tasks are owned by the runtime and cancelled by stop.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import time
from collections import OrderedDict
from typing import Any

import aiohttp
import discord

from ezlang.discord import connect, events, plugin, presence, server_events
from ezlang.discord.clients import (
    EzAutoShardedClient,
    EzClient,
    IdentifyGate,
    shard_readers,
)
from ezlang.discord.counters import COUNTERS
from ezlang.discord.handlers import Handler, _arity, handler_options  # noqa: F401
from ezlang.discord.intents import (  # noqa: F401  (part of this module's interface)
    DEFAULT_INTENTS,
    PRIVILEGED_INTENTS,
    default_intents,
    parse_intents,
    privileged_of,
)
from ezlang.discord.logs import install_discord_logging
from ezlang.discord.presence import (  # noqa: F401  (part of this module's interface)
    ACTIVITY_TYPES,
    DEFAULT_STREAM_URL,
    STATUSES,
)
from ezlang.discord.view import ClientView
from ezlang.lang import context as context_mod
from ezlang.lang import format_error, to_ez_error
from ezlang.lang.asyncbridge import call_async
from ezlang.lang.errors import EzError
from ezlang.lang.values import to_repr

_log = logging.getLogger("ezlang.discord")

#: Event names of ``listen``, as discord.js users know them (the table: events.py).
EVENTS = tuple(events.EVENTS)


# Close codes Discord uses to refuse a connection for good (never retried), in words.
_FATAL_CLOSE = {
    4004: connect.BAD_TOKEN,
    4010: "Discord refused the connection: invalid shard (close 4010); the shard id must be "
    "smaller than the shard count",
    4011: "Discord refused the connection: this bot is in too many guilds for one connection "
    "and must be sharded (close 4011); run it under a shard manager (see docs/SHARDING.md)",
    4012: "Discord refused the connection: invalid API version (close 4012)",
    4013: "Discord refused the connection: invalid intents (close 4013); check set_intents()",
}


def rest_error(action: str, exc: discord.HTTPException) -> EzError:
    """A failed REST call as a DiscordError carrying Discord's own message."""
    reason = getattr(exc.response, "reason", "") or ""
    text = exc.text or "(no message)"
    code = f" (error code {exc.code})" if exc.code else ""
    return EzError(
        "DiscordError", f"{action} failed: {exc.status} {reason}: {text}{code}".replace("  ", " ")
    )


def _error_value(exc: BaseException, event: str) -> dict[str, Any]:
    """What an ``error`` handler receives: ``{kind, message, event}``."""
    ez = exc if isinstance(exc, EzError) else to_ez_error(exc)
    return {"kind": ez.kind, "message": ez.message, "event": event}


def _forget_cancelled_read(socket: Any) -> None:
    """Undo the 1006 that aiohttp records when a reader we cancelled was waiting on ``socket``.

    With that code set, aiohttp's ``close()`` sends its close frame and drops the TCP
    connection without waiting for the peer's answering close frame; the peer (the sandbox's
    aiohttp, under load) can then fail answering and record 1006 instead of our 1000. Cleared,
    ``close()`` does the whole close handshake (RFC 6455 §7.1.1: the client waits for the
    server's close frame).
    """
    if getattr(socket, "_close_code", None) == aiohttp.WSCloseCode.ABNORMAL_CLOSURE:
        socket._close_code = None


class BotRuntime:
    """Everything one program's bot needs: client, handlers, presence, intents."""

    def __init__(self, ctx: context_mod.RunContext) -> None:
        self.ctx = ctx
        self.handlers: dict[str, list[Handler]] = {}
        self.intents = default_intents()
        self.status: discord.Status | None = None
        self.activity: discord.BaseActivity | None = None
        self.client: EzClient | EzAutoShardedClient | None = None
        self.view: ClientView | None = None
        self.task: asyncio.Task[None] | None = None
        self.handler_tasks: set[asyncio.Task[Any]] = set()
        # Recent messages by id (insertion order) for messageUpdate/messageDelete handlers.
        self.recent: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self.gate = IdentifyGate(1, connect.DEFAULT_IDENTIFY_WINDOW)
        self._shutdown_registered = False
        self._end_check_registered = False
        #: Message and reaction collectors, by id (``ezlang.discord.collectors``).
        self.collectors: dict[str, Any] = {}
        self.ended_collectors: OrderedDict[str, Any] = OrderedDict()
        #: Commands, component routes and waiters (``ezlang.discord.interactions.Router``).
        self.interactions: Any = None
        self._presence_dirty = False
        self._stopping = False
        # Strong references: a socket whose connecting coroutine was cancelled has no other
        # owner, and a garbage-collected websocket is dropped without a close frame (1006).
        self._sockets: set[Any] = set()

    # ---- handlers --------------------------------------------------------------------------

    def add_handler(self, event: Any, fn: Any, options: Any = None) -> None:
        """``listen(event, fn, options?)``: several handlers per event run in registration order.

        ``options`` may say ``{include_self: true}`` for ``messageCreate``: the bot's own
        messages then reach the handler too (by default they do not, so that a bot answering
        every message cannot answer itself in a loop).
        """
        if not isinstance(event, str):
            raise EzError("TypeError", f"listen() needs an event name string, not {to_repr(event)}")
        name = events.event_name(event)
        if name is None:
            raise EzError(
                "ValueError", f"unknown event {to_repr(event)}; events are: {', '.join(EVENTS)}"
            )
        if not callable(fn):
            raise EzError("TypeError", f"the handler for {to_repr(name)} must be a function")
        include_self = handler_options(options, name)
        where = events.check_on_listen(self, name)
        self.handlers.setdefault(name, []).append(Handler(fn, _arity(fn), include_self, where))
        self.expect_bot_start()

    def expect_bot_start(self) -> None:
        """Warn at the end of a program that registered handlers but never started the bot."""
        if self._end_check_registered:
            return
        self._end_check_registered = True
        self.ctx.at_program_end(self._check_started)

    def _check_started(self) -> None:
        routes = self.interactions is not None and self.interactions.declared()
        if self.client is None and (self.handlers or routes):
            events = ", ".join([*self.handlers, *([routes] if routes else [])])
            raise EzError(
                "DiscordError",
                f"the program registered event handlers ({events}) but never called "
                "bot_start(), so the bot never connected and no handler ran; add bot_start() "
                "after registering them",
            )

    def own_user_id(self) -> str | None:
        """The bot's own user id (as a string) once logged in."""
        client = self.client
        me = None if client is None else client._connection.user
        return None if me is None else str(me.id)

    def emit(self, event: str, args: tuple[Any, ...], *, own: bool = False) -> None:
        """Start every handler of ``event``, each in its own task, in registration order.

        ``own``: the event is the bot's own message, which only handlers that opted in see.
        """
        handlers = self.handlers.get(event)
        if not handlers:
            return
        loop = asyncio.get_running_loop()
        for handler in handlers:
            if own and not handler.include_self:
                continue
            n = handler.nargs
            call_args = args if n is None or n >= len(args) else args[:n]
            task = loop.create_task(self._run_handler(handler, event, call_args))
            self.handler_tasks.add(task)
            task.add_done_callback(self.handler_tasks.discard)

    def spawn(self, coro: Any) -> None:
        """Run ``coro`` as a task the runtime owns (cancelled by :meth:`stop`)."""
        task = asyncio.get_running_loop().create_task(coro)
        self.handler_tasks.add(task)
        task.add_done_callback(self.handler_tasks.discard)

    async def _run_handler(self, handler: Handler, event: str, args: tuple[Any, ...]) -> None:
        try:
            await call_async(handler.fn, *args)
        except Exception as exc:  # a user's mistake must not stop the bot
            self.report_handler_error(exc, event)

    def report_handler_error(self, exc: BaseException, event: str) -> None:
        """Print the error with its .ez position, or hand it to the ``error`` handlers."""
        COUNTERS.handler_errors += 1  # the shard's handler_errors stat and metric
        if event != "error" and self.handlers.get("error"):
            self.emit("error", (_error_value(exc, event),))
            return
        text = format_error(exc, debug=self.ctx.debug)
        print(
            f"error in a {event} handler (the bot keeps running):\n{text}",
            file=sys.stderr,
            flush=True,
        )

    # ---- discord.py events (messages and reactions: events.py) -----------------------------

    def on_ready(self, client: Any) -> None:
        first = client.ez_ready_at is None
        if first:
            client.ez_ready_at = time.monotonic()
        if self._presence_dirty:
            self._presence_dirty = False
            task = asyncio.get_running_loop().create_task(self._apply_presence())
            self.handler_tasks.add(task)
            task.add_done_callback(self.handler_tasks.discard)
        if isinstance(client, EzClient):
            self.emit("shardReady", (client.shard_id or 0,))
        # discord.py fires READY again after a session could not be resumed; like discord.js,
        # `ready` runs once (a handler that registers listeners must not do it twice), while
        # shardReady reports every new session.
        if first:
            self.emit("ready", (self.view,))

    def on_shard_event(self, client: Any, event: str, args: tuple[Any, ...]) -> None:
        if not self.handlers.get(event) or client.is_closed() and event != "shardDisconnect":
            return
        shard_id = args[0] if args else (client.shard_id or 0)
        if event == "shardDisconnect":
            ws = client.ws if isinstance(client, EzClient) else None
            code = getattr(ws, "_close_code", None) if ws is not None else None
            self.emit(event, ({"code": code, "shard_id": shard_id}, shard_id))
        else:
            self.emit(event, (shard_id,))

    async def before_identify(self, shard_id: int | None, initial: bool) -> None:
        shard_plugin = plugin.current()
        if shard_plugin is not None:
            await shard_plugin.before_identify(
                shard_plugin.shard_id if shard_id is None else shard_id, initial
            )
        else:
            await self.gate.acquire(shard_id or 0)

    # ---- lifecycle -------------------------------------------------------------------------

    def find_token(self, token: Any) -> str:
        """The token: argument, ``TOKEN=…``, ``--sandbox``'s, ``DISCORD_TOKEN``, then ``TOKEN``."""
        if token is None:
            token = (
                self.ctx.arguments.get("TOKEN")
                or self.ctx.options.get("token")
                or os.environ.get("DISCORD_TOKEN")
                or os.environ.get("TOKEN")
            )
        if token is None or token == "":
            raise EzError(
                "DiscordError",
                "no bot token: set the DISCORD_TOKEN environment variable or put "
                "DISCORD_TOKEN=… in a .env file next to the script, pass it to "
                "bot_start(token), or use --sandbox to try the bot offline",
            )
        if not isinstance(token, str):
            raise EzError("TypeError", "the bot token must be a string")
        token = token.strip()
        if token.lower().startswith("bot "):  # a pasted "Bot xxx" header value
            token = token[4:].strip()
        return token

    def running(self) -> bool:
        return self.client is not None and not self.client.is_closed()

    async def start(self, token_arg: Any = None) -> None:
        """``bot_start``: log in, then connect in the background; returns once connecting.

        ``GET /gateway/bot`` says where the gateway is and how many shards the bot needs. An
        unsharded bot asks it first, to choose between one connection and self-sharding. A
        shard process (plugin installed) is one shard whatever it says: it uses the gateway URL
        its manager supplies (``ctx.options["gateway"]``), and only without one asks after
        login, so that the plugin sees a rejected token through the client like any other
        refusal.
        """
        if self.running():
            raise EzError("DiscordError", "bot_start() was already called: the bot is running")
        token = self.find_token(token_arg)
        events.check_at_start(self)  # intents are final now
        api = connect.api_base(self.ctx.options)
        install_discord_logging(self.ctx.debug)
        shard_plugin = plugin.current()
        options: dict[str, Any] = {
            "intents": self.intents,
            "status": self.status,
            "activity": self.activity,
            # Chunking every guild at startup floods the gateway; only bots that asked for
            # members want it.
            "chunk_guilds_at_startup": self.intents.members,
        }
        client: EzClient | EzAutoShardedClient
        info: connect.GatewayInfo | None = None
        if shard_plugin is not None:
            # REST now (login); the gateway URL once GET /gateway/bot has answered.
            connect.point_discord_py_at(api, None)
            client = EzClient(
                shard_id=shard_plugin.shard_id, shard_count=shard_plugin.shard_count, **options
            )
        else:
            info = await self._gateway_info(api, token)
            connect.point_discord_py_at(api, info.url)
            if info.shards > 1:
                # Too many guilds for one connection and no manager: shard inside this
                # process, like discord.js's `shards: "auto"`, instead of failing with 4011.
                client = EzAutoShardedClient(shard_count=info.shards, **options)
            else:
                client = EzClient(**options)
        client.ez_runtime = self
        events.install_fast_message_path(self, client)
        server_events.install(self, client)
        self._track_gateway_sockets(client)
        self._stopping = False
        # discord.py puts the presence into IDENTIFY in the legacy ``game`` form; sending it
        # again as op 3 at READY makes it arrive in the current ``activities`` form too.
        self._presence_dirty = self.status is not None or self.activity is not None
        view = ClientView(client)
        if shard_plugin is not None:
            shard_plugin.client_created(client, view)
        try:
            await client.login(token)
            if info is None:
                info = self._supplied_gateway(shard_plugin) or await self._gateway_info(api, token)
        except discord.LoginFailure:
            await client.close()
            raise EzError("DiscordError", connect.BAD_TOKEN) from None
        except discord.HTTPException as exc:
            await client.close()
            raise rest_error("logging in", exc) from None
        except (TimeoutError, OSError) as exc:
            await client.close()
            raise EzError("DiscordError", f"cannot reach the Discord API at {api}: {exc}") from None
        except BaseException:
            await client.close()
            raise
        connect.point_discord_py_at(api, info.url)
        self.gate = IdentifyGate(info.max_concurrency, info.identify_window)
        self.client = client
        self.view = view
        self.task = asyncio.get_running_loop().create_task(self._run(client), name="ezlang bot")
        self.ctx.keep_alive(self.task)
        if not self._shutdown_registered:
            self._shutdown_registered = True
            self.ctx.on_shutdown(self.stop)

    def _track_gateway_sockets(self, client: Any) -> None:
        """Remember every gateway websocket, so stop() can close even one discord.py has not
        taken over yet (a shard still waiting to IDENTIFY) with 1000 instead of dropping it."""
        http = client.http
        original = http.ws_connect
        sockets = self._sockets

        async def ws_connect(url: str, *, compress: int = 0) -> Any:
            socket = await original(url, compress=compress)
            for old in [s for s in sockets if s.closed]:  # reconnects leave closed ones behind
                sockets.discard(old)
            sockets.add(socket)
            return socket

        http.ws_connect = ws_connect

    def _supplied_gateway(self, shard_plugin: Any) -> connect.GatewayInfo | None:
        """The gateway a shard manager already asked Discord for (``ctx.options["gateway"]``).

        A shard then needs no ``GET /gateway/bot`` of its own: the manager checked the session
        budget for every shard, and the identify limits are the plugin's (its queue).
        """
        url = self.ctx.options.get("gateway")
        if shard_plugin is None or not isinstance(url, str) or not url:
            return None
        return connect.GatewayInfo(
            url=url,
            shards=max(1, int(shard_plugin.shard_count or 1)),
            max_concurrency=1,
            identify_window=connect.DEFAULT_IDENTIFY_WINDOW,
            remaining=1,
            reset_after_ms=0,
        )

    async def _gateway_info(self, api: str, token: str) -> connect.GatewayInfo:
        info = await connect.fetch_gateway(api, token)
        if info.remaining <= 0:
            raise EzError(
                "DiscordError",
                "Discord allows no more gateway sessions for this bot today "
                f"(session start limit reached; resets in {info.reset_after_ms // 1000} s)",
            )
        return info

    async def _run(self, client: EzClient | EzAutoShardedClient) -> None:
        """The gateway connection; a refusal by Discord becomes one clear DiscordError."""
        try:
            await client.connect(reconnect=True)
        except asyncio.CancelledError:
            if not self._stopping:
                raise
            # stop() cancelled the reader on purpose and closes with 1000 itself.
        except discord.PrivilegedIntentsRequired:
            raise EzError("DiscordError", self._privileged_message()) from None
        except discord.ConnectionClosed as exc:
            message = _FATAL_CLOSE.get(exc.code or 0)
            if message is None:
                message = f"the gateway connection closed with code {exc.code}: {exc.reason}"
            raise EzError("DiscordError", message) from None
        except (discord.GatewayNotFound, discord.HTTPException, OSError) as exc:
            raise EzError("DiscordError", f"cannot connect to the Discord gateway: {exc}") from None
        finally:
            # When stop() cancelled us, it closes the client itself (sockets first, cleanly).
            if not self._stopping and not client.is_closed():
                await client.close()

    def _privileged_message(self) -> str:
        asked = privileged_of(self.intents)
        switches = (
            ", ".join(f'{PRIVILEGED_INTENTS[n]} (for "{n}")' for n in asked) or "the ones used"
        )
        return (
            f"Discord refused the privileged intent(s) {', '.join(asked) or '?'} (close 4014). "
            f"Enable {switches} at https://discord.com/developers/applications → your app → "
            "Bot → Privileged Gateway Intents, or leave them out with set_intents([...])"
        )

    async def stop(self) -> None:
        """Close the gateway cleanly (close 1000) and stop the handlers; safe to call twice."""
        client, task = self.client, self.task
        if task is not None and not task.done() and task is not asyncio.current_task():
            # discord.py's Client.close() races its own reader: aiohttp wakes the reading
            # poll_event, which closes the socket with 4000 before close() can send 1000.
            # Stopping the reader first lets close() send a clean 1000 (the task's finally).
            # An AutoShardedClient still launching shards would otherwise keep retrying
            # them for seconds after close().
            self._stopping = True
            task.cancel()
            await asyncio.wait([task], timeout=15.0)
        if client is not None and not client.is_closed():
            # Every socket is closed here with 1000 and a full close handshake, with no reader
            # left on it: discord.py's close() would drop the sockets of shards still waiting
            # to IDENTIFY with its HTTP session, and its Shard.close() cancels a shard's reader
            # while closing, which makes aiohttp skip waiting for the peer's close frame (under
            # load the peer then recorded 1006: see _forget_cancelled_read).
            readers = shard_readers(client)
            for reader in readers:
                reader.cancel()
            if readers:
                await asyncio.wait(readers, timeout=5.0)
            wrappers = {
                id(ws.socket): ws for ws in getattr(client._connection, "ez_websockets", ())
            }
            for socket in list(self._sockets):
                if not socket.closed:
                    _forget_cancelled_read(socket)
                    # Through discord.py's websocket when there is one: its close also ends
                    # the heartbeat thread, which would otherwise outlive the event loop.
                    ws = wrappers.get(id(socket))
                    closing = ws.close(code=1000) if ws is not None else socket.close(code=1000)
                    try:
                        await asyncio.wait_for(closing, 5.0)
                    except (TimeoutError, OSError, aiohttp.ClientError) as exc:
                        # The peer is gone or slow: Discord sees a dropped connection (the
                        # session stays resumable); the bot still stops.
                        _log.warning("could not close a gateway connection cleanly: %r", exc)
            await client.close()
        self._sockets.clear()
        if task is not None and not task.done() and task is not asyncio.current_task():
            done, _ = await asyncio.wait([task], timeout=10.0)
            if not done:
                task.cancel()
        if self.collectors:
            from ezlang.discord import collectors

            collectors.end_all(self)
        current = asyncio.current_task()
        pending = [t for t in self.handler_tasks if t is not current and not t.done()]
        for t in pending:
            t.cancel()
        if pending:
            await asyncio.wait(pending, timeout=5.0)

    # ---- presence --------------------------------------------------------------------------

    def set_status(self, status: Any) -> None:
        self.status = presence.parse_status(status)

    def set_activity(self, text: Any, kind: Any = None, url: Any = None, *, what: str) -> None:
        """The activity shown under the bot's name: ``text`` of type ``kind`` (playing …)."""
        self.activity = presence.make_activity(text, kind, url, what=what)

    async def push_presence(self) -> None:
        """Send the presence now if connected; otherwise it goes out at IDENTIFY or READY."""
        client = self.client
        if client is None or client.is_closed():
            return
        if client.is_ready():
            await self._apply_presence()
        else:
            self._presence_dirty = True

    async def _apply_presence(self) -> None:
        client = self.client
        if client is None or client.is_closed():
            return
        await client.change_presence(status=self.status, activity=self.activity)

    # ---- actions ---------------------------------------------------------------------------

    def require_client(self, what: str) -> EzClient | EzAutoShardedClient:
        client = self.client
        if client is None or client.is_closed():
            raise EzError(
                "DiscordError",
                f"{what} needs a running bot: call it after bot_start(), for example inside "
                "on_ready or on_message",
            )
        return client


_state: tuple[context_mod.RunContext, BotRuntime] | None = None


def runtime() -> BotRuntime:
    """The bot runtime of the current program (made on first use)."""
    global _state
    ctx = context_mod.current()
    if _state is None or _state[0] is not ctx:
        _state = (ctx, BotRuntime(ctx))
    return _state[1]


def current() -> BotRuntime | None:
    """The bot runtime of the current program if it has one (never makes one).

    For code that may run outside an EasyLang program, such as the shard agent of a
    discord.py bot, which must not start a runtime just to find out there is none.
    """
    if _state is None:
        return None
    try:
        ctx = context_mod.current()
    except Exception:  # no program is running in this process
        return None
    return _state[1] if _state[0] is ctx else None
