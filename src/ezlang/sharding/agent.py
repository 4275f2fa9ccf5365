"""The shard agent: the manager's representative inside every shard process.

It owns the child end of the IPC channel (see :mod:`ezlang.sharding.ipc`) and

* fetches the shard's configuration (token included) with a ``hello`` request, so the token is
  never in the child's argv or environment;
* sends a heartbeat every ``heartbeat_interval`` from the bot's own event loop, so a handler
  stuck in an endless loop stops the heartbeats and the manager kills and respawns the shard;
* asks the manager's identify queue before every IDENTIFY (``before_identify``);
* answers ``eval`` (EasyLang code with ``client`` bound to the read-only client view; each
  distinct code string is compiled once and cached), ``fetch`` (a dotted path of the client
  view), ``stats`` and ``shutdown``;
* reports status changes (identifying, ready, resuming, reconnecting) and why the gateway
  closed (fatal close codes are never retried);
* exits when the manager goes away (end-of-file on the channel; a watchdog thread covers an
  event loop that is too busy to notice).

It is the :class:`ezlang.discord.plugin.ShardPlugin` of ``.ez`` bots and is attached to the
client of ``.py`` bots by :mod:`ezlang.sharding.pybot`. Its parts: the ``eval``/``fetch``
answers (:mod:`ezlang.sharding.shard_eval`), plain values (:mod:`ezlang.sharding.plain`), the
way out of the process (:mod:`ezlang.sharding.shard_exit`).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import threading
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp

from ezlang.discord.counters import COUNTERS, trace_config
from ezlang.discord.latency import measured_latency
from ezlang.lang.asyncbridge import KeptRunner
from ezlang.lang.errors import EzError
from ezlang.sharding import rest_limits
from ezlang.sharding.ipc import Channel, ChannelClosed
from ezlang.sharding.plain import MAX_DEPTH, Unsendable, plain_arg, to_plain
from ezlang.sharding.policy import FATAL_CLOSE_CODES, explain_close_code
from ezlang.sharding.resume import KEEP_SESSION_CLOSE, SessionLink
from ezlang.sharding.shard_eval import ShardEval, resolve_path
from ezlang.sharding.shard_exit import bounded, flush_and_exit, manager_alive, orphan_watchdog, warn

#: Environment variables the manager sets for a shard (never the token).
ENV_FD = "EZLANG_SHARD_IPC_FD"
ENV_SHARD_ID = "EZLANG_SHARD_ID"
ENV_SHARD_COUNT = "EZLANG_SHARD_COUNT"
ENV_MANAGER_PID = "EZLANG_MANAGER_PID"

#: Seconds a shard that handed its session over lets its running handlers finish.
HANDOVER_DRAIN = 3.0

#: Exit code of a shard that must not be restarted (fatal close code, rejected token).
EXIT_FATAL = 78

#: Why a shard stopped when Discord refused its login (HTTP 401 on GET /users/@me).
LOGIN_REJECTED = (
    "Discord rejected the bot token when the shard logged in (401 Unauthorized on GET "
    "/users/@me): the token was reset or revoked after the manager started. Copy the new "
    "token from https://discord.com/developers/applications → your app → Bot → Reset Token "
    "and restart the manager with it"
)

_agent: ShardAgent | None = None


def in_shard() -> bool:
    """True inside a process started by a shard manager."""
    return ENV_FD in os.environ


def current() -> ShardAgent | None:
    """The connected agent of this shard process, if any."""
    return _agent


class ShardAgent(ShardEval):
    """One shard's link to its manager (the ``ShardPlugin`` of this process)."""

    def __init__(self, channel: Channel, config: dict[str, Any]) -> None:
        self.channel = channel
        self.config = config
        self.shard_id: int = int(config["shard_id"])
        self.shard_count: int = int(config["shard_count"])
        self.token: str = config["token"]
        self.api: str | None = config.get("api")
        self.gateway: str | None = config.get("gateway")
        self.heartbeat_interval = float(config.get("heartbeat_interval", 5.0))
        self.client: Any = None
        self.view: Any = None
        self._snippets: dict[str, Any] = {}
        self._runner = KeptRunner()  # the greenlet evals run in, kept (see eval_now)
        self._reader: asyncio.Future[Any] | None = None  # the task running client.connect
        self._sockets: set[Any] = set()  # gateway websockets (see close_client)
        self._tasks: set[asyncio.Task[Any]] = set()
        self._status = "starting"
        self._ready_at: float | None = None
        self._exit_reported = False
        self._shutting_down = False
        self._process: Any = None  # psutil.Process of this shard, made on first stats
        #: The gateway session as the manager knows it; ``config["resume"]``: one to resume.
        self.session = SessionLink(self, config.get("resume"), bool(config.get("handover")))
        #: The close code of a stop: 1000 ends the session; KEEP_SESSION_CLOSE keeps it.
        self.close_code = 1000

    # --- connecting -----------------------------------------------------------------------

    @classmethod
    async def connect(cls) -> ShardAgent:
        """Connect to the manager through the inherited socket and fetch the configuration."""
        global _agent
        if _agent is not None:
            return _agent
        fd = int(os.environ[ENV_FD])
        sock = socket.socket(fileno=fd)
        sock.setblocking(False)
        channel = await Channel.from_socket(sock)
        # Handlers are bound after the agent exists; nothing arrives before we say hello.
        channel.start()
        config = await channel.request("hello", {"pid": os.getpid()}, timeout=30)
        agent = cls(channel, config)
        if isinstance(config.get("max_eval_bytes"), int):
            channel.max_payload = config["max_eval_bytes"]  # the manager's limit, both ways
        channel._on_request = agent._on_request
        agent._start_background()
        _agent = agent
        return agent

    def _start_background(self) -> None:
        self._spawn(self._heartbeat_loop())
        self._spawn(self._watch_channel())
        manager_pid = int(os.environ.get(ENV_MANAGER_PID, "0") or 0)
        if manager_pid:
            threading.Thread(
                target=orphan_watchdog, args=(manager_pid,), daemon=True, name="ezlang-watchdog"
            ).start()

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _heartbeat_loop(self) -> None:
        # Sent from the bot's own event loop: if a handler blocks the loop, heartbeats stop.
        while not self.channel.is_closed:
            self.channel.send_event("hb")
            await asyncio.sleep(self.heartbeat_interval)

    async def _watch_channel(self) -> None:
        await self.channel.closed.wait()
        if self._shutting_down:
            return
        # The manager is gone: close the gateway politely (1000) if we can, then leave.
        self._shutting_down = True
        try:
            await bounded(self.close_client(), 2.0, "closing the gateway connection")
        finally:
            flush_and_exit(0)

    def point_discord_py(self) -> None:
        """Send this process's discord.py REST and gateway traffic where the manager says."""
        if not self.api:
            return
        from ezlang.discord.connect import point_discord_py_at

        point_discord_py_at(self.api, self.gateway)

    # --- ShardPlugin ------------------------------------------------------------------------

    async def before_identify(self, shard_id: int, initial: bool) -> None:
        """Wait for the manager's identify queue (called before every IDENTIFY)."""
        self.set_status("identifying")
        try:
            await self.channel.request("identify", {"initial": initial})
        except ChannelClosed:
            # The manager is gone: never IDENTIFY. _watch_channel closes the client (which
            # cancels this wait) and exits; the watchdog thread exits anyway if that sticks.
            await asyncio.get_running_loop().create_future()

    def client_created(self, client: Any, view: Any = None) -> None:
        """Watch ``client``: status from its events, exit reasons from its connect loop."""
        self.client = client
        if view is None:
            from ezlang.discord.view import ClientView

            view = ClientView(client)
        self.view = view
        client.before_identify_hook = self._identify_hook
        original_dispatch = client.dispatch
        original_connect = client.connect
        original_login = client.login

        counters = COUNTERS

        def dispatch(event: str, /, *args: Any, **kwargs: Any) -> Any:
            if event == "socket_event_type":  # every gateway dispatch, by its type
                counters.event(args[0])
            elif event == "ready":
                self.session.on_ready()
                self._ready_at = time.monotonic()
                self.set_status("ready")
            elif event == "resumed":
                counters.resumes += 1
                # A cold resume (a saved session, no READY in this process) is ready once
                # its cache is built (SessionLink dispatches "ready" then).
                if not self.session.on_resumed():
                    self.set_status("ready")
            elif event == "disconnect" and not client.is_closed():
                ws = getattr(client, "ws", None)
                resumable = ws is not None and getattr(ws, "session_id", None)
                self.set_status("resuming" if resumable else "reconnecting")
            return original_dispatch(event, *args, **kwargs)

        async def connect(*, reconnect: bool = True) -> None:
            import discord

            # The gateway reader runs in a task of its own, so close_client() can stop it
            # without cancelling the bot's own task (a discord.py bot's main()).
            reader = self._reader = asyncio.ensure_future(original_connect(reconnect=reconnect))
            try:
                await reader
            except asyncio.CancelledError:
                if self._shutting_down and self.close_code != 1000:
                    await self._drop_connection(client)
                task = asyncio.current_task()
                if self._shutting_down and not (task is not None and task.cancelling()):
                    return  # close_client() stopped the reader: a normal end of connect()
                raise
            except discord.PrivilegedIntentsRequired:
                self.report_exit(close_code=4014)
                raise
            except discord.ConnectionClosed as exc:
                self.report_exit(close_code=exc.code)
                raise

        async def login(token: str) -> None:
            import discord

            try:
                await original_login(token)
            except discord.LoginFailure:
                # The token worked when the manager started (GET /gateway/bot) and was reset
                # since: every retry would fail the same way, so the shard must not be retried.
                self.report_exit(error=LOGIN_REJECTED, fatal=True)
                raise

        client.dispatch = dispatch
        _count_rest_and_errors(client)
        rest_limits.install(self, client)  # after the counters' trace: it extends it
        _report_identify_sends(self)
        self._track_sockets(client)
        # The connection state keeps its own reference to dispatch (READY goes through it).
        state = getattr(client, "_connection", None)
        if state is not None and hasattr(state, "dispatch"):
            state.dispatch = dispatch
        client.connect = connect
        client.login = login
        self.session.attach(client)

    async def _drop_connection(self, client: Any) -> None:
        """Close the stopped reader's connection with :attr:`close_code` (not 1000), before
        discord.py's own ``Client.close()`` would end the session with 1000."""
        ws = getattr(client, "ws", None)
        if ws is not None and ws.open:
            with contextlib.suppress(OSError, TimeoutError, aiohttp.ClientError):
                await asyncio.wait_for(ws.close(self.close_code), 3.0)

    def _track_sockets(self, client: Any) -> None:
        # Every gateway socket, so close_client() can close one that discord.py has not taken
        # over yet (a shard waiting for its IDENTIFY slot) with 1000 instead of dropping it.
        http: Any = getattr(client, "http", None)
        original = getattr(http, "ws_connect", None)
        if original is None:
            return
        sockets = self._sockets

        async def ws_connect(url: str, *, compress: int = 0) -> Any:
            sock = await original(url, compress=compress)
            for old in [s for s in sockets if s.closed]:
                sockets.discard(old)
            sockets.add(sock)
            return sock

        http.ws_connect = ws_connect

    async def _identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        await self.before_identify(self.shard_id if shard_id is None else shard_id, initial)

    # --- status -----------------------------------------------------------------------------

    def set_status(self, status: str, **extra: Any) -> None:
        """Tell the manager about a status change."""
        if status == self._status and not extra:
            return
        self._status = status
        data: dict[str, Any] = {"status": status, **extra}
        if status == "ready" and self.client is not None:
            data["guilds"] = len(self.client.guilds)
        self.channel.send_event("status", data)

    def report_exit(
        self, *, close_code: int | None = None, error: str | None = None, fatal: bool | None = None
    ) -> None:
        """Tell the manager why this shard is about to stop (once); ``fatal``: never retry it
        (by default, whether ``close_code`` is one of the fatal close codes)."""
        if self._exit_reported:
            return
        self._exit_reported = True
        if fatal is None:
            fatal = close_code in FATAL_CLOSE_CODES
        if error is None and close_code is not None:
            error = explain_close_code(close_code)
        self.channel.send_event(
            "exit_reason", {"close_code": close_code, "error": error, "fatal": fatal}
        )

    # --- requests from the manager ------------------------------------------------------------

    def _on_request(self, op: str, data: Any) -> Any:
        # Answered inline where possible (see Channel._dispatch_request): no task per call.
        if op == "eval":
            return self.eval_now(data["code"], data.get("timeout"), data.get("context"))
        if op == "fetch":
            return self.fetch(data["path"])
        if op == "stats":
            return self.stats()
        if op == "shutdown":
            if not self._shutting_down:  # (a retiring shard is on its way out already)
                if isinstance(data, dict) and data.get("keep_session"):
                    # Freeze, report the final seq, let running handlers finish, then drop
                    # the connection without ending the session: exactly a hand-over.
                    self.hand_over()
                else:
                    self._spawn(self.shutdown())
            return True
        if op == "handover":
            return self.hand_over()
        if op == "ping":
            return True
        if op == "message":  # from another shard (send_to_shard)
            from ezlang.sharding import messaging

            return messaging.deliver(self.shard_id, data)
        raise EzError("ShardingError", f"unknown request {op!r}")

    def stats(self) -> dict[str, Any]:
        """This shard's numbers for ``get_shard_stats``."""
        import psutil

        client = self.client
        ready = bool(client is not None and client.is_ready())
        ping: int | None = None
        guilds = users = 0
        if client is not None:
            # None until a heartbeat sent after READY is answered (ezlang.discord.latency).
            latency = measured_latency(client)
            ping = None if latency is None else round(latency * 1000)
            guilds = len(client.guilds)
            users = sum((g.member_count or 0) for g in client.guilds)
        if self._process is None:
            self._process = psutil.Process()
        rss = self._process.memory_info().rss
        return {
            "shard_id": self.shard_id,
            "guild_count": guilds,
            "user_count": users,
            "ping": ping,
            "memory_mb": round(rss / (1024 * 1024), 1),
            "uptime_ms": round((time.monotonic() - self._ready_at) * 1000)
            if ready and self._ready_at is not None
            else 0,
            "ready": ready,
            **COUNTERS.snapshot(),
            **rest_limits.REST.snapshot(),
        }

    async def close_client(self) -> None:
        """Close the bot's gateway connection with :attr:`close_code` (1000, as a normal stop).

        discord.py's ``Client.close()`` alone closes with 4000: its gateway reader wakes up
        first and closes the socket itself. A ``.ez`` bot is stopped by the bot runtime
        (``ezlang.discord.runtime``), which stops that reader first; a discord.py bot gets the
        same treatment here (its reader is the task the agent runs ``connect`` in).
        """
        client = self.client
        if client is None:
            return
        from ezlang.discord import runtime as bot_runtime

        bot = bot_runtime.current()
        if bot is not None and bot.client is client:
            await bot.stop()
            return
        reader = self._reader
        if reader is not None and not reader.done():
            reader.cancel()
            # asyncio.wait, not `await reader`: on Python 3.11 a wait_for() inside discord.py
            # can swallow the cancellation, and the reader would then never end.
            done, _ = await asyncio.wait([reader], timeout=5.0)
            if not done:
                warn("the gateway reader did not stop within 5 s of being cancelled")
        ws = getattr(client, "ws", None)
        current = getattr(ws, "socket", None)
        for sock in list(self._sockets):  # one still waiting to IDENTIFY, say
            if sock is not current and not sock.closed:
                try:
                    await asyncio.wait_for(sock.close(code=1000), 3.0)
                except (OSError, TimeoutError, aiohttp.ClientError):
                    pass  # the other end is gone already: nothing left to close politely
        await client.close()

    def hand_over(self) -> dict[str, Any] | None:
        """Give this shard's session to the process replacing it (rolling restart).

        Stops dispatching at once (:meth:`SessionLink.freeze`) and returns the session with
        its final ``seq``; then lets the handlers already running finish (up to
        :data:`HANDOVER_DRAIN` s) and stops without ending the session.
        """
        session = self.session.freeze()
        self._shutting_down = True
        self.close_code = KEEP_SESSION_CLOSE
        self._spawn(self._retire())
        return session

    async def _retire(self) -> None:
        from ezlang.discord import runtime as bot_runtime

        bot = bot_runtime.current()
        running = [t for t in (bot.handler_tasks if bot is not None else ()) if not t.done()]
        if running:
            await asyncio.wait(running, timeout=HANDOVER_DRAIN)
        await self.shutdown(keep_session=True)

    async def request_handover(self) -> dict[str, Any] | None:
        """Ask the manager for the session of the process this one replaces (``None``: it
        had none, so IDENTIFY)."""
        try:
            session = await self.channel.request("handover", None)
        except ChannelClosed:
            # The manager is gone: never connect; _watch_channel ends this process.
            await asyncio.get_running_loop().create_future()
        return session if isinstance(session, dict) else None

    async def shutdown(self, keep_session: bool = False) -> None:
        """Close the gateway, run the program's shutdown hooks, exit 0.

        ``keep_session``: stop reading, tell the manager the final ``seq`` and drop the
        connection without ending the session, so that a later process RESUMEs it (manager
        stopped with SIGTERM, ``stop_shards({keep_sessions: true})``). Otherwise the session
        is ended with close code 1000 and forgotten.
        """
        from ezlang.lang import context

        self._shutting_down = True
        self.set_status("dead")
        try:
            if keep_session:
                self.close_code = KEEP_SESSION_CLOSE
            await bounded(self.close_client(), 5.0, "closing the gateway connection")
            if keep_session:
                self.session.flush()  # the reader has stopped: this seq is final
            else:
                self.session.ended()
            await bounded(context.current().run_shutdown_hooks(), 3.0, "the shutdown hooks")
        finally:
            flush_and_exit(0)

    # --- calls made by the bot itself, routed through the manager -----------------------------

    async def route(self, op: str, args: dict[str, Any], timeout: float | None = None) -> Any:
        """Run a manager operation (``broadcast_eval``, ``fetch_client_values``, ``stats``)."""
        try:
            return await self.channel.request("route", {"op": op, "args": args}, timeout)
        except ChannelClosed:
            raise EzError("ShardingError", "the shard manager is gone") from None
        except TimeoutError:
            raise EzError(
                "TimeoutError", f"the shard manager did not answer {op} within {timeout:g} s"
            ) from None


