"""The control API (``/_sandbox``): drive and inspect the sandbox over HTTP.

Each route is a thin JSON wrapper around the matching :class:`~ezlang.sandbox.core.Sandbox`
method, so the Python helpers and the HTTP API can not drift apart. Errors are
``{"error": message}`` with status 400 (bad request) or 404 (unknown shard/channel).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from aiohttp import web

from .rest import json_response

if TYPE_CHECKING:
    from .core import Sandbox


class _BadRequest(Exception):
    pass


def _bad(message: str, status: int = 400) -> web.Response:
    return json_response({"error": message}, status)


async def _body(request: web.Request) -> dict[str, Any]:
    raw = await request.read()
    if not raw:
        return {}
    try:
        body = json.loads(raw)
    except ValueError:
        raise _BadRequest("body must be JSON") from None
    if not isinstance(body, dict):
        raise _BadRequest("body must be a JSON object")
    return body


def _int(value: Any, name: str, default: int | None = None) -> int:
    if value is None:
        if default is None:
            raise _BadRequest(f"{name} is required")
        return default
    if isinstance(value, bool):
        raise _BadRequest(f"{name} must be an integer")
    try:
        return int(value)
    except (TypeError, ValueError):
        raise _BadRequest(f"{name} must be an integer") from None


def _float(value: Any, name: str) -> float:
    if isinstance(value, bool):
        raise _BadRequest(f"{name} must be a number")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise _BadRequest(f"{name} must be a number") from None


class ControlApi:
    """Routes under ``/_sandbox``."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sb = sandbox

    def add_routes(self, app: web.Application, prefix: str) -> None:
        """Register the control routes under ``prefix``."""
        r = app.router
        r.add_get(prefix + "/state", self._guard(self.state))
        r.add_get(prefix + "/guilds", self._guard(self.guilds))
        r.add_post(prefix + "/messages", self._guard(self.messages))
        r.add_get(prefix + "/channels/{channel_id}/messages", self._guard(self.channel_messages))
        r.add_post(prefix + "/reactions", self._guard(self.reactions))
        r.add_delete(prefix + "/reactions", self._guard(self.remove_reaction))
        r.add_post(prefix + "/voice", self._guard(self.voice))
        r.add_post(prefix + "/shards/{shard_id}/{action}", self._guard(self.shard_action))
        r.add_post(prefix + "/load", self._guard(self.load))
        r.add_get(prefix + "/presences", self._guard(self.presences))
        r.add_post(prefix + "/ratelimit", self._guard(self.ratelimit))
        from .interaction_api import control_routes  # noqa: PLC0415 - it imports core

        for method, path, handler in control_routes(self.sb):
            r.add_route(method, prefix + path, self._guard(handler))
        from .guild_control import control_routes as server_routes  # noqa: PLC0415

        for method, path, handler in server_routes(self.sb):
            r.add_route(method, prefix + path, self._guard(handler))
        from .message_api import control_routes as message_routes  # noqa: PLC0415

        for method, path, handler in message_routes(self.sb):
            r.add_route(method, prefix + path, self._guard(handler))
        from .invite_api import control_routes as invite_routes  # noqa: PLC0415
        from .poll_api import control_routes as poll_routes  # noqa: PLC0415

        for method, path, handler in poll_routes(self.sb) + invite_routes(self.sb):
            r.add_route(method, prefix + path, self._guard(handler))
        from .channel_control import control_routes as channel_routes  # noqa: PLC0415

        for method, path, handler in channel_routes(self.sb):
            r.add_route(method, prefix + path, self._guard(handler))

    def _guard(self, handler: Any) -> Any:
        from .core import SandboxError

        async def wrapped(request: web.Request) -> web.StreamResponse:
            try:
                return await handler(request)
            except _BadRequest as exc:
                return _bad(str(exc))
            except SandboxError as exc:
                status = 404 if str(exc).startswith(("no session", "unknown")) else 400
                return _bad(str(exc), status)

        return wrapped

    async def state(self, request: web.Request) -> web.Response:
        return json_response(self.sb.state())

    async def guilds(self, request: web.Request) -> web.Response:
        q = request.query
        count = _int(q.get("shard_count"), "shard_count", self.sb.world.recommended_shards())
        shard = _int(q.get("shard"), "shard", 0)
        return json_response(self.sb.guilds_for_shard(shard, count))

    async def messages(self, request: web.Request) -> web.Response:
        body = await _body(request)
        if "channel_id" not in body or "content" not in body:
            raise _BadRequest("channel_id and content are required")
        result = await self.sb.inject_message(
            body["channel_id"], body["content"], body.get("author_id")
        )
        return json_response(result)

    async def reactions(self, request: web.Request) -> web.Response:
        body = await _body(request)
        missing = [k for k in ("channel_id", "message_id", "emoji") if k not in body]
        if missing:
            raise _BadRequest(", ".join(missing) + " required")
        result = self.sb.add_reaction(
            body["channel_id"], body["message_id"], body["emoji"], body.get("user_id")
        )
        return json_response(result)

    async def remove_reaction(self, request: web.Request) -> web.Response:
        """A user takes a reaction back: MESSAGE_REACTION_REMOVE (GUILD_MESSAGE_REACTIONS)."""
        from .gateway import INTENT_GUILD_MESSAGE_REACTIONS
        from .message_api import _emoji_json, _emoji_key

        body = await _body(request)
        missing = [k for k in ("channel_id", "message_id", "emoji") if k not in body]
        if missing:
            raise _BadRequest(", ".join(missing) + " required")
        cid = _int(body["channel_id"], "channel_id")
        ref = self.sb.world.channel(cid)
        if ref is None:
            return _bad(f"unknown channel {cid}", 404)
        mid, emoji = str(body["message_id"]), str(body["emoji"])
        uid = _int(body.get("user_id"), "user_id", self.sb.world.member_ids(ref.guild_index)[0])
        key = _emoji_key(emoji)
        found = [
            r
            for r in self.sb.reactions
            if (r["channel_id"], r["message_id"], r["user_id"]) == (str(cid), mid, str(uid))
            and _emoji_key(r["emoji"]) == key
        ]
        if not found:
            return _bad(f"user {uid} has no {emoji} reaction on message {mid}", 404)
        for r in found:
            self.sb.reactions.remove(r)
        payload = {"user_id": str(uid), "channel_id": str(cid), "message_id": mid,
                   "guild_id": str(ref.guild_id), "emoji": _emoji_json(emoji), "burst": False,
                   "type": 0}  # fmt: skip
        return json_response(
            self.sb.gateway.dispatch_guild_event(
                ref.guild_id, "MESSAGE_REACTION_REMOVE", payload, INTENT_GUILD_MESSAGE_REACTIONS
            )
        )

    async def voice(self, request: web.Request) -> web.Response:
        """A member joins (``channel_id``), moves or leaves (``channel_id: null``) a voice
        channel: VOICE_STATE_UPDATE to the guild's shard (GUILD_VOICE_STATES). The server
        model keeps it (guild_voice.py): GUILD_CREATE carries it later."""
        body = await _body(request)
        gid = _int(body.get("guild_id"), "guild_id")
        index = self.sb.world.guild_index(gid)
        if index is None:
            return _bad(f"unknown guild {gid}", 404)
        uid = _int(body.get("user_id"), "user_id", self.sb.world.member_ids(index)[0])
        member = self.sb.world.member(index, uid)
        if member is None:
            return _bad(f"user {uid} is not a member of guild {gid}", 404)
        channel_id = body.get("channel_id")
        cid = None if channel_id is None else _int(channel_id, "channel_id")
        if cid is not None:
            channel = self.sb.world.channel_object(cid)
            if channel is None or channel.get("guild_id") != str(gid) or channel["type"] != 2:
                raise _BadRequest(f"{channel_id} is not a voice channel of guild {gid}")
        try:
            return json_response(self.sb.server.voice.set(gid, uid, cid))
        except ValueError as exc:
            raise _BadRequest(str(exc)) from None

    async def channel_messages(self, request: web.Request) -> web.Response:
        return json_response(self.sb.bot_messages(request.match_info["channel_id"]))

    async def shard_action(self, request: web.Request) -> web.Response:
        shard_id = _int(request.match_info["shard_id"], "shard id")
        action = request.match_info["action"]
        body = await _body(request)
        count = body.get("shard_count")
        shard_count = None if count is None else _int(count, "shard_count")
        if action == "disconnect":
            n = await self.sb.disconnect(
                shard_id, _int(body.get("code"), "code", 4000), shard_count
            )
        elif action == "reconnect":
            n = await self.sb.reconnect(shard_id, shard_count)
        elif action == "invalidate":
            n = await self.sb.invalidate(shard_id, shard_count, bool(body.get("resumable", False)))
        elif action == "zombie":
            n = await self.sb.zombie(shard_id, shard_count)
        else:
            return _bad(f"unknown action {action!r}", 404)
        return json_response({"shard": shard_id, "action": action, "connections": n})

    async def load(self, request: web.Request) -> web.Response:
        body = await _body(request)
        rate = _float(body.get("rate"), "rate")
        seconds = _float(body.get("seconds", 1.0), "seconds")
        content = body.get("content", "load")
        if not isinstance(content, str):
            raise _BadRequest("content must be a string")
        sent = await self.sb.load(rate, seconds, content)
        return json_response({"sent": sent})

    async def presences(self, request: web.Request) -> web.Response:
        return json_response(self.sb.presences())

    async def ratelimit(self, request: web.Request) -> web.Response:
        body = await _body(request)
        count = _int(body.get("count"), "count", 1)
        retry_after = _float(body.get("retry_after", 1.0), "retry_after")
        self.sb.force_rate_limit(count, retry_after, bool(body.get("global", False)))
        return json_response({"forced": count})
