"""REST and control routes for threads, with Discord's rules (see ``channel_api`` for the
refusal codes). A thread is a channel: ``PATCH``/``DELETE /channels/{id}`` reach
:meth:`ThreadRoutes.edit_thread` and :meth:`ThreadRoutes.delete_thread` through
:class:`~ezlang.sandbox.channel_api.ChannelRoutes`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

from .channel_api import (
    THREAD_CREATE,
    THREAD_DELETE,
    THREAD_UPDATE,
    RouteBase,
    _archived,
    _body,
    _id,
    _invalid,
    _missing,
    _no_access,
)
from .channel_state import (
    ANNOUNCEMENT,
    ANNOUNCEMENT_THREAD,
    ARCHIVE_DURATIONS,
    PRIVATE_THREAD,
    PUBLIC_THREAD,
    TEXT,
    Thread,
)
from .gateway import INTENT_GUILD_MESSAGES, INTENT_MESSAGE_CONTENT
from .rest import error, json_response
from .world import dumps

if TYPE_CHECKING:
    pass

HAS_THREAD = 1 << 5  # message flag: a thread was started from it
_THREAD_FIELDS = ("name", "archived", "locked", "auto_archive_duration", "invitable",
                  "rate_limit_per_user")  # fmt: skip


def _flat(thread: dict[str, Any]) -> dict[str, Any]:
    """A thread's fields with its ``thread_metadata`` lifted up (as audit entries show them)."""
    return {**thread, **thread.get("thread_metadata", {})}


