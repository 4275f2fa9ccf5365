"""The shard side of sessions: report them, resume a saved one, notice a zombie connection.

:class:`SessionLink` lives in every shard process (owned by the agent) and does three jobs.

**Reporting.** After every gateway message discord.py has processed, the shard's
``{session_id, seq, resume_gateway_url}`` goes to the manager as one IPC event, coalesced per
event-loop turn (``loop.call_soon``): one small write per turn that saw dispatches, never one
per event, and always before the manager could need it. The report is queued *after* the
handler tasks the events created, so it leaves once their first step ran (an EasyLang
handler's synchronous part, up to its first pause). A replacement process therefore resumes
after the last event whose handler had started: events the dead process received but never
handed to a handler are replayed. A ``kill -9`` landing in the microseconds between a
handler's first step and the report makes that one event run again (at-least-once).

**Cold resume.** discord.py has no public way to start a client from a saved session
(upstream declined it, discord.py #2283). Its own reconnect path does exactly that: on a
``ReconnectWebSocket`` it calls ``DiscordWebSocket.from_client(client, resume=True,
session=…, sequence=…, gateway=resume_gateway_url)``, which sends RESUME instead of
IDENTIFY. We wrap that classmethod (once per process) so that the *first* connection of a
replacement process passes the saved session the same way; everything after is discord.py's
own logic: RESUMED → ``resumed``; op 9 ``d:false`` → it forgets the session and IDENTIFYs,
through ``before_identify_hook``, i.e. the manager's identify queue. A resumed process never
saw READY or the GUILD_CREATEs (Discord does not send them again), so once RESUMED arrives
the link fills the guild cache from ``GET /users/@me/guilds`` (partial guilds of this shard)
and then fires ``ready`` the way discord.py does at the end of READY.

**Zombie connections.** discord.py only notices a dead connection when *nothing* arrived
for 60 s (its ``heartbeat_timeout``); a connection that still delivers but no longer ACKs,
or one that went silent, is noticed here within one heartbeat interval plus
:data:`ZOMBIE_MARGIN`: no HEARTBEAT_ACK for that long → status ``resuming`` and the
connection closed with 4000, exactly what discord.py's keep-alive thread does after its 60 s
(Discord: close with a code other than 1000/1001, then RESUME).
"""

from __future__ import annotations

import asyncio
import sys
import time
from typing import TYPE_CHECKING, Any

import yarl

if TYPE_CHECKING:
    from ezlang.sharding.agent import ShardAgent

#: Seconds past one heartbeat interval without a HEARTBEAT_ACK before a connection counts as
#: a zombie (the watch polls every :data:`ZOMBIE_POLL`, so it is noticed within interval + 5 s).
ZOMBIE_MARGIN = 4.5
ZOMBIE_POLL = 0.25
#: Close code for a connection we drop but whose session must stay resumable (1000/1001 end
#: it); discord.py uses the same for its own reconnects.
KEEP_SESSION_CLOSE = 4000

_link: SessionLink | None = None
_patched = False


def _warn(message: str) -> None:
    print(f"ezlang: {message}", file=sys.stderr, flush=True)


