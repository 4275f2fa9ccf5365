"""Control routes for channels and threads: the server's people acting, not the bot.

The owner creates, edits and deletes channels; a member starts a thread, joins or leaves
one; a moderator archives, locks or deletes one. Each change goes through the channel model,
so it dispatches the same gateway events as the bot's REST calls (and nothing is refused:
these are people with the right to do it). Errors are ``{"error": …}``, 400 or 404.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

from .channel_api import _id
from .channel_state import (
    ANNOUNCEMENT,
    CATEGORY,
    GUILD_CHANNEL_TYPES,
    PRIVATE_THREAD,
    PUBLIC_THREAD,
    TEXT,
    Thread,
    channel_model,
)
from .rest import json_response

if TYPE_CHECKING:
    from .core import Sandbox

_CHANNEL_FIELDS = ("name", "topic", "nsfw", "rate_limit_per_user", "position", "parent_id")
_THREAD_FIELDS = ("name", "archived", "locked")


class _Refused(Exception):
    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


async def _object(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json() if await request.read() else {}
    except ValueError:
        raise _Refused("body must be JSON") from None
    if not isinstance(body, dict):
        raise _Refused("body must be a JSON object")
    return body


def _name(body: dict[str, Any], required: bool) -> None:
    name = body.get("name")
    if (required or "name" in body) and (not isinstance(name, str) or not 1 <= len(name) <= 100):
        raise _Refused("name must be 1 to 100 characters")


def control_routes(sb: Sandbox) -> list[tuple[str, str, Any]]:
    """``(method, path, handler)`` under ``{control}``."""
    model = channel_model(sb)
    world = sb.world

    def member_of(guild_index: int, raw: Any) -> int:
        uid = _id(raw) if raw is not None else world.member_ids(guild_index)[0]
        if uid is None or world.member(guild_index, uid) is None:
            raise _Refused(f"user {raw} is not a member of that guild")
        return uid

    def thread_of(raw: str) -> Thread:
        tid = _id(raw)
        thread = model.threads.get(tid) if tid is not None else None
        if thread is None:
            raise _Refused(f"unknown thread {raw}", 404)
        return thread

    def parent_of(guild_id: int, raw: Any) -> str | None:
        if raw is None:
            return None
        pid = _id(raw)
        parent = world.channel_object(pid) if pid is not None else None
        if parent is None or parent.get("guild_id") != str(guild_id) or parent["type"] != CATEGORY:
            raise _Refused(f"{raw} is not a category of guild {guild_id}")
        return str(pid)

    async def create_channel(request: web.Request) -> web.Response:
        body = await _object(request)
        gid = _id(body.get("guild_id"))
        if gid is None or world.guild_index(gid) is None:
            raise _Refused(f"unknown guild {body.get('guild_id')}", 404)
        _name(body, required=True)
        kind = body.get("type", TEXT)
        if kind not in GUILD_CHANNEL_TYPES:
            raise _Refused(f"type must be one of {sorted(GUILD_CHANNEL_TYPES)}")
        fields = {k: body[k] for k in _CHANNEL_FIELDS if body.get(k) is not None}
        fields.update(type=kind, parent_id=parent_of(gid, body.get("parent_id")))
        # As in the Discord app: a channel made in a category starts synced with it.
        parent = fields["parent_id"]
        overwrites = model.overwrites_of(int(parent)) if parent is not None else []
        return json_response(model.create_channel(gid, fields, overwrites))

    async def edit(request: web.Request) -> web.Response:
        raw = request.match_info["channel_id"]
        body = await _object(request)
        _name(body, required=False)
        cid = _id(raw)
        if cid is not None and cid in model.threads:
            fields = {k: body[k] for k in _THREAD_FIELDS if k in body}
            if any(not isinstance(fields.get(k, False), bool) for k in ("archived", "locked")):
                raise _Refused("archived and locked are true or false")
            return json_response(model.update_thread(model.threads[cid], fields))
        channel = world.channel_object(cid) if cid is not None else None
        if cid is None or channel is None:
            raise _Refused(f"unknown channel {raw}", 404)
        fields = {k: body[k] for k in _CHANNEL_FIELDS if k in body}
        if "parent_id" in fields:
            fields["parent_id"] = parent_of(int(channel["guild_id"]), fields["parent_id"])
        return json_response(model.edit_channel(cid, fields, None))

    async def delete(request: web.Request) -> web.Response:
        raw = request.match_info["channel_id"]
        cid = _id(raw)
        if cid is not None and cid in model.threads:
            thread = model.threads[cid]
            data = model.json(thread, with_me=False)
            model.delete_thread(thread)
            return json_response(data)
        if cid is None or world.channel_object(cid) is None:
            raise _Refused(f"unknown channel {raw}", 404)
        return json_response(model.delete_channel(cid))

    async def start_thread(request: web.Request) -> web.Response:
        body = await _object(request)
        cid = _id(body.get("channel_id"))
        channel = world.channel_object(cid) if cid is not None else None
        if cid is None or channel is None or channel["type"] not in (TEXT, ANNOUNCEMENT):
            raise _Refused(f"unknown text channel {body.get('channel_id')}", 404)
        _name(body, required=True)
        ref = world.channel(cid)
        assert ref is not None
        uid = member_of(ref.guild_index, body.get("user_id"))
        thread_id = None
        if body.get("message_id") is not None:
            if sb.find_message(cid, str(body["message_id"])) is None:
                raise _Refused(f"unknown message {body['message_id']}", 404)
            thread_id = _id(body["message_id"])
            if thread_id in model.threads:
                raise _Refused("that message already has a thread")
        kind = PRIVATE_THREAD if body.get("private") else PUBLIC_THREAD
        thread = model.create_thread(cid, body["name"], kind, uid, thread_id=thread_id)
        return json_response(model.json(thread, with_me=False))

    async def join(request: web.Request) -> web.Response:
        thread = thread_of(request.match_info["thread_id"])
        index = world.guild_index(thread.guild_id)
        assert index is not None
        uid = member_of(index, request.match_info["user_id"])
        if thread.archived:
            raise _Refused("the thread is archived")
        return json_response({"added": model.add_member(thread, uid)})

    async def leave(request: web.Request) -> web.Response:
        thread = thread_of(request.match_info["thread_id"])
        uid = _id(request.match_info["user_id"])
        return json_response({"removed": uid is not None and model.remove_member(thread, uid)})

    def guard(handler: Any) -> Any:
        async def wrapped(request: web.Request) -> web.Response:
            try:
                return await handler(request)  # type: ignore[no-any-return]
            except _Refused as exc:
                return json_response({"error": str(exc)}, exc.status)

        return wrapped

    routes = [
        ("POST", "/channels", create_channel),
        ("PATCH", "/channels/{channel_id}", edit),
        ("DELETE", "/channels/{channel_id}", delete),
        ("POST", "/threads", start_thread),
        ("PUT", "/threads/{thread_id}/members/{user_id}", join),
        ("DELETE", "/threads/{thread_id}/members/{user_id}", leave),
    ]
    return [(method, path, guard(handler)) for method, path, handler in routes]
