"""Interactions as Discord does them: a user acts, INTERACTION_CREATE goes to one shard.

:class:`InteractionStore` builds the payload Discord sends (slash and context-menu
commands, autocomplete, component clicks, modal submits), with ``member`` in a guild or
``user`` in a DM, ``app_permissions``, locales, ``token`` and ``resolved`` objects, and
sends it to the session of the shard that holds the guild (DMs: shard 0). It then keeps
the interaction's state: the 3-second window for the first response (after it the
interaction has failed and its token is dead), the 15-minute token, the initial response,
the ``@original`` message and the follow-ups. The REST side (callbacks, webhooks) is in
:mod:`.interaction_api`; the user's side of it (what the control API checks before a
click is allowed) is here.

https://discord.com/developers/docs/interactions/receiving-and-responding
"""

from __future__ import annotations

import asyncio
import secrets
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from . import commands as C
from .interaction_data import InteractionData, _error, _snowflake
from .log import quote, shard_text
from .world import dumps

if TYPE_CHECKING:
    from .core import Sandbox
    from .gateway import Session

# Interaction types (what the bot receives).
APPLICATION_COMMAND, MESSAGE_COMPONENT, AUTOCOMPLETE, MODAL_SUBMIT = 2, 3, 4, 5
KINDS = {
    "command": (APPLICATION_COMMAND, C.CHAT_INPUT),
    "user_command": (APPLICATION_COMMAND, C.USER),
    "message_command": (APPLICATION_COMMAND, C.MESSAGE),
    "autocomplete": (AUTOCOMPLETE, C.CHAT_INPUT),
    "component": (MESSAGE_COMPONENT, 0),
    "modal": (MODAL_SUBMIT, 0),
}
ATTACHMENT_SIZE_LIMIT = 10 * 1024 * 1024
# Interactions remembered at once (older ones are forgotten; their tokens are long dead).
MAX_REMEMBERED = 50_000


@dataclass(eq=False)
class Interaction:
    """One interaction and everything the bot answered to it."""

    id: int
    token: str
    type: int
    kind: str
    guild_id: int | None
    channel_id: int
    user: dict[str, Any]
    payload: dict[str, Any]
    dispatched_at: float  # loop time
    shard: int
    delivered: bool
    name: str | None = None
    source_message: dict[str, Any] | None = None  # the message of a component (or its modal)
    state: str = "pending"  # pending | responded | failed
    response: dict[str, Any] | None = None  # {type, data}
    responded_at: float | None = None
    message_id: str | None = None  # created or updated by the initial response
    original: dict[str, Any] | None = None  # what @original names
    ephemeral: bool = False
    followups: list[dict[str, Any]] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    timer: asyncio.TimerHandle | None = None

    @property
    def failed(self) -> bool:
        """No initial response within the window: the user saw "This interaction failed"."""
        return self.state == "failed"

    def summary(self) -> dict[str, Any]:
        """What the control API answers about this interaction."""
        latency = None
        if self.responded_at is not None:
            latency = round((self.responded_at - self.dispatched_at) * 1000, 3)
        return {
            "id": str(self.id),
            "token": self.token,
            "kind": self.kind,
            "type": self.type,
            "name": self.name,
            "guild_id": str(self.guild_id) if self.guild_id is not None else None,
            "channel_id": str(self.channel_id),
            "user_id": self.user["id"],
            "shard": self.shard,
            "delivered": self.delivered,
            "state": self.state,
            "failed": self.failed,
            "latency_ms": latency,
            "message_id": self.message_id,
            "message": self.original,
            "ephemeral": self.ephemeral,
            "response": self.response,
            "followups": list(self.followups),
        }


