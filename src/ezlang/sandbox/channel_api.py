"""REST routes for channels (and what the thread routes of ``thread_api`` share), with
Discord's permission rules.

The bot is the actor of every REST call; each route checks what Discord asks for, then
changes :class:`~ezlang.sandbox.channel_state.ChannelModel`, which dispatches the gateway
event. Refusals are Discord's: 403 50013 Missing Permissions, 50001 Missing Access (a
private thread the bot can not see; thread members without the members intent), 160005
Thread is locked; 400 50083 (an archived thread), 50024 (wrong channel type), 160004 (the
message already has a thread), 50035 Invalid Form Body; 404 10003 Unknown Channel, 10004
Unknown Guild, 10007 Unknown Member, 10008 Unknown Message, 10013 Unknown User.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

from . import audit_log as audit
from . import permissions as perms
from .channel_state import (
    CATEGORY,
    GUILD_CHANNEL_TYPES,
    TEXT,
    ChannelModel,
    Thread,
    channel_model,
)
from .rest import error, json_response
from .rest import invalid_form as _invalid
from .rest import json_body as _body
from .rest import missing_permissions as _missing
from .rest import snowflake_id as _id

if TYPE_CHECKING:
    from .core import Sandbox

# Discord's audit log actions for channels and threads.
CHANNEL_CREATE, CHANNEL_UPDATE, CHANNEL_DELETE = 10, 11, 12
THREAD_CREATE, THREAD_UPDATE, THREAD_DELETE = 110, 111, 112
# What an audit entry shows of a channel or thread (Discord's keys).
AUDITED = ("name", "type", "topic", "nsfw", "rate_limit_per_user", "parent_id", "bitrate",
           "user_limit", "permission_overwrites", "archived", "locked", "auto_archive_duration",
           "invitable")  # fmt: skip

# Fields a bot may PATCH on a guild channel.
_CHANNEL_FIELDS = ("name", "topic", "nsfw", "rate_limit_per_user", "position", "bitrate",
                   "user_limit", "rtc_region", "parent_id")  # fmt: skip


def _no_access() -> web.Response:
    return error(403, "Missing Access", 50001)


def _archived() -> web.Response:
    return error(400, "Thread is archived", 50083)


def admit_message(sb: Sandbox, channel_id: int) -> web.Response | None:
    """Discord's checks before the bot posts in a text channel or thread: the refusal, or
    None. In a thread SEND_MESSAGES_IN_THREADS counts (not SEND_MESSAGES); a locked thread
    takes messages only from Manage Threads; posting in an archived thread unarchives it."""
    server = sb.server
    model = channel_model(sb)
    thread = model.threads.get(channel_id)
    if thread is None:
        if not server.bot_may(channel_id, "view_channel", "send_messages"):
            return _missing()
        return None
    if not model.bot_sees(thread):
        return _no_access()
    if not server.bot_may(channel_id, "send_messages_in_threads"):
        return _missing()
    if thread.locked and not server.bot_may(channel_id, "manage_threads"):
        return _archived() if thread.archived else error(403, "Thread is locked", 160005)
    if thread.archived:
        model.update_thread(thread, {"archived": False})
    return None


def thread_refusal(sb: Sandbox, channel_id: int, *, editing: bool) -> web.Response | None:
    """Discord's rule for reacting (``editing=False``) or editing a message (``True``) in a
    thread: nothing in an archived thread (400 50083); no edits in a locked one without
    Manage Threads (403 160005). None for a channel that is not a thread."""
    thread = channel_model(sb).threads.get(channel_id)
    if thread is None:
        return None
    if thread.archived:
        return _archived()
    if editing and thread.locked and not sb.server.bot_may(channel_id, "manage_threads"):
        return error(403, "Thread is locked", 160005)
    return None


class RouteBase:
    """What the channel and the thread routes share: the model and the lookups."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sb = sandbox
        self.world = sandbox.world
        self.model: ChannelModel = channel_model(sandbox)

    def _guild_channel(self, request: web.Request) -> tuple[int, dict[str, Any]] | None:
        cid = _id(request.match_info["channel_id"])
        if cid is None or cid in self.model.threads:
            return None
        channel = self.world.channel_object(cid)
        return None if channel is None else (cid, channel)

    def _thread(self, request: web.Request) -> Thread | web.Response:
        """The thread of the route, or the refusal (unknown, or a private thread the bot can
        not see)."""
        cid = _id(request.match_info["channel_id"])
        thread = self.model.threads.get(cid) if cid is not None else None
        if thread is None:
            if cid is not None and self.world.channel(cid) is not None:
                return error(400, "Cannot execute action on this channel type", 50024)
            return error(404, "Unknown Channel", 10003)
        if not self.model.bot_sees(thread):
            return _no_access()
        return thread

    def _may(self, channel_id: int, *permission: str) -> bool:
        return self.sb.server.bot_may(channel_id, *permission)

    def _audit(
        self,
        request: web.Request,
        guild_id: int,
        action: int,
        target: int,
        old: dict[str, Any],
        new: dict[str, Any],
    ) -> None:
        """Record what the bot did (with the request's X-Audit-Log-Reason): the audited
        fields that differ between ``old`` and ``new``."""
        changes = [
            audit.change(k, old.get(k), new.get(k))
            for k in AUDITED
            if old.get(k) != new.get(k) and (old.get(k), new.get(k)) != (None, [])
        ]
        reason = audit.reason_of(request)
        self.sb.server.audit.record(guild_id, action, self.world.bot_id, target, reason, changes)

    def _refused(self, action: str, permission: str) -> None:
        if self.sb.log.enabled:
            self.sb.log.line(f"refused: the bot may not {action}: it lacks {permission} (50013)")


