"""Guild invites: create, list, get and delete — Discord's way.

``POST /channels/{id}/invites`` (CREATE_INSTANT_INVITE; ``max_age`` 0–604800 s, default
86400, 0 = never; ``max_uses`` 0–100; ``temporary``; ``unique`` — without it an invite of
the bot with the same settings in that channel is answered again, as Discord does),
``GET /channels/{id}/invites`` (MANAGE_CHANNELS), ``GET /guilds/{id}/invites``
(MANAGE_GUILD), ``GET /invites/{code}`` (``with_counts``), ``DELETE /invites/{code}``
(MANAGE_CHANNELS in its channel or MANAGE_GUILD). Refusals: 403 50013, 404 10003 / 10004,
10006 Unknown Invite (also for an expired one), 50035 for a bad ``max_age``/``max_uses``.
Creating sends INVITE_CREATE and deleting INVITE_DELETE to the guild's shard, to sessions
with GUILD_INVITES.

Control API: ``POST {control}/invites/{code}`` ``{user_id}`` — a user joins through the
invite (GUILD_MEMBER_ADD, ``uses`` + 1; an invite used ``max_uses`` times is gone).
"""

from __future__ import annotations

import json
import random
import string
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import web

from . import permissions as perms
from .commands import Errors, _err, _set
from .records import channel_allowed, guild_allowed, iso_time, per_sandbox, whole_number
from .rest import error, json_response

if TYPE_CHECKING:
    from .core import Sandbox

INTENT_GUILD_INVITES = 1 << 6
MAX_AGE = 604_800  # 7 days
MAX_USES = 100
DEFAULT_MAX_AGE = 86_400
_CODE_CHARS = string.ascii_letters + string.digits


@dataclass
class Invite:
    """One invite: where it leads, who made it and its limits."""

    code: str
    guild_id: int
    channel_id: int
    inviter_id: int
    max_age: int
    max_uses: int
    temporary: bool
    created: float
    uses: int = 0

    def expired(self, now: float | None = None) -> bool:
        """True once ``max_age`` seconds passed (0: never) or every use is spent."""
        now = time.time() if now is None else now
        if self.max_age and now >= self.created + self.max_age:
            return True
        return bool(self.max_uses) and self.uses >= self.max_uses


@dataclass
class InviteStore:
    """The invites of one sandbox, by code."""

    invites: dict[str, Invite] = field(default_factory=dict)
    rng: random.Random = field(default_factory=random.Random)


def store_of(sb: Sandbox) -> InviteStore:
    """The invites of ``sb`` (created on first use)."""
    return per_sandbox(sb, InviteStore, lambda: InviteStore(rng=random.Random(sb.seed + 1)))


