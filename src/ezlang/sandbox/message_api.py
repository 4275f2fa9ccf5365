"""REST routes for what a bot does to messages beyond posting them: pins, bulk delete,
removing and listing reactions, and DM channels — with Discord's rules and error codes.

Refusals are Discord's: 404 10003 Unknown Channel, 10008 Unknown Message, 10014 Unknown
Emoji (no such reaction), 10013 Unknown User; 400 50034 (bulk delete of a message older than
14 days), 50035 Invalid Form Body (bulk delete of fewer than 2 or more than 100 ids),
30003 (more than 50 pins); 403 50013 Missing Permissions (through the server model's
``bot_may``, as the other message routes). Every change dispatches its gateway event to the
guild's shard(s): CHANNEL_PINS_UPDATE (GUILDS), MESSAGE_DELETE_BULK (GUILD_MESSAGES),
MESSAGE_REACTION_REMOVE / _REMOVE_ALL / _REMOVE_EMOJI (GUILD_MESSAGE_REACTIONS).
"""

from __future__ import annotations

import json
import time
import weakref
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import web

from .gateway import INTENT_GUILD_MESSAGE_REACTIONS, INTENT_GUILD_MESSAGES, INTENT_GUILDS
from .rest import error, json_response
from .rest import invalid_form as _invalid
from .rest import snowflake_id as _id

if TYPE_CHECKING:
    from .core import Sandbox

DISCORD_EPOCH_MS = 1_420_070_400_000
BULK_DELETE_MAX_AGE_MS = 14 * 24 * 3600 * 1000
MAX_PINS = 50


@dataclass
class MessageStore:
    """Pins and DM channels of one sandbox (the messages themselves live in ``Sandbox``)."""

    #: channel id → [(message id, pinned_at ISO)], newest pin first.
    pins: dict[int, list[tuple[str, str]]] = field(default_factory=dict)
    #: user id → the DM channel object the bot opened with them.
    dm_channels: dict[int, dict[str, Any]] = field(default_factory=dict)
    #: DM channel id → the bot's messages in it, oldest first.
    dm_messages: dict[int, list[dict[str, Any]]] = field(default_factory=dict)


_STORES: weakref.WeakKeyDictionary[Any, MessageStore] = weakref.WeakKeyDictionary()


def store_of(sb: Sandbox) -> MessageStore:
    """The pins and DM channels of ``sb`` (created on first use)."""
    store = _STORES.get(sb)
    if store is None:
        store = _STORES[sb] = MessageStore()
    return store


def _now_iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000000+00:00", time.gmtime())


def _emoji_key(emoji: str) -> str:
    """One key for a reaction emoji however it was written: ``"👍"``, ``"name:id"`` or
    ``"<:name:id>"`` (custom emojis compare by id, as Discord does)."""
    if ":" in emoji:
        return emoji.strip("<>").split(":")[-1]
    return emoji


def _emoji_json(emoji: str) -> dict[str, Any]:
    if ":" in emoji:
        parts = [p for p in emoji.strip("<>").split(":") if p]
        return {"id": parts[-1], "name": parts[-2] if len(parts) >= 2 else None}
    return {"id": None, "name": emoji}