class ChannelRoutes(RouteBase):
    """The channel routes of the REST API, and (through :class:`ThreadRoutes`) the thread
    routes: a thread is a channel, so ``PATCH``/``DELETE /channels/{id}`` serve both."""

    def __init__(self, sandbox: Sandbox) -> None:
        super().__init__(sandbox)
        from .thread_api import ThreadRoutes  # noqa: PLC0415 - it imports this module

        self.threads = ThreadRoutes(sandbox)

    def routes(self) -> list[tuple[str, str, Any]]:
        """``(method, path, handler)`` for ``RestApi``."""
        c = "/channels/{channel_id}"
        return [
            ("POST", "/guilds/{guild_id}/channels", self.create_channel),
            ("PATCH", c, self.edit_channel),
            ("DELETE", c, self.delete_channel),
            ("PATCH", "/guilds/{guild_id}/channels", self.move_channels),
            *self.threads.routes(),
        ]

    def _bot_bits(self, guild_id: int) -> int:
        return self.sb.server.bot_permissions(guild_id)

    def _may_set_bits(self, guild_id: int, channel_id: int | None, bits: int) -> bool:
        """Discord's rule for overwrites the bot sets. Creating a channel: only permissions the
        bot holds in the guild, MANAGE_ROLES only for an administrator. Editing one: Edit
        Channel Permissions' rule (``permissions.may_edit_overwrite``: MANAGE_ROLES in the
        channel; permissions held in the category or guild, or any with a MANAGE_ROLES
        overwrite there)."""
        mine = self._bot_bits(guild_id)
        if mine & perms.ADMINISTRATOR:
            return True
        if channel_id is None:
            return not bits & ~mine and not bits & perms.FLAGS["manage_roles"]
        state = self.sb.server.view(guild_id)
        assert state is not None
        bot = self.world.bot_id
        parent = (self.world.channel_object(channel_id) or {}).get("parent_id")
        scope = state.channel_permissions_of(bot, int(parent)) if parent else mine
        return perms.may_edit_overwrite(
            here=state.channel_permissions_of(bot, channel_id),
            scope=scope,
            bits=bits,
            manage_overwrite=perms.allows_manage_roles(
                guild_id=guild_id,
                member_id=bot,
                member_roles=state.members[bot].roles,
                overwrites=state.overwrites.get(channel_id, {}).values(),
            ),
        )

    def _overwrites_refusal(
        self, guild_id: int, raw: Any, channel_id: int | None = None
    ) -> web.Response | list[dict[str, Any]]:
        """Parse ``permission_overwrites`` and check them (:meth:`_may_set_bits`)."""
        if not isinstance(raw, list):
            return _invalid("permission_overwrites", "BASE_TYPE_ARRAY", "Must be an array.")
        out = []
        bits = 0
        for i, o in enumerate(raw):
            oid = _id(o.get("id")) if isinstance(o, dict) else None
            try:
                allow = int(o.get("allow") or 0) if isinstance(o, dict) else -1
                deny = int(o.get("deny") or 0) if isinstance(o, dict) else -1
            except (TypeError, ValueError):
                allow = deny = -1
            kind = o.get("type") if isinstance(o, dict) else None
            if oid is None or kind not in (0, 1, "role", "member") or allow < 0 or deny < 0:
                return _invalid(f"permission_overwrites.{i}", "INVALID", "Invalid overwrite.")
            bits |= allow | deny
            kind = {"role": 0, "member": 1}.get(kind, kind)  # type: ignore[arg-type]
            out.append({"id": str(oid), "type": kind, "allow": str(allow), "deny": str(deny)})
        if not self._may_set_bits(guild_id, channel_id, bits):
            what = "set overwrites of channel" if channel_id else "create a channel with overwrites"
            self._refused(
                f"{what} {channel_id or ''}".strip(), "Manage Roles (or the permissions it grants)"
            )
            return _missing()
        return out

    def _parent_refusal(self, guild_id: int, raw: Any) -> web.Response | int | None:
        """A ``parent_id`` must name a category of the same guild."""
        if raw is None:
            return None
        pid = _id(raw)
        ref = self.world.channel(pid) if pid is not None else None
        obj = self.world.channel_object(pid) if ref is not None and pid is not None else None
        if (
            pid is None
            or ref is None
            or ref.guild_id != guild_id
            or obj is None
            or obj["type"] != CATEGORY
        ):
            return _invalid("parent_id", "CHANNEL_PARENT_INVALID", "Not a category.")
        return pid

    # ---- channels ----------------------------------------------------------------------

    async def create_channel(self, request: web.Request) -> web.Response:
        gid = _id(request.match_info["guild_id"])
        if gid is None or self.world.guild_index(gid) is None:
            return error(404, "Unknown Guild", 10004)
        body = await _body(request)
        if not isinstance(body, dict):
            return _invalid("_", "DICT_TYPE_CONVERT", "Only dictionaries may be used.")
        name = body.get("name")
        if not isinstance(name, str) or not 1 <= len(name) <= 100:
            return _invalid("name", "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length.")
        kind = body.get("type", TEXT)
        if kind is None:
            kind = TEXT
        if kind not in GUILD_CHANNEL_TYPES:
            return _invalid(
                "type", "BASE_TYPE_CHOICES", f"Value must be one of {sorted(GUILD_CHANNEL_TYPES)}."
            )
        if not self._bot_bits(gid) & perms.FLAGS["manage_channels"]:
            self._refused("create a channel", "Manage Channels")
            return _missing()
        parent = self._parent_refusal(gid, body.get("parent_id")) if kind != CATEGORY else None
        if isinstance(parent, web.Response):
            return parent
        raw = body.get("permission_overwrites")
        overwrites: list[dict[str, Any]]
        if raw:
            checked = self._overwrites_refusal(gid, raw)
            if isinstance(checked, web.Response):
                return checked
            overwrites = checked
        elif parent is not None:
            # Discord syncs a new channel with its category when no overwrites are given
            # (discord.py always sends an empty list, so that counts as none given).
            overwrites = self.model.overwrites_of(parent)
        else:
            overwrites = []
        fields = {
            k: body[k] for k in _CHANNEL_FIELDS if body.get(k) is not None and k != "parent_id"
        }
        fields.update(type=kind, name=name, parent_id=None if parent is None else str(parent))
        created = self.model.create_channel(gid, fields, overwrites)
        self._audit(request, gid, CHANNEL_CREATE, int(created["id"]), {}, created)
        return json_response(created, 201)

    async def edit_channel(self, request: web.Request) -> web.Response:
        cid = _id(request.match_info["channel_id"])
        if cid is not None and cid in self.model.threads:
            return await self.threads.edit_thread(request)
        found = self._guild_channel(request)
        if found is None:
            return error(404, "Unknown Channel", 10003)
        cid, channel = found
        gid = int(channel["guild_id"])
        body = await _body(request)
        if not isinstance(body, dict):
            return _invalid("_", "DICT_TYPE_CONVERT", "Only dictionaries may be used.")
        if not self._may(cid, "view_channel", "manage_channels"):
            self._refused(f"edit channel {cid}", "Manage Channels")
            return _missing()
        if "name" in body and (
            not isinstance(body["name"], str) or not 1 <= len(body["name"]) <= 100
        ):
            return _invalid("name", "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length.")
        topic = body.get("topic")
        if topic is not None and (not isinstance(topic, str) or len(topic) > 1024):
            return _invalid("topic", "BASE_TYPE_MAX_LENGTH", "Must be 1024 or fewer in length.")
        fields = {k: body[k] for k in _CHANNEL_FIELDS if k in body and k != "parent_id"}
        if "parent_id" in body and channel["type"] != CATEGORY:
            parent = self._parent_refusal(gid, body["parent_id"])
            if isinstance(parent, web.Response):
                return parent
            fields["parent_id"] = None if parent is None else str(parent)
        overwrites = None
        if body.get("permission_overwrites") is not None:
            checked = self._overwrites_refusal(gid, body["permission_overwrites"], cid)
            if isinstance(checked, web.Response):
                return checked
            overwrites = checked
        elif body.get("lock_permissions"):  # "sync with the category"
            parent_id = fields.get("parent_id", channel.get("parent_id"))
            if parent_id is not None:
                overwrites = self.model.overwrites_of(int(parent_id))
        edited = self.model.edit_channel(cid, fields, overwrites)
        self._audit(request, gid, CHANNEL_UPDATE, cid, channel, edited)
        return json_response(edited)

    async def move_channels(self, request: web.Request) -> web.Response:
        """Modify Guild Channel Positions: ``[{id, position, parent_id?, lock_permissions?}]``
        (what discord.py sends for ``channel.edit(position=…)`` and ``move``)."""
        gid = _id(request.match_info["guild_id"])
        if gid is None or self.world.guild_index(gid) is None:
            return error(404, "Unknown Guild", 10004)
        body = await _body(request)
        if not isinstance(body, list) or not all(isinstance(e, dict) for e in body):
            return _invalid("_", "LIST_TYPE_CONVERT", "Must be an array of objects.")
        if not self._bot_bits(gid) & perms.FLAGS["manage_channels"]:
            self._refused("move channels", "Manage Channels")
            return _missing()
        moves: list[tuple[int, dict[str, Any], list[dict[str, Any]] | None]] = []
        for i, entry in enumerate(body):
            cid = _id(entry.get("id"))
            channel = self.world.channel_object(cid) if cid is not None else None
            if cid is None or channel is None or channel.get("guild_id") != str(gid):
                return _invalid(f"{i}.id", "CHANNEL_INVALID", "Unknown channel in this guild.")
            fields: dict[str, Any] = {}
            if entry.get("position") is not None:
                fields["position"] = entry["position"]
            overwrites = None
            if "parent_id" in entry and channel["type"] != CATEGORY:
                parent = self._parent_refusal(gid, entry["parent_id"])
                if isinstance(parent, web.Response):
                    return parent
                fields["parent_id"] = None if parent is None else str(parent)
                if entry.get("lock_permissions") and parent is not None:
                    overwrites = self.model.overwrites_of(parent)
            if any(channel.get(k) != v for k, v in fields.items()) or overwrites is not None:
                moves.append((cid, fields, overwrites))
        for cid, fields, overwrites in moves:  # checked all first: all or nothing
            self.model.edit_channel(cid, fields, overwrites)
        return web.Response(status=204)

    async def delete_channel(self, request: web.Request) -> web.Response:
        cid = _id(request.match_info["channel_id"])
        if cid is not None and cid in self.model.threads:
            return await self.threads.delete_thread(request)
        found = self._guild_channel(request)
        if found is None:
            return error(404, "Unknown Channel", 10003)
        cid, _ = found
        if not self._may(cid, "view_channel", "manage_channels"):
            self._refused(f"delete channel {cid}", "Manage Channels")
            return _missing()
        gone = self.model.delete_channel(cid)
        self._audit(request, cid >> 22 << 22, CHANNEL_DELETE, cid, gone, {})
        return json_response(gone)


__all__ = ["ChannelRoutes", "RouteBase", "admit_message", "thread_refusal"]
