"""REST and control routes of the server model (members, roles), Discord's way.

Bans are in :mod:`ezlang.sandbox.ban_api`.

The bot is the actor of every REST call: each route checks the permission Discord asks
for and the role hierarchy, then changes :class:`~ezlang.sandbox.guild_state.ServerModel`,
which dispatches the gateway event. Refusals are Discord's: 403 50013 Missing Permissions,
404 10004 Unknown Guild, 10007 Unknown Member, 10011 Unknown Role, 10013 Unknown User,
10026 Unknown Ban.
"""

from __future__ import annotations

import hashlib
import time
from datetime import datetime
from typing import TYPE_CHECKING, Any

from aiohttp import web

from . import audit_log as audit
from . import permissions as perms
from .guild_state import GuildState, Role
from .rest import error, invalid_form, json_response
from .rest import json_body as _body
from .rest import missing_permissions as _missing
from .rest import snowflake_id as _id

if TYPE_CHECKING:
    from .core import Sandbox

MAX_TIMEOUT_SECONDS = 28 * 24 * 3600  # Discord: a timeout ends at most 28 days ahead


def _invalid(field: str, message: str) -> web.Response:
    return invalid_form(field, "INVALID", message)


def _diff(before: dict[str, Any] | None, after: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Audit-log changes between two role objects (None: created or deleted)."""
    keys = ("name", "permissions", "color", "hoist", "mentionable", "position", "icon")
    old, new = before or {}, after or {}
    return [audit.change(k, old.get(k), new.get(k)) for k in keys if old.get(k) != new.get(k)]


class GuildRoutes:
    """The member, role and ban routes of the REST API."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sb = sandbox
        self.model = sandbox.server

    def routes(self) -> list[tuple[str, str, Any]]:
        """``(method, path, handler)`` for ``RestApi`` to register (auth, rate limits)."""
        g = "/guilds/{guild_id}"
        return [
            ("GET", g + "/members/{user_id}", self.get_member),
            ("PATCH", g + "/members/{user_id}", self.patch_member),
            ("DELETE", g + "/members/{user_id}", self.kick),
            ("PUT", g + "/members/{user_id}/roles/{role_id}", self.add_role),
            ("DELETE", g + "/members/{user_id}/roles/{role_id}", self.remove_role),
            ("GET", g + "/roles", self.list_roles),
            ("POST", g + "/roles", self.create_role),
            ("PATCH", g + "/roles", self.move_roles),
            ("PATCH", g + "/roles/{role_id}", self.edit_role),
            ("DELETE", g + "/roles/{role_id}", self.delete_role),
            ("PUT", "/channels/{channel_id}/permissions/{overwrite_id}", self.put_overwrite),
            ("DELETE", "/channels/{channel_id}/permissions/{overwrite_id}", self.delete_overwrite),
        ]

    # ---- helpers -----------------------------------------------------------------------

    def _state(self, request: web.Request, *, edit: bool) -> GuildState | None:
        gid = _id(request.match_info["guild_id"])
        if gid is None or self.sb.world.guild_index(gid) is None:
            return None
        return self.model.edit(gid) if edit else self.model.view(gid)

    @property
    def bot(self) -> int:
        return self.sb.world.bot_id

    def _user(self, request: web.Request) -> int | None:
        raw = request.match_info["user_id"]
        return self.bot if raw == "@me" else _id(raw)

    def _audit(
        self,
        request: web.Request,
        state: GuildState,
        action: int,
        target: int | None,
        changes: list[dict[str, Any]] | None = None,
    ) -> None:
        """Record what the bot did in the guild's audit log, with the request's reason."""
        self.model.audit.record(
            state.guild_id, action, self.bot, target, audit.reason_of(request), changes
        )

    # ---- members -----------------------------------------------------------------------

    async def get_member(self, request: web.Request) -> web.Response:
        state = self._state(request, edit=False)
        if state is None:
            return error(404, "Unknown Guild", 10004)
        uid = self._user(request)
        member = self.model.member_json(state, uid) if uid is not None else None
        if member is None:
            return error(404, "Unknown Member", 10007)
        return json_response(member)

    async def patch_member(self, request: web.Request) -> web.Response:
        state = self._state(request, edit=False)
        if state is None:
            return error(404, "Unknown Guild", 10004)
        uid = self._user(request)
        if uid is None or uid not in state.members:
            return error(404, "Unknown Member", 10007)
        body = await _body(request)
        if not isinstance(body, dict):
            return error(400, "Invalid Form Body", 50035)
        bot = self.bot
        member = state.members[uid]
        new_roles: list[int] | None = None
        if "nick" in body:
            nick = body["nick"]
            if nick is not None and (not isinstance(nick, str) or len(nick) > 32):
                return _invalid("nick", "Must be 32 or fewer in length.")
            if uid == bot:
                if not (state.has(bot, "change_nickname") or state.has(bot, "manage_nicknames")):
                    return _missing()
            elif not state.has(bot, "manage_nicknames") or not state.above_member(bot, uid):
                return _missing()
        if "roles" in body and body["roles"] is not None:
            raw = body["roles"]
            if not isinstance(raw, list) or any(_id(str(r)) is None for r in raw):
                return _invalid("roles", "Must be a list of role ids.")
            new_roles = list(dict.fromkeys(int(r) for r in raw))
            if any(r not in state.roles or r == state.guild_id for r in new_roles):
                return error(404, "Unknown Role", 10011)
            changed = set(new_roles) ^ set(member.roles)
            if changed and not state.has(bot, "manage_roles"):
                return _missing()
            if any(not state.above_role(bot, r) or state.roles[r].managed for r in changed):
                return _missing()
        until: str | None = member.communication_disabled_until
        if "communication_disabled_until" in body:
            value = body["communication_disabled_until"]
            if value is not None:
                try:
                    when = datetime.fromisoformat(str(value))
                except ValueError:
                    return _invalid("communication_disabled_until", "Not a valid ISO8601 date.")
                if when.tzinfo is None or when.timestamp() - time.time() > MAX_TIMEOUT_SECONDS:
                    return _invalid(
                        "communication_disabled_until",
                        "Must be a timestamp with a time zone at most 28 days ahead.",
                    )
            if not state.has(bot, "moderate_members") or not state.above_member(bot, uid):
                return _missing()
            # Nobody can time out an administrator (or the owner: above_member covers it).
            if state.has(uid, "administrator"):
                return _missing()
            until = None if value is None else str(value)
        # Every check passed: apply all at once, as Discord does, and tell the shards.
        state = self.model.edit(state.guild_id)
        member = state.members[uid]
        old_nick, old_roles, old_until = (
            member.nick,
            member.roles,
            member.communication_disabled_until,
        )
        if "nick" in body:
            member.nick = body["nick"] or None
        if new_roles is not None:
            member.roles = new_roles
        member.communication_disabled_until = until
        self.model.member_update(state, uid)
        updated = [
            audit.change(key, old, new)
            for key, old, new in (
                ("nick", old_nick, member.nick),
                ("communication_disabled_until", old_until, until),
            )
            if old != new
        ]
        if updated:
            self._audit(request, state, audit.MEMBER_UPDATE, uid, updated)
        if new_roles is not None and set(new_roles) != set(old_roles):
            self._audit_roles(request, state, uid, set(new_roles) - set(old_roles),
                              set(old_roles) - set(new_roles))  # fmt: skip
        return json_response(self.model.member_json(state, uid))

    async def kick(self, request: web.Request) -> web.StreamResponse:
        state = self._state(request, edit=False)
        if state is None:
            return error(404, "Unknown Guild", 10004)
        uid = self._user(request)
        if uid is None or uid not in state.members:
            return error(404, "Unknown Member", 10007)
        bot = self.bot
        if uid == bot:  # the bot leaving is DELETE /users/@me/guilds/{id}, not a kick
            return _missing()
        if not state.has(bot, "kick_members") or not state.above_member(bot, uid):
            return _missing()
        self.model.remove_member(state.guild_id, uid)
        self._audit(request, state, audit.MEMBER_KICK, uid)
        return web.Response(status=204)

    async def _role_change(self, request: web.Request, add: bool) -> web.StreamResponse:
        state = self._state(request, edit=False)
        if state is None:
            return error(404, "Unknown Guild", 10004)
        uid = self._user(request)
        if uid is None or uid not in state.members:
            return error(404, "Unknown Member", 10007)
        rid = _id(request.match_info["role_id"])
        if rid is None or rid not in state.roles or rid == state.guild_id:
            return error(404, "Unknown Role", 10011)
        bot = self.bot
        if not state.has(bot, "manage_roles") or not state.above_role(bot, rid):
            return _missing()
        if state.roles[rid].managed:  # an integration's role: only Discord assigns it
            return _missing()
        member = state.members[uid]
        if (rid in member.roles) != add:
            state = self.model.edit(state.guild_id)
            member = state.members[uid]
            if add:
                member.roles.append(rid)
            else:
                member.roles.remove(rid)
            self.model.member_update(state, uid)
            self._audit_roles(request, state, uid, {rid} if add else set(), set() if add else {rid})
        return web.Response(status=204)

    def _audit_roles(
        self, request: web.Request, state: GuildState, uid: int, added: set[int], gone: set[int]
    ) -> None:
        def named(rids: set[int]) -> list[dict[str, str]]:
            return [{"id": str(r), "name": state.roles[r].name} for r in sorted(rids)]

        changes = [
            audit.change(k, None, named(v)) for k, v in (("$add", added), ("$remove", gone)) if v
        ]
        self._audit(request, state, audit.MEMBER_ROLE_UPDATE, uid, changes)

    async def add_role(self, request: web.Request) -> web.StreamResponse:
        return await self._role_change(request, True)

    async def remove_role(self, request: web.Request) -> web.StreamResponse:
        return await self._role_change(request, False)

    # ---- roles -------------------------------------------------------------------------

    async def list_roles(self, request: web.Request) -> web.Response:
        state = self._state(request, edit=False)
        if state is None:
            return error(404, "Unknown Guild", 10004)
        return json_response([r.to_json() for r in state.sorted_roles()])

    def _role_fields(self, state: GuildState, body: dict[str, Any]) -> web.Response | None:
        """Check a role body; a permission the bot lacks can not be granted (50013)."""
        if "name" in body and (not isinstance(body["name"], str) or len(body["name"]) > 100):
            return _invalid("name", "Must be 100 or fewer in length.")
        if "permissions" in body:
            try:
                bits = int(body["permissions"])
            except (TypeError, ValueError):
                return _invalid("permissions", "Not a valid permission integer.")
            mine = state.permissions_of(self.bot)
            if not mine & perms.ADMINISTRATOR and bits & ~mine:
                return _missing()
        if body.get("icon") is not None or body.get("unicode_emoji") is not None:
            icon = body.get("icon")
            if icon is not None and (
                not isinstance(icon, str) or not icon.startswith("data:image/")
            ):
                return _invalid("icon", "Must be an image data URI (data:image/png;base64,…).")
            emoji = body.get("unicode_emoji")
            if emoji is not None and (not isinstance(emoji, str) or not emoji):
                return _invalid("unicode_emoji", "Must be a unicode emoji.")
            # Role icons are a boost perk: Discord refuses them without the feature.
            if "ROLE_ICONS" not in state.features:
                return error(403, "This server needs more boosts to perform this action", 50101)
        return None

    @staticmethod
    def _apply(role: Role, body: dict[str, Any]) -> None:
        if "name" in body:
            role.name = body["name"]
        if "permissions" in body:
            role.permissions = int(body["permissions"])
        if "color" in body:
            role.color = int(body["color"] or 0)
        if "hoist" in body:
            role.hoist = bool(body["hoist"])
        if "mentionable" in body:
            role.mentionable = bool(body["mentionable"])
        if "icon" in body:
            icon = body["icon"]
            # Discord stores the image and answers with its hash.
            role.icon = None if icon is None else hashlib.md5(icon.encode()).hexdigest()
        if "unicode_emoji" in body:
            role.unicode_emoji = body["unicode_emoji"]

    async def create_role(self, request: web.Request) -> web.Response:
        state = self._state(request, edit=False)
        if state is None:
            return error(404, "Unknown Guild", 10004)
        body = await _body(request)
        if not isinstance(body, dict):
            return error(400, "Invalid Form Body", 50035)
        if not state.has(self.bot, "manage_roles"):
            return _missing()
        refused = self._role_fields(state, body)
        if refused is not None:
            return refused
        state = self.model.edit(state.guild_id)
        # Discord puts a new role at position 1, just above @everyone.
        for r in state.roles.values():
            if r.position >= 1:
                r.position += 1
        everyone = state.roles[state.guild_id].permissions
        role = Role(self.sb.gateway.next_snowflake(), "new role", 1, everyone)
        self._apply(role, body)
        state.roles[role.id] = role
        self.model.role_event(state, "GUILD_ROLE_CREATE", role)
        self._audit(request, state, audit.ROLE_CREATE, role.id, _diff(None, role.to_json()))
        return json_response(role.to_json())

    async def move_roles(self, request: web.Request) -> web.Response:
        """``PATCH /guilds/{id}/roles`` ``[{id, position}]``: Manage Roles; each role moved
        and each new position strictly below the bot's highest role."""
        state = self._state(request, edit=False)
        if state is None:
            return error(404, "Unknown Guild", 10004)
        body = await _body(request)
        if not isinstance(body, list) or not body:
            return _invalid("_root", "Must be a list of {id, position}.")
        moves: list[tuple[int, int]] = []
        for item in body:
            rid = _id(str(item.get("id"))) if isinstance(item, dict) else None
            position = item.get("position") if isinstance(item, dict) else None
            if rid is None or isinstance(position, bool) or not isinstance(position, int):
                return _invalid("_root", "Each item must be {id, position} with an integer.")
            if rid not in state.roles:
                return error(404, "Unknown Role", 10011)
            if rid == state.guild_id:
                return _invalid("id", "@everyone is always at position 0.")
            moves.append((rid, max(1, position)))
        bot = self.bot
        if not state.has(bot, "manage_roles"):
            return _missing()
        top = state.top_position(bot)
        for rid, position in moves:
            if not state.above_role(bot, rid) or (bot != state.owner_id and position >= top):
                return _missing()
        before = {r.id: r.to_json() for r in state.roles.values()}
        moved = self.model.reorder_roles(state.guild_id, moves)
        state = self.model.edit(state.guild_id)
        for role in moved:
            self._audit(
                request, state, audit.ROLE_UPDATE, role.id, _diff(before[role.id], role.to_json())
            )
        return json_response([r.to_json() for r in state.sorted_roles()])

    def _role_to_manage(self, request: web.Request) -> tuple[GuildState, int] | web.Response:
        """The guild state and role id of a role route the bot may manage, or the refusal
        (unknown guild or role; Manage Roles missing or the role not below the bot's)."""
        state = self._state(request, edit=False)
        if state is None:
            return error(404, "Unknown Guild", 10004)
        rid = _id(request.match_info["role_id"])
        if rid is None or rid not in state.roles:
            return error(404, "Unknown Role", 10011)
        bot = self.bot
        if not state.has(bot, "manage_roles") or not state.above_role(bot, rid):
            return _missing()
        return state, rid

    async def edit_role(self, request: web.Request) -> web.Response:
        target = self._role_to_manage(request)
        if isinstance(target, web.Response):
            return target
        state, rid = target
        body = await _body(request)
        if not isinstance(body, dict):
            return error(400, "Invalid Form Body", 50035)
        refused = self._role_fields(state, body)
        if refused is not None:
            return refused
        state = self.model.edit(state.guild_id)
        role = state.roles[rid]
        before = role.to_json()
        self._apply(role, body)
        self.model.role_event(state, "GUILD_ROLE_UPDATE", role)
        self._audit(request, state, audit.ROLE_UPDATE, rid, _diff(before, role.to_json()))
        return json_response(role.to_json())

    async def delete_role(self, request: web.Request) -> web.StreamResponse:
        target = self._role_to_manage(request)
        if isinstance(target, web.Response):
            return target
        state, rid = target
        if rid == state.guild_id:  # @everyone can not be deleted
            return error(400, "Invalid Role", 50028)
        if state.roles[rid].managed:  # it goes when its integration (bot) leaves
            return _missing()
        state = self.model.edit(state.guild_id)
        self._audit(request, state, audit.ROLE_DELETE, rid, _diff(state.roles[rid].to_json(), None))
        del state.roles[rid]
        for box in state.overwrites.values():
            box.pop(rid, None)  # its channel overwrites go with it
        for m in state.members.values():
            if rid in m.roles:
                m.roles.remove(rid)
        self.model.emit(
            state.guild_id,
            "GUILD_ROLE_DELETE",
            {"guild_id": str(state.guild_id), "role_id": str(rid)},
            1,  # GUILDS
        )
        return web.Response(status=204)

    # ---- channel permission overwrites --------------------------------------------------

    def _channel_state(self, request: web.Request) -> tuple[int, GuildState] | None:
        cid = _id(request.match_info["channel_id"])
        ref = self.sb.world.channel(cid) if cid is not None else None
        if cid is None or ref is None:
            return None
        state = self.model.view(ref.guild_id)
        assert state is not None
        return cid, state

    def _overwrite_refusal(self, state: GuildState, cid: int, bits: int) -> web.Response | None:
        """50001 if the bot cannot see the channel; 50013 unless Discord's rule for editing
        overwrites lets it set ``bits`` (``permissions.may_edit_overwrite``)."""
        bot = self.bot
        here = state.channel_permissions_of(bot, cid)
        if not here & perms.VIEW_CHANNEL:
            return error(403, "Missing Access", 50001)
        parent = (self.sb.world.channel_object(cid) or {}).get("parent_id")
        scope = (
            state.channel_permissions_of(bot, int(parent)) if parent else state.permissions_of(bot)
        )
        manage_overwrite = perms.allows_manage_roles(
            guild_id=state.guild_id,
            member_id=bot,
            member_roles=state.members[bot].roles,
            overwrites=state.overwrites.get(cid, {}).values(),
        )
        if perms.may_edit_overwrite(
            here=here, scope=scope, bits=bits, manage_overwrite=manage_overwrite
        ):
            return None
        return _missing()

    async def put_overwrite(self, request: web.Request) -> web.StreamResponse:
        found = self._channel_state(request)
        if found is None:
            return error(404, "Unknown Channel", 10003)
        cid, state = found
        oid = _id(request.match_info["overwrite_id"])
        body = await _body(request)
        if oid is None or not isinstance(body, dict) or body.get("type") not in (0, 1):
            return _invalid("type", "Must be 0 (role) or 1 (member).")
        try:
            allow, deny = int(body.get("allow") or 0), int(body.get("deny") or 0)
        except (TypeError, ValueError):
            return _invalid("allow", "Not a valid permission integer.")
        if body["type"] == 0 and oid not in state.roles:
            return error(404, "Unknown Role", 10011)
        if body["type"] == 1 and oid not in state.members:
            return error(404, "Unknown Member", 10007)
        refused = self._overwrite_refusal(state, cid, allow | deny)
        if refused is not None:
            return refused
        overwrite = {"id": str(oid), "type": body["type"], "allow": str(allow), "deny": str(deny)}
        old = state.overwrites.get(cid, {}).get(oid)
        self.model.set_overwrite(cid, overwrite, oid)
        action = audit.CHANNEL_OVERWRITE_CREATE if old is None else audit.CHANNEL_OVERWRITE_UPDATE
        changes = [audit.change(k, (old or {}).get(k), overwrite[k]) for k in ("allow", "deny")]
        self._audit(request, state, action, cid, changes)
        return web.Response(status=204)

    async def delete_overwrite(self, request: web.Request) -> web.StreamResponse:
        found = self._channel_state(request)
        if found is None:
            return error(404, "Unknown Channel", 10003)
        cid, state = found
        oid = _id(request.match_info["overwrite_id"])
        refused = self._overwrite_refusal(state, cid, 0)
        if refused is not None:
            return refused
        if oid is None or oid not in state.overwrites.get(cid, {}):
            return error(404, "Unknown Overwrite", 10009)
        self.model.set_overwrite(cid, None, oid)
        self._audit(request, state, audit.CHANNEL_OVERWRITE_DELETE, cid)
        return web.Response(status=204)
