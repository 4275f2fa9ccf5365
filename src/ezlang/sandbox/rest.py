"""The sandbox REST API (``/api/v10``): the routes a bot library needs, Discord's way.

Every JSON response carries exactly ``Content-Type: application/json`` (discord.py
treats anything else as text). Every route checks ``Authorization: Bot <token>`` and
spends from a per-route rate-limit bucket; an exhausted bucket answers 429 with
``retry_after``, ``global`` and a ``Via`` header, as Discord's edge does.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web

from .ratelimit import CLOUDFLARE_BODY
from .world import dumps

if TYPE_CHECKING:
    from .core import Sandbox

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# (limit, per seconds) per route; the major parameter (channel/guild id) splits buckets.
MESSAGE_LIMIT = (5, 5.0)
DEFAULT_LIMIT = (50, 1.0)
MAX_CONTENT = 2000


def json_response(
    obj: Any, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    """A JSON response with exactly ``Content-Type: application/json`` (no charset)."""
    h = {"Content-Type": "application/json"}
    if headers:
        h.update(headers)
    return web.Response(body=dumps(obj).encode(), status=status, headers=h)


def error(status: int, message: str, code: int = 0, **extra: Any) -> web.Response:
    """Discord's error body: ``{"message", "code"}`` (plus e.g. ``errors``)."""
    return json_response({"message": message, "code": code, **extra}, status)


def missing_permissions() -> web.Response:
    """Discord's 403 ``50013 Missing Permissions`` (it never says which one)."""
    return error(403, "Missing Permissions", 50013)


def invalid_form(field: str, code: str, message: str) -> web.Response:
    """Discord's 400 ``50035 Invalid Form Body`` for one field."""
    return error(
        400,
        "Invalid Form Body",
        50035,
        errors={field: {"_errors": [{"code": code, "message": message}]}},
    )


def snowflake_id(value: Any) -> int | None:
    """An id from a route or a body (a string or a number), or None: not a positive 64-bit
    integer."""
    try:
        n = int(value)
    except (TypeError, ValueError):
        return None
    return n if 0 < n < 1 << 64 else None


async def json_body(request: web.Request) -> Any:
    """A request's JSON body: ``{}`` when empty, None when it is not JSON."""
    raw = await request.read()
    if not raw:
        return {}
    try:
        return json.loads(raw)
    except ValueError:
        return None


def _snowflake(value: str) -> int | None:
    try:
        n = int(value)
    except ValueError:
        return None
    return n if 0 <= n < 1 << 64 else None