def _count_rest_and_errors(client: Any) -> None:
    """Count REST requests (an aiohttp trace on discord.py's session, made at login) and the
    errors of a discord.py bot's own handlers (``.ez`` handlers are counted by the runtime)."""
    http = getattr(client, "http", None)
    if http is not None and getattr(http, "http_trace", None) is None:
        http.http_trace = trace_config()
    original_on_error = client.on_error

    async def on_error(event_method: str, /, *args: Any, **kwargs: Any) -> None:
        COUNTERS.handler_errors += 1
        await original_on_error(event_method, *args, **kwargs)

    client.on_error = on_error


_identify_patched = False


def _report_identify_sends(agent: ShardAgent) -> None:
    """Tell the manager when each IDENTIFY has actually left (see LocalIdentifyQueue).

    discord.py calls our identify hook and then sends; only a wrapper around its
    ``DiscordWebSocket.identify`` knows when the send is done. Patched once per shard process.
    """
    global _identify_patched
    if _identify_patched:
        return
    _identify_patched = True
    from discord.gateway import DiscordWebSocket

    original = DiscordWebSocket.identify

    async def identify(self: Any) -> None:
        await original(self)
        agent.channel.send_event("identify_sent", {"at": time.monotonic()})

    DiscordWebSocket.identify = identify  # type: ignore[method-assign]


@contextlib.asynccontextmanager
async def ez_setup(ctx: Any) -> AsyncIterator[ShardAgent]:
    """The ``setup`` of ``run_file`` for a ``.ez`` shard: connect, install the plugin."""
    agent = await ShardAgent.connect()
    ctx.options["token"] = agent.token
    if agent.api:
        ctx.options["api"] = agent.api
    if agent.gateway:
        # What the manager's GET /gateway/bot said: bot_start() connects there without
        # asking again (one REST call less per shard start).
        ctx.options["gateway"] = agent.gateway
    ctx.options["shard_id"] = agent.shard_id
    ctx.options["shard_count"] = agent.shard_count
    agent.point_discord_py()
    from ezlang.discord import plugin

    plugin.install(agent)
    yield agent


# Moved to their own modules; still imported from here by the rest of ezlang and the tests.
__all__ = [
    "MAX_DEPTH",
    "ShardAgent",
    "Unsendable",
    "current",
    "in_shard",
    "manager_alive",
    "plain_arg",
    "resolve_path",
    "to_plain",
]