class SessionLink:
    """One shard process's gateway session, as the manager should know it."""

    def __init__(
        self, agent: ShardAgent, saved: dict[str, Any] | None, handover: bool = False
    ) -> None:
        self.agent = agent
        #: This process replaces a running one: its first connection waits for the session
        #: the old process hands over (a rolling restart, ezlang.sharding.handover).
        self.handover = handover
        #: Set once this process handed its session over: it processes nothing more.
        self.frozen = False
        #: The session the manager offered, until the first connection takes it.
        self.saved = saved if isinstance(saved, dict) and saved.get("session_id") else None
        #: True while this process resumed a session without ever seeing its READY.
        self.cold = self.saved is not None or handover
        self.client: Any = None
        self._last: tuple[Any, ...] | None = None
        self._scheduled = False
        self._zombie_ws: Any = None
        self._warming: asyncio.Task[None] | None = None

    def attach(self, client: Any) -> None:
        """Watch ``client``'s gateway connections (called once the client exists)."""
        global _link
        self.client = client
        _link = self
        _patch_discord_py()
        self.agent._spawn(self._zombie_watch())

    # --- reporting ---------------------------------------------------------------------------

    def note(self, ws: Any) -> None:
        """A gateway message was processed on ``ws``: report the session this loop turn."""
        if not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self.flush, ws)

    def flush(self, ws: Any = None) -> None:
        """Send the session of ``ws`` (default: the client's) if it changed."""
        self._scheduled = False
        if ws is None:
            ws = getattr(self.client, "ws", None)
        if ws is None:
            return
        session_id = ws.session_id
        seq = ws.sequence
        url = str(ws.gateway) if session_id else None
        current = (session_id, seq, url)
        if current == self._last:
            return
        self._last = current
        self.agent.channel.send_event(
            "session", {"session_id": session_id, "seq": seq, "resume_gateway_url": url}
        )

    def current(self) -> dict[str, Any] | None:
        """The session now: ``{session_id, seq, resume_gateway_url}``, or ``None``."""
        ws = getattr(self.client, "ws", None)
        if ws is None or not ws.session_id:
            return None
        return {
            "session_id": ws.session_id,
            "seq": ws.sequence,
            "resume_gateway_url": str(ws.gateway),
        }

    def freeze(self) -> dict[str, Any] | None:
        """Stop processing gateway messages at once and return the session as it stands.

        Nothing received after this is dispatched or counted in ``seq``, so the process
        that RESUMEs the session gets every later event replayed; this process never
        connects again (see ``from_client`` below).
        """
        self.frozen = True
        self.flush()
        return self.current()

    def ended(self) -> None:
        """The session was ended on purpose (closed with 1000): nothing to resume."""
        self._last = (None, None, None)
        self.agent.channel.send_event("session", {"session_id": None})

    # --- cold resume -------------------------------------------------------------------------

    def take_saved(self) -> dict[str, Any] | None:
        """The saved session for the first connection (once)."""
        saved, self.saved = self.saved, None
        return saved

    def on_ready(self) -> None:
        """READY: a fresh session (after op 9, or no saved one); nothing left to warm."""
        self.cold = False

    def on_resumed(self) -> bool:
        """RESUMED; returns True when this process must first build its cache (cold resume),
        in which case ``ready`` is dispatched once that is done."""
        if not self.cold or self._warming is not None:
            return False
        self._warming = asyncio.get_running_loop().create_task(self._warm_up())
        self.agent._tasks.add(self._warming)
        return True

    async def _warm_up(self) -> None:
        import discord

        client = self.client
        state = client._connection
        shard_id, count = self.agent.shard_id, self.agent.shard_count
        try:
            # Partial guilds (no channels): what REST offers; events fill in the rest.
            async for guild in client.fetch_guilds(limit=None, with_counts=True):
                if (guild.id >> 22) % count == shard_id and state._get_guild(guild.id) is None:
                    state._add_guild(guild)
        except (discord.HTTPException, OSError, TimeoutError) as exc:
            _warn(f"warning: could not list the guilds after resuming the session: {exc}")
        self.cold = False
        if client.is_closed():
            return
        # What discord.py does at the end of READY (ConnectionState._delay_ready).
        state.call_handlers("ready")
        client.dispatch("ready")

    # --- zombie connections ------------------------------------------------------------------

    async def _zombie_watch(self) -> None:
        while not self.frozen:
            await asyncio.sleep(ZOMBIE_POLL)
            client = self.client
            ws = getattr(client, "ws", None)
            keep_alive = getattr(ws, "_keep_alive", None)
            if (
                ws is None
                or keep_alive is None
                or ws is self._zombie_ws
                or client.is_closed()
                or self.frozen
            ):
                continue
            interval = keep_alive.interval or 0.0
            silent = time.perf_counter() - keep_alive._last_ack
            if interval <= 0 or silent <= interval + ZOMBIE_MARGIN:
                continue
            self._zombie_ws = ws
            self.agent.set_status("resuming")
            _warn(
                f"no HEARTBEAT_ACK for {silent:.1f} s (heartbeat every {interval:g} s): the "
                "gateway connection is a zombie; resuming the session on a new one"
            )
            try:
                await asyncio.wait_for(ws.close(KEEP_SESSION_CLOSE), 10.0)
            except (OSError, TimeoutError) as exc:
                _warn(f"warning: closing the zombie connection failed: {exc!r}")


def _patch_discord_py() -> None:
    """Wrap ``DiscordWebSocket.from_client`` and ``received_message`` (once per process)."""
    global _patched
    if _patched:
        return
    _patched = True
    from discord.gateway import DiscordWebSocket

    original_from_client = DiscordWebSocket.from_client.__func__  # type: ignore[attr-defined]
    original_received = DiscordWebSocket.received_message

    async def from_client(cls: Any, client: Any, **kwargs: Any) -> Any:
        link = _link
        if link is not None and link.client is client and link.frozen:
            # The session belongs to the process that replaced this one: never reconnect
            # (discord.py would RESUME it and take it back); the shutdown cancels this wait.
            await asyncio.get_running_loop().create_future()
        if link is not None and link.client is client and link.handover:
            # Loaded and logged in: now ask the old process to stop and hand over.
            link.handover = False
            link.saved = await link.agent.request_handover()
        if link is not None and link.client is client and not kwargs.get("resume"):
            saved = link.take_saved()
            if saved is not None:
                # discord.py's own reconnect arguments (Client.connect), with our session.
                kwargs.update(
                    resume=True,
                    session=saved["session_id"],
                    sequence=saved.get("seq"),
                    gateway=yarl.URL(saved["resume_gateway_url"]),
                )
                link.agent.set_status("resuming")
        return await original_from_client(cls, client, **kwargs)

    async def received_message(self: Any, msg: Any, /) -> None:
        if _link is not None and _link.frozen:
            return  # handed over: the new process gets this event replayed
        try:
            await original_received(self, msg)
        finally:
            link = _link
            if link is not None:
                link.note(self)

    DiscordWebSocket.from_client = classmethod(from_client)  # type: ignore[assignment]
    DiscordWebSocket.received_message = received_message  # type: ignore[method-assign]