class RestApi:
    """The REST routes, bound to one :class:`~ezlang.sandbox.core.Sandbox`."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sb = sandbox
        self.world = sandbox.world

    def add_routes(self, app: web.Application, prefix: str) -> None:
        """Register every route under ``prefix`` (e.g. ``/api/v10``)."""
        r = app.router
        routes: list[tuple[str, str, Handler, tuple[int, float]]] = [
            ("GET", "/gateway", self.gateway, DEFAULT_LIMIT),
            ("GET", "/gateway/bot", self.gateway_bot, DEFAULT_LIMIT),
            ("GET", "/users/@me", self.me, DEFAULT_LIMIT),
            ("GET", "/users/@me/guilds", self.my_guilds, DEFAULT_LIMIT),
            ("GET", "/users/{user_id}", self.get_user, DEFAULT_LIMIT),
            ("GET", "/oauth2/applications/@me", self.application, DEFAULT_LIMIT),
            ("GET", "/applications/@me", self.application, DEFAULT_LIMIT),
            ("GET", "/guilds/{guild_id}", self.get_guild, DEFAULT_LIMIT),
            ("GET", "/guilds/{guild_id}/channels", self.guild_channels, DEFAULT_LIMIT),
            ("GET", "/channels/{channel_id}", self.get_channel, DEFAULT_LIMIT),
            ("GET", "/channels/{channel_id}/messages", self.list_messages, DEFAULT_LIMIT),
            ("POST", "/channels/{channel_id}/messages", self.post_message, MESSAGE_LIMIT),
            ("GET", "/channels/{channel_id}/messages/{message_id}", self.get_message, DEFAULT_LIMIT),
            ("PATCH", "/channels/{channel_id}/messages/{message_id}", self.edit_message, DEFAULT_LIMIT),
            ("DELETE", "/channels/{channel_id}/messages/{message_id}", self.delete_message, DEFAULT_LIMIT),
            ("POST", "/channels/{channel_id}/typing", self.typing, DEFAULT_LIMIT),
            (
                "PUT",
                "/channels/{channel_id}/messages/{message_id}/reactions/{emoji}/@me",
                self.add_reaction,
                (1, 0.25),
            ),
        ]  # fmt: skip
        from .commands import CommandRoutes  # noqa: PLC0415 - commands.py imports this module
        from .guild_api import GuildRoutes  # noqa: PLC0415
        from .interaction_api import InteractionRoutes  # noqa: PLC0415

        routes += [(m, p, h, DEFAULT_LIMIT) for m, p, h in CommandRoutes(self.sb).routes()]
        routes += [(m, p, h, DEFAULT_LIMIT) for m, p, h in GuildRoutes(self.sb).routes()]
        from .ban_api import BanRoutes  # noqa: PLC0415 - it imports this module

        routes += [(m, p, h, DEFAULT_LIMIT) for m, p, h in BanRoutes(self.sb).routes()]
        from .audit_api import AuditLogRoutes  # noqa: PLC0415 - it imports this module

        routes += [(m, p, h, DEFAULT_LIMIT) for m, p, h in AuditLogRoutes(self.sb).routes()]
        from .guild_edit import GuildEditRoutes  # noqa: PLC0415 - it imports this module

        routes += [(m, p, h, DEFAULT_LIMIT) for m, p, h in GuildEditRoutes(self.sb).routes()]
        from .channel_api import ChannelRoutes  # noqa: PLC0415 - it imports this module

        routes += [(m, p, h, DEFAULT_LIMIT) for m, p, h in ChannelRoutes(self.sb).routes()]
        from .message_api import MessageRoutes  # noqa: PLC0415 - it imports this module

        self.messages = MessageRoutes(self.sb)
        # First: "/messages/pins" and "/messages/bulk-delete" must not match "{message_id}".
        routes[:0] = [(m, p, h, DEFAULT_LIMIT) for m, p, h in self.messages.routes()]
        from .invite_api import InviteRoutes  # noqa: PLC0415 - these import this module
        from .poll_api import PollRoutes  # noqa: PLC0415
        from .webhook_api import WebhookRoutes  # noqa: PLC0415

        interactions = InteractionRoutes(self.sb)
        webhooks = WebhookRoutes(self.sb)
        for extra in (webhooks, InviteRoutes(self.sb), PollRoutes(self.sb)):
            routes += [(m, p, h, DEFAULT_LIMIT) for m, p, h in extra.routes()]
        # Interaction callbacks and webhooks authenticate by their token, not the bot's;
        # channel webhooks first: an execute for another id goes on to the follow-ups.
        webhooks.add_token_routes(app, prefix, interactions)
        interactions.add_routes(app, prefix)
        for method, path, handler, limit in routes:
            r.add_route(method, prefix + path, self._wrap(method, path, handler, limit))

    def _wrap(self, method: str, path: str, handler: Handler, limit: tuple[int, float]) -> Handler:
        route = f"{method} {path}"

        async def wrapped(request: web.Request) -> web.StreamResponse:
            self.sb.rest_requests += 1
            invalid = self.sb.invalid_requests
            banned = invalid.banned()
            if banned:  # the edge refuses this IP: plain text, not Discord's JSON
                invalid.refused += 1
                return web.Response(
                    status=429,
                    text=CLOUDFLARE_BODY,
                    headers={"Retry-After": str(max(1, int(banned + 0.999)))},
                )
            response = await checked(request)
            invalid.note(response.status, response.headers.get("X-RateLimit-Scope"))
            return response

        async def checked(request: web.Request) -> web.StreamResponse:
            if request.headers.get("Authorization") != f"Bot {self.sb.token}":
                return error(401, "401: Unauthorized")
            info = request.match_info
            major = info.get("channel_id") or info.get("guild_id") or info.get("app_id") or ""
            decision = self.sb.rest_limiter.check(route, major, *limit)
            if not decision.allowed:
                body = {
                    "message": "You are being rate limited.",
                    "retry_after": round(decision.retry_after, 3),
                    "global": decision.is_global,
                }
                if decision.is_global:
                    body["code"] = 0
                headers = dict(decision.headers)
                headers["Via"] = "1.1 google"
                return json_response(body, 429, headers)
            response = await handler(request)
            response.headers.update(decision.headers)
            return response

        return wrapped

    # ---- gateway and identity ----------------------------------------------------------

    async def gateway(self, request: web.Request) -> web.Response:
        return json_response({"url": self.sb.gateway_url})

    async def gateway_bot(self, request: web.Request) -> web.Response:
        return json_response(
            {
                "url": self.sb.gateway_url,
                "shards": self.world.recommended_shards(),
                "session_start_limit": self.sb.limiter.session_start_limit(),
                "x_identify_window": self.sb.identify_window,
            }
        )

    async def me(self, request: web.Request) -> web.Response:
        return json_response(self.world.bot_user())

    async def get_user(self, request: web.Request) -> web.Response:
        uid = _snowflake(request.match_info["user_id"])
        user = self.world.user(uid) if uid is not None else None
        if user is None:
            return error(404, "Unknown User", 10013)
        return json_response(user)

    async def application(self, request: web.Request) -> web.Response:
        return json_response(self.world.application())

    async def my_guilds(self, request: web.Request) -> web.Response:
        q = request.query
        try:
            limit = int(q.get("limit", "200"))
        except ValueError:
            return error(400, "Invalid Form Body", 50035)
        if not 1 <= limit <= 200:
            return error(400, "Invalid Form Body", 50035)
        n = self.world.guild_count
        before = _snowflake(q["before"]) if "before" in q else None
        after = _snowflake(q["after"]) if "after" in q else None
        # Guild ids ascend with their index, so cursors map to index ranges.
        if before is not None:
            end = min(n, max(0, (before >> 22) - (self.world.guild_id(0) >> 22)))
            if before & ((1 << 22) - 1):
                end = min(n, end + 1)
            start = max(0, end - limit)
        else:
            start = 0
            if after is not None:
                start = max(0, (after >> 22) - (self.world.guild_id(0) >> 22) + 1)
            start = min(start, n)
            end = min(n, start + limit)
        return json_response([self.world.partial_guild(i) for i in range(start, end)])

    # ---- guilds and channels -----------------------------------------------------------

    def _guild_index(self, request: web.Request) -> int | None:
        gid = _snowflake(request.match_info["guild_id"])
        return None if gid is None else self.world.guild_index(gid)

    async def get_guild(self, request: web.Request) -> web.Response:
        index = self._guild_index(request)
        if index is None:
            return error(404, "Unknown Guild", 10004)
        guild = self.world.guild(index)
        for key in (
            "members",
            "channels",
            "threads",
            "voice_states",
            "presences",
            "joined_at",
            "large",
            "member_count",
            "unavailable",
            "stage_instances",
            "guild_scheduled_events",
        ):
            guild.pop(key, None)
        if request.query.get("with_counts") == "true":
            guild["approximate_member_count"] = len(self.world.member_ids(index)) + 1
            guild["approximate_presence_count"] = 0
        return json_response(guild)

    async def guild_channels(self, request: web.Request) -> web.Response:
        index = self._guild_index(request)
        if index is None:
            return error(404, "Unknown Guild", 10004)
        return json_response(self.world.channels(index))

    async def get_channel(self, request: web.Request) -> web.Response:
        cid = _snowflake(request.match_info["channel_id"])
        channel = self.world.channel_object(cid) if cid is not None else None
        if channel is None:
            return error(404, "Unknown Channel", 10003)
        return json_response(channel)

    # ---- messages ----------------------------------------------------------------------

    def _text_channel(self, request: web.Request) -> int | None:
        cid = _snowflake(request.match_info["channel_id"])
        if cid is None or not self.world.is_text_channel(cid):
            return None
        return cid

    async def list_messages(self, request: web.Request) -> web.Response:
        cid = self._text_channel(request)
        if cid is None:
            return error(404, "Unknown Channel", 10003)
        try:
            limit = int(request.query.get("limit", "50"))
        except ValueError:
            return error(400, "Invalid Form Body", 50035)
        if not 1 <= limit <= 100:
            return error(400, "Invalid Form Body", 50035)
        msgs = self.sb.channel_messages(cid)  # oldest first
        before = _snowflake(request.query.get("before", "")) if "before" in request.query else None
        after = _snowflake(request.query.get("after", "")) if "after" in request.query else None
        if before is not None:
            msgs = [m for m in msgs if int(m["id"]) < before]
        if after is not None:
            msgs = [m for m in msgs if int(m["id"]) > after][:limit]
        else:
            msgs = msgs[-limit:]
        return json_response(list(reversed(msgs)))  # Discord returns newest first

    async def get_message(self, request: web.Request) -> web.Response:
        cid = self._text_channel(request)
        if cid is None:
            return error(404, "Unknown Channel", 10003)
        msg = self.sb.find_message(cid, request.match_info["message_id"])
        if msg is None:
            return error(404, "Unknown Message", 10008)
        return json_response(msg)

    async def post_message(self, request: web.Request) -> web.Response:
        cid = self._text_channel(request)
        dm = _snowflake(request.match_info["channel_id"])
        if cid is None and dm is not None and self.messages.dm_channel(dm) is not None:
            return await self.messages.post_dm(request, dm, await _message_body(request))
        if cid is None:
            return error(404, "Unknown Channel", 10003)
        from .channel_api import admit_message  # noqa: PLC0415 - it imports this module

        refusal = admit_message(self.sb, cid)  # permissions; a thread's archived/locked rules
        if refusal is not None:
            return refusal
        body = await _message_body(request)
        if not isinstance(body, dict):
            return error(400, "Invalid Form Body", 50035)
        content = body.get("content") or ""
        if not isinstance(content, str):
            return error(400, "Invalid Form Body", 50035)
        if len(content) > MAX_CONTENT:
            return error(
                400,
                "Invalid Form Body",
                50035,
                errors={
                    "content": {
                        "_errors": [
                            {
                                "code": "BASE_TYPE_MAX_LENGTH",
                                "message": "Must be 2000 or fewer in length.",
                            }
                        ]
                    }
                },
            )
        from .components import message_errors  # noqa: PLC0415 - it imports this module

        errors = message_errors(body)  # embeds and components, as Discord checks them
        if errors:
            return error(400, "Invalid Form Body", 50035, errors=errors)
        from .poll_api import check_new_poll, new_poll  # noqa: PLC0415 - it imports this module

        refusal = check_new_poll(self.sb, cid, body)
        if refusal is not None:
            return refusal
        embeds = body.get("embeds") or []
        attachments = body.get("attachments") or []
        components = body.get("components") or []
        if not (content or embeds or attachments or components or body.get("sticker_ids")):
            if not body.get("poll"):
                return error(400, "Cannot send an empty message", 50006)
        poll = {"poll": new_poll(body["poll"])} if body.get("poll") else None
        msg = self.sb.record_bot_message(cid, body, poll)
        return json_response(msg)

    async def edit_message(self, request: web.Request) -> web.Response:
        cid = self._text_channel(request)
        if cid is None:
            return error(404, "Unknown Channel", 10003)
        body = await _message_body(request)
        if not isinstance(body, dict):
            return error(400, "Invalid Form Body", 50035)
        from .components import message_errors  # noqa: PLC0415 - it imports this module

        errors = message_errors(body)
        if errors:
            return error(400, "Invalid Form Body", 50035, errors=errors)
        from .channel_api import thread_refusal  # noqa: PLC0415 - it imports this module

        refusal = thread_refusal(self.sb, cid, editing=True)  # archived or locked thread
        if refusal is not None:
            return refusal
        msg = self.sb.edit_bot_message(cid, request.match_info["message_id"], body)
        if msg is None:
            return error(404, "Unknown Message", 10008)
        return json_response(msg)

    async def delete_message(self, request: web.Request) -> web.Response:
        cid = self._text_channel(request)
        if cid is None:
            return error(404, "Unknown Channel", 10003)
        msg = self.sb.find_message(cid, request.match_info["message_id"])
        mine = msg is not None and msg["author"]["id"] == str(self.world.bot_id)
        if msg is not None and not mine and not self.sb.server.bot_may(cid, "manage_messages"):
            return error(403, "Missing Permissions", 50013)  # someone else's message
        if not self.sb.delete_message(cid, request.match_info["message_id"]):
            return error(404, "Unknown Message", 10008)
        return web.Response(status=204)

    async def typing(self, request: web.Request) -> web.Response:
        if self._text_channel(request) is None:
            return error(404, "Unknown Channel", 10003)
        return web.Response(status=204)

    async def add_reaction(self, request: web.Request) -> web.Response:
        cid = self._text_channel(request)
        if cid is None:
            return error(404, "Unknown Channel", 10003)
        if self.sb.find_message(cid, request.match_info["message_id"]) is None:
            return error(404, "Unknown Message", 10008)
        if not self.sb.server.bot_may(cid, "view_channel", "read_message_history", "add_reactions"):
            return error(403, "Missing Permissions", 50013)
        from .channel_api import thread_refusal  # noqa: PLC0415 - it imports this module

        refusal = thread_refusal(self.sb, cid, editing=False)  # an archived thread
        if refusal is not None:
            return refusal
        # Discord tells the guild's shards about the bot's own reaction too.
        self.sb.add_reaction(
            cid,
            request.match_info["message_id"],
            request.match_info["emoji"],
            self.sb.world.bot_id,
        )
        return web.Response(status=204)

    async def not_found(self, request: web.Request) -> web.Response:
        return error(404, "404: Not Found")


async def _json_body(request: web.Request) -> Any:
    try:
        return json.loads(await request.read() or b"null")
    except ValueError:
        return None


async def _message_body(request: web.Request) -> Any:
    """A message body: JSON, or multipart with ``payload_json`` and files (discord.py's way)."""
    if request.content_type.startswith("multipart/"):
        payload: Any = {}
        files: list[dict[str, Any]] = []
        reader = await request.multipart()
        async for part in reader:
            if part is None:
                break
            name = getattr(part, "name", None)
            if name == "payload_json":
                try:
                    payload = json.loads(await part.text())  # type: ignore[union-attr]
                except ValueError:
                    return None
            else:
                data = await part.read()  # type: ignore[union-attr]
                files.append(
                    {"filename": getattr(part, "filename", None) or "file", "size": len(data)}
                )
        if isinstance(payload, dict) and files:
            payload.setdefault("attachments", [])
            payload["_files"] = files
        return payload
    return await _json_body(request)