class ThreadRoutes(RouteBase):
    """The thread routes of the REST API."""

    def routes(self) -> list[tuple[str, str, Any]]:
        """``(method, path, handler)`` (``@me`` before ``{user_id}``)."""
        c = "/channels/{channel_id}"
        return [
            ("GET", "/guilds/{guild_id}/threads/active", self.active_threads),
            ("POST", c + "/threads", self.create_thread),
            ("POST", c + "/messages/{message_id}/threads", self.thread_from_message),
            ("GET", c + "/thread-members", self.list_thread_members),
            ("PUT", c + "/thread-members/@me", self.join_thread),
            ("DELETE", c + "/thread-members/@me", self.leave_thread),
            ("GET", c + "/thread-members/{user_id}", self.get_thread_member),
            ("PUT", c + "/thread-members/{user_id}", self.add_thread_member),
            ("DELETE", c + "/thread-members/{user_id}", self.remove_thread_member),
        ]

    async def delete_thread(self, request: web.Request) -> web.Response:
        """``DELETE /channels/{thread}`` (needs Manage Threads)."""
        thread = self._thread(request)
        if isinstance(thread, web.Response):
            return thread
        if not self._may(thread.id, "manage_threads"):
            self._refused(f"delete thread {thread.id}", "Manage Threads")
            return _missing()
        data = self.model.json(thread, with_me=False)
        self.model.delete_thread(thread)
        self._audit(request, thread.guild_id, THREAD_DELETE, thread.id, _flat(data), {})
        return json_response(data)

    # ---- threads -----------------------------------------------------------------------

    def _thread_options(self, body: dict[str, Any]) -> dict[str, Any] | web.Response:
        name = body.get("name")
        if not isinstance(name, str) or not 1 <= len(name) <= 100:
            return _invalid("name", "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length.")
        duration = body.get("auto_archive_duration") or 1440
        if duration not in ARCHIVE_DURATIONS:
            return _invalid(
                "auto_archive_duration",
                "BASE_TYPE_CHOICES",
                "Value must be one of (60, 1440, 4320, 10080).",
            )
        slow = body.get("rate_limit_per_user") or 0
        if not isinstance(slow, int) or not 0 <= slow <= 21600:
            return _invalid(
                "rate_limit_per_user", "NUMBER_TYPE_MAX", "Must be between 0 and 21600."
            )
        return {"name": name, "auto_archive_duration": duration, "rate_limit_per_user": slow}

    def _thread_parent(self, request: web.Request) -> tuple[int, dict[str, Any]] | web.Response:
        found = self._guild_channel(request)
        if found is None:
            cid = _id(request.match_info["channel_id"])
            if cid is not None and cid in self.model.threads:
                return error(400, "Cannot execute action on this channel type", 50024)
            return error(404, "Unknown Channel", 10003)
        if found[1]["type"] not in (TEXT, ANNOUNCEMENT):
            return error(400, "Cannot execute action on this channel type", 50024)
        return found

    async def create_thread(self, request: web.Request) -> web.Response:
        found = self._thread_parent(request)
        if isinstance(found, web.Response):
            return found
        cid, parent = found
        body = await _body(request)
        if not isinstance(body, dict):
            return _invalid("_", "DICT_TYPE_CONVERT", "Only dictionaries may be used.")
        options = self._thread_options(body)
        if isinstance(options, web.Response):
            return options
        # Discord's default is a private thread (v9/v10); an announcement channel's are
        # announcement threads, and private ones exist only in text channels.
        kind = body.get("type") or PRIVATE_THREAD
        allowed = (
            (ANNOUNCEMENT_THREAD,)
            if parent["type"] == ANNOUNCEMENT
            else (PUBLIC_THREAD, PRIVATE_THREAD)
        )
        if kind not in allowed:
            return _invalid("type", "BASE_TYPE_CHOICES", f"Value must be one of {allowed}.")
        needed = "create_private_threads" if kind == PRIVATE_THREAD else "create_public_threads"
        if not self._may(cid, "view_channel", needed):
            self._refused(f"start a thread in channel {cid}", needed.replace("_", " ").title())
            return _missing()
        thread = self.model.create_thread(
            cid,
            options["name"],
            kind,
            self.world.bot_id,
            auto_archive_duration=options["auto_archive_duration"],
            rate_limit_per_user=options["rate_limit_per_user"],
            invitable=bool(body.get("invitable", True)),
        )
        data = self.model.json(thread)
        self._audit(request, thread.guild_id, THREAD_CREATE, thread.id, {}, _flat(data))
        return json_response(data, 201)

    async def thread_from_message(self, request: web.Request) -> web.Response:
        found = self._thread_parent(request)
        if isinstance(found, web.Response):
            return found
        cid, parent = found
        mid = request.match_info["message_id"]
        message = self.sb.find_message(cid, mid)
        if message is None:
            return error(404, "Unknown Message", 10008)
        body = await _body(request)
        if not isinstance(body, dict):
            return _invalid("_", "DICT_TYPE_CONVERT", "Only dictionaries may be used.")
        options = self._thread_options(body)
        if isinstance(options, web.Response):
            return options
        if not self._may(cid, "view_channel", "read_message_history", "create_public_threads"):
            self._refused(f"start a thread on message {mid}", "Create Public Threads")
            return _missing()
        if int(mid) in self.model.threads or message.get("flags", 0) & HAS_THREAD:
            return error(400, "A thread has already been created for this message", 160004)
        kind = ANNOUNCEMENT_THREAD if parent["type"] == ANNOUNCEMENT else PUBLIC_THREAD
        thread = self.model.create_thread(
            cid,
            options["name"],
            kind,
            self.world.bot_id,
            thread_id=int(mid),  # Discord: the thread has the message's id
            auto_archive_duration=options["auto_archive_duration"],
            rate_limit_per_user=options["rate_limit_per_user"],
        )
        data = self.model.json(thread)
        message["flags"] = message.get("flags", 0) | HAS_THREAD
        message["thread"] = data
        self._message_update(int(parent["guild_id"]), message)
        self._audit(request, thread.guild_id, THREAD_CREATE, thread.id, {}, _flat(data))
        return json_response(data, 201)

    def _message_update(self, guild_id: int, message: dict[str, Any]) -> None:
        """MESSAGE_UPDATE of a starter message (content only with MESSAGE_CONTENT, unless the
        bot wrote it)."""
        full = dumps(message)
        stripped = dumps(dict(message, content="", embeds=[], attachments=[], components=[]))
        mine = message["author"]["id"] == str(self.world.bot_id)
        for session in self.sb.gateway.sessions_for_guild(guild_id):
            if session.intents & INTENT_GUILD_MESSAGES:
                content = mine or session.intents & INTENT_MESSAGE_CONTENT
                session.push("MESSAGE_UPDATE", full if content else stripped)

    async def edit_thread(self, request: web.Request) -> web.Response:
        thread = self._thread(request)
        if isinstance(thread, web.Response):
            return thread
        body = await _body(request)
        if not isinstance(body, dict):
            return _invalid("_", "DICT_TYPE_CONVERT", "Only dictionaries may be used.")
        fields = {k: body[k] for k in _THREAD_FIELDS if k in body}
        for key in ("archived", "locked", "invitable"):
            if key in fields and not isinstance(fields[key], bool):
                return _invalid(key, "BASE_TYPE_BOOLEAN", "Must be either true or false.")
        if "name" in fields and (
            not isinstance(fields["name"], str) or not 1 <= len(fields["name"]) <= 100
        ):
            return _invalid("name", "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length.")
        if (
            "auto_archive_duration" in fields
            and fields["auto_archive_duration"] not in ARCHIVE_DURATIONS
        ):
            return _invalid(
                "auto_archive_duration",
                "BASE_TYPE_CHOICES",
                "Value must be one of (60, 1440, 4320, 10080).",
            )
        if thread.archived and fields.get("archived", True):
            return _archived()  # only unarchiving touches an archived thread
        tid = thread.id
        manage = self._may(tid, "manage_threads")
        owner = thread.owner_id == self.world.bot_id
        if not manage:
            if (
                "locked" in fields
                and fields["locked"] != thread.locked
                or "rate_limit_per_user" in fields
            ):
                self._refused(f"lock or slow down thread {tid}", "Manage Threads")
                return _missing()
            if thread.archived and thread.locked:
                self._refused(f"unarchive locked thread {tid}", "Manage Threads")
                return _missing()
            if not owner and any(
                k in fields for k in ("name", "auto_archive_duration", "invitable")
            ):
                self._refused(f"edit thread {tid} (not its creator)", "Manage Threads")
                return _missing()
            if not owner and fields.get("archived") is True:
                self._refused(f"archive thread {tid} (not its creator)", "Manage Threads")
                return _missing()
        if thread.type != PRIVATE_THREAD:
            fields.pop("invitable", None)
        before = _flat(self.model.json(thread, with_me=False))
        after = self.model.update_thread(thread, fields)
        self._audit(request, thread.guild_id, THREAD_UPDATE, thread.id, before, _flat(after))
        return json_response(after)

    async def active_threads(self, request: web.Request) -> web.Response:
        gid = _id(request.match_info["guild_id"])
        index = self.world.guild_index(gid) if gid is not None else None
        if gid is None or index is None:
            return error(404, "Unknown Guild", 10004)
        me = self.world.bot_id
        threads = [
            t for t in self.model.guild_threads(gid) if not t.archived and self.model.bot_sees(t)
        ]
        return json_response(
            {
                "threads": [self.model.json(t, with_me=False) for t in threads],
                "members": [t.member_json(me) for t in threads if me in t.members],
            }
        )

    # ---- thread members ----------------------------------------------------------------

    def _user(self, thread: Thread, raw: str) -> int | web.Response:
        uid = _id(raw)
        if uid is None or self.world.user(uid) is None:
            return error(404, "Unknown User", 10013)
        index = self.world.guild_index(thread.guild_id)
        assert index is not None
        if self.world.member(index, uid) is None:
            return error(404, "Unknown Member", 10007)
        return uid

    def _active_thread(self, request: web.Request) -> Thread | web.Response:
        """The thread of a membership route, or the refusal (archived threads too: 50083)."""
        thread = self._thread(request)
        if isinstance(thread, web.Response):
            return thread
        return _archived() if thread.archived else thread

    async def join_thread(self, request: web.Request) -> web.Response:
        thread = self._active_thread(request)
        if isinstance(thread, web.Response):
            return thread
        self.model.add_member(thread, self.world.bot_id)
        return web.Response(status=204)

    async def leave_thread(self, request: web.Request) -> web.Response:
        thread = self._active_thread(request)
        if isinstance(thread, web.Response):
            return thread
        self.model.remove_member(thread, self.world.bot_id)
        return web.Response(status=204)

    async def add_thread_member(self, request: web.Request) -> web.Response:
        thread = self._active_thread(request)
        if isinstance(thread, web.Response):
            return thread
        uid = self._user(thread, request.match_info["user_id"])
        if isinstance(uid, web.Response):
            return uid
        if not self._may(thread.id, "send_messages_in_threads"):
            self._refused(f"add a member to thread {thread.id}", "Send Messages in Threads")
            return _missing()
        moderator = self._may(thread.id, "manage_threads")
        if thread.type == PRIVATE_THREAD and not thread.invitable and not moderator:
            self._refused(f"invite to thread {thread.id} (not invitable)", "Manage Threads")
            return _missing()
        self.model.add_member(thread, uid)
        return web.Response(status=204)

    async def remove_thread_member(self, request: web.Request) -> web.Response:
        thread = self._active_thread(request)
        if isinstance(thread, web.Response):
            return thread
        uid = self._user(thread, request.match_info["user_id"])
        if isinstance(uid, web.Response):
            return uid
        creator = thread.type == PRIVATE_THREAD and thread.owner_id == self.world.bot_id
        if not creator and not self._may(thread.id, "manage_threads"):
            self._refused(f"remove a member from thread {thread.id}", "Manage Threads")
            return _missing()
        self.model.remove_member(thread, uid)
        return web.Response(status=204)

    def _member_json(self, thread: Thread, uid: int, with_member: bool) -> dict[str, Any]:
        out = thread.member_json(uid)
        if with_member:
            index = self.world.guild_index(thread.guild_id)
            assert index is not None
            out["member"] = self.world.member(index, uid)
        return out

    async def get_thread_member(self, request: web.Request) -> web.Response:
        thread = self._thread(request)
        if isinstance(thread, web.Response):
            return thread
        uid = _id(request.match_info["user_id"])
        if uid is None or uid not in thread.members:
            return error(404, "Unknown Member", 10007)
        with_member = request.query.get("with_member") == "true"
        return json_response(self._member_json(thread, uid, with_member))

    async def list_thread_members(self, request: web.Request) -> web.Response:
        thread = self._thread(request)
        if isinstance(thread, web.Response):
            return thread
        if not self.sb.privileged_intents:
            return _no_access()  # Discord: restricted by the GUILD_MEMBERS privileged intent
        with_member = request.query.get("with_member") == "true"
        ids = list(thread.members)
        if with_member:  # paginated: after a user id, up to limit (1–100)
            try:
                limit = int(request.query.get("limit", "100"))
            except ValueError:
                return _invalid("limit", "NUMBER_TYPE_COERCE", "Value is not int.")
            if not 1 <= limit <= 100:
                return _invalid("limit", "NUMBER_TYPE_MAX", "Must be between 1 and 100.")
            after = _id(request.query.get("after", "")) or 0
            ids = sorted(u for u in ids if u > after)[:limit]
        return json_response([self._member_json(thread, u, with_member) for u in ids])


__all__ = ["ThreadRoutes"]