class MessageRoutes:
    """The routes, bound to one sandbox; ``routes()`` is registered by ``RestApi``."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sb = sandbox
        self.world = sandbox.world
        self.store = store_of(sandbox)

    def routes(self) -> list[tuple[str, str, Any]]:
        """``(method, path, handler)``. Registered before ``/messages/{message_id}`` so
        ``/messages/pins`` and ``/messages/bulk-delete`` are not read as message ids."""
        c = "/channels/{channel_id}"
        m = c + "/messages/{message_id}"
        return [
            # discord.py 2.7 uses the newer pin routes; the older ones are kept too.
            ("GET", c + "/messages/pins", self.list_pins_v2),
            ("PUT", c + "/messages/pins/{message_id}", self.pin),
            ("DELETE", c + "/messages/pins/{message_id}", self.unpin),
            ("GET", c + "/pins", self.list_pins),
            ("PUT", c + "/pins/{message_id}", self.pin),
            ("DELETE", c + "/pins/{message_id}", self.unpin),
            ("POST", c + "/messages/bulk-delete", self.bulk_delete),
            ("DELETE", m + "/reactions/{emoji}/@me", self.remove_own_reaction),
            ("DELETE", m + "/reactions/{emoji}/{user_id}", self.remove_user_reaction),
            ("DELETE", m + "/reactions/{emoji}", self.clear_emoji),
            ("DELETE", m + "/reactions", self.clear_reactions),
            ("GET", m + "/reactions/{emoji}", self.reaction_users),
            ("POST", "/users/@me/channels", self.create_dm),
        ]

    # ---- helpers -----------------------------------------------------------------------

    def _channel(self, request: web.Request) -> int | None:
        cid = _id(request.match_info["channel_id"])
        if cid is None or not self.world.is_text_channel(cid):
            return None
        return cid

    def _guild_of(self, cid: int) -> int:
        ref = self.world.channel(cid)
        assert ref is not None
        return ref.guild_id

    # ---- pins --------------------------------------------------------------------------

    def _pinned(self, cid: int) -> list[dict[str, Any]]:
        out = []
        for mid, at in self.store.pins.get(cid, []):
            msg = self.sb.find_message(cid, mid)
            if msg is not None:
                out.append((dict(msg, pinned=True), at))
        return [{"message": msg, "pinned_at": at} for msg, at in out]

    async def list_pins(self, request: web.Request) -> web.Response:
        cid = self._channel(request)
        if cid is None:
            return error(404, "Unknown Channel", 10003)
        return json_response([item["message"] for item in self._pinned(cid)])

    async def list_pins_v2(self, request: web.Request) -> web.Response:
        cid = self._channel(request)
        if cid is None:
            return error(404, "Unknown Channel", 10003)
        try:
            limit = int(request.query.get("limit", "50"))
        except ValueError:
            return _invalid("limit", "NUMBER_TYPE_COERCE", "Value is not int.")
        if not 1 <= limit <= 50:
            return _invalid("limit", "NUMBER_TYPE_MAX", "Must be between 1 and 50.")
        items = self._pinned(cid)
        before = request.query.get("before")
        if before:
            items = [i for i in items if i["pinned_at"] < before]
        return json_response({"items": items[:limit], "has_more": len(items) > limit})

    def _pin_target(self, request: web.Request) -> tuple[int, str] | web.Response:
        """Channel and message of a pin route, or the refusal (unknown channel or message,
        or no Manage Messages there)."""
        cid = self._channel(request)
        if cid is None:
            return error(404, "Unknown Channel", 10003)
        mid = request.match_info["message_id"]
        if self.sb.find_message(cid, mid) is None:
            return error(404, "Unknown Message", 10008)
        if not self.sb.server.bot_may(cid, "view_channel", "manage_messages"):
            return error(403, "Missing Permissions", 50013)
        return cid, mid

    async def pin(self, request: web.Request) -> web.Response:
        target = self._pin_target(request)
        if isinstance(target, web.Response):
            return target
        cid, mid = target
        pins = self.store.pins.setdefault(cid, [])
        if any(p == mid for p, _ in pins):
            return web.Response(status=204)  # pinning twice is not an error on Discord
        if len(pins) >= MAX_PINS:
            return error(400, f"Maximum number of pins reached ({MAX_PINS})", 30003)
        pins.insert(0, (mid, _now_iso()))
        self._pins_update(cid)
        self.sb.log.line(f"pinned: message {mid} in channel {cid}")
        return web.Response(status=204)

    async def unpin(self, request: web.Request) -> web.Response:
        target = self._pin_target(request)
        if isinstance(target, web.Response):
            return target
        cid, mid = target
        pins = self.store.pins.get(cid, [])
        kept = [p for p in pins if p[0] != mid]
        if len(kept) != len(pins):
            self.store.pins[cid] = kept
            self._pins_update(cid)
            self.sb.log.line(f"unpinned: message {mid} in channel {cid}")
        return web.Response(status=204)

    def _pins_update(self, cid: int) -> None:
        pins = self.store.pins.get(cid) or []
        payload = {
            "guild_id": str(self._guild_of(cid)),
            "channel_id": str(cid),
            "last_pin_timestamp": pins[0][1] if pins else None,
        }
        self.sb.gateway.dispatch_guild_event(
            self._guild_of(cid), "CHANNEL_PINS_UPDATE", payload, INTENT_GUILDS
        )

    # ---- bulk delete -------------------------------------------------------------------

    async def bulk_delete(self, request: web.Request) -> web.Response:
        cid = self._channel(request)
        if cid is None:
            return error(404, "Unknown Channel", 10003)
        if not self.sb.server.bot_may(cid, "view_channel", "manage_messages"):
            return error(403, "Missing Permissions", 50013)
        try:
            body = json.loads(await request.read() or b"null")
        except ValueError:
            body = None
        ids = body.get("messages") if isinstance(body, dict) else None
        if not isinstance(ids, list):
            return _invalid("messages", "BASE_TYPE_REQUIRED", "This field is required")
        if not 2 <= len(ids) <= 100:
            return _invalid(
                "messages", "BASE_TYPE_BAD_LENGTH", "Must be between 2 and 100 in length."
            )
        parsed = [_id(str(i)) for i in ids]
        if any(p is None for p in parsed):
            return _invalid("messages", "NUMBER_TYPE_COERCE", "Value is not snowflake.")
        oldest_allowed = time.time() * 1000 - BULK_DELETE_MAX_AGE_MS
        for p in parsed:
            assert p is not None
            if (p >> 22) + DISCORD_EPOCH_MS < oldest_allowed:
                return error(
                    400, "You can only bulk delete messages that are under 14 days old.", 50034
                )
        wanted = {str(p) for p in parsed}
        # Remove without one MESSAGE_DELETE each: Discord sends a single MESSAGE_DELETE_BULK.
        deleted = [m for m in self.sb.channel_messages(cid) if m["id"] in wanted]
        for msg in deleted:
            self.sb.messages.forget(cid, msg)
        pins = self.store.pins.get(cid)
        if pins:
            self.store.pins[cid] = [p for p in pins if p[0] not in wanted]
        gid = self._guild_of(cid)
        if deleted:
            payload = {
                "ids": [m["id"] for m in deleted],
                "channel_id": str(cid),
                "guild_id": str(gid),
            }
            self.sb.gateway.dispatch_guild_event(
                gid, "MESSAGE_DELETE_BULK", payload, INTENT_GUILD_MESSAGES
            )
        self.sb.log.line(f"bulk delete: {len(deleted)} message(s) in channel {cid}")
        return web.Response(status=204)

    # ---- reactions ---------------------------------------------------------------------

    def _message(self, request: web.Request) -> tuple[int, str] | web.Response:
        cid = self._channel(request)
        if cid is None:
            return error(404, "Unknown Channel", 10003)
        mid = request.match_info["message_id"]
        if self.sb.find_message(cid, mid) is None:
            return error(404, "Unknown Message", 10008)
        return cid, mid

    def _remove(
        self, cid: int, mid: str, emoji: str | None, user_id: int | None
    ) -> list[dict[str, Any]]:
        """Remove matching reactions from the sandbox's list; returns the removed ones."""
        key = None if emoji is None else _emoji_key(emoji)
        removed: list[dict[str, Any]] = []
        kept: list[dict[str, Any]] = []
        for r in self.sb.reactions:
            hit = (
                r["channel_id"] == str(cid)
                and r["message_id"] == mid
                and (key is None or _emoji_key(r["emoji"]) == key)
                and (user_id is None or r["user_id"] == str(user_id))
            )
            (removed if hit else kept).append(r)
        self.sb.reactions[:] = kept
        return removed

    def _reaction_event(self, cid: int, event: str, payload: dict[str, Any]) -> None:
        gid = self._guild_of(cid)
        payload = {"channel_id": str(cid), "guild_id": str(gid), **payload}
        self.sb.gateway.dispatch_guild_event(gid, event, payload, INTENT_GUILD_MESSAGE_REACTIONS)

    async def _remove_one(self, request: web.Request, user_id: int) -> web.Response:
        found = self._message(request)
        if isinstance(found, web.Response):
            return found
        cid, mid = found
        emoji = request.match_info["emoji"]
        removed = self._remove(cid, mid, emoji, user_id)
        if removed:
            self._reaction_event(
                cid,
                "MESSAGE_REACTION_REMOVE",
                {
                    "message_id": mid,
                    "user_id": str(user_id),
                    "emoji": _emoji_json(emoji),
                    "burst": False,
                    "type": 0,
                },
            )
            self.sb.log.line(f"reaction removed: {emoji} of user {user_id} from message {mid}")
        return web.Response(status=204)

    async def remove_own_reaction(self, request: web.Request) -> web.Response:
        return await self._remove_one(request, self.world.bot_id)

    async def remove_user_reaction(self, request: web.Request) -> web.Response:
        uid = _id(request.match_info["user_id"])
        if uid is None or self.world.user(uid) is None:
            return error(404, "Unknown User", 10013)
        cid = self._channel(request)
        if cid is not None and uid != self.world.bot_id:
            if not self.sb.server.bot_may(cid, "view_channel", "manage_messages"):
                return error(403, "Missing Permissions", 50013)
        return await self._remove_one(request, uid)

    async def clear_emoji(self, request: web.Request) -> web.Response:
        found = self._message(request)
        if isinstance(found, web.Response):
            return found
        cid, mid = found
        if not self.sb.server.bot_may(cid, "view_channel", "manage_messages"):
            return error(403, "Missing Permissions", 50013)
        emoji = request.match_info["emoji"]
        if self._remove(cid, mid, emoji, None):
            self._reaction_event(
                cid,
                "MESSAGE_REACTION_REMOVE_EMOJI",
                {"message_id": mid, "emoji": _emoji_json(emoji)},
            )
        return web.Response(status=204)

    async def clear_reactions(self, request: web.Request) -> web.Response:
        found = self._message(request)
        if isinstance(found, web.Response):
            return found
        cid, mid = found
        if not self.sb.server.bot_may(cid, "view_channel", "manage_messages"):
            return error(403, "Missing Permissions", 50013)
        if self._remove(cid, mid, None, None):
            self._reaction_event(cid, "MESSAGE_REACTION_REMOVE_ALL", {"message_id": mid})
            self.sb.log.line(f"reactions cleared: message {mid} in channel {cid}")
        return web.Response(status=204)

    async def reaction_users(self, request: web.Request) -> web.Response:
        found = self._message(request)
        if isinstance(found, web.Response):
            return found
        cid, mid = found
        try:
            limit = int(request.query.get("limit", "25"))
        except ValueError:
            return _invalid("limit", "NUMBER_TYPE_COERCE", "Value is not int.")
        if not 1 <= limit <= 100:
            return _invalid("limit", "NUMBER_TYPE_MAX", "Must be between 1 and 100.")
        after = _id(request.query.get("after", "0") or "0") or 0
        key = _emoji_key(request.match_info["emoji"])
        ids = sorted(
            {
                int(r["user_id"])
                for r in self.sb.reactions
                if r["channel_id"] == str(cid)
                and r["message_id"] == mid
                and _emoji_key(r["emoji"]) == key
            }
        )
        if not ids and ":" in request.match_info["emoji"]:
            return error(400, "Unknown Emoji", 10014)
        users = []
        for uid in ids:
            if uid > after:
                user = self.world.bot_user() if uid == self.world.bot_id else self.world.user(uid)
                if user is not None:
                    users.append(user)
        return json_response(users[:limit])

    # ---- DM channels -------------------------------------------------------------------

    async def create_dm(self, request: web.Request) -> web.Response:
        try:
            body = json.loads(await request.read() or b"null")
        except ValueError:
            body = None
        raw = body.get("recipient_id") if isinstance(body, dict) else None
        uid = _id(str(raw)) if raw is not None else None
        if uid is None:
            return _invalid("recipient_id", "BASE_TYPE_REQUIRED", "This field is required")
        user = self.world.user(uid)
        if user is None or uid == self.world.bot_id:
            return error(404, "Unknown User", 10013)
        channel = self.store.dm_channels.get(uid)
        if channel is None:
            channel = {
                "id": str(self.sb.gateway.next_snowflake()),
                "type": 1,
                "last_message_id": None,
                "flags": 0,
                "recipients": [user],
            }
            self.store.dm_channels[uid] = channel
            self.sb.log.line(f"DM channel opened with {user['username']}")
        return json_response(channel)

    def dm_channel(self, channel_id: int) -> dict[str, Any] | None:
        """The DM channel with this id, or None."""
        for channel in self.store.dm_channels.values():
            if channel["id"] == str(channel_id):
                return channel
        return None

    async def post_dm(self, request: web.Request, channel_id: int, body: Any) -> web.Response:
        """The bot posts in a DM channel (called by ``RestApi.post_message``)."""
        channel = self.dm_channel(channel_id)
        assert channel is not None
        content = body.get("content") or "" if isinstance(body, dict) else ""
        embeds = body.get("embeds") or [] if isinstance(body, dict) else []
        if not isinstance(content, str) or len(content) > 2000:
            return _invalid("content", "BASE_TYPE_MAX_LENGTH", "Must be 2000 or fewer in length.")
        if not content and not embeds:
            return error(400, "Cannot send an empty message", 50006)
        mid = self.sb.gateway.next_snowflake()
        msg = {
            "id": str(mid),
            "channel_id": str(channel_id),
            "type": 0,
            "content": content,
            "author": self.world.bot_user(),
            "timestamp": time.strftime(
                "%Y-%m-%dT%H:%M:%S", time.gmtime(((mid >> 22) + DISCORD_EPOCH_MS) / 1000)
            )
            + ".000000+00:00",
            "edited_timestamp": None,
            "tts": False,
            "mention_everyone": False,
            "mentions": [],
            "mention_roles": [],
            "attachments": [],
            "embeds": embeds,
            "components": [],
            "pinned": False,
            "flags": 0,
        }
        channel["last_message_id"] = msg["id"]
        self.store.dm_messages.setdefault(channel_id, []).append(msg)
        who = channel["recipients"][0]["username"]
        self.sb.log.line(f"DM out: the bot to {who}: {content!r}")
        return json_response(msg)


def control_routes(sb: Sandbox) -> list[tuple[str, str, Any]]:
    """Control routes: what the bot pinned and sent by DM, for tests and curl."""

    async def pins(request: web.Request) -> web.Response:
        cid = _id(request.match_info["channel_id"]) or 0
        return json_response([m for m, _ in store_of(sb).pins.get(cid, [])])

    async def dms(request: web.Request) -> web.Response:
        store = store_of(sb)
        return json_response(
            [
                {
                    "user_id": str(uid),
                    "channel_id": channel["id"],
                    "messages": store.dm_messages.get(int(channel["id"]), []),
                }
                for uid, channel in store.dm_channels.items()
            ]
        )

    return [
        ("GET", "/channels/{channel_id}/pins", pins),
        ("GET", "/dms", dms),
    ]