class InteractionStore(InteractionData):
    """Every interaction users started, by id and by token; dispatch and the user's rules."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sb = sandbox
        self.world = sandbox.world
        #: Seconds the bot has for its first response (Discord: 3).
        self.window = 3.0
        #: Seconds a token stays valid for follow-ups and edits (Discord: 15 minutes).
        self.token_ttl = 900.0
        self.by_id: OrderedDict[int, Interaction] = OrderedDict()
        self.by_token: dict[str, Interaction] = {}
        #: Messages that live outside channel history: ephemeral ones and DM replies.
        self.messages: OrderedDict[str, dict[str, Any]] = OrderedDict()
        #: Modals the bot showed, by (user id, custom_id): what a modal submit answers.
        self.modals: OrderedDict[tuple[str, str], tuple[dict[str, Any], Interaction]] = (
            OrderedDict()
        )
        self.failed = 0
        self.dispatched = 0

    # ---- lookup ------------------------------------------------------------------------

    def get(self, interaction_id: int | str) -> Interaction:
        """An interaction by id (SandboxError if unknown)."""
        try:
            inter = self.by_id.get(int(interaction_id))
        except (TypeError, ValueError):
            inter = None
        if inter is None:
            raise _error(f"unknown interaction {interaction_id}")
        return inter

    def find_message(self, channel_id: int, message_id: str) -> dict[str, Any] | None:
        """A message the user can see in a channel: history, ephemeral or DM."""
        msg = self.messages.get(message_id)
        if msg is not None and msg["channel_id"] == str(channel_id):
            return msg
        return self.sb.find_message(channel_id, message_id)

    async def wait(
        self, interaction_id: int | str, followups: int = 0, timeout: float = 10.0
    ) -> dict[str, Any]:
        """Wait until the interaction is answered (or failed) and has ``followups``
        follow-ups; returns its summary (whatever it is at the deadline)."""
        inter = self.get(interaction_id)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while inter.state == "pending" or len(inter.followups) < followups:
            if inter.state == "failed":
                break
            left = deadline - loop.time()
            if left <= 0:
                break
            inter.changed.clear()
            try:
                await asyncio.wait_for(inter.changed.wait(), left)
            except TimeoutError:
                break
        return inter.summary()

    # ---- the user acts -----------------------------------------------------------------

    async def interact(self, body: dict[str, Any]) -> dict[str, Any]:
        """Dispatch an interaction and wait (``wait`` s, default 3.5) for the first response."""
        inter = self.dispatch(body)
        wait = body.get("wait", 3.5)
        if isinstance(wait, bool) or not isinstance(wait, int | float) or wait < 0:
            raise _error("wait must be a number of seconds, 0 or more")
        if wait > 0:
            return await self.wait(inter.id, 0, float(wait))
        return inter.summary()

    def dispatch(self, body: dict[str, Any]) -> Interaction:
        """Build an INTERACTION_CREATE from a control-API body and send it to its shard."""
        kind = body.get("kind", "command")
        if kind not in KINDS:
            raise _error(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
        itype, ctype = KINDS[kind]
        world = self.world
        guild_id: int | None
        if body.get("dm"):
            uid = _snowflake(body.get("user_id", world.user_id(0)), "user_id")
            user = world.user(uid)
            if user is None or uid == world.bot_id:
                raise _error(f"unknown user {body.get('user_id')}")
            guild_id, guild_index, channel_id = None, None, dm_channel_id(uid)
        else:
            if "channel_id" not in body:
                raise _error("channel_id is required (or dm: true)")
            channel_id = _snowflake(body["channel_id"], "channel_id")
            ref = world.channel(channel_id)
            if ref is None or not world.is_text_channel(channel_id):
                raise _error(f"unknown text channel {body['channel_id']}")
            guild_id, guild_index = ref.guild_id, ref.guild_index
            # Who is a member now (joins, kicks and bans included); the owner by default.
            state = self.sb.server.view(guild_id)
            assert state is not None
            uid = _snowflake(body.get("user_id", world.member_ids(guild_index)[0]), "user_id")
            if uid not in state.members or uid == world.bot_id:
                raise _error(f"user {uid} is not a member of guild {guild_id}")
            user = world.user(uid)
            assert user is not None
        iid = self.sb.gateway.next_snowflake()
        payload: dict[str, Any] = {
            "id": str(iid),
            "application_id": str(world.application_id),
            "type": itype,
            "token": f"aW50ZXJhY3Rpb24{iid}{secrets.token_urlsafe(24)}",
            "version": 1,
            "channel_id": str(channel_id),
            "locale": body.get("locale") or "en-US",
            "entitlements": [],
            "attachment_size_limit": ATTACHMENT_SIZE_LIMIT,
        }
        resolved: dict[str, dict[str, Any]] = {}
        source: dict[str, Any] | None = None
        name: str | None = None
        if guild_id is not None:
            assert guild_index is not None
            payload.update(
                guild_id=str(guild_id),
                guild={"id": str(guild_id), "locale": "en-US", "features": []},
                guild_locale="en-US",
                channel=world.channel_object(channel_id),
                member={
                    **(world.member(guild_index, uid) or {}),
                    "permissions": str(self._perms(guild_index, uid, channel_id)),
                },
                app_permissions=str(self._perms(guild_index, world.bot_id, channel_id)),
                authorizing_integration_owners={"0": str(guild_id)},
                context=0,
            )
        else:
            payload.update(
                channel={"id": str(channel_id), "type": 1, "recipients": [user], "flags": 0,
                         "last_message_id": None},
                user=user,
                app_permissions=str(_DM_PERMISSIONS),
                authorizing_integration_owners={"0": "0"},
                context=1,
            )  # fmt: skip
        if itype in (APPLICATION_COMMAND, AUTOCOMPLETE):
            data, name = self._command_data(
                body, kind, ctype, guild_id, guild_index, channel_id, resolved
            )
        elif itype == MESSAGE_COMPONENT:
            data, source = self._component_data(body, channel_id, guild_id, guild_index, resolved)
            payload["message"] = source
            name = data["custom_id"]
        else:
            data, source = self._modal_data(body, user)
            if source is not None:
                payload["message"] = source
            name = data["custom_id"]
        if resolved:
            data["resolved"] = resolved
        payload["data"] = data
        return self._send(payload, kind, itype, guild_id, channel_id, user, name, source)

    def _send(
        self,
        payload: dict[str, Any],
        kind: str,
        itype: int,
        guild_id: int | None,
        channel_id: int,
        user: dict[str, Any],
        name: str | None,
        source: dict[str, Any] | None,
    ) -> Interaction:
        gateway = self.sb.gateway
        if guild_id is not None:
            sessions = gateway.sessions_for_guild(guild_id)
        else:
            sessions = gateway.find_sessions(0, None)
        # Discord sends an interaction to one session; prefer a live one, the newest.
        live = [s for s in sessions if s.status == "connected"]
        pool = live or sessions
        target: Session | None = pool[-1] if pool else None
        delivered = False
        if target is not None:
            delivered = target.push("INTERACTION_CREATE", dumps(payload))
            shard = target.shard[0]
        elif guild_id is not None:
            shard = self.world.shard_of(guild_id, self.world.recommended_shards())
        else:
            shard = 0
        loop = asyncio.get_running_loop()
        inter = Interaction(
            id=int(payload["id"]),
            token=payload["token"],
            type=itype,
            kind=kind,
            guild_id=guild_id,
            channel_id=channel_id,
            user=user,
            payload=payload,
            dispatched_at=loop.time(),
            shard=shard,
            delivered=delivered,
            name=name,
            source_message=source,
        )
        inter.timer = loop.call_later(self.window, self._window_closed, inter)
        self.by_id[inter.id] = inter
        self.by_token[inter.token] = inter
        while len(self.by_id) > MAX_REMEMBERED:
            _, old = self.by_id.popitem(last=False)
            self.by_token.pop(old.token, None)
            if old.timer is not None:
                old.timer.cancel()
        self.dispatched += 1
        if self.sb.log.enabled:
            where = shard_text(target.shard) if target is not None else "no shard connected"
            what = {"command": f"/{name}", "user_command": f"user command {name!r}",
                    "message_command": f"message command {name!r}",
                    "autocomplete": f"autocomplete of /{name}"}.get(kind, f"{kind} {name!r}")  # fmt: skip
            self.sb.log.line(
                f"interaction in: {user['username']} used {what} in channel {channel_id} "
                f"(→ {where}), id {inter.id}"
            )
        return inter

    def _window_closed(self, inter: Interaction) -> None:
        inter.timer = None
        if inter.state != "pending":
            return
        inter.state = "failed"
        self.failed += 1
        inter.changed.set()
        if self.sb.log.enabled:
            self.sb.log.line(
                f"interaction {inter.id}: no response within {self.window:g} s → "
                '"This interaction failed"'
            )

    def close(self) -> None:
        """Cancel the response-window timers (sandbox shutdown)."""
        for inter in self.by_id.values():
            if inter.timer is not None:
                inter.timer.cancel()
                inter.timer = None

    def log_response(self, inter: Interaction, kind: str) -> None:
        """One activity-log line for an answer."""
        if self.sb.log.enabled:
            content = (inter.original or {}).get("content")
            tail = f": {quote(content)}" if content else ""
            self.sb.log.line(f"interaction {inter.id}: the bot answered with {kind}{tail}")


# What an app may do in a DM with a user.
_DM_PERMISSIONS = 0x0000_0000_0005_0C40


def dm_channel_id(user_id: int) -> int:
    """The DM channel between the bot and a user (its own id space: user id + 1)."""
    return user_id | 1