class InviteRoutes:
    """The invite routes of one sandbox."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sb = sandbox
        self.world = sandbox.world
        self.store = store_of(sandbox)
        sandbox.server.state_sections["invites"] = lambda gid: [
            self.invite_json(i, metadata=True) for i in self.invites_of_guild(gid)
        ]

    def routes(self) -> list[tuple[str, str, Any]]:
        """(method, path, handler) of the bot-authenticated routes."""
        return [
            ("POST", "/channels/{channel_id}/invites", self.create),
            ("GET", "/channels/{channel_id}/invites", self.channel_invites),
            ("GET", "/guilds/{guild_id}/invites", self.guild_invites),
            ("GET", "/invites/{code}", self.get),
            ("DELETE", "/invites/{code}", self.delete),
        ]

    # ---- JSON --------------------------------------------------------------------------

    def invite_json(self, inv: Invite, *, metadata: bool, counts: bool = False) -> dict[str, Any]:
        """Discord's invite object (with the invite metadata when ``metadata``)."""
        index = self.world.guild_index(inv.guild_id)
        assert index is not None
        channel = self.world.channel_object(inv.channel_id) or {}
        out: dict[str, Any] = {
            "type": 0,
            "code": inv.code,
            "guild": {
                "id": str(inv.guild_id),
                "name": self.world.guild_name(index),
                "splash": None,
                "banner": None,
                "description": None,
                "icon": None,
                "features": [],
                "verification_level": 0,
                "vanity_url_code": None,
                "nsfw_level": 0,
                "premium_subscription_count": 0,
            },
            "channel": {
                "id": str(inv.channel_id),
                "name": channel.get("name"),
                "type": channel.get("type", 0),
            },
            "inviter": self.world.bot_user()
            if inv.inviter_id == self.world.bot_id
            else self.world.user(inv.inviter_id),
            "expires_at": iso_time(inv.created + inv.max_age) if inv.max_age else None,
        }
        if counts:
            out["approximate_member_count"] = len(self.world.member_ids(index)) + 1
            out["approximate_presence_count"] = 0
        if metadata:
            out.update(
                uses=inv.uses,
                max_uses=inv.max_uses,
                max_age=inv.max_age,
                temporary=inv.temporary,
                created_at=iso_time(inv.created),
            )
        return out

    def invites_of_guild(self, guild_id: int) -> list[Invite]:
        """The live invites of a guild, oldest first (expired ones are dropped)."""
        self._drop_expired()
        return [i for i in self.store.invites.values() if i.guild_id == guild_id]

    def _drop_expired(self) -> None:
        now = time.time()
        for code in [c for c, i in self.store.invites.items() if i.expired(now)]:
            del self.store.invites[code]

    def _event(self, inv: Invite, event: str) -> None:
        if event == "INVITE_CREATE":
            payload = self.invite_json(inv, metadata=True)
            payload = {
                "channel_id": str(inv.channel_id),
                "code": inv.code,
                "created_at": payload["created_at"],
                "guild_id": str(inv.guild_id),
                "inviter": payload["inviter"],
                "max_age": inv.max_age,
                "max_uses": inv.max_uses,
                "temporary": inv.temporary,
                "uses": inv.uses,
                "expires_at": payload["expires_at"],
            }
        else:
            payload = {
                "channel_id": str(inv.channel_id),
                "guild_id": str(inv.guild_id),
                "code": inv.code,
            }
        self.sb.server.emit(inv.guild_id, event, payload, INTENT_GUILD_INVITES)

    # ---- routes ------------------------------------------------------------------------

    def _channel(self, request: web.Request, *permission: str) -> int | web.Response:
        return channel_allowed(self.sb, request, *permission, text_only=False)

    async def create(self, request: web.Request) -> web.Response:
        cid = self._channel(request, "create_instant_invite")
        if isinstance(cid, web.Response):
            return cid
        try:
            body = json.loads(await request.read() or b"{}")
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return error(400, "Invalid Form Body", 50035)
        errors: Errors = {}
        max_age = whole_number(body.get("max_age", DEFAULT_MAX_AGE))
        if max_age is None or not 0 <= max_age <= MAX_AGE:
            _set(
                errors,
                ["max_age"],
                _err("NUMBER_TYPE_MAX", f"int value should be less than or equal to {MAX_AGE}."),
            )
        max_uses = whole_number(body.get("max_uses", 0))
        if max_uses is None or not 0 <= max_uses <= MAX_USES:
            _set(
                errors,
                ["max_uses"],
                _err("NUMBER_TYPE_MAX", f"int value should be less than or equal to {MAX_USES}."),
            )
        if errors:
            return error(400, "Invalid Form Body", 50035, errors=errors)
        assert max_age is not None and max_uses is not None
        temporary = bool(body.get("temporary", False))
        self._drop_expired()
        if not body.get("unique", False):
            for inv in self.store.invites.values():
                same = (inv.channel_id, inv.inviter_id, inv.max_age, inv.max_uses, inv.temporary)
                if same == (cid, self.world.bot_id, max_age, max_uses, temporary):
                    return json_response(self.invite_json(inv, metadata=True))
        code = "".join(self.store.rng.choice(_CODE_CHARS) for _ in range(10))
        while code in self.store.invites:
            code = "".join(self.store.rng.choice(_CODE_CHARS) for _ in range(10))
        inv = Invite(
            code, cid >> 22 << 22, cid, self.world.bot_id, max_age, max_uses, temporary, time.time()
        )
        self.store.invites[code] = inv
        self._event(inv, "INVITE_CREATE")
        self.sb.log.line(f"invite created: {code} for channel {cid}")
        return json_response(self.invite_json(inv, metadata=True))

    async def channel_invites(self, request: web.Request) -> web.Response:
        cid = self._channel(request, "manage_channels")
        if isinstance(cid, web.Response):
            return cid
        invites = [i for i in self.invites_of_guild(cid >> 22 << 22) if i.channel_id == cid]
        return json_response([self.invite_json(i, metadata=True) for i in invites])

    async def guild_invites(self, request: web.Request) -> web.Response:
        gid = guild_allowed(self.sb, request, "manage_guild")
        if isinstance(gid, web.Response):
            return gid
        return json_response(
            [self.invite_json(i, metadata=True) for i in self.invites_of_guild(gid)]
        )

    def _invite(self, request: web.Request) -> Invite | web.Response:
        code = request.match_info["code"]
        inv = self.store.invites.get(code)
        if inv is None or inv.expired():
            return error(404, "Unknown Invite", 10006)
        return inv

    async def get(self, request: web.Request) -> web.Response:
        inv = self._invite(request)
        if isinstance(inv, web.Response):
            return inv
        counts = request.query.get("with_counts", "").lower() in ("true", "1")
        return json_response(self.invite_json(inv, metadata=False, counts=counts))

    async def delete(self, request: web.Request) -> web.Response:
        inv = self._invite(request)
        if isinstance(inv, web.Response):
            return inv
        guild_wide = self.sb.server.bot_permissions(inv.guild_id) & perms.FLAGS["manage_guild"]
        if not guild_wide and not self.sb.server.bot_may(inv.channel_id, "manage_channels"):
            return error(403, "Missing Permissions", 50013)
        del self.store.invites[inv.code]
        self._event(inv, "INVITE_DELETE")
        self.sb.log.line(f"invite deleted: {inv.code}")
        return json_response(self.invite_json(inv, metadata=True))


def control_routes(sb: Sandbox) -> list[tuple[str, str, Any]]:
    """``POST /invites/{code}`` ``{user_id}``: a user joins the guild through an invite."""
    invites = InviteRoutes(sb)

    async def use(request: web.Request) -> web.Response:
        try:
            body = json.loads(await request.read() or b"{}")
            uid = int(body["user_id"])
        except (ValueError, KeyError, TypeError):
            return json_response({"error": "user_id (a snowflake) is required"}, 400)
        inv = invites.store.invites.get(request.match_info["code"])
        if inv is None or inv.expired():
            return json_response({"error": f"unknown invite {request.match_info['code']}"}, 404)
        if sb.world.user(uid) is None:
            return json_response({"error": f"unknown user {uid}"}, 404)
        try:
            member = sb.server.add_member(inv.guild_id, uid)  # GUILD_MEMBER_ADD
        except ValueError as exc:
            return json_response({"error": str(exc)}, 400)
        inv.uses += 1
        sb.log.line(f"invite used: {inv.code} by user {uid} ({inv.uses} use(s))")
        return json_response({"invite": invites.invite_json(inv, metadata=True), "member": member})

    return [("POST", "/invites/{code}", use)]
