"""REST routes of bans, Discord's way: list, get, ban, unban and bulk-ban.

The bot is the actor: each route checks Ban Members (bulk-ban also Manage Server) and, for
a member, the role hierarchy, then changes the :class:`~ezlang.sandbox.guild_state.ServerModel`
(GUILD_BAN_ADD / GUILD_BAN_REMOVE, GUILD_MEMBER_REMOVE). A ban's ``delete_message_seconds``
(0 to 604800, 7 days) deletes the user's recent messages in the guild. Refusals are
Discord's: 403 50013 Missing Permissions, 404 10026 Unknown Ban, 10013 Unknown User,
400 50035 for a bad body, 500000 "Failed to ban users" when a bulk-ban banned nobody.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from . import audit_log as audit
from .guild_api import GuildRoutes, _body, _id, _invalid, _missing
from .guild_state import GuildState
from .rest import error, json_response

MAX_DELETE_MESSAGE_SECONDS = 7 * 24 * 3600
BULK_BAN_MAX = 200


class BanRoutes(GuildRoutes):
    """``GET/PUT/DELETE /guilds/{id}/bans[/{user}]`` and ``POST /guilds/{id}/bulk-ban`` (the
    member routes' helpers: guild state, the bot, bodies)."""

    def routes(self) -> list[tuple[str, str, Any]]:
        """``(method, path, handler)`` for ``RestApi`` to register (auth, rate limits)."""
        g = "/guilds/{guild_id}"
        return [
            ("GET", g + "/bans", self.list_bans),
            ("GET", g + "/bans/{user_id}", self.get_ban),
            ("PUT", g + "/bans/{user_id}", self.ban),
            ("DELETE", g + "/bans/{user_id}", self.unban),
            ("POST", g + "/bulk-ban", self.bulk_ban),
        ]

    def _moderated(self, request: web.Request) -> GuildState | web.Response:
        """The guild's state if the bot may see and lift bans there (Ban Members), else the
        refusal (unknown guild, 50013)."""
        state = self._state(request, edit=False)
        if state is None:
            return error(404, "Unknown Guild", 10004)
        if not state.has(self.bot, "ban_members"):
            return _missing()
        return state

    def _ban_json(self, uid: int, reason: str | None) -> dict[str, Any]:
        return {"reason": reason, "user": self.sb.world.user(uid)}

    def _bannable(self, state: GuildState, uid: int) -> bool:
        """Discord's rule: not the bot itself, not the owner, and a member only if the
        bot's highest role is above theirs."""
        if uid in (self.bot, state.owner_id):
            return False
        return uid not in state.members or state.above_member(self.bot, uid)

    @staticmethod
    def _delete_seconds(body: dict[str, Any]) -> int | web.Response:
        value = body.get("delete_message_seconds")
        if value is None and body.get("delete_message_days") is not None:
            value = body["delete_message_days"] * 86400  # the deprecated field, in days
        if value is None:
            return 0
        if isinstance(value, bool) or not isinstance(value, int | float):
            return _invalid("delete_message_seconds", "Must be an integer.")
        if not 0 <= value <= MAX_DELETE_MESSAGE_SECONDS:
            return _invalid(
                "delete_message_seconds",
                f"int value should be less than or equal to {MAX_DELETE_MESSAGE_SECONDS}.",
            )
        return int(value)

    async def list_bans(self, request: web.Request) -> web.Response:
        state = self._moderated(request)
        if isinstance(state, web.Response):
            return state
        return json_response([self._ban_json(u, r) for u, r in state.bans.items()])

    def _banned(self, request: web.Request) -> tuple[GuildState, int] | web.Response:
        """The state and the banned user of a ``…/bans/{user}`` route, or the refusal
        (unknown guild, 50013, 10026 Unknown Ban)."""
        state = self._moderated(request)
        if isinstance(state, web.Response):
            return state
        uid = _id(request.match_info["user_id"])
        if uid is None or uid not in state.bans:
            return error(404, "Unknown Ban", 10026)
        return state, uid

    async def get_ban(self, request: web.Request) -> web.Response:
        found = self._banned(request)
        if isinstance(found, web.Response):
            return found
        state, uid = found
        return json_response(self._ban_json(uid, state.bans[uid]))

    async def ban(self, request: web.Request) -> web.StreamResponse:
        state = self._state(request, edit=False)
        if state is None:
            return error(404, "Unknown Guild", 10004)
        uid = _id(request.match_info["user_id"])
        if uid is None or self.sb.world.user(uid) is None:
            return error(404, "Unknown User", 10013)
        body = await _body(request)
        if not isinstance(body, dict):
            return error(400, "Invalid Form Body", 50035)
        # Discord takes the field in the JSON body or the query string (discord.py uses it).
        for key in ("delete_message_seconds", "delete_message_days"):
            if key in request.query and key not in body:
                try:
                    body[key] = int(request.query[key])
                except ValueError:
                    return _invalid(key, "Must be an integer.")
        seconds = self._delete_seconds(body)
        if isinstance(seconds, web.Response):
            return seconds
        if not state.has(self.bot, "ban_members") or not self._bannable(state, uid):
            return _missing()
        reason = audit.reason_of(request)
        if self.model.ban(state.guild_id, uid, reason, seconds):
            self._audit(request, state, audit.MEMBER_BAN_ADD, uid)
        return web.Response(status=204)

    async def unban(self, request: web.Request) -> web.StreamResponse:
        found = self._banned(request)
        if isinstance(found, web.Response):
            return found
        state, uid = found
        self.model.unban(state.guild_id, uid)
        self._audit(request, state, audit.MEMBER_BAN_REMOVE, uid)
        return web.Response(status=204)

    async def bulk_ban(self, request: web.Request) -> web.Response:
        state = self._state(request, edit=False)
        if state is None:
            return error(404, "Unknown Guild", 10004)
        body = await _body(request)
        if not isinstance(body, dict):
            return error(400, "Invalid Form Body", 50035)
        raw = body.get("user_ids")
        if not isinstance(raw, list) or not raw or any(_id(str(u)) is None for u in raw):
            return _invalid("user_ids", "Must be a list of 1 to 200 user ids.")
        if len(raw) > BULK_BAN_MAX:
            return _invalid("user_ids", f"Must be {BULK_BAN_MAX} or fewer in length.")
        seconds = self._delete_seconds(body)
        if isinstance(seconds, web.Response):
            return seconds
        bot = self.bot
        if not (state.has(bot, "ban_members") and state.has(bot, "manage_guild")):
            return _missing()
        reason = audit.reason_of(request)
        banned: list[str] = []
        failed: list[str] = []
        for uid in dict.fromkeys(int(u) for u in raw):
            # Unknown users, users above the bot and users already banned fail one by one.
            ok = (
                self.sb.world.user(uid) is not None
                and self._bannable(state, uid)
                and self.model.ban(state.guild_id, uid, reason, seconds)
            )
            state = self.model.view(state.guild_id) or state
            if ok:
                self._audit(request, state, audit.MEMBER_BAN_ADD, uid)
            (banned if ok else failed).append(str(uid))
        if not banned:
            return error(400, "Failed to ban users", 500000)
        return json_response({"banned_users": banned, "failed_users": failed})
