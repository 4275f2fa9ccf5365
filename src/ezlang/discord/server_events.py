"""The server events of ``listen``, read straight from the gateway payload.

Members, roles, channels, threads, voice states, bans, invites, webhooks, poll votes and guild
updates reach EasyLang through a wrapper around discord.py's parser of each (:func:`install`):
discord.py still updates its cache, but no event is lost because its cache lacks the member,
role or thread (discord.py drops GUILD_MEMBER_UPDATE of an uncached member, THREAD_UPDATE of
an unknown thread, …), and a join storm costs one dict per member rather than a walk over
discord.py's objects. The ``old`` side of an update is what discord.py had cached just before
(null when it was not cached). A payload is only read when a handler listens for its event.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ezlang.discord import convert

if TYPE_CHECKING:
    from ezlang.discord.runtime import BotRuntime

_log = logging.getLogger("ezlang.discord")

#: A payload reader: (runtime, client state, payload, discord.py's parser) → nothing.
Reader = Callable[["BotRuntime", Any, dict[str, Any], Callable[[Any], None]], None]


def _gid(data: dict[str, Any]) -> int:
    return int(data["guild_id"])


def _member_add(rt: BotRuntime, state: Any, data: dict[str, Any], parse: Any) -> None:
    from ezlang.discord.members import member_from_payload

    parse(data)
    rt.emit("guildMemberAdd", (member_from_payload(data, _gid(data)),))


def _cached_member(state: Any, gid: int, uid: int) -> dict[str, Any] | None:
    guild = state._get_guild(gid)
    member = None if guild is None else guild.get_member(uid)
    if member is None:
        return None
    from ezlang.discord.lookups import member_object

    return member_object(member)


def _member_update(rt: BotRuntime, state: Any, data: dict[str, Any], parse: Any) -> None:
    from ezlang.discord.members import member_from_payload

    gid = _gid(data)
    old = _cached_member(state, gid, int(data["user"]["id"]))
    parse(data)
    rt.emit("guildMemberUpdate", (old, member_from_payload(data, gid)))


def _member_remove(rt: BotRuntime, state: Any, data: dict[str, Any], parse: Any) -> None:
    from ezlang.discord.members import member_from_payload

    gid = _gid(data)
    member = _cached_member(state, gid, int(data["user"]["id"]))
    parse(data)
    if member is None:  # not cached: what Discord says (the user), no roles or nickname
        member = member_from_payload({"user": data["user"]}, gid)
    rt.emit("guildMemberRemove", (member,))


def _ban(event: str) -> Reader:
    def read(rt: BotRuntime, state: Any, data: dict[str, Any], parse: Any) -> None:
        parse(data)
        ban = _BanObject(guild_id=str(data["guild_id"]), user=_user(data["user"]))
        rt.emit(event, (ban,))

    return read


def _user(data: dict[str, Any]) -> dict[str, Any]:
    # The one reader of Discord's user JSON (messages.py), as fetch_message's authors.
    from ezlang.discord.messages import _user_from_payload

    return _user_from_payload(data)


class _BanObject(convert.DiscordObject):
    what = "a ban"


class VoiceStateObject(convert.DiscordObject):
    what = "a voice state"


class PollVoteObject(convert.DiscordObject):
    what = "a poll vote"


def _cached_role(state: Any, gid: int, rid: int) -> dict[str, Any] | None:
    guild = state._get_guild(gid)
    role = None if guild is None else guild.get_role(rid)
    if role is None:
        return None
    from ezlang.discord.lookups import role_object

    return role_object(role)


def _role_create(rt: BotRuntime, state: Any, data: dict[str, Any], parse: Any) -> None:
    from ezlang.discord.members import role_from_payload

    parse(data)
    rt.emit("roleCreate", (role_from_payload(data["role"], _gid(data)),))


def _role_update(rt: BotRuntime, state: Any, data: dict[str, Any], parse: Any) -> None:
    from ezlang.discord.members import role_from_payload

    gid = _gid(data)
    old = _cached_role(state, gid, int(data["role"]["id"]))
    parse(data)
    rt.emit("roleUpdate", (old, role_from_payload(data["role"], gid)))


def _role_delete(rt: BotRuntime, state: Any, data: dict[str, Any], parse: Any) -> None:
    from ezlang.discord.messages import RoleObject

    gid = _gid(data)
    role = _cached_role(state, gid, int(data["role_id"]))
    parse(data)
    if role is None:
        role = RoleObject(id=str(data["role_id"]), name=None, color=0, position=None,
                          permissions=[], mentionable=False, hoist=False, guild_id=str(gid))  # fmt: skip
    rt.emit("roleDelete", (role,))


def _cached_channel(state: Any, data: dict[str, Any]) -> dict[str, Any] | None:
    guild = None if data.get("guild_id") is None else state._get_guild(_gid(data))
    if guild is None:
        return None
    cid = int(data["id"])
    found = guild.get_channel(cid) or guild.get_thread(cid)
    return None if found is None else convert.channel(found)


def _channel(event: str, *, old: bool = False, cached_first: bool = False) -> Reader:
    def read(rt: BotRuntime, state: Any, data: dict[str, Any], parse: Any) -> None:
        before = _cached_channel(state, data) if old or cached_first else None
        parse(data)
        new = convert.channel_from_payload(data)
        if old:
            rt.emit(event, (before, new))
        elif cached_first and before is not None:  # a deleted thread's payload is partial
            rt.emit(event, (before,))
        elif event == "threadCreate":
            rt.emit(event, (new, bool(data.get("newly_created", False))))
        else:
            rt.emit(event, (new,))

    return read


def _guild_update(rt: BotRuntime, state: Any, data: dict[str, Any], parse: Any) -> None:
    guild = state._get_guild(int(data["id"]))
    old = None if guild is None else convert.guild(guild)
    parse(data)
    guild = state._get_guild(int(data["id"]))
    if guild is not None:
        new = convert.guild(guild)
    else:
        new = convert.GuildObject(id=str(data["id"]), name=data.get("name"), member_count=None,
                                  shard_id=None, owner_id=data.get("owner_id"))  # fmt: skip
    rt.emit("guildUpdate", (old, new))


_VOICE_FLAGS = ("self_mute", "self_deaf", "mute", "deaf", "self_video", "self_stream", "suppress")


def _voice(rt: BotRuntime, state: Any, data: dict[str, Any], parse: Any) -> None:
    if data.get("guild_id") is None:  # a DM call: not a server's voice state
        parse(data)
        return
    gid, uid = _gid(data), int(data["user_id"])
    guild = state._get_guild(gid)
    before = None if guild is None else guild._voice_state_for(uid)
    old = None
    if before is not None and before.channel is not None:
        old = VoiceStateObject(
            guild_id=str(gid), channel_id=str(before.channel.id), user_id=str(uid),
            member=None, session_id=before.session_id,
            **{flag: bool(getattr(before, flag, False)) for flag in _VOICE_FLAGS},
        )  # fmt: skip
    parse(data)
    member_data = data.get("member")
    member = None
    if member_data is not None:
        from ezlang.discord.members import member_from_payload

        member = member_from_payload(member_data, gid)
    if old is not None:
        old["member"] = member
    channel = data.get("channel_id")
    new = VoiceStateObject(
        guild_id=str(gid), channel_id=None if channel is None else str(channel),
        user_id=str(uid), member=member, session_id=data.get("session_id"),
        **{flag: bool(data.get(flag, False)) for flag in _VOICE_FLAGS},
    )  # fmt: skip
    rt.emit("voiceStateUpdate", (old, new))


def _invite(event: str) -> Reader:
    def read(rt: BotRuntime, state: Any, data: dict[str, Any], parse: Any) -> None:
        from ezlang.discord.invites import invite_object

        parse(data)
        shaped = dict(data)
        shaped["channel"] = {"id": data.get("channel_id")}
        shaped["guild"] = {"id": data.get("guild_id")}
        rt.emit(event, (invite_object(shaped),))

    return read


def _webhooks(rt: BotRuntime, state: Any, data: dict[str, Any], parse: Any) -> None:
    parse(data)
    found = _cached_channel(state, {"id": data["channel_id"], "guild_id": data["guild_id"]})
    if found is None:
        found = convert.channel_from_payload(
            {"id": data["channel_id"], "guild_id": data["guild_id"]}
        )
    rt.emit("webhooksUpdate", (found,))


def _poll_vote(event: str) -> Reader:
    def read(rt: BotRuntime, state: Any, data: dict[str, Any], parse: Any) -> None:
        parse(data)
        vote = PollVoteObject(
            user_id=str(data["user_id"]),
            channel_id=str(data["channel_id"]),
            message_id=str(data["message_id"]),
            guild_id=None if data.get("guild_id") is None else str(data["guild_id"]),
            answer_id=int(data["answer_id"]),
        )
        rt.emit(event, (vote, vote["user_id"]))

    return read


#: Gateway event → (our event, its reader). Read only when a handler listens.
READERS: dict[str, tuple[str, Reader]] = {
    "GUILD_UPDATE": ("guildUpdate", _guild_update),
    "GUILD_MEMBER_ADD": ("guildMemberAdd", _member_add),
    "GUILD_MEMBER_UPDATE": ("guildMemberUpdate", _member_update),
    "GUILD_MEMBER_REMOVE": ("guildMemberRemove", _member_remove),
    "GUILD_BAN_ADD": ("guildBanAdd", _ban("guildBanAdd")),
    "GUILD_BAN_REMOVE": ("guildBanRemove", _ban("guildBanRemove")),
    "GUILD_ROLE_CREATE": ("roleCreate", _role_create),
    "GUILD_ROLE_UPDATE": ("roleUpdate", _role_update),
    "GUILD_ROLE_DELETE": ("roleDelete", _role_delete),
    "CHANNEL_CREATE": ("channelCreate", _channel("channelCreate")),
    "CHANNEL_UPDATE": ("channelUpdate", _channel("channelUpdate", old=True)),
    "CHANNEL_DELETE": ("channelDelete", _channel("channelDelete")),
    "THREAD_CREATE": ("threadCreate", _channel("threadCreate")),
    "THREAD_UPDATE": ("threadUpdate", _channel("threadUpdate", old=True)),
    "THREAD_DELETE": ("threadDelete", _channel("threadDelete", cached_first=True)),
    "VOICE_STATE_UPDATE": ("voiceStateUpdate", _voice),
    "INVITE_CREATE": ("inviteCreate", _invite("inviteCreate")),
    "INVITE_DELETE": ("inviteDelete", _invite("inviteDelete")),
    "WEBHOOKS_UPDATE": ("webhooksUpdate", _webhooks),
    "MESSAGE_POLL_VOTE_ADD": ("messagePollVoteAdd", _poll_vote("messagePollVoteAdd")),
    "MESSAGE_POLL_VOTE_REMOVE": ("messagePollVoteRemove", _poll_vote("messagePollVoteRemove")),
}


def install(rt: BotRuntime, client: Any) -> None:
    """Wrap discord.py's parsers of the server events so that :data:`READERS` see them."""
    state = client._connection
    parsers = state.parsers
    for gateway_event, (event, reader) in READERS.items():
        original = parsers.get(gateway_event)
        if original is None:
            continue
        parsers[gateway_event] = _wrap(rt, state, event, reader, original)


def _wrap(rt: BotRuntime, state: Any, event: str, reader: Reader, original: Any) -> Any:
    handlers = rt.handlers

    def parse(data: Any) -> None:
        if not handlers.get(event):
            original(data)
            return
        done = False

        def parse_once(payload: Any) -> None:
            nonlocal done
            done = True
            original(payload)

        # This runs inside discord.py's gateway reader: an exception would end the
        # connection, so a payload we cannot convert is logged and skipped instead.
        try:
            reader(rt, state, data, parse_once)
        except Exception:
            _log.exception("ezlang could not deliver the %s event", event)
            if not done:
                original(data)

    return parse
